"""The dataset interface shared by the embedded benchmark and the real readers.

One sample is a dict ``{"frames": [N, D], "activity": int (-1: none), "actions": multi-hot
[K], "index": int}``. Label names, label phrases and (where known) frozen text features
travel with the dataset, so a model can be built from the dataset alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

Segment = tuple[int, float, float]
"""(action index, start, end): one action instance, in seconds (or frames where stated)."""

FrameLoader = Callable[..., np.ndarray]
"""Given a video's position in the dataset, return its frame features ``[N, D]``. A loader with
``sampling == "random"`` also takes the generator that draws the frames as a second argument."""


class VideoDataset(Dataset):
    """Videos with an activity label (or -1), multi-hot atomic actions and frame features.

    Attributes follow the project's data contract: ``video_ids``, ``activities`` (int64
    [V]), ``actions`` (float32 [V, K], columns in the order of ``action_names``),
    ``activity_names``/``activity_texts`` ([A]; empty for Charades), ``action_names``/
    ``action_texts`` ([K]), ``segments`` (per video, time-ordered ``(action, start,
    end)``), ``num_frames``/``feature_dim`` (``None`` when there are no features) and the
    frozen text features ``action_text_features`` [K, D] / ``activity_text_features`` [A, D].

    Frames come from an in-memory array ``frames`` [V, N, D] or a ``frame_loader``
    (e.g. a :class:`~pcmci_edu.data.features.FeatureStore`); without either the dataset
    is annotation-only and asking for frames raises a clear error.
    """

    def __init__(
        self,
        *,
        name: str,
        split: str,
        video_ids: Sequence[str],
        activities: np.ndarray,
        actions: np.ndarray,
        activity_names: Sequence[str],
        action_names: Sequence[str],
        activity_texts: Sequence[str],
        action_texts: Sequence[str],
        segments: Sequence[Sequence[Segment]] | None = None,
        frames: np.ndarray | None = None,
        frame_loader: FrameLoader | None = None,
        num_frames: int | None = None,
        feature_dim: int | None = None,
        action_text_features: torch.Tensor | np.ndarray | None = None,
        activity_text_features: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        self.name = name
        self.split = split
        self.video_ids = list(video_ids)
        self.activities = np.asarray(activities, dtype=np.int64)
        self.actions = np.asarray(actions, dtype=np.float32)
        self.activity_names = list(activity_names)
        self.action_names = list(action_names)
        self.activity_texts = list(activity_texts)
        self.action_texts = list(action_texts)
        self.segments = [list(s) for s in segments] if segments is not None else [[] for _ in self.video_ids]
        self.frames = frames
        self.frame_loader = frame_loader
        if frames is not None:
            num_frames, feature_dim = int(frames.shape[1]), int(frames.shape[2])
        self.num_frames = num_frames
        self.feature_dim = feature_dim
        self.action_text_features = _as_tensor(action_text_features)
        self.activity_text_features = _as_tensor(activity_text_features)
        self._check()

    def _check(self) -> None:
        count = len(self.video_ids)
        where = f"dataset {self.name!r} split {self.split!r}"
        if self.activities.shape != (count,):
            raise ValueError(f"{where}: activities has shape {self.activities.shape}, expected ({count},)")
        if self.actions.shape != (count, len(self.action_names)):
            raise ValueError(
                f"{where}: actions has shape {self.actions.shape}, expected ({count}, {len(self.action_names)})"
            )
        if len(self.action_texts) != len(self.action_names):
            raise ValueError(f"{where}: {len(self.action_texts)} action texts for {len(self.action_names)} actions")
        if len(self.activity_texts) != len(self.activity_names):
            raise ValueError(
                f"{where}: {len(self.activity_texts)} activity texts for {len(self.activity_names)} activities"
            )
        if len(self.segments) != count:
            raise ValueError(f"{where}: {len(self.segments)} segment lists for {count} videos")
        top = len(self.activity_names)
        if top and ((self.activities < 0) | (self.activities >= top)).any():
            raise ValueError(f"{where}: activity labels outside [0, {top - 1}]")
        if not top and (self.activities != -1).any():
            raise ValueError(f"{where}: no activity names, so every activity must be -1")
        if self.frames is not None and self.frames.shape[0] != count:
            raise ValueError(f"{where}: frames has {self.frames.shape[0]} videos, expected {count}")

    @property
    def has_activities(self) -> bool:
        """Whether the videos carry an activity label (False for Charades)."""
        return bool(self.activity_names)

    @property
    def has_frames(self) -> bool:
        """Whether frame features are available (in memory or through a loader)."""
        return self.frames is not None or self.frame_loader is not None

    @property
    def num_actions(self) -> int:
        return len(self.action_names)

    @property
    def num_activities(self) -> int:
        return len(self.activity_names)

    def __len__(self) -> int:
        return len(self.video_ids)

    def video_frames(self, index: int) -> np.ndarray:
        """Frame features ``[N, D]`` of one video."""
        if self.frames is not None:
            return self.frames[index]
        if self.frame_loader is not None:
            return self.frame_loader(index)
        raise RuntimeError(
            f"dataset {self.name!r} split {self.split!r} is annotation-only: no frame features were "
            "given (pass features=<folder of .npy files>, see pcmci_edu.data.features.FeatureStore)"
        )

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "frames": torch.as_tensor(np.asarray(self.video_frames(index), dtype=np.float32)),
            "activity": torch.tensor(int(self.activities[index]), dtype=torch.long),
            "actions": torch.from_numpy(self.actions[index]),
            "index": torch.tensor(index, dtype=torch.long),
        }

    @property
    def resamples_frames(self) -> bool:
        """Whether the frames are drawn at random from more stored frames (a training split read
        with ``"random"`` sampling): then :meth:`all_frames` takes the generator that draws them."""
        return self.frames is None and getattr(self.frame_loader, "sampling", None) == "random"

    def all_frames(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """Every video's frames stacked, ``[V, N, D]`` float32 (loads them all); when
        :attr:`resamples_frames`, ``rng`` (if given) draws which stored frames."""
        if self.frames is not None:
            return np.asarray(self.frames, dtype=np.float32)
        if rng is not None and self.resamples_frames:
            return np.stack([self.frame_loader(i, rng) for i in range(len(self))]).astype(np.float32, copy=False)
        return np.stack([self.video_frames(i) for i in range(len(self))]).astype(np.float32, copy=False)

    def _subset_arrays(self, indices: np.ndarray) -> dict:
        """Constructor arguments for the videos at ``indices`` (subclasses extend this)."""
        loader = self.frame_loader
        return dict(
            name=self.name,
            split=self.split,
            video_ids=[self.video_ids[i] for i in indices],
            activities=self.activities[indices],
            actions=self.actions[indices],
            activity_names=self.activity_names,
            action_names=self.action_names,
            activity_texts=self.activity_texts,
            action_texts=self.action_texts,
            segments=[self.segments[i] for i in indices],
            frames=None if self.frames is None else self.frames[indices],
            frame_loader=None if loader is None else _SubsetLoader(loader, indices),
            num_frames=self.num_frames,
            feature_dim=self.feature_dim,
            action_text_features=self.action_text_features,
            activity_text_features=self.activity_text_features,
        )

    def subset(self, indices: Sequence[int], split: str | None = None) -> "VideoDataset":
        """A dataset of the same kind holding only the videos at ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        arguments = self._subset_arrays(indices)
        if split is not None:
            arguments["split"] = split
        return type(self)._from_arguments(arguments)

    @classmethod
    def _from_arguments(cls, arguments: dict) -> "VideoDataset":
        return cls(**arguments)

    def __repr__(self) -> str:
        frames = f"N={self.num_frames}, D={self.feature_dim}" if self.has_frames else "annotation-only"
        return (
            f"{type(self).__name__}({self.name!r}, split={self.split!r}, videos={len(self)}, "
            f"activities={self.num_activities}, actions={self.num_actions}, {frames})"
        )


class _SubsetLoader:
    """The frame loader of a subset: position ``i`` is the parent's video ``indices[i]``."""

    def __init__(self, loader: FrameLoader, indices: np.ndarray) -> None:
        self.loader, self.indices = loader, indices
        self.sampling = getattr(loader, "sampling", None)

    def __call__(self, index: int, rng: np.random.Generator | None = None) -> np.ndarray:
        parent = int(self.indices[index])
        return self.loader(parent) if rng is None else self.loader(parent, rng)


def _as_tensor(value: torch.Tensor | np.ndarray | None) -> torch.Tensor | None:
    if value is None:
        return None
    return torch.as_tensor(np.asarray(value, dtype=np.float32)) if not isinstance(value, torch.Tensor) else value.float()

"""What a generated benchmark is: its configuration, its splits and the truth behind them.

:class:`BenchmarkConfig` holds every setting that determines a benchmark; :class:`Benchmark`
maps split names to :class:`BenchmarkSplit` (a :class:`~pcmci_edu.data.dataset.VideoDataset`
that also knows each frame's four additive parts and their causes) and keeps the
generator's :class:`BenchmarkTruth` (companions, home contexts, clean label texts), which
chapters 2-8 show and the tests check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from pcmci_edu.data.dataset import VideoDataset
from pcmci_edu.data.grammars import Grammar


NO_ACTION = -1
"""Frame action index of frames showing no labelled action (their action part is zero)."""


SPLITS: tuple[str, ...] = (
    "train", "val", "test", "test_shift", "test_masked", "train_oracle",
    "test_shift_context", "test_shift_objects", "test_shift_codependency",
    "train_oracle_context", "train_oracle_objects", "train_oracle_codependency",
)


CONFOUNDERS: dict[str, str] = {"context": "C", "objects": "H", "codependency": "I"}
"""Each confounder by name -> its node in the PCMCi graph (IVC targets C, ICH H, ICI I)."""


SHIFT_SPLITS: dict[str, str] = {
    "context": "test_shift_context", "objects": "test_shift_objects",
    "codependency": "test_shift_codependency", "joint": "test_shift",
}
"""Confounder -> the test split that shifts it alone (``"joint"``: context and objects together)."""


ORACLE_SPLITS: dict[str, str] = {
    "context": "train_oracle_context", "objects": "train_oracle_objects",
    "codependency": "train_oracle_codependency", "joint": "train_oracle",
}
"""Confounder -> the training split with it alone broken (``"joint"``: context and objects)."""


BREAKS: dict[str, tuple[str, ...]] = {
    "train": (), "val": (), "test": (), "test_masked": (),
    "test_shift": ("C", "H"), "train_oracle": ("C", "H"),
    "test_shift_context": ("C",), "train_oracle_context": ("C",),
    "test_shift_objects": ("H",), "train_oracle_objects": ("H",),
    "test_shift_codependency": ("I",), "train_oracle_codependency": ("I",),
}
"""Split -> the confounders (graph nodes) it breaks; ``test_masked`` removes the action instead."""


PARTS: tuple[str, ...] = ("action", "context", "objects", "noise")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Everything that determines a benchmark; ``make_benchmark(**overrides)`` replaces fields.

    Strengths are relative to the action part (unit-norm prototypes per frame).
    """

    preset: str = "breakfast"
    profile: str = "book"
    seed: int = 0
    num_train: int = 1357
    num_val: int = 136
    num_test: int = 355
    num_frames: int = 32
    feature_dim: int = 128
    contexts_per_activity: int = 2
    confounding: float = 0.9
    """P(context is one of the activity's home contexts) in train, val and test."""
    context_strength: float = 0.35
    objects_strength: float = 0.35
    companion_rate: float = 0.8
    """P(an action's segment shows an object): its companion in training, a random one in shift."""
    noise: float = 7.0
    """Norm of the per-frame Gaussian noise (per-dimension std noise / sqrt(D))."""
    text_contamination: float = 0.7
    modality_gap: float = 0.5
    """Weight of the vision-only direction in each action prototype (0: identical to the clean text)."""
    num_objects: int = 24
    mean_duration_s: float = 140.0


PROFILE_DEFAULTS = {
    "smoke": dict(num_frames=8, feature_dim=32),
    "book": dict(num_frames=32, feature_dim=128),
    "full": dict(num_frames=32, feature_dim=128),
}


@dataclass
class BenchmarkTruth:
    """The generator's ground truth, for the chapters to show and the tests to check."""

    companions: dict[str, str]
    """action name -> its companion object's name (not for the background)."""
    companion_index: np.ndarray
    """[K] object index per action, -1 for none."""
    home_contexts: dict[str, list[str]]
    """activity -> the contexts it is tied to in training."""
    confounding: dict[str, float]
    """split -> P(home context); 0 where context is independent of the activity."""
    objects_follow_actions: dict[str, bool]
    """split -> whether objects are the actions' companions (True) or drawn at random."""
    strengths: dict[str, float]
    context_names: list[str]
    object_names: list[str]
    clean_action_text_features: torch.Tensor
    clean_activity_text_features: torch.Tensor | None
    action_prototypes: np.ndarray
    """[K, D] visual action part ``a_k``."""
    context_vectors: np.ndarray
    """[C, D] context part (already times context_strength)."""
    object_vectors: np.ndarray
    """[O, D] objects part (already times objects_strength)."""
    grammars: dict[str, Grammar] = field(default_factory=dict)
    breaks: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(BREAKS))
    """split -> the confounders it breaks (``"C"``, ``"H"``, ``"I"``), see :data:`BREAKS`."""
    background_index: int = -1
    """Index of the background action present in every video (-1: none)."""
    novel_pairs: dict[str, float] = field(default_factory=dict)
    """split -> fraction of its co-occurring action pairs (one per video and pair, background
    excluded) that co-occur in no training video (:func:`novel_pair_fraction`)."""


class BenchmarkSplit(VideoDataset):
    """A :class:`VideoDataset` that also knows each frame's causes.

    ``parts`` gives the four additive parts ``[V, N, D]`` (their sum is ``frames``),
    ``contexts`` the context index of each video, ``script_types`` the grammar each video
    was drawn from (its activity; the latent scene for Charades), ``frame_actions``/
    ``frame_objects`` the action and object (-1: none) at each sampled frame, ``spliced_types``
    the script type a codependency shift spliced a chunk from (-1: none).
    """

    def __init__(
        self,
        *,
        contexts: np.ndarray,
        script_types: np.ndarray,
        frame_actions: np.ndarray,
        frame_objects: np.ndarray,
        action_visible: bool,
        truth: BenchmarkTruth,
        spliced_types: np.ndarray | None = None,
        **arguments,
    ) -> None:
        super().__init__(**arguments)
        self.spliced_types = (np.full(len(script_types), -1, dtype=np.int64) if spliced_types is None
                              else np.asarray(spliced_types, dtype=np.int64))
        self.contexts = np.asarray(contexts, dtype=np.int64)
        self.script_types = np.asarray(script_types, dtype=np.int64)
        self.frame_actions = np.asarray(frame_actions, dtype=np.int64)
        self.frame_objects = np.asarray(frame_objects, dtype=np.int64)
        self.action_visible = action_visible
        self.truth = truth
        self._parts: dict[str, np.ndarray] | None = None

    @property
    def parts(self) -> dict[str, np.ndarray]:
        """The additive parts "action", "context", "objects", "noise", each float32 [V, N, D]."""
        if self._parts is None:
            truth = self.truth
            action = _with_zero_row(truth.action_prototypes)[self.frame_actions]
            if not self.action_visible:
                action = np.zeros_like(action)
            context = np.broadcast_to(truth.context_vectors[self.contexts][:, None, :], action.shape)
            objects = _with_zero_row(truth.object_vectors)[self.frame_objects]
            noise = self.frames - action - context - objects
            self._parts = {
                "action": action.astype(np.float32),
                "context": np.ascontiguousarray(context, dtype=np.float32),
                "objects": objects.astype(np.float32),
                "noise": noise.astype(np.float32),
            }
        return self._parts

    def _subset_arrays(self, indices: np.ndarray) -> dict:
        arguments = super()._subset_arrays(indices)
        arguments.update(
            contexts=self.contexts[indices],
            script_types=self.script_types[indices],
            spliced_types=self.spliced_types[indices],
            frame_actions=self.frame_actions[indices],
            frame_objects=self.frame_objects[indices],
            action_visible=self.action_visible,
            truth=self.truth,
        )
        return arguments


class Benchmark(Mapping):
    """The benchmark's splits by name (``bench["train"]``), its ``truth`` and ``config``."""

    def __init__(self, splits: dict[str, BenchmarkSplit], truth: BenchmarkTruth, config: BenchmarkConfig,
                 generation_seconds: float) -> None:
        self._splits = splits
        self.truth = truth
        self.config = config
        self.generation_seconds = generation_seconds

    def __getitem__(self, name: str) -> BenchmarkSplit:
        if name not in self._splits:
            raise KeyError(f"no split {name!r}: the benchmark has {', '.join(self._splits)}")
        return self._splits[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._splits)

    def __len__(self) -> int:
        return len(self._splits)

    def few_shot(self, k: int, seed: int = 0) -> BenchmarkSplit:
        """A training split with ``k`` videos per activity (per action for multi-label presets)."""
        train = self._splits["train"]
        if k < 1:
            raise ValueError(f"few_shot needs k >= 1, got {k}")
        rng = np.random.default_rng(seed)
        chosen: list[int] = []
        if train.has_activities:
            for activity in range(train.num_activities):
                members = np.flatnonzero(train.activities == activity)
                if len(members) < k:
                    raise ValueError(
                        f"few_shot: activity {train.activity_names[activity]!r} has {len(members)} training "
                        f"videos, fewer than k={k}"
                    )
                chosen.extend(rng.choice(members, size=k, replace=False).tolist())
        else:
            for action in rng.permutation(train.num_actions):
                members = [i for i in np.flatnonzero(train.actions[:, action] > 0) if i not in chosen]
                chosen.extend(rng.permutation(members)[:k].tolist())
        return train.subset(sorted(chosen), split=f"train_{k}shot")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(split)}" for name, split in self._splits.items())
        return f"Benchmark({self.config.preset!r}, profile={self.config.profile!r}, seed={self.config.seed}, {sizes})"


def novel_pair_fraction(split: VideoDataset, reference: VideoDataset, background_index: int = -1) -> float:
    """Fraction of the action pairs co-occurring in ``split``'s videos that co-occur in no
    video of ``reference`` (each video counts each of its pairs once; the background action,
    present everywhere, is left out). NaN when ``split`` has no pair.
    """
    present = np.asarray(split.actions, dtype=np.float64) > 0
    seen = np.asarray(reference.actions, dtype=np.float64)
    if background_index >= 0:
        present = present.copy()
        present[:, background_index] = False
        seen = seen.copy()
        seen[:, background_index] = 0
    never = (seen.T @ seen) == 0
    np.fill_diagonal(never, False)
    present = present.astype(np.float64)
    novel = float(((present @ never) * present).sum() / 2)
    counts = present.sum(1)
    total = float((counts * (counts - 1) / 2).sum())
    return novel / total if total else float("nan")


def _with_zero_row(vectors: np.ndarray) -> np.ndarray:
    """Append a zero row, so that index -1 (no action, no object) contributes nothing."""
    return np.concatenate([vectors, np.zeros_like(vectors[:1])])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)

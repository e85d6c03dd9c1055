"""Feature stores: one ``<video_id>.npy`` per video plus the label text features.

Two layouts are read: ours, ``[T, D]`` (one row per frame, e.g. CLIP image embeddings), and
the MS-TCN I3D layout ``(2048, T)`` (one column per frame). A video is brought to a fixed
number of frames ``N`` by temporal sampling: ``"uniform"`` takes the centre of ``N`` equal
segments (evaluation), ``"random"`` a random frame inside each segment (training, the TSN
scheme). ``text_features.npz`` holds ``"actions"`` [K, D] and ``"activities"`` [A, D].

>>> import tempfile, numpy as np
>>> store = FeatureStore(tempfile.mkdtemp())
>>> store.write("v1", np.arange(20, dtype=np.float32).reshape(10, 2))
>>> store.read("v1", num_frames=5)[:, 0]
array([ 2.,  6., 10., 14., 18.], dtype=float32)
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pcmci_edu.files import FolderBusyError, atomic_write, folder_lock

LAYOUTS: tuple[str, ...] = ("auto", "frames", "channels_first")
SAMPLINGS: tuple[str, ...] = ("uniform", "random")
MSTCN_FEATURE_DIM = 2048
TEXT_FEATURES_FILE = "text_features.npz"


class FeatureError(ValueError):
    """A feature file is missing, malformed, or does not match what the dataset expects."""


class StoreBusyError(FolderBusyError):
    """Another process holds the feature store's writer lock."""


def sample_indices(length: int, num_frames: int, sampling: str = "uniform",
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of ``num_frames`` frames out of ``length``: one per equal segment.

    >>> sample_indices(8, 4)
    array([1, 3, 5, 7])
    >>> sample_indices(2, 4)
    array([0, 0, 1, 1])
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}: expected one of {', '.join(SAMPLINGS)}")
    if length < 1 or num_frames < 1:
        raise ValueError(f"cannot sample {num_frames} frames from a video of {length} frames")
    edges = np.arange(num_frames + 1) * length / num_frames
    if sampling == "uniform":
        positions = (edges[:-1] + edges[1:]) / 2
    else:
        rng = rng if rng is not None else np.random.default_rng()
        positions = edges[:-1] + rng.random(num_frames) * (edges[1:] - edges[:-1])
    return np.clip(np.floor(positions).astype(np.int64), 0, length - 1)


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` so that readers never see a half-written file."""
    atomic_write(path, lambda stream: np.save(stream, array))


class FeatureStore:
    """A folder of per-video feature files.

    ``layout``: ``"frames"`` ([T, D]), ``"channels_first"`` (MS-TCN's (2048, T)) or ``"auto"``
    (orient by ``feature_dim`` when given, else treat a leading 2048 as channels-first).
    ``feature_dim``: when set, every file must have it.
    """

    def __init__(self, root: str | os.PathLike, layout: str = "auto", feature_dim: int | None = None) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown feature layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
        self.root = Path(root)
        self.layout = layout
        self.feature_dim = feature_dim

    def path(self, video_id: str) -> Path:
        """Where the features of ``video_id`` live: ``<root>/<video_id>.npy``."""
        return self.root / f"{video_id}.npy"

    def contains(self, video_id: str) -> bool:
        """Whether the store holds features for ``video_id``."""
        return self.path(video_id).is_file()

    def video_ids(self) -> list[str]:
        """Ids of every stored video, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.npy"))

    def missing(self, video_ids: Iterable[str]) -> list[str]:
        """The ids among ``video_ids`` that have no feature file, in their order."""
        return [v for v in video_ids if not self.contains(v)]

    def require(self, video_ids: Iterable[str], listed_in: str = "the dataset") -> None:
        """Raise a :class:`FeatureError` naming the videos of ``listed_in`` that have no file."""
        missing = self.missing(video_ids)
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise FeatureError(
                f"{len(missing)} video(s) listed in {listed_in} have no feature file in {self.root}: {shown} "
                f"(expected <video_id>.npy; run `pcmci-edu extract` or check the folder)"
            )

    def lock(self):
        """Hold the store for one writer (``pcmci-edu extract``) until the block ends
        (:func:`pcmci_edu.files.folder_lock`): a second writer raises a :class:`StoreBusyError`
        naming the process that holds it; a run refused before it writes leaves no store folder."""
        return folder_lock(self.root, f"{self.root}: another `pcmci-edu extract` (process {{holder}}) is writing "
                                      "this store; wait for it to finish (it does the same work), or write to "
                                      "another store with --out", StoreBusyError)

    def write(self, video_id: str, array: np.ndarray) -> None:
        """Store one video's features ``[T, D]`` atomically (checked: 2-D, finite)."""
        array = np.asarray(array, dtype=np.float32)
        self._check(array, self.path(video_id))
        atomic_save_npy(self.path(video_id), array)

    def read_all_frames(self, video_id: str) -> np.ndarray:
        """Every stored frame ``[T, D]`` of a video (MS-TCN files are transposed)."""
        path = self.path(video_id)
        if not path.is_file():
            raise FeatureError(f"no feature file for video {video_id!r}: {path} does not exist")
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            reason = "it holds pickled objects, not numbers" if "pickle" in str(error) else str(error)
            raise FeatureError(f"{path}: not a readable .npy array ({reason}); delete it and extract this video "
                               "again") from error
        array = self._orient(array, path)
        self._check(array, path)
        return np.asarray(array, dtype=np.float32)

    def read(self, video_id: str, num_frames: int, sampling: str = "uniform",
             rng: np.random.Generator | None = None) -> np.ndarray:
        """``[num_frames, D]`` features of a video, sampled ``"uniform"`` or ``"random"``."""
        frames = self.read_all_frames(video_id)
        return frames[sample_indices(len(frames), num_frames, sampling, rng)]

    def _orient(self, array: np.ndarray, path: Path) -> np.ndarray:
        if array.ndim != 2:
            raise FeatureError(f"{path}: features have shape {array.shape}, expected 2-D [T, D] or (2048, T)")
        if self.layout == "channels_first":
            return array.T
        if self.layout == "frames":
            return array
        if self.feature_dim is not None:
            if array.shape[1] == self.feature_dim:
                return array
            if array.shape[0] == self.feature_dim:
                return array.T
            return array  # _check reports the mismatch
        return array.T if array.shape[0] == MSTCN_FEATURE_DIM and array.shape[1] != MSTCN_FEATURE_DIM else array

    def _check(self, array: np.ndarray, path: Path) -> None:
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
            raise FeatureError(f"{path}: features have shape {array.shape}, expected 2-D [T, D] with T, D >= 1")
        if self.feature_dim is not None and array.shape[1] != self.feature_dim:
            raise FeatureError(
                f"{path}: features have shape {array.shape}, expected D={self.feature_dim} per frame "
                f"([T, {self.feature_dim}], or ({self.feature_dim}, T) in the MS-TCN layout)"
            )
        finite = np.isfinite(array)
        if not finite.all():
            row = int(np.argwhere(~finite)[0][0])
            raise FeatureError(f"{path}: features contain NaN or infinity (first at frame {row})")

    # -- label text features -----------------------------------------------------------
    def write_text_features(self, actions: np.ndarray, activities: np.ndarray | None = None) -> None:
        """Store the frozen label text features ``[K, D]`` (and ``[A, D]``) atomically."""
        arrays = {"actions": np.asarray(actions, dtype=np.float32)}
        if activities is not None:
            arrays["activities"] = np.asarray(activities, dtype=np.float32)
        for name, array in arrays.items():
            if array.ndim != 2 or not np.isfinite(array).all():
                raise FeatureError(f"text features {name!r}: expected a finite 2-D array, got shape {array.shape}")
        atomic_write(self.root / TEXT_FEATURES_FILE, lambda stream: np.savez(stream, **arrays))

    def read_text_features(self, num_actions: int | None = None,
                           num_activities: int | None = None) -> dict[str, np.ndarray] | None:
        """``{"actions": [K, D], "activities": [A, D]}`` from ``text_features.npz``, or None if absent."""
        path = self.root / TEXT_FEATURES_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: np.asarray(data[name], dtype=np.float32) for name in data.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise FeatureError(f"{path}: not a readable .npz file of label text features ({type(error).__name__}); "
                               "run `pcmci-edu extract` again to write it") from error
        if "actions" not in arrays:
            raise FeatureError(f"{path}: no array 'actions' (expected 'actions' [K, D] and optionally 'activities')")
        for name, expected in (("actions", num_actions), ("activities", num_activities)):
            if name in arrays and expected is not None and arrays[name].shape[0] != expected:
                raise FeatureError(f"{path}: {name!r} has shape {arrays[name].shape}, expected {expected} rows")
            if name in arrays and not np.isfinite(arrays[name]).all():
                raise FeatureError(f"{path}: {name!r} contains NaN or infinity")
        return arrays


class StoreFrameLoader:
    """A ``VideoDataset`` frame loader: ``loader(i)`` reads ``video_ids[i]`` from ``store`` and takes
    ``num_frames`` of its stored frames by ``sampling``.

    With ``"random"`` sampling (training), ``loader(i, rng)`` draws the frames from ``rng``, so a
    training loop can re-draw them every epoch from a generator it checkpoints; without ``rng`` they
    come from the loader's own generator, seeded by ``seed``. Random sampling keeps the stored
    frames in memory after the first reading (they are read again every epoch). Every video
    must have the feature width of the first one read: a store that mixes widths is named. A
    video must hold at least ``num_frames`` stored frames: asking for more would repeat frames
    (32 from a store of 4 shows each one 8 times), so it is refused, naming both numbers.
    """

    def __init__(self, store: FeatureStore, video_ids: list[str], num_frames: int, sampling: str,
                 seed: int | None = None) -> None:
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}: expected one of {', '.join(SAMPLINGS)}")
        self.store, self.video_ids, self.num_frames, self.sampling = store, list(video_ids), num_frames, sampling
        self.rng = np.random.default_rng(seed)
        self._stored: dict[int, np.ndarray] = {}
        self._first: tuple[Path, int] | None = None

    def __call__(self, index: int, rng: np.random.Generator | None = None) -> np.ndarray:
        frames = self._stored.get(index)
        if frames is None:
            frames = self.store.read_all_frames(self.video_ids[index])
            self._check_width(index, frames.shape[1])
            self._check_length(index, frames.shape[0])
            if self.sampling == "random":
                self._stored[index] = frames
        return frames[sample_indices(len(frames), self.num_frames, self.sampling,
                                     rng if rng is not None else self.rng)]

    def _check_length(self, index: int, stored: int) -> None:
        if stored < self.num_frames:
            raise FeatureError(f"{self.store.path(self.video_ids[index])}: the store holds {stored} frame(s) of this "
                               f"video, the run asks for {self.num_frames} per video ([dataset] num_frames), which "
                               f"would repeat frames: ask for at most {stored} (--set dataset.num_frames={stored}), "
                               f"or extract at least {self.num_frames} frames per video into a fresh store")

    def _check_width(self, index: int, width: int) -> None:
        path = self.store.path(self.video_ids[index])
        if self._first is None:
            self._first = (path, width)
        elif width != self._first[1]:
            raise FeatureError(f"{path}: {width}-d features, but {self._first[0]} has {self._first[1]}-d; the store "
                               "mixes features of different extractions: extract them again into a fresh store")


def frame_loader(store: FeatureStore, video_ids: list[str], num_frames: int, sampling: str,
                 seed: int | None = None) -> StoreFrameLoader:
    """A ``VideoDataset`` frame loader reading ``video_ids[i]`` from ``store`` (see :class:`StoreFrameLoader`)."""
    return StoreFrameLoader(store, video_ids, num_frames, sampling, seed)

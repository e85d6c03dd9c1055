"""Breakfast (Kuehne et al., CVPR 2014): 1712 videos, 10 activities, 48 unit actions.

Read from the MS-TCN files: ``groundTruth/<video>.txt`` (one label per frame, 15 fps) and
``mapping.txt`` (``index name``). The activity is the video name's last word
(``P03_cam01_P03_cereals``); the video-level multi-hot label is the set of labels in the
file, and ``SIL`` (background) is one of the 48 actions, as in the long-term protocol.

Splits (``subset``):

* ``"person"`` (default; the long-term recognition split of VideoGraph, MA-LMM and
  PCMCi): train P03-P46 (1357 videos), test P47-P54 (355), read from ``malmm/train.json``
  and ``malmm/val.json`` (there the test part is called ``val`` and names are spelled
  ``P03-cam01-P03_cereals`` / ``P03-stereo-P03_cereals_ch0``);
* ``"split1"`` ... ``"split4"`` (MS-TCN): ``splits/train.splitN.bundle`` /
  ``splits/test.splitN.bundle``, one video file name per line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from pcmci_edu.data.dataset import VideoDataset
from pcmci_edu.data.features import FeatureStore, frame_loader
from pcmci_edu.data.labels import BREAKFAST_ACTIVITIES, action_phrase, activity_phrase

FPS = 15.0
SUBSETS: tuple[str, ...] = ("person", "split1", "split2", "split3", "split4")
PERSON_SPLIT_FILES = {"train": "malmm/train.json", "test": "malmm/val.json"}


class AnnotationError(ValueError):
    """An annotation file is missing, empty or malformed; the message names file and line/field."""


def refuse_repeated_videos(listed: list[tuple[str, str]], other_split: list[tuple[str, str]] = (),
                           other_name: str = "the other split") -> None:
    """Refuse an annotation list that names a video twice, or that shares a video with the other
    split (a test video would be trained on, or scored twice). ``listed`` and ``other_split``
    are ``(video id, where)`` pairs, ``where`` naming the file and line or field.

    >>> refuse_repeated_videos([("a", "train.csv, line 2"), ("b", "train.csv, line 3")])
    >>> refuse_repeated_videos([("a", "train.csv, line 2"), ("a", "train.csv, line 5")])
    Traceback (most recent call last):
    ...
    pcmci_edu.data.breakfast.AnnotationError: train.csv, line 5: video 'a' is listed twice (first at train.csv, line 2); each video must appear once
    """
    first: dict[str, str] = {}
    for video, where in listed:
        if video in first:
            raise AnnotationError(f"{where}: video {video!r} is listed twice (first at {first[video]}); "
                                  "each video must appear once")
        first[video] = where
    for video, where in other_split:
        if video in first:
            raise AnnotationError(f"{first[video]}: video {video!r} is also in {other_name} ({where}); a video "
                                  "must be in one split only, or the test split scores videos the model trained on")


def json_refusing_repeated_keys(text: str, path: Path) -> Any:
    """``json.loads`` that refuses an object naming a key twice (``json`` keeps the last one
    silently: a video listed twice would vanish into one)."""
    def pairs(items: list[tuple[str, Any]]) -> dict:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise AnnotationError(f"{path}: key {key!r} appears twice in one object (a video listed twice?); "
                                      "each video must appear once")
            seen[key] = value
        return seen

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        raise AnnotationError(f"{path}, line {error.lineno}: not valid JSON ({error.msg})") from error


def find_dataset_folder(root: str | os.PathLike, name: str, marker: str) -> Path:
    """``root`` itself if it holds ``marker``, else ``root/name``; a clear error otherwise."""
    root = Path(root)
    for candidate in (root, root / name):
        if (candidate / marker).exists():
            return candidate
    raise AnnotationError(f"{name}: neither {root / marker} nor {root / name / marker} exists (expected the {name} annotation folder)")


def read_mapping(path: Path) -> list[str]:
    """``mapping.txt`` -> action names by index (checks ``index name`` lines, indices 0..K-1)."""
    lines = path.read_text().splitlines()
    names: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{path}, line {number}: expected 'index name', got {line!r}")
        if int(parts[0]) != len(names):
            raise AnnotationError(f"{path}, line {number}: index {parts[0]} out of order (expected {len(names)})")
        names.append(parts[1])
    if not names:
        raise AnnotationError(f"{path}: empty file (expected one 'index name' line per action)")
    return names


def read_frame_labels(path: Path, index: dict[str, int]) -> np.ndarray:
    """One ground-truth file -> action index per frame; errors name the file and line."""
    text = path.read_text()
    labels = text.split()
    if not labels:
        raise AnnotationError(f"{path}: empty ground-truth file (expected one action label per frame)")
    try:
        return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))
    except KeyError:
        for number, line in enumerate(text.splitlines(), start=1):
            label = line.strip()
            if label and label not in index:
                raise AnnotationError(
                    f"{path}, line {number}: unknown action label {label!r} (not in mapping.txt)"
                ) from None
        raise


def frames_to_segments(frame_labels: np.ndarray, fps: float = FPS) -> list[tuple[int, float, float]]:
    """Run-length encode per-frame labels into time-ordered ``(action, start_s, end_s)``.

    >>> frames_to_segments(np.array([0, 0, 3, 3, 3, 0]), fps=1.0)
    [(0, 0.0, 2.0), (3, 2.0, 5.0), (0, 5.0, 6.0)]
    """
    change = np.flatnonzero(np.diff(frame_labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(frame_labels)]])
    return [(int(frame_labels[s]), float(s / fps), float(e / fps)) for s, e in zip(starts, ends)]


def person_split_name(name: str) -> str:
    """The long-term split's spelling -> the ground-truth file stem.

    >>> person_split_name("P03-stereo-P03_cereals_ch0")
    'P03_stereo01_P03_cereals'
    """
    name = re.sub(r"_ch\d+$", "", name)
    parts = name.split("-")
    if len(parts) < 3:
        raise ValueError(f"unexpected video name {name!r} (expected 'P03-cam01-P03_cereals')")
    camera = "stereo01" if parts[1] == "stereo" else parts[1]
    return f"{parts[0]}_{camera}_{'-'.join(parts[2:])}"


def activity_of(video: str) -> str:
    """The activity a Breakfast video name ends with.

    >>> activity_of("P03_cam01_P03_cereals")
    'cereals'
    """
    return video.rsplit("_", 1)[-1]


class Breakfast(VideoDataset):
    """Breakfast videos of one split, with the data contract's attributes.

    ``features``: a folder of ``<video>.npy`` (see :class:`FeatureStore`), or None for
    annotation-only use. Frames are sampled to ``num_frames`` (``"random"`` in training,
    ``"uniform"`` otherwise, unless ``sampling`` says).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", subset: str = "person",
                 features: str | os.PathLike | FeatureStore | None = None, num_frames: int = 32,
                 sampling: str | None = None, seed: int | None = None) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"Breakfast split must be 'train' or 'test', got {split!r}")
        if subset not in SUBSETS:
            raise ValueError(f"Breakfast subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
        folder = find_dataset_folder(root, "breakfast", "mapping.txt")
        action_names = read_mapping(folder / "mapping.txt")
        index = {name: k for k, name in enumerate(action_names)}
        listed = self._split_videos(folder, split, subset)
        other = "test" if split == "train" else "train"
        try:
            other_listed = self._split_videos(folder, other, subset)
        except AnnotationError:  # the other split's file is missing or broken: reading it reports that
            other_listed = []
        refuse_repeated_videos(listed, other_listed, f"the {other} split")
        videos = [video for video, _ in listed]

        activity_index = {name: a for a, name in enumerate(BREAKFAST_ACTIVITIES)}
        activities, segments = [], []
        actions = np.zeros((len(videos), len(action_names)), dtype=np.float32)
        for v, video in enumerate(videos):
            path = folder / "groundTruth" / f"{video}.txt"
            if not path.is_file():
                raise AnnotationError(f"{path}: ground-truth file missing for video {video!r} listed in the {subset} split")
            if activity_of(video) not in activity_index:
                raise AnnotationError(f"{path}: the name does not end with one of the activities {', '.join(BREAKFAST_ACTIVITIES)}")
            labels = read_frame_labels(path, index)
            actions[v, np.unique(labels)] = 1.0
            segments.append(frames_to_segments(labels))
            activities.append(activity_index[activity_of(video)])

        store, loader, text, feature_dim = None, None, None, None
        if features is not None:
            store = features if isinstance(features, FeatureStore) else FeatureStore(features)
            store.require(videos, listed_in=f"Breakfast {subset} {split}")
            sampling = sampling or ("random" if split == "train" else "uniform")
            loader = frame_loader(store, videos, num_frames, sampling, seed)
            feature_dim = store.read_all_frames(videos[0]).shape[1] if videos else None
            text = store.read_text_features(len(action_names), len(BREAKFAST_ACTIVITIES))
        self.subset_name = subset
        super().__init__(
            name="breakfast", split=split, video_ids=videos, activities=np.array(activities, dtype=np.int64),
            actions=actions, activity_names=BREAKFAST_ACTIVITIES,
            action_names=action_names, activity_texts=[activity_phrase(a) for a in BREAKFAST_ACTIVITIES],
            action_texts=[action_phrase(a) for a in action_names], segments=segments, frame_loader=loader,
            num_frames=num_frames if loader else None, feature_dim=feature_dim,
            action_text_features=None if text is None else text["actions"],
            activity_text_features=None if text is None else text.get("activities"),
        )

    @classmethod
    def _from_arguments(cls, arguments: dict) -> VideoDataset:
        return VideoDataset(**arguments)

    @staticmethod
    def _split_videos(folder: Path, split: str, subset: str) -> list[tuple[str, str]]:
        """The split's videos, each with where it is listed (file, line or entry)."""
        if subset == "person":
            path = folder / PERSON_SPLIT_FILES[split]
            if not path.is_file():
                raise AnnotationError(f"{path}: person split file missing (expected the long-term split's JSON)")
            entries = json_refusing_repeated_keys(path.read_text(), path)
            if not isinstance(entries, dict):
                raise AnnotationError(f"{path}: expected a mapping of video names, got a {type(entries).__name__}")
            if not entries:
                raise AnnotationError(f"{path}: empty split (expected a mapping of video names)")
            videos = []
            for name, entry in entries.items():
                try:
                    video = person_split_name(name)
                except ValueError as error:
                    raise AnnotationError(f"{path}, video {name!r}: {error}") from error
                label = entry.get("class_label") if isinstance(entry, dict) else None
                if label is not None and BREAKFAST_ACTIVITIES[int(label)] != activity_of(video):
                    raise AnnotationError(
                        f"{path}, video {name!r}, field 'class_label': {label} does not match activity "
                        f"{activity_of(video)!r} in the name"
                    )
                videos.append((video, f"{path}, video {name!r}"))
            return videos
        number = subset.removeprefix("split")
        path = folder / "splits" / f"{split}.split{number}.bundle"
        if not path.is_file():
            raise AnnotationError(
                f"{path}: MS-TCN split file missing (the MS-TCN release names them "
                f"splits/train.split{number}.bundle and splits/test.split{number}.bundle; put them there)"
            )
        videos = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                videos.append((Path(line).name.removesuffix(".txt"), f"{path}, line {number}"))
        if not videos:
            raise AnnotationError(f"{path}: empty split file (expected one video file name per line)")
        return videos

"""Charades (Sigurdsson et al., ECCV 2016): 9848 indoor videos, 157 action classes.

Multi-label only: there is no activity (``activities`` are -1). Read from
``Charades_v1_{train,test}.csv`` (``actions`` like ``c092 11.90 21.20;c147 0.00 12.60``)
and ``Charades_v1_classes.txt`` (``c000 Holding some clothes``). The ``scene`` and
``objects`` columns are measured confounders recorded beside the actions; they are exposed
as ``scenes`` (list[str]) and ``objects`` (list[list[str]]). Videos without any action are
kept, as the official evaluation keeps them (they can only be negatives; see
:func:`pcmci_edu.metrics.mean_average_precision`, protocol ``"present_classes"``).
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path

import numpy as np

from pcmci_edu.data.breakfast import AnnotationError, find_dataset_folder, refuse_repeated_videos
from pcmci_edu.data.dataset import VideoDataset
from pcmci_edu.data.features import FeatureStore, frame_loader

CSV_FILES = {"train": "Charades_v1_train.csv", "test": "Charades_v1_test.csv"}
CLASSES_FILE = "Charades_v1_classes.txt"
REQUIRED_COLUMNS = ("id", "scene", "objects", "actions")
_ACTION = re.compile(r"^(c\d{3}) (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)$")


def read_charades_classes(path: Path) -> tuple[list[str], list[str]]:
    """``Charades_v1_classes.txt`` -> (class ids ``c000``..., class texts)."""
    if not path.is_file():
        raise AnnotationError(f"{path}: Charades class list missing")
    ids, texts = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        identifier, _, text = line.strip().partition(" ")
        if not re.fullmatch(r"c\d{3}", identifier) or not text:
            raise AnnotationError(f"{path}, line {number}: expected 'c000 class text', got {line!r}")
        ids.append(identifier)
        texts.append(text.strip())
    if not ids:
        raise AnnotationError(f"{path}: empty file (expected one 'c000 class text' line per class)")
    return ids, texts


def parse_actions(text: str, where: str, class_index: dict[str, int]) -> list[tuple[int, float, float]]:
    """``"c092 11.90 21.20;c147 0.00 12.60"`` -> time-ordered ``(class, start, end)``.

    >>> parse_actions("c001 2.0 3.5;c000 0.0 1.0", "x", {"c000": 0, "c001": 1})
    [(0, 0.0, 1.0), (1, 2.0, 3.5)]
    """
    segments = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        match = _ACTION.match(item)
        if not match:
            raise AnnotationError(f"{where}, field 'actions': malformed action {item!r} (expected 'c123 start end')")
        identifier, start, end = match.group(1), float(match.group(2)), float(match.group(3))
        if identifier not in class_index:
            raise AnnotationError(f"{where}, field 'actions': unknown class {identifier!r} (not in {CLASSES_FILE})")
        segments.append((class_index[identifier], start, end))
    return sorted(segments, key=lambda s: (s[1], s[2], s[0]))


class Charades(VideoDataset):
    """Charades videos of one split (``"train"`` or ``"test"``), multi-label over 157 classes.

    Extra attributes: ``scenes`` (list[str]) and ``objects`` (list[list[str]]), the measured
    confounders of the book's analysis; ``lengths`` (seconds).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 features: str | os.PathLike | FeatureStore | None = None, num_frames: int = 32,
                 sampling: str | None = None, seed: int | None = None) -> None:
        if split not in CSV_FILES:
            raise ValueError(f"Charades split must be 'train' or 'test', got {split!r}")
        folder = find_dataset_folder(root, "charades", CLASSES_FILE)
        class_ids, class_texts = read_charades_classes(folder / CLASSES_FILE)
        class_index = {c: k for k, c in enumerate(class_ids)}
        path = folder / CSV_FILES[split]
        videos, scenes, objects, segments, lengths, listed = [], [], [], [], [], []
        for line, row in _read_csv(path):
            where = f"{path}, line {line}"
            video = (row["id"] or "").strip()
            if not video:
                raise AnnotationError(f"{where}, field 'id': empty video id")
            videos.append(video)
            listed.append((video, where))
            scenes.append((row["scene"] or "").strip())
            objects.append([o.strip() for o in (row["objects"] or "").split(";") if o.strip()])
            segments.append(parse_actions(row["actions"] or "", where, class_index))
            lengths.append(_float(row.get("length"), where, "length"))
        other = "test" if split == "train" else "train"
        refuse_repeated_videos(listed, _listed_ids(folder / CSV_FILES[other]), f"the {other} split")
        actions = np.zeros((len(videos), len(class_ids)), dtype=np.float32)
        for v, video_segments in enumerate(segments):
            for k, _, _ in video_segments:
                actions[v, k] = 1.0

        loader, text, feature_dim = None, None, None
        if features is not None:
            store = features if isinstance(features, FeatureStore) else FeatureStore(features)
            store.require(videos, listed_in=str(path))
            loader = frame_loader(store, videos, num_frames, sampling or ("random" if split == "train" else "uniform"), seed)
            feature_dim = store.read_all_frames(videos[0]).shape[1]
            text = store.read_text_features(len(class_ids), None)
        self.scenes = scenes
        self.objects = objects
        self.lengths = np.array(lengths, dtype=np.float64)
        super().__init__(
            name="charades", split=split, video_ids=videos, activities=np.full(len(videos), -1, dtype=np.int64),
            actions=actions, activity_names=[], action_names=class_ids, activity_texts=[],
            action_texts=class_texts, segments=segments, frame_loader=loader,
            num_frames=num_frames if loader else None, feature_dim=feature_dim,
            action_text_features=None if text is None else text["actions"],
        )

    @classmethod
    def _from_arguments(cls, arguments: dict) -> VideoDataset:
        return VideoDataset(**arguments)

    def subset(self, indices, split: str | None = None) -> VideoDataset:
        """The videos at ``indices``, keeping ``scenes``, ``objects`` and ``lengths``."""
        indices = [int(i) for i in indices]
        result = super().subset(indices, split)
        result.scenes = [self.scenes[i] for i in indices]
        result.objects = [self.objects[i] for i in indices]
        result.lengths = self.lengths[indices]
        return result


def _read_csv(path: Path):
    if not path.is_file():
        raise AnnotationError(f"{path}: Charades annotation file missing")
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        if not reader.fieldnames:
            raise AnnotationError(f"{path}: empty file (expected a header with {', '.join(REQUIRED_COLUMNS)})")
        missing = [c for c in REQUIRED_COLUMNS if c not in reader.fieldnames]
        if missing:
            raise AnnotationError(f"{path}, line 1: missing column(s) {', '.join(missing)}")
        rows = 0
        for row in reader:
            rows += 1
            where = f"{path}, line {reader.line_num}, video {(row.get('id') or '').strip()!r}"
            if None in row:  # csv.DictReader keeps surplus fields under the key None
                raise AnnotationError(f"{where}: {len(reader.fieldnames) + len(row[None])} fields, the header "
                                      f"has {len(reader.fieldnames)} (a stray comma or an unquoted field?)")
            cut = [name for name in reader.fieldnames if row[name] is None]
            if cut:
                raise AnnotationError(f"{where}: the row ends before field {cut[0]!r} (the file looks truncated: "
                                      "download it again with `pcmci-edu prepare charades`)")
            yield reader.line_num, row
        if rows == 0:
            raise AnnotationError(f"{path}: no videos after the header")


def _listed_ids(path: Path) -> list[tuple[str, str]]:
    """``(video id, where)`` of every row of a Charades CSV, or none when it is missing or unreadable
    (reading that split reports why)."""
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            return [((row.get("id") or "").strip(), f"{path}, line {reader.line_num}") for row in reader
                    if (row.get("id") or "").strip()]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _float(value: str | None, where: str, field: str) -> float:
    """A field in seconds: finite and >= 0; an empty field is NaN (not given)."""
    if value is None or value.strip() == "":
        return float("nan")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise AnnotationError(f"{where}, field {field!r}: expected a finite number of seconds >= 0, got {value!r}")
    return number

"""COIN (Tang et al., CVPR 2019): 11,827 instructional videos, 180 tasks, 778 steps.

``taxonomy.xlsx`` gives the label sets: sheet ``target_action_mapping`` (task id and name,
step id 1-778 and step text), sheet ``domain_target_mapping`` (12 domains). ``COIN.json``
holds the videos: ``{"database": {<id>: {"class", "recipe_type", "subset",
"annotation": [{"id", "segment", "label"}, ...], ...}}}``. Tasks are the activities, steps
the atomic actions; ``subset`` ``"training"`` is the train split and ``"testing"`` (the
documentation also says ``"validation"``) the test split.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pcmci_edu.data.breakfast import AnnotationError, find_dataset_folder, json_refusing_repeated_keys
from pcmci_edu.data.dataset import VideoDataset
from pcmci_edu.data.features import FeatureStore, frame_loader
from pcmci_edu.data.labels import task_phrase

SUBSET_OF_SPLIT = {"train": ("training",), "test": ("testing", "validation")}
KNOWN_SUBSETS = ("training", "testing", "validation")


@dataclass(frozen=True)
class CoinTaxonomy:
    """COIN's label sets, in id order: ``tasks[i]`` has id i, ``steps[j]`` has id j + 1."""

    tasks: list[str]
    steps: list[str]
    step_task: list[int]
    domains: dict[str, str]
    """task name -> domain."""


def read_coin_taxonomy(path: str | os.PathLike) -> CoinTaxonomy:
    """Read ``taxonomy.xlsx`` (needs openpyxl) and check ids are contiguous."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: COIN taxonomy missing")
    try:
        sheets = pd.read_excel(path, sheet_name=["target_action_mapping", "domain_target_mapping"])
    except ValueError as error:
        raise AnnotationError(f"{path}: expected sheets 'target_action_mapping' and 'domain_target_mapping' ({error})") from error
    steps_sheet, domains_sheet = sheets["target_action_mapping"], sheets["domain_target_mapping"]
    for column in ("Target Id", "Target Label", "Action Id", "Action Label"):
        if column not in steps_sheet.columns:
            raise AnnotationError(f"{path}, sheet target_action_mapping: missing column {column!r}")
    tasks_by_id = dict(zip(steps_sheet["Target Id"].astype(int), steps_sheet["Target Label"].astype(str)))
    if sorted(tasks_by_id) != list(range(len(tasks_by_id))):
        raise AnnotationError(f"{path}, sheet target_action_mapping, column 'Target Id': ids are not 0..{len(tasks_by_id) - 1}")
    ordered = steps_sheet.sort_values("Action Id")
    step_ids = ordered["Action Id"].astype(int).tolist()
    if step_ids != list(range(1, len(step_ids) + 1)):
        raise AnnotationError(f"{path}, sheet target_action_mapping, column 'Action Id': ids are not 1..{len(step_ids)}")
    return CoinTaxonomy(
        tasks=[tasks_by_id[i] for i in range(len(tasks_by_id))],
        steps=ordered["Action Label"].astype(str).tolist(),
        step_task=ordered["Target Id"].astype(int).tolist(),
        domains=dict(zip(domains_sheet["Targets"].astype(str), domains_sheet["Domains"].astype(str))),
    )


class COIN(VideoDataset):
    """COIN videos of one split (``"train"`` or ``"test"``); segments in seconds.

    ``root`` holds ``COIN.json`` and ``taxonomy.xlsx`` (or their ``coin/`` folder).
    Action names are step ids as strings ("1" ... "778"), action texts the step texts;
    activity names are the task ids of the taxonomy ("ReplaceCDDriveWithSSD"),
    activity texts their phrases ("replace CD drive with SSD").
    """

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 features: str | os.PathLike | FeatureStore | None = None, num_frames: int = 32,
                 sampling: str | None = None, seed: int | None = None,
                 annotation_file: str = "COIN.json") -> None:
        if split not in SUBSET_OF_SPLIT:
            raise ValueError(f"COIN split must be 'train' or 'test', got {split!r}")
        folder = find_dataset_folder(root, "coin", "taxonomy.xlsx")
        taxonomy = read_coin_taxonomy(folder / "taxonomy.xlsx")
        path = folder / annotation_file
        database = _read_database(path)
        task_index = {name: i for i, name in enumerate(taxonomy.tasks)}
        num_steps = len(taxonomy.steps)

        videos, activities, segments, rows = [], [], [], []
        for video, entry in database.items():
            where = f"{path}, video {video!r}"
            if not isinstance(entry, dict):
                raise AnnotationError(f"{where}: expected an object with fields subset, recipe_type, annotation")
            subset = entry.get("subset")
            if subset not in KNOWN_SUBSETS:
                raise AnnotationError(f"{where}, field 'subset': {subset!r}, expected one of {', '.join(KNOWN_SUBSETS)}")
            if subset not in SUBSET_OF_SPLIT[split]:
                continue
            task = _task_of(entry, where, task_index, len(taxonomy.tasks))
            labels = np.zeros(num_steps, dtype=np.float32)
            video_segments = []
            annotation = entry.get("annotation")
            if not isinstance(annotation, list):
                raise AnnotationError(f"{where}, field 'annotation': expected a list of steps")
            for number, step in enumerate(annotation):
                field = f"{where}, annotation[{number}]"
                try:
                    step_id = int(step["id"])
                    segment = step["segment"]
                except (KeyError, TypeError, ValueError):
                    raise AnnotationError(f"{field}: expected {{'id': '1'..'{num_steps}', 'segment': [start, end]}}, got {step!r}") from None
                start, end = _segment(segment, f"{field}, field 'segment'")
                if not 1 <= step_id <= num_steps:
                    raise AnnotationError(f"{field}, field 'id': unknown step id {step_id} (taxonomy has 1..{num_steps})")
                labels[step_id - 1] = 1.0
                video_segments.append((step_id - 1, start, end))
            videos.append(video)
            activities.append(task)
            rows.append(labels)
            segments.append(sorted(video_segments, key=lambda s: (s[1], s[2])))
        if not videos:
            raise AnnotationError(f"{path}: no video has subset {' or '.join(SUBSET_OF_SPLIT[split])}")

        loader, text, feature_dim = None, None, None
        if features is not None:
            store = features if isinstance(features, FeatureStore) else FeatureStore(features)
            store.require(videos, listed_in=f"COIN {split}")
            loader = frame_loader(store, videos, num_frames, sampling or ("random" if split == "train" else "uniform"), seed)
            feature_dim = store.read_all_frames(videos[0]).shape[1]
            text = store.read_text_features(num_steps, len(taxonomy.tasks))
        self.taxonomy = taxonomy
        super().__init__(
            name="coin", split=split, video_ids=videos, activities=np.array(activities, dtype=np.int64),
            actions=np.stack(rows), activity_names=taxonomy.tasks, action_names=[str(i) for i in range(1, num_steps + 1)],
            activity_texts=[task_phrase(t) for t in taxonomy.tasks], action_texts=taxonomy.steps,
            segments=segments, frame_loader=loader, num_frames=num_frames if loader else None,
            feature_dim=feature_dim, action_text_features=None if text is None else text["actions"],
            activity_text_features=None if text is None else text.get("activities"),
        )

    @classmethod
    def _from_arguments(cls, arguments: dict) -> VideoDataset:
        return VideoDataset(**arguments)


def _read_database(path: Path) -> dict:
    if not path.is_file():
        raise AnnotationError(
            f"{path}: COIN.json missing (download it from the COIN project; see pcmci_edu.data.download)"
        )
    text = path.read_text()
    if not text.strip():
        raise AnnotationError(f"{path}: empty file (expected {{'database': {{...}}}})")
    data = json_refusing_repeated_keys(text, path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise AnnotationError(f"{path}, field 'database': expected an object of videos")
    return data["database"]


def _segment(value, where: str) -> tuple[float, float]:
    """``[start, end]``: two finite numbers of seconds (a string or a third bound is refused)."""
    numbers = isinstance(value, list) and len(value) == 2 and all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in value)
    if not numbers:
        raise AnnotationError(f"{where}: expected [start, end], two finite numbers of seconds, got {value!r}")
    return float(value[0]), float(value[1])


def _task_of(entry: dict, where: str, task_index: dict[str, int], num_tasks: int) -> int:
    recipe = entry.get("recipe_type")
    name = entry.get("class")
    if recipe is None and name is None:
        raise AnnotationError(f"{where}: no 'recipe_type' or 'class' field")
    if recipe is not None:
        try:
            task = int(recipe)
        except (TypeError, ValueError):
            raise AnnotationError(f"{where}, field 'recipe_type': expected an integer task id, got {recipe!r}") from None
        if not 0 <= task < num_tasks:
            raise AnnotationError(f"{where}, field 'recipe_type': {task} outside 0..{num_tasks - 1}")
        if name is not None and task_index.get(name, task) != task:
            raise AnnotationError(f"{where}: 'class' {name!r} disagrees with 'recipe_type' {task} in the taxonomy")
        return task
    if name not in task_index:
        raise AnnotationError(f"{where}, field 'class': unknown task {name!r} (not in taxonomy.xlsx)")
    return task_index[name]

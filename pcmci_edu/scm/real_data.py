"""Aggregate statistics of the real annotation files, computed live or read from the committed copy.

The licences of Breakfast, COIN and Charades forbid redistributing their annotations, so the book
cannot ship them; it can ship *aggregates*: counts, rates and statistics computed from them (no
annotation row, no video id). :func:`aggregate` computes every aggregate chapters 1, 2 and 9 show,
with the package's own functions (:mod:`~pcmci_edu.scm.label_structure`,
:mod:`~pcmci_edu.scm.evidence`), and :func:`real_data` returns them either computed now from
``$PCMCI_DATA_ROOT`` or read from the committed ``pcmci_edu/scm/real_data_aggregates.json``
(package data), saying which.

The committed file is written by::

    python -m pcmci_edu.scm.real_data --root $PCMCI_DATA_ROOT --out pcmci_edu/scm/real_data_aggregates.json

which records its provenance: the command, the package version and git commit, the date, and the
sha256 of every annotation file read.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pcmci_edu.scm.evidence import (all_stratified_risk_differences, multi_hot, scene_adjusted_estimates,
                                    scene_predictiveness)
from pcmci_edu.scm.label_structure import (action_cooccurrence, activity_action_frequency, exclusive_pairs,
                                           shared_actions)

COMMITTED = Path(__file__).resolve().parent / "real_data_aggregates.json"
"""The committed aggregates: package data, so they come with ``pip install`` (Colab included)."""

CHARADES_MIN_EXPOSED = 100
"""Charades: an object enters the risk-difference analysis when at least this many training videos show it."""

CHARADES_MIN_GROUP = 5
"""Charades: a scene counts for an (object, action) pair when it has this many videos with and without the object."""

ROUND = 4


def _rounded(values: np.ndarray, digits: int = ROUND) -> list:
    return np.round(np.asarray(values, dtype=float), digits).tolist()


def breakfast_aggregates(root: str | os.PathLike) -> dict[str, Any]:
    """Breakfast, person split (train P03-P46, test P47-P54): sizes, label structure of the train
    split (co-occurrence, activity-action frequency, shared actions, exclusive pairs), and the
    classes absent from the test split with the bound they put on an all-classes mAP."""
    from pcmci_edu.data import Breakfast

    train, test = Breakfast(root, split="train"), Breakfast(root, split="test")
    present = test.actions.sum(axis=0) > 0
    shared = shared_actions(train.activities, train.actions, train.num_activities)
    return {
        "split": "person (train P03-P46, test P47-P54)",
        "activity_names": list(train.activity_texts), "action_names": list(train.action_texts),
        "videos": {"train": len(train), "test": len(test)},
        "mean_actions_per_video_train": round(float(train.actions.sum(1).mean()), ROUND),
        "cooccurrence_train": _rounded(action_cooccurrence(train.actions)),
        "activity_action_frequency_train": _rounded(
            activity_action_frequency(train.activities, train.actions, train.num_activities)),
        "activities_sharing_each_action_train": np.asarray(shared).astype(int).tolist(),
        "exclusive_pairs_train": [[int(a), int(i), int(j)] for a, i, j in
                                  exclusive_pairs(train.activities, train.actions, train.num_activities)],
        "test_present_classes": int(present.sum()),
        "test_absent_actions": [name for name, here in zip(test.action_texts, present) if not here],
    }


def coin_aggregates(root: str | os.PathLike) -> dict[str, Any]:
    """COIN's taxonomy: tasks, steps, distinct step texts, tasks per domain, steps per task."""
    from pcmci_edu.data import read_coin_taxonomy
    from pcmci_edu.data.breakfast import find_dataset_folder

    coin = read_coin_taxonomy(find_dataset_folder(root, "coin", "taxonomy.xlsx") / "taxonomy.xlsx")
    steps = pd.Series(coin.steps)
    return {
        "tasks": len(coin.tasks), "steps": len(coin.steps), "distinct_step_texts": int(steps.nunique()),
        "step_texts_used_by_several_ids": int((steps.value_counts() > 1).sum()),
        "tasks_per_domain": {str(k): int(v) for k, v in pd.Series(coin.domains).value_counts().items()},
        "steps_per_task": [int(v) for v in pd.Series(coin.step_task).value_counts().sort_index()],
    }


def charades_scene_evidence(train_scenes: Sequence[str], train_actions: np.ndarray, test_scenes: Sequence[str],
                            test_actions: np.ndarray, train_objects: Sequence[Sequence[str]],
                            action_names: Sequence[str], min_exposed: int = CHARADES_MIN_EXPOSED,
                            min_group: int = CHARADES_MIN_GROUP) -> dict[str, Any]:
    """Chapter 2's evidence that the scene confounds actions, as plain numbers.

    1. :func:`~pcmci_edu.scm.evidence.scene_predictiveness`: mAP from the scene alone against the
       scene-blind prior, mutual information per action, scene-action frequencies;
    2. :func:`~pcmci_edu.scm.evidence.all_stratified_risk_differences` over (object, action)
       pairs: naive against scene-standardised risk differences;
    3. the example pair, chosen by a rule and not by hand: among the pairs whose usable scenes
       cover at least 75% of the videos (or the best-covered quarter when none does), the one the
       adjustment changes most; with dowhy's estimates for it
       (:func:`~pcmci_edu.scm.evidence.scene_adjusted_estimates`).
    """
    evidence = scene_predictiveness(train_scenes, train_actions, test_scenes, test_actions)
    objects, object_names = multi_hot(train_objects, min_count=min_exposed)
    pairs = all_stratified_risk_differences(objects, train_actions, train_scenes, min_exposed=min_exposed,
                                            min_group=min_group).dropna()
    pairs["change"] = pairs.naive - pairs.adjusted
    candidates = pairs[pairs.coverage >= min(0.75, pairs.coverage.quantile(0.75))]
    example = pairs.loc[candidates.change.abs().idxmax()]
    j, k = int(example.exposure), int(example.outcome)
    estimates = scene_adjusted_estimates(objects[:, j], np.asarray(train_actions)[:, k], train_scenes,
                                         min_group=min_group)
    frequency = evidence["scene_action_frequency"]
    return {
        "mAP_scene": round(float(evidence["mAP_scene"]), ROUND), "mAP_prior": round(float(evidence["mAP_prior"]), ROUND),
        "mutual_information_bits": _rounded(evidence["mutual_information_bits"]),
        "scene_action_frequency": {"scenes": [str(s) for s in frequency.index],
                                   "values": _rounded(frequency.to_numpy())},
        "min_exposed": min_exposed, "min_group": min_group,
        "object_names": list(object_names),
        "pairs": {"object": pairs.exposure.astype(int).tolist(), "action": pairs.outcome.astype(int).tolist(),
                  "naive": _rounded(pairs.naive, 3), "adjusted": _rounded(pairs.adjusted, 3),
                  "coverage": _rounded(pairs.coverage, 3)},
        "example": {"object": object_names[j], "action": action_names[k],
                    **{name: round(float(value), ROUND) for name, value in estimates.items() if name != "backdoor_set"},
                    "backdoor_set": list(estimates["backdoor_set"])},
    }


def charades_aggregates(root: str | os.PathLike, scene_evidence: bool = True) -> dict[str, Any]:
    """Charades: sizes, and (``scene_evidence``) :func:`charades_scene_evidence` on the official
    train and test splits."""
    from pcmci_edu.data import Charades

    train, test = Charades(root, split="train"), Charades(root, split="test")
    record = {
        "videos": {"train": len(train), "test": len(test)}, "actions": int(train.num_actions),
        "action_names": list(train.action_texts),
        "mean_actions_per_video_train": round(float(train.actions.sum(1).mean()), ROUND),
    }
    if scene_evidence:
        record["scene_evidence"] = charades_scene_evidence(list(train.scenes), train.actions, list(test.scenes),
                                                           test.actions, list(train.objects), list(train.action_texts))
    return record


def _annotation_digests(root: Path) -> dict[str, dict[str, Any]]:
    """Per dataset folder under ``root``: the number of files and one sha256 over all of them
    (of the sorted lines ``<sha256 of the file>  <path>``), so a reader can check that the
    same files produce the same aggregates without the file list naming any video."""
    digests = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        lines = [f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(root)}"
                 for path in sorted(p for p in folder.rglob("*") if p.is_file())]
        digests[folder.name] = {"files": len(lines),
                                "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}
    return digests


DATASETS = ("breakfast", "coin", "charades")


def aggregate(root: str | os.PathLike, datasets: Sequence[str] = DATASETS,
              scene_evidence: bool = True) -> dict[str, Any]:
    """Every aggregate of the book's real-data sections for ``datasets``, computed from the
    annotation files under ``root`` (one folder per dataset, as in ``/work/shared/data``); no
    annotation rows. ``scene_evidence=False`` skips Charades' scene analysis (chapter 2 only)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of annotation files (set PCMCI_DATA_ROOT to one)")
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}: expected some of {', '.join(DATASETS)}")
    makers = {"breakfast": breakfast_aggregates, "coin": coin_aggregates,
              "charades": lambda folder: charades_aggregates(folder, scene_evidence)}
    return {name: makers[name](root) for name in datasets}


def provenance(root: str | os.PathLike, command: Sequence[str]) -> dict[str, Any]:
    """What produced a set of aggregates: command, package version, git commit, date, input hashes."""
    import pcmci_edu
    from pcmci_edu.cli.provenance import code_version

    return {"command": " ".join(command), "package_version": pcmci_edu.__version__,
            "code_version": code_version(),
            "computed_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "inputs": _annotation_digests(Path(root)),
            "note": "Counts and rates only: the datasets' licences forbid redistributing annotation rows."}


def real_data(datasets: Sequence[str] = DATASETS, *, scene_evidence: bool = True,
              root: str | os.PathLike | None = None, committed: str | os.PathLike = COMMITTED) -> tuple[dict, str]:
    """The aggregates of ``datasets`` and a sentence saying where they come from.

    With ``root`` (default ``$PCMCI_DATA_ROOT``) they are computed now from the annotation files
    (:func:`aggregate`); without it they are read from the committed :data:`COMMITTED` file,
    whose provenance the sentence quotes.
    """
    root = root if root is not None else os.environ.get("PCMCI_DATA_ROOT") or None
    if root:
        return (aggregate(root, datasets, scene_evidence),
                f"computed now from the annotation files under {root} (PCMCI_DATA_ROOT)")
    path = Path(committed)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the committed aggregates are missing, and PCMCI_DATA_ROOT is not set; "
                                f"run `python -m pcmci_edu.scm.real_data --root DATA --out {path}`")
    record = json.loads(path.read_text())
    meta = record["provenance"]
    commit = (meta["code_version"].get("git_commit") or "no commit")[:10]
    return ({name: record[name] for name in datasets},
            f"read from the committed {path.name} (PCMCI_DATA_ROOT is not set), computed "
            f"{meta['computed_at']} by `{meta['command']}` at pcmci_edu {meta['package_version']} ({commit})")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: compute the aggregates under ``--root`` and write them, with their
    provenance, to ``--out`` (atomically). Exit status 0, or 1 with one line on stderr for a
    missing or malformed annotation file, 2 without a root."""
    parser = argparse.ArgumentParser(prog="python -m pcmci_edu.scm.real_data", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.environ.get("PCMCI_DATA_ROOT"),
                        help="folder of the annotation files (default: $PCMCI_DATA_ROOT)")
    parser.add_argument("--out", default=str(COMMITTED), help="where to write the JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.root:
        print("error: give --root or set PCMCI_DATA_ROOT to the folder of the annotation files", file=sys.stderr)
        return 2
    from pcmci_edu.data import AnnotationError
    from pcmci_edu.files import atomic_write_text

    try:
        record = aggregate(args.root)
    except (FileNotFoundError, AnnotationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out = Path(args.out).resolve()
    shown = out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out  # no home folders in the file
    command = ["python -m pcmci_edu.scm.real_data", "--root", "$PCMCI_DATA_ROOT", "--out", str(shown)]
    record = {"provenance": provenance(args.root, command), **record}
    # provenance readable, the numbers compact (one line per dataset)
    lines = [f"{json.dumps(key)}: " + (json.dumps(value, indent=1) if key == "provenance" else
                                       json.dumps(value, separators=(",", ":"), ensure_ascii=False))
             for key, value in record.items()]
    atomic_write_text(args.out, "{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {args.out}: aggregates of {', '.join(k for k in record if k != 'provenance')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

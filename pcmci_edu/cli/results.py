"""Results files beside the paper's numbers: ``pcmci-edu results RUNS`` (chapter 9).

:func:`read_results` collects the ``results.json`` files that ``evaluate`` wrote under a folder,
:func:`results_rows` turns them into one table row each (metrics in percent, device, commit),
and :data:`PAPER_MAIN_TABLE` quotes the poster's main comparison to set them beside.
:func:`paper_comparison` builds the table ``pcmci-edu results`` prints: each of your runs, the
poster's number for the same setup (its ablation and order tables on Breakfast,
:data:`pcmci_edu.experiments.variants.POSTER_ABLATION`; its main comparison otherwise), the peers'
figures where the poster gives them, all labelled "as in the poster", and the ceiling an
all-classes mAP cannot exceed on your test split (the share of action classes with a positive
test video, which ``evaluate`` records: 43 of 48 = 89.58% on Breakfast's person split).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


RESULTS_FILE = "results.json"


PAPER_MAIN_TABLE: dict[str, dict[str, float | None]] = {
    # method: Breakfast accuracy, Breakfast mAP, COIN accuracy, COIN mAP (percent), GFLOPs, params (M)
    "Text4Vis": {"breakfast/accuracy": 95.49, "breakfast/mAP": 60.49, "coin/accuracy": 91.98,
                 "coin/mAP": 63.39, "FLOPs": 835, "params": 287},
    "MA-LMM": {"breakfast/accuracy": 93.00, "breakfast/mAP": 71.84, "coin/accuracy": 93.20,
               "coin/mAP": 67.67, "FLOPs": 29063, "params": 7526},
    "HierarQ": {"breakfast/accuracy": 97.18, "breakfast/mAP": 76.32, "coin/accuracy": 94.78,
                "coin/mAP": 70.10, "FLOPs": 37877, "params": 7881},
    "PCMCi": {"breakfast/accuracy": 97.46, "breakfast/mAP": 90.51, "coin/accuracy": 94.53,
              "coin/mAP": 86.54, "FLOPs": 650, "params": 211, "charades/mAP": 53.3},
}
"""The poster's main comparison (Xu et al., CVPR 2026, "Main Comparison"; Charades mAP from its
headline numbers), quoted in percent. The poster does not say which mAP convention each number
uses, nor the units of FLOPs and Params."""


def read_results(folder: str | Path) -> list[dict]:
    """Every ``results.json`` written by ``pcmci-edu evaluate`` under ``folder`` (recursively).

    A file that is not valid JSON or lacks the metrics is reported by name.
    """
    results = []
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of runs (give the folder holding the run folders "
                                f"that `pcmci-edu evaluate` wrote {RESULTS_FILE} into)")
    for path in sorted(Path(folder).rglob(RESULTS_FILE)):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict) or "dataset" not in record:
            raise ValueError(f"{path}: expected the 'dataset' and 'metrics' fields of `pcmci-edu evaluate`")
        for name, value in record["metrics"].items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0.0 <= value <= 1.0):
                raise ValueError(f"{path}: metrics.{name} = {value!r}; expected a fraction between 0 and 1 or null")
        results.append({**record, "path": str(path)})
    return results


def results_rows(results: list[dict]) -> list[dict]:
    """One row per results file: dataset, label, the three metrics in percent, device, commit."""
    rows = []
    for record in results:
        metrics = record["metrics"]
        rows.append({
            "dataset": record["dataset"], "label": record.get("label") or "", "videos": record.get("num_videos"),
            "videos without features": record.get("videos_without_features"),
            **{name: None if metrics.get(name) is None else round(100 * metrics[name], 2)
               for name in ("accuracy", "mAP_all_classes", "mAP_present_classes")},
            "device": (record.get("hardware") or {}).get("device", ""),
            "commit": ((record.get("code_version") or {}).get("git_commit") or "")[:10],
            "file": record["path"],
        })
    return rows


def all_classes_ceiling(actions) -> tuple[int, int]:
    """``(present, total)``: action classes with at least one positive video in ``actions`` (multi-hot
    ``[videos, classes]``), and all classes. A class without a positive scores AP 0 in an all-classes
    mean, so that mean cannot exceed ``present / total``.

    >>> all_classes_ceiling([[1, 0, 0], [1, 1, 0]])
    (2, 3)
    """
    import numpy as np

    actions = np.asarray(actions)
    return int((actions.sum(axis=0) > 0).sum()), int(actions.shape[1])


AS_IN_THE_POSTER = "as in the poster"
PEERS = ("Text4Vis", "MA-LMM", "HierarQ")
POSTER_DATASET_KEYS = {"breakfast": "breakfast", "coin": "coin", "charades": "charades"}


def _poster_setups() -> dict[tuple[str, ...], tuple[str, float, float]]:
    """Breakfast setups the poster reports, by intervention order: (its name, B-Acc, B-mAP)."""
    from pcmci_edu.experiments.variants import POSTER_ABLATION, POSTER_ORDERS, VARIANTS

    setups = {}
    for table, title in ((POSTER_ORDERS, "order"), (POSTER_ABLATION, "setup")):
        for row in table.to_dict("records"):
            setups[VARIANTS[row["variant"]].interventions] = (row[title], row["B-Acc"], row["B-mAP"])
    return setups


def _percent(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(100 * value, 2)


def paper_comparison(results: list[dict]) -> list[dict]:
    """Rows of the results-versus-paper table: per dataset, your runs, then the poster's rows.

    Each of your rows has its metrics in percent, the interventions it ran, and the ceiling of the
    all-classes mAP on its test split; each quoted row says ``as in the poster``: PCMCi with the
    same interventions as your run (Breakfast: the poster's ablation and order tables), PCMCi's
    main-table figures, and the peers' (Text4Vis, MA-LMM, HierarQ) where the poster gives them.
    The poster does not state its mAP convention, so its mAP fills its own column.
    """
    setups = _poster_setups()
    rows: list[dict] = []
    for dataset in sorted({record["dataset"] for record in results}):
        runs = [record for record in results if record["dataset"] == dataset]
        quoted_setups = {}
        for record in runs:
            interventions = tuple((record.get("model_config") or {}).get("interventions") or ())
            ceiling = record.get("mAP_all_classes_ceiling")
            rows.append({
                "dataset": dataset, "row": f"yours: {record.get('label') or Path(record['path']).parent.name}",
                "interventions": " → ".join(name.upper() for name in interventions) or "none (base)",
                "accuracy": _percent(record["metrics"].get("accuracy")),
                "mAP all classes": _percent(record["metrics"].get("mAP_all_classes")),
                "mAP classes present": _percent(record["metrics"].get("mAP_present_classes")),
                "mAP, convention not stated": None,
                "all-classes mAP ceiling": _percent(ceiling),
                "test videos": record.get("num_videos")})
            if dataset == "breakfast" and interventions in setups:
                quoted_setups[interventions] = setups[interventions]
        for interventions, (name, accuracy, mean_ap) in quoted_setups.items():
            if interventions == ("ich", "ici", "ivc"):
                continue  # the main table's PCMCi row below holds the same numbers
            rows.append({"dataset": dataset, "row": f"PCMCi {name} ({AS_IN_THE_POSTER}, ablation/order table)",
                         "interventions": " → ".join(name.upper() for name in interventions) or "none (base)",
                         "accuracy": accuracy, "mAP, convention not stated": mean_ap})
        for method, figures in PAPER_MAIN_TABLE.items():
            accuracy, mean_ap = figures.get(f"{dataset}/accuracy"), figures.get(f"{dataset}/mAP")
            if accuracy is None and mean_ap is None:
                continue
            rows.append({"dataset": dataset, "row": f"{method} ({AS_IN_THE_POSTER})",
                         "interventions": "ICH → ICI → IVC" if method == "PCMCi" else "(peer)",
                         "accuracy": accuracy, "mAP, convention not stated": mean_ap})
    return rows


COLUMNS = ("row", "interventions", "accuracy", "mAP all classes", "mAP classes present",
           "mAP, convention not stated", "all-classes mAP ceiling")


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def comparison_text(rows: list[dict]) -> str:
    """The comparison as a plain-text table per dataset (percent; ``-`` where a figure does not exist),
    with a line under each dataset's table when the poster's mAP exceeds your split's ceiling."""
    lines = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        part = [row for row in rows if row["dataset"] == dataset]
        cells = [[_cell(row.get(column)) for column in COLUMNS] for row in part]
        widths = [max(len(column), *(len(cell[i]) for cell in cells)) for i, column in enumerate(COLUMNS)]
        lines.append(f"{dataset} (percent)")
        lines.append("  ".join(column.ljust(width) for column, width in zip(COLUMNS, widths)).rstrip())
        lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)
        ceilings = {row["all-classes mAP ceiling"] for row in part if row.get("all-classes mAP ceiling") is not None}
        poster = PAPER_MAIN_TABLE["PCMCi"].get(f"{dataset}/mAP")
        for ceiling in sorted(ceilings):
            if poster is not None and poster > ceiling:
                lines.append(f"  an all-classes mAP cannot exceed {ceiling:.2f}% on your test split; the poster's "
                             f"{poster} cannot be an all-classes mean on this split (it averages over the classes "
                             "present, or uses another split): compare it with 'mAP classes present'")
        lines.append("")
    return "\n".join(lines).rstrip()


def _results(arguments: argparse.Namespace) -> int:
    """``pcmci-edu results RUNS``: every run under RUNS beside the poster's numbers."""
    results = read_results(arguments.runs)
    if not arguments.include_checks:
        results = [record for record in results if "pipeline check" not in (record.get("label") or "")]
    if not results:
        raise FileNotFoundError(f"{arguments.runs}: no {RESULTS_FILE} of a run (pipeline checks left out unless "
                                "--include-checks); run `pcmci-edu evaluate` first")
    rows = paper_comparison(results)
    if arguments.format == "csv":
        import csv
        import sys

        writer = csv.DictWriter(sys.stdout, fieldnames=["dataset", *COLUMNS, "test videos"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        print(comparison_text(rows))
        print("\nQuoted rows are the poster's numbers (Xu et al., CVPR 2026), not runs of ours; the poster does not "
              "say which mAP convention it uses.")
    return 0

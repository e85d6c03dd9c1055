"""Results files beside the paper's numbers (chapter 9).

:func:`read_results` collects the ``results.json`` files that ``evaluate`` wrote under a folder,
:func:`results_rows` turns them into one table row each (metrics in percent, device, commit),
and :data:`PAPER_MAIN_TABLE` quotes the poster's main comparison to set them beside.
"""

from __future__ import annotations

import json
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
    for path in sorted(Path(folder).rglob(RESULTS_FILE)):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(record.get("metrics"), dict) or "dataset" not in record:
            raise ValueError(f"{path}: expected the 'dataset' and 'metrics' fields of `pcmci-edu evaluate`")
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

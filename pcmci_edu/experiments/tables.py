"""Rows -> tables: the mean and spread over seeds of each configuration, and a display form.

:func:`summarize` groups a grid's rows by variant (mean and sample standard deviation per
metric), :func:`format_table` turns that into the ``mean ± std`` tables chapters 3-7 print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd



SUMMARY_METRICS: tuple[str, ...] = (
    "accuracy_test", "mAP_all_classes_test", "mAP_present_classes_test",
    "accuracy_shift", "mAP_all_classes_shift", "mAP_present_classes_shift",
    "gap_accuracy", "gap_mAP_all_classes", "masked_accuracy", "masked_score_ratio",
)


def summarize(rows: pd.DataFrame | Sequence[Mapping[str, Any]], metrics: Sequence[str] = SUMMARY_METRICS,
              by: str = "variant", order: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation over seeds: columns ``<metric>_mean``, ``<metric>_std``, ``n``.

    Rows follow ``order`` (default: first appearance). The standard deviation is the sample one
    (``ddof=1``), NaN for a single seed.
    """
    frame = pd.DataFrame(rows)
    metrics = [m for m in metrics if m in frame.columns]
    grouped = frame.groupby(by, sort=False)
    table = pd.concat({"mean": grouped[metrics].mean(), "std": grouped[metrics].std(ddof=1)}, axis=1)
    table.columns = [f"{metric}_{stat}" for stat, metric in table.columns]
    table = table[[f"{m}_{s}" for m in metrics for s in ("mean", "std")]]
    table["n"] = grouped.size()
    if "label" in frame.columns:
        table.insert(0, "label", grouped["label"].first())
    if order is not None:
        table = table.loc[[name for name in order if name in table.index]]
    return table


def format_table(summary: pd.DataFrame, metrics: Sequence[str], *, percent: bool = True,
                 names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A display table: one ``mean ± std`` string per metric (in percent by default)."""
    scale = 100.0 if percent else 1.0
    shown = pd.DataFrame(index=summary.index)
    if "label" in summary.columns:
        shown["configuration"] = summary["label"]
    for metric in metrics:
        mean, std = summary[f"{metric}_mean"] * scale, summary[f"{metric}_std"] * scale
        shown[(names or {}).get(metric, metric)] = [
            f"{m:.1f}" if not np.isfinite(s) else f"{m:.1f} ± {s:.1f}" for m, s in zip(mean, std)]
    shown["seeds"] = summary["n"]
    return shown.reset_index(drop=True)


def show_markdown(text: str) -> None:
    """Display a computed sentence or paragraph as Markdown, so it wraps with the page (a printed
    line does not: it scrolls sideways in a narrow column). ``$...$`` math renders too."""
    from IPython.display import Markdown, display

    display(Markdown(text))

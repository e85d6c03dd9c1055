"""Figures of the summary tables: grouped bars with the spread over seeds (chapters 3-7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd



def plot_summary(summary: pd.DataFrame, metrics: Sequence[str], ax=None, *, names: Mapping[str, str] | None = None,
                 percent: bool = True, title: str | None = None):
    """Grouped bars: one group per metric, one bar per configuration, error bars = std over seeds."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(1.6 + 1.4 * len(metrics) * max(1, len(summary)) / 3, 3.2))[1]
    scale = 100.0 if percent else 1.0
    width = 0.8 / max(len(summary), 1)
    positions = np.arange(len(metrics))
    for i, (name, row) in enumerate(summary.iterrows()):
        means = [row[f"{m}_mean"] * scale for m in metrics]
        stds = [np.nan_to_num(row[f"{m}_std"]) * scale for m in metrics]
        ax.bar(positions + (i - (len(summary) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
               label=row.get("label", name))
    ax.set_xticks(positions, [(names or {}).get(m, m) for m in metrics], rotation=0)
    ax.set_ylabel("percent" if percent else "value")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    if title:
        ax.set_title(title)
    return ax

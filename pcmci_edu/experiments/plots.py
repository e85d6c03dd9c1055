"""Figures: grouped bars of the summary tables with the spread over seeds (chapters 3-7), and
the forest plot of a chapter's primary comparisons over benchmark draws.
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


def forest_plot(ax, table: pd.DataFrame, *, percent: bool = True, title: str | None = None):
    """A forest plot of analysed comparisons (:func:`pcmci_edu.experiments.evidence.analyse_family`):
    one line per comparison, its mean difference over draws with the 95% CI, the equivalence
    margin ±margin shaded, a zero line; clear comparisons drawn filled, the others hollow.
    The labels are the comparisons' ``label`` (top to bottom in the table's order) and the
    verdict is written at the right of each line."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.5, 0.6 + 0.55 * len(table)))[1]
    scale = 100.0 if percent else 1.0
    table = pd.DataFrame(table).reset_index(drop=True)
    positions = np.arange(len(table))[::-1]
    for y, row in zip(positions, table.itertuples()):
        margin = getattr(row, "margin", np.nan)
        if margin is not None and np.isfinite(margin):
            ax.fill_betweenx([y - 0.4, y + 0.4], -margin * scale, margin * scale, color="0.85", linewidth=0,
                             zorder=0)
        low, high = row.ci_low * scale, row.ci_high * scale
        if np.isfinite(low):
            ax.plot([low, high], [y, y], color="black", linewidth=1.4, zorder=2)
        ax.plot(row.mean_diff * scale, y, "o", markersize=6, zorder=3, color="black",
                markerfacecolor="black" if row.clear else "white")
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--", zorder=1)
    ax.set_yticks(positions, list(table["label"]), fontsize=8)
    ax.set_ylim(-0.6, len(table) - 0.4)
    if "verdict" in table.columns:
        right = ax.secondary_yaxis("right")
        right.set_yticks(positions, [v.split(" (")[0] for v in table["verdict"]], fontsize=7)
        right.tick_params(length=0)
    ax.set_xlabel(("difference (points)" if percent else "difference")
                  + "; shaded: ±margin; filled: clear (Holm p < 0.05)", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax

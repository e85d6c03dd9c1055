"""Comparing runs: differences between configurations, rankings, and tests of whether they differ.

Chapters 3-7 state a difference as "clear" only when this module says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pcmci_edu.experiments.variants import VARIANTS


def difference(rows: pd.DataFrame, metric: str, first: str, second: str) -> dict[str, float]:
    """Mean of ``metric`` for variant ``first`` minus ``second``, with the standard error of the
    difference (independent seeds) and whether it is clear: ``|diff| > 2 * se``."""
    a = rows.loc[rows["variant"] == first, metric].astype(float)
    b = rows.loc[rows["variant"] == second, metric].astype(float)
    if a.empty or b.empty:
        raise KeyError(f"no rows for variant {first if a.empty else second!r} (metric {metric})")
    diff = float(a.mean() - b.mean())
    se = float(math.sqrt((a.var(ddof=1) if len(a) > 1 else 0.0) / len(a) +
                         (b.var(ddof=1) if len(b) > 1 else 0.0) / len(b)))
    return {"diff": diff, "se": se, "clear": bool(abs(diff) > 2 * se and len(a) > 1 and len(b) > 1)}


def best_variant(rows: pd.DataFrame, metric: str, among: Sequence[str], higher: bool = True) -> str:
    """The variant among ``among`` with the best mean ``metric`` over seeds."""
    means = rows[rows["variant"].isin(among)].groupby("variant")[metric].mean()
    if means.empty:
        raise KeyError(f"no rows for any of {list(among)}")
    return str(means.idxmax() if higher else means.idxmin())


def permutation_anova(groups: Sequence[Sequence[float]], permutations: int = 10_000,
                      seed: int = 0) -> tuple[float, float]:
    """One-way ANOVA F statistic of several groups and its permutation p-value.

    The p-value is the fraction of random reassignments of the pooled values to groups of the
    same sizes whose F is at least the observed one (plus one, so it is never 0); no normality
    assumption. Used to ask whether several configurations differ at all, before reading their
    ranking.

    >>> f, p = permutation_anova([[0.0, 0.1, 0.2], [5.0, 5.1, 5.2]], permutations=999)
    >>> p < 0.2
    True
    """
    arrays = [np.asarray(group, dtype=float) for group in groups]
    if len(arrays) < 2 or any(len(a) < 1 for a in arrays):
        raise ValueError("permutation_anova needs at least two non-empty groups")
    sizes = np.array([len(a) for a in arrays])
    pooled = np.concatenate(arrays)
    bounds = np.cumsum(sizes)[:-1]

    def f_statistic(values: np.ndarray) -> float:
        parts = np.split(values, bounds)
        means = np.array([part.mean() for part in parts])
        between = (sizes * (means - values.mean()) ** 2).sum() / (len(parts) - 1)
        within = sum(((part - part.mean()) ** 2).sum() for part in parts) / max(len(values) - len(parts), 1)
        return float(between / within) if within > 0 else math.inf

    observed = f_statistic(pooled)
    generator = np.random.default_rng(seed)
    exceed = sum(f_statistic(generator.permutation(pooled)) >= observed * (1 - 1e-9) for _ in range(permutations))
    return observed, (exceed + 1) / (permutations + 1)


def rank_correlation(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """Spearman's rank correlation of two sequences of the same length (ties averaged)."""
    a = pd.Series(list(ours)).rank().to_numpy()
    b = pd.Series(list(theirs)).rank().to_numpy()
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _pct(value: float) -> str:
    return f"{100 * value:+.1f} points"


def _describe(diff: Mapping[str, float], percent: bool = True) -> str:
    strength = "a clear" if diff["clear"] else "not a clear"
    if not percent:
        return f"{diff['diff']:+.3f} (± {diff['se']:.3f} standard error; {strength} difference)"
    return f"{_pct(diff['diff'])} (± {100 * diff['se']:.1f} standard error; {strength} difference)"


def compare(rows: pd.DataFrame, metric: str, first: str, second: str, what: str | None = None,
            percent: bool = True) -> str:
    """One sentence comparing two variants on a metric, from the rows (mean ± std over seeds).

    >>> rows = pd.DataFrame({"variant": ["a", "a", "b", "b"], "x": [0.5, 0.7, 0.2, 0.2]})
    >>> compare(rows, "x", "a", "b", what="accuracy")
    'accuracy: a 60.0 ± 14.1, b 20.0 ± 0.0; difference +40.0 points (± 10.0 standard error; a clear difference).'
    """
    scale = 100.0 if percent else 1.0
    rows = pd.DataFrame(rows)

    def name(variant: str) -> str:
        return VARIANTS[variant].label if variant in VARIANTS else variant

    def stat(variant: str) -> str:
        values = rows.loc[rows["variant"] == variant, metric].astype(float) * scale
        digits = 1 if percent else 3
        return (f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}" if len(values) > 1
                else f"{values.mean():.{digits}f}")

    diff = difference(rows, metric, first, second)
    unit = "points" if percent else ""
    strength = "a clear" if diff["clear"] else "not a clear"
    digits = 1 if percent else 3
    return (f"{what or metric}: {name(first)} {stat(first)}, {name(second)} {stat(second)}; difference "
            f"{scale * diff['diff']:+.{digits}f} {unit} (± {scale * diff['se']:.{digits}f} standard error; "
            f"{strength} difference).").replace("  ", " ")

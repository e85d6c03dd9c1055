"""Comparing runs: paired tests with a confidence interval, and Holm's correction over a chapter.

Chapters 3-8 compare configurations trained on the same benchmark draw (``benchmark_seed``)
with the same model seed (``seed``), so every comparison here is *paired* on those two
columns: the difference of the two configurations is taken within each (draw, seed) and the
test is on those differences. Rows without a ``benchmark_seed`` column (or with none set)
come from one draw.

The test is :func:`scipy.stats.ttest_rel` (a paired t test) with its t interval for the mean
difference. Why not a rank or permutation test? With the three seeds of the book profile there
are only 2**3 = 8 ways to flip the signs of three differences, so an exact sign-flip
(permutation) test, like Wilcoxon's signed-rank test, can never give a two-sided p below
2/8 = 0.25, however large and consistent the difference: it could never call anything clear.
The t test can, because it assumes the differences are roughly normal, an assumption three
pairs cannot check. What n = 3 can show: a difference that is large against the spread of the
paired differences over seeds. What it cannot show: small differences, the shape of the seed
distribution, or anything about other benchmark draws when a chapter uses one. Every table
therefore also carries ``p_sign_flip``, the exact sign-flip p-value, so the reader sees how
far the t test's assumption carries the conclusion.

Runs on one benchmark draw are not independent replicates: most of the variance of a shifted
split's score lies between draws. With several draws, ``per_draw=True`` (:func:`draw_means`)
averages the model seeds within each draw and pairs the draws, the unit of replication;
:mod:`pcmci_edu.experiments.evidence` builds the chapters' declared primary comparisons,
equivalence tests and detectable effects on that.

A chapter states several comparisons; each is one test, so the chapter corrects over all of
them together with Holm's step-down method (:func:`holm`, statsmodels'
``multipletests(method="holm")``): :func:`correct_family` concatenates the chapter's tables and
recomputes ``p_holm``. "Clear" means ``p_holm < 0.05`` and nothing else. Whether several
configurations differ at all (the six orders of chapter 7) is asked with a repeated-measures
ANOVA over the same pairs (:func:`repeated_measures_test`), whose p-value joins the family.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
from statsmodels.stats.multitest import multipletests

from pcmci_edu.experiments.variants import VARIANTS

CLEAR_BELOW = 0.05
"""A comparison is clear when its Holm-corrected p-value is below this."""

PAIR_ON: tuple[str, ...] = ("benchmark_seed", "seed")
"""The columns that pair two runs: the benchmark draw and the model seed."""

DRAW, SEED = PAIR_ON
"""The columns of the benchmark draw (the unit of replication) and the model seed (nested in it)."""

COMPARISON_COLUMNS: tuple[str, ...] = ("first", "second", "metric", "n", "mean_diff", "ci_low", "ci_high",
                                       "p", "p_sign_flip", "p_holm", "clear")
"""The columns of a comparison table (:func:`paired_comparisons`, :func:`correct_family`)."""

RESULT_COLUMNS: frozenset[str] = frozenset(
    ("n", "mean_diff", "ci_low", "ci_high", "p", "p_sign_flip", "p_friedman", "p_holm", "clear"))
"""The columns that hold a comparison's result; the others say which comparison it is."""


def _pair_columns(rows: pd.DataFrame, pair_on: Sequence[str]) -> list[str]:
    columns = [column for column in pair_on if column in rows.columns and rows[column].notna().any()]
    if not columns:
        raise ValueError(f"rows have none of the pairing columns {list(pair_on)}: cannot pair runs")
    return columns


def paired_values(rows: pd.DataFrame, metric: str, first: str, second: str, *, by: str = "variant",
                  pair_on: Sequence[str] = PAIR_ON, per_draw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The values of ``metric`` for ``first`` and ``second``, matched on ``pair_on`` (pairs with a
    missing value on either side are dropped). ``per_draw``: each side's model seeds averaged
    within each benchmark draw first, one pair per draw (:func:`draw_means`).

    >>> rows = pd.DataFrame({"variant": ["a", "a", "b", "b"], "seed": [0, 1, 1, 0], "x": [1., 2., 5., 4.]})
    >>> paired_values(rows, "x", "a", "b")
    (array([1., 2.]), array([4., 5.]))
    """
    if per_draw:
        means = draw_means(rows, metric, first, second, by=by)
        return means["first"].to_numpy(), means["second"].to_numpy()
    rows = pd.DataFrame(rows)
    keys = _pair_columns(rows, pair_on)
    sides = {}
    for name in (first, second):
        side = rows.loc[rows[by] == name, [*keys, metric]]
        if side.empty:
            raise KeyError(f"no rows with {by} == {name!r} (metric {metric})")
        if side.duplicated(keys).any():
            raise ValueError(f"{by} {name!r} has several rows for one ({', '.join(keys)}): "
                             "drop duplicate runs before comparing")
        sides[name] = side.set_index(keys)[metric].astype(float)
    joined = pd.concat([sides[first].rename("first"), sides[second].rename("second")], axis=1,
                       join="inner").dropna().sort_index()
    return joined["first"].to_numpy(), joined["second"].to_numpy()


def draw_means(rows: pd.DataFrame, metric: str, first: str, second: str, *, by: str = "variant") -> pd.DataFrame:
    """Each variant's ``metric`` averaged over its model seeds within each draw, for the draws
    both variants have: columns ``first``, ``second``, ``n_seeds`` (the fewer of the two sides).

    >>> rows = pd.DataFrame({"variant": ["a", "a", "b", "b"] * 2, "benchmark_seed": [0] * 4 + [1] * 4,
    ...                      "seed": [0, 1] * 4, "x": [1., 3., 0., 0., 5., 7., 1., 1.]})
    >>> draw_means(rows, "x", "a", "b")
                    first  second  n_seeds
    benchmark_seed
    0                 2.0     0.0        2
    1                 6.0     1.0        2
    """
    rows = pd.DataFrame(rows)
    if DRAW not in rows.columns or rows[DRAW].isna().all():
        raise ValueError(f"rows have no {DRAW!r} column: the draw is the unit of replication "
                         "(run the grid with run_draws)")
    sides = {}
    for side, name in (("first", first), ("second", second)):
        values = rows.loc[rows[by] == name, [DRAW, metric]].dropna()
        if values.empty:
            raise KeyError(f"no rows with {by} == {name!r} and a value of {metric!r}")
        grouped = values.groupby(DRAW)[metric]
        sides[side] = grouped.mean().astype(float)
        sides[f"n_{side}"] = grouped.size()
    table = pd.DataFrame(sides).dropna().sort_index()
    table["n_seeds"] = table[["n_first", "n_second"]].min(axis=1).astype(int)
    return table[["first", "second", "n_seeds"]]


def _sign_flip_p(differences: np.ndarray) -> float:
    """Exact two-sided sign-flip p-value of the mean paired difference (all 2**n flips)."""
    result = scipy.stats.permutation_test(
        (differences,), lambda d, axis: np.mean(d, axis=axis), permutation_type="samples",
        n_resamples=np.inf, vectorized=True, alternative="two-sided")
    return float(result.pvalue)


def paired_test(first: Sequence[float], second: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Paired t test of ``first - second``: n, mean difference, its t interval, the t test's p
    and the exact sign-flip p (NaN p and interval below two pairs).

    >>> result = paired_test([0.70, 0.72, 0.71], [0.50, 0.51, 0.52])
    >>> round(result["mean_diff"], 3), result["p"] < 0.01, result["p_sign_flip"]
    (0.2, True, 0.25)
    """
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    n = len(a)
    result = {"n": n, "mean_diff": float(np.mean(a - b)) if n else math.nan,
              "ci_low": math.nan, "ci_high": math.nan, "p": math.nan, "p_sign_flip": math.nan}
    if n >= 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            test = scipy.stats.ttest_rel(a, b)
            interval = test.confidence_interval(confidence)
        result.update(ci_low=float(interval.low), ci_high=float(interval.high), p=float(test.pvalue),
                      p_sign_flip=_sign_flip_p(a - b))
    return result


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-corrected p-values (statsmodels' ``multipletests(method="holm")``); a NaN p-value
    (a comparison that could not be tested) stays NaN and does not count in the family.

    >>> holm([0.01, 0.04, 0.03, float("nan")]).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p_values = np.asarray(p_values, dtype=float)
    corrected = np.full(p_values.shape, np.nan)
    tested = np.isfinite(p_values)
    if tested.any():
        # multipletests(method="holm") ends with gc.collect(), which walks every object of a kernel
        # that has torch and pandas loaded (~0.3 s a call); objects frozen first are not walked.
        gc.freeze()
        try:
            corrected[tested] = multipletests(p_values[tested], method="holm")[1]
        finally:
            gc.unfreeze()
    return corrected


def _with_holm(table: pd.DataFrame) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    table["p_holm"] = holm(table["p"])
    table["clear"] = table["p_holm"] < CLEAR_BELOW
    return table


def paired_comparisons(rows: pd.DataFrame, metric: str, pairs: Sequence[tuple[str, str]], *,
                       by: str = "variant", pair_on: Sequence[str] = PAIR_ON,
                       confidence: float = 0.95, per_draw: bool = False) -> pd.DataFrame:
    """One row per pair ``(first, second)``: the paired comparison of ``metric``, first minus second.

    Columns :data:`COMPARISON_COLUMNS`: ``n`` pairs, ``mean_diff``, the ``confidence`` t interval
    ``ci_low``-``ci_high``, the paired t test's ``p``, the exact sign-flip ``p_sign_flip``, and
    ``p_holm`` / ``clear`` corrected over this table only; a chapter corrects over all its
    comparisons with :func:`correct_family`. ``per_draw=True`` makes the benchmark draw the unit
    (seeds averaged within each draw; ``n`` is then the number of draws), as the evidence
    standard asks (:mod:`pcmci_edu.experiments.evidence`).

    >>> rows = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
    ...                      "acc": [0.70, 0.72, 0.71, 0.50, 0.51, 0.52]})
    >>> table = paired_comparisons(rows, "acc", [("a", "b")])
    >>> table[["first", "second", "n", "clear"]].to_dict("records")
    [{'first': 'a', 'second': 'b', 'n': 3, 'clear': True}]
    """
    records = [{"first": first, "second": second, "metric": metric,
                **paired_test(*paired_values(rows, metric, first, second, by=by, pair_on=pair_on,
                                             per_draw=per_draw), confidence=confidence)}
               for first, second in pairs]
    table = pd.DataFrame(records, columns=[c for c in COMPARISON_COLUMNS if c not in ("p_holm", "clear")])
    return _with_holm(table)


def repeated_measures_test(rows: pd.DataFrame, metric: str, among: Sequence[str], *, name: str | None = None,
                           by: str = "variant", pair_on: Sequence[str] = PAIR_ON) -> pd.DataFrame:
    """Do several configurations differ at all? A repeated-measures ANOVA of ``metric`` over the
    (draw, seed) blocks that every configuration in ``among`` has (statsmodels' ``AnovaRM``).

    The runs are paired by block, so the test across configurations is too: it is the
    several-group form of the paired t test, with the same normality assumption and the same
    reason for it. Friedman's rank test (:func:`scipy.stats.friedmanchisquare`) is the
    assumption-free alternative, but with three seeds and six configurations its p-value cannot
    go below about 0.01, which no Holm family of a chapter's size lets through; its p-value is
    reported beside (``p_friedman``), so the reader sees both. One row in the layout of
    :data:`COMPARISON_COLUMNS`: ``first`` = ``name`` (default ``"among <k>"``), ``second`` =
    ``"repeated-measures ANOVA"``, ``n`` the blocks, ``mean_diff`` the best mean minus the worst
    (the spread, not itself tested), so that it can join a chapter's family.
    """
    from statsmodels.stats.anova import AnovaRM

    rows = pd.DataFrame(rows)
    keys = _pair_columns(rows, pair_on)
    table = rows[rows[by].isin(among)].pivot_table(index=keys, columns=by, values=metric, aggfunc="first")
    missing = [v for v in among if v not in table.columns]
    if missing:
        raise KeyError(f"no rows for {missing} (metric {metric})")
    table = table[list(among)].dropna()
    means = table.mean()
    p = p_friedman = math.nan
    if len(table) >= 2 and len(among) >= 2:
        long = table.reset_index(drop=True).rename_axis("block").reset_index().melt(
            id_vars="block", var_name="configuration", value_name="value")
        with np.errstate(divide="ignore", invalid="ignore"):
            p = float(AnovaRM(long, "value", "block", within=["configuration"]).fit().anova_table["Pr > F"].iloc[0])
        if len(among) >= 3:
            p_friedman = float(scipy.stats.friedmanchisquare(*[table[v].to_numpy() for v in among]).pvalue)
    record = {"first": name or f"among {len(among)}", "second": "repeated-measures ANOVA", "metric": metric,
              "n": len(table), "mean_diff": float(means.max() - means.min()), "ci_low": math.nan,
              "ci_high": math.nan, "p": p, "p_sign_flip": math.nan, "p_friedman": p_friedman}
    return _with_holm(pd.DataFrame([record]))


def correct_family(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """All of a chapter's comparison tables as one family: concatenated, a comparison listed twice
    counted once, ``p_holm`` and ``clear`` recomputed over the whole family.

    Two rows are the same comparison when they agree on every column that is not a result
    (``first``, ``second``, ``metric`` and any column a chapter adds, such as a confounding
    level). The family size is the number of rows with a finite ``p`` (:func:`family_size`).
    """
    family = pd.concat([pd.DataFrame(t) for t in tables], ignore_index=True)
    keys = [column for column in family.columns if column not in RESULT_COLUMNS]
    family = family.drop_duplicates(keys, ignore_index=True)
    return _with_holm(family)


def family_size(family: pd.DataFrame) -> int:
    """How many tests a Holm family holds (rows with a finite p-value)."""
    return int(np.isfinite(pd.DataFrame(family)["p"].astype(float)).sum())


def describe_family(family: pd.DataFrame, rows: pd.DataFrame) -> str:
    """One sentence on a chapter's Holm family: how many tests, over how many model seeds and
    benchmark draws (the draws vary the data, the seeds only the model).

    >>> rows = pd.DataFrame({"variant": ["a", "b"] * 3, "seed": [0, 0, 1, 1, 2, 2], "benchmark_seed": 0})
    >>> describe_family(pd.DataFrame({"p": [0.01, 0.2, float("nan")]}), rows)
    'Holm family of this chapter: 2 paired tests over 3 model seeds on one benchmark draw (benchmark seed 0): the seeds vary the model, not the data.'
    """
    rows = pd.DataFrame(rows)
    seeds = rows["seed"].nunique() if "seed" in rows.columns else 1
    draws = (sorted(rows["benchmark_seed"].dropna().unique()) if "benchmark_seed" in rows.columns else [])
    size = family_size(family)
    where = (f"on one benchmark draw (benchmark seed {int(draws[0])}): the seeds vary the model, not the data"
             if len(draws) == 1 else "on one benchmark draw: the seeds vary the model, not the data"
             if not draws else f"on {len(draws)} benchmark draws (benchmark seeds {', '.join(map(str, map(int, draws)))})")
    if size == 0:
        return (f"Holm family of this chapter: no test is possible with {seeds} model seed{'s' if seeds != 1 else ''} "
                f"{where}.")
    return f"Holm family of this chapter: {size} paired tests over {seeds} model seeds {where}."


def lookup(family: pd.DataFrame, metric: str, first: str, second: str) -> dict[str, Any]:
    """The comparison of ``first`` against ``second`` on ``metric`` in a family, as a dictionary."""
    match = family[(family["first"] == first) & (family["second"] == second) & (family["metric"] == metric)]
    if match.empty:
        raise KeyError(f"the family has no comparison {first} - {second} on {metric}: "
                       "add the pair to the chapter's comparisons")
    return {key: (value.item() if hasattr(value, "item") else value)
            for key, value in match.iloc[0].to_dict().items()}


def best_variant(rows: pd.DataFrame, metric: str, among: Sequence[str], higher: bool = True) -> str:
    """The variant among ``among`` with the best mean ``metric`` over seeds."""
    means = rows[rows["variant"].isin(among)].groupby("variant")[metric].mean()
    if means.empty:
        raise KeyError(f"no rows for any of {list(among)}")
    return str(means.idxmax() if higher else means.idxmin())


def rank_correlation(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """Spearman's rank correlation (:func:`scipy.stats.spearmanr`); NaN when either side is constant."""
    if len(ours) < 2 or np.ptp(np.asarray(ours, float)) == 0 or np.ptp(np.asarray(theirs, float)) == 0:
        return math.nan
    return float(scipy.stats.spearmanr(list(ours), list(theirs)).statistic)


def _pct(value: float) -> str:
    return f"{100 * value:+.1f} points"


def describe(comparison: Mapping[str, Any], percent: bool = True) -> str:
    """A comparison (a row of a family) in words: the mean difference, its interval, both p-values.

    >>> describe({"mean_diff": 0.2, "ci_low": 0.15, "ci_high": 0.25, "n": 3, "p": 0.002,
    ...           "p_sign_flip": 0.25, "p_holm": 0.01, "clear": True})
    '+20.0 points (95% CI +15.0 to +25.0, 3 pairs; paired t p = 0.002, Holm p = 0.010; a clear difference)'
    """
    scale, digits, unit = (100.0, 1, " points") if percent else (1.0, 3, "")
    strength = "a clear" if comparison["clear"] else "not a clear"
    if not np.isfinite(comparison["p"]):
        return (f"{scale * comparison['mean_diff']:+.{digits}f}{unit} ({comparison['n']} "
                f"pair{'s' if comparison['n'] != 1 else ''}: no test possible; {strength} difference)")
    interval = ("" if not np.isfinite(comparison["ci_low"]) else
                f"95% CI {scale * comparison['ci_low']:+.{digits}f} to {scale * comparison['ci_high']:+.{digits}f}, ")
    return (f"{scale * comparison['mean_diff']:+.{digits}f}{unit} ({interval}{comparison['n']} pairs; "
            f"paired t p = {comparison['p']:.3f}, Holm p = {comparison['p_holm']:.3f}; {strength} difference)")


def compare(rows: pd.DataFrame, metric: str, first: str, second: str, what: str | None = None,
            percent: bool = True, *, family: pd.DataFrame | None = None) -> str:
    """One sentence comparing two variants on a metric: each side's mean ± std over seeds, and
    the paired comparison as the chapter's corrected ``family`` holds it (without a family, the
    comparison alone, a family of one).

    >>> rows = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
    ...                      "x": [0.5, 0.7, 0.6, 0.2, 0.3, 0.2]})
    >>> compare(rows, "x", "a", "b", what="accuracy")
    'accuracy: a 60.0 ± 10.0, b 23.3 ± 5.8; difference +36.7 points (95% CI +22.3 to +51.0, 3 pairs; paired t p = 0.008, Holm p = 0.008; a clear difference).'
    """
    rows = pd.DataFrame(rows)
    scale, digits = (100.0, 1) if percent else (1.0, 3)

    def name(variant: str) -> str:
        return VARIANTS[variant].label if variant in VARIANTS else variant

    def stat(variant: str) -> str:
        values = rows.loc[rows["variant"] == variant, metric].astype(float) * scale
        return (f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}" if len(values) > 1
                else f"{values.mean():.{digits}f}")

    if family is None:
        family = paired_comparisons(rows, metric, [(first, second)])
    comparison = lookup(family, metric, first, second)
    return (f"{what or metric}: {name(first)} {stat(first)}, {name(second)} {stat(second)}; "
            f"difference {describe(comparison, percent)}.")

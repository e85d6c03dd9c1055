"""Evidence over benchmark draws: pre-registered primary comparisons, equivalence and power.

The unit of replication is the *benchmark draw* (``benchmark_seed``): model seeds are nested in
a draw, and almost all the variance of a shifted-split score is between draws, so runs on one
draw are not independent replicates. Every comparison here therefore first averages each
variant's model seeds within a draw, then tests the per-draw differences (a paired t test over
draws, n = the number of draws, with its t interval: :func:`per_draw_comparison`).

A chapter declares its few *primary* comparisons in code before its runs
(:func:`declare_primary`, a :class:`PrimaryFamily` of :class:`PrimaryComparison`), each with the
margin within which a difference would not matter. :func:`analyse_family` tests them, Holm within
the primary family only; everything else a chapter looks at is :func:`analyse_exploratory`, its own
Holm family, never mixed with the primaries. The verdict of a comparison (:func:`verdict`):

- "clear gain" / "clear loss": Holm p < 0.05 (gain: ``first`` better on the metric);
- "equivalent (no effect within ±margin)": not clear, and the two one-sided tests (TOST,
  statsmodels' ``ttost_paired`` on the per-draw means, Holm within the family) put the
  difference inside ±margin;
- "inconclusive" otherwise, printed with its minimum detectable effect (MDE): the difference the
  design detects with 80% power at Holm's strictest step (alpha/m) given the observed spread of
  the per-draw differences (:func:`minimum_detectable_effect`, the noncentral t).

A shift *gap* (test minus shifted) is not an admissible primary endpoint: it falls when test
accuracy falls. Primaries are measured on the shifted split, and :func:`analyse_family` reports
the in-distribution difference beside each (``in_distribution_diff``, descriptive).

:func:`write_evidence` stores a chapter's runs in long form (variant, split, draw, model seed,
confounder shifted), its primary analysis, its exploratory tables and provenance;
:func:`load_evidence` reads them back and :func:`assert_stored_analysis` recomputes the primary
family from the stored rows and checks it equals the stored analysis.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats

from pcmci_edu.experiments.cache import code_fingerprint, read_json, write_json_atomic
from pcmci_edu.experiments.statistics import CLEAR_BELOW, DRAW, SEED, draw_means, holm, paired_test
from pcmci_edu.experiments.variants import VARIANTS

EVIDENCE_VERSION = 1
"""The version of how the evidence is computed, stored in a results file."""

POWER = 0.8
"""The power at which the minimum detectable effect is computed."""

VERDICTS: tuple[str, ...] = ("clear gain", "clear loss", "equivalent (no effect within ±margin)", "inconclusive")
"""The four verdicts a comparison can get."""

SPLIT_SUFFIXES: dict[str, tuple[str, str | None]] = {
    "test": ("test", None),
    "shift": ("test_shift", "all"),
    "masked": ("test_masked", None),
    "shift_context": ("test_shift_context", "context"),
    "shift_objects": ("test_shift_objects", "objects"),
    "shift_codependency": ("test_shift_codependency", "codependency"),
}
"""Column suffix -> (split, confounder shifted): a column ``<metric>_<suffix>`` measures
``metric`` on ``split``, where ``confounder`` differs from training (``None``: none, ``"all"``:
every confounder at once)."""

LOWER_IS_BETTER: tuple[str, ...] = ("gap_", "masked_")
"""Prefixes of the metrics where lower is better: shift gaps, and the masking probe (a model that
recognises the action keeps less of its score, and less accuracy, without it)."""

FAMILY_COLUMNS: tuple[str, ...] = (
    "family", "kind", "label", "first", "second", "metric", "margin", "n_draws", "n_seeds", "mean_diff",
    "ci_low", "ci_high", "sd_diff", "p", "p_sign_flip", "p_holm", "clear", "tost_p", "tost_p_holm",
    "equivalent", "mde", "mde_alpha", "family_size", "in_distribution_metric", "in_distribution_diff",
    "verdict")
"""The columns of :func:`analyse_family` and :func:`analyse_exploratory` (plus ``p_mixed`` when asked)."""


# ---------------------------------------------------------------------------------------------
# Declaring a chapter's primaries
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrimaryComparison:
    """One pre-declared comparison: ``first`` minus ``second`` on ``metric``, with the margin
    (in the metric's units, e.g. 0.02 = 2 points) within which a difference would not matter.

    ``why`` says what the comparison asks (it labels the forest plot and the sentence);
    ``higher_is_better`` says which sign is a gain.

    >>> PrimaryComparison("ich", "base", "mAP_all_classes_shift", 0.02, "ICH on the shift").label
    'ICH on the shift'
    >>> PrimaryComparison("ich", "base", "gap_accuracy", 0.02)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: primary metric 'gap_accuracy' is a shift gap: a gap falls when test accuracy falls, ...
    """

    first: str
    second: str
    metric: str
    margin: float
    why: str = ""
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if self.metric.startswith("gap_"):
            raise ValueError(
                f"primary metric {self.metric!r} is a shift gap: a gap falls when test accuracy falls, so it "
                f"cannot be a primary endpoint; declare the shifted split's score (e.g. "
                f"'{self.metric[4:]}_shift') and report the gap as exploratory")
        if not (isinstance(self.margin, (int, float)) and math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"margin of {self.first} - {self.second} on {self.metric}: expected a positive "
                             f"number in the metric's units, got {self.margin!r}")
        if self.first == self.second:
            raise ValueError(f"a comparison needs two different variants, got {self.first!r} twice")

    @property
    def label(self) -> str:
        """``why``, or ``"<first> - <second> (<metric>)"`` when none was given."""
        return self.why or f"{_name(self.first)} - {_name(self.second)} ({self.metric})"


@dataclass(frozen=True)
class PrimaryFamily:
    """A chapter's primary comparisons (3-5 of them), declared before its runs; Holm within them."""

    chapter: str
    comparisons: tuple[PrimaryComparison, ...]
    alpha: float = CLEAR_BELOW

    def __post_init__(self) -> None:
        object.__setattr__(self, "comparisons", tuple(self.comparisons))
        if not self.comparisons:
            raise ValueError(f"primary family {self.chapter!r} declares no comparison")
        keys = [(c.first, c.second, c.metric) for c in self.comparisons]
        if len(set(keys)) != len(keys):
            raise ValueError(f"primary family {self.chapter!r} declares a comparison twice: {keys}")

    @property
    def size(self) -> int:
        """The number of primaries m (Holm's strictest step tests at alpha / m)."""
        return len(self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        return {"chapter": self.chapter, "alpha": self.alpha,
                "comparisons": [asdict(c) for c in self.comparisons]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PrimaryFamily":
        return cls(data["chapter"], tuple(PrimaryComparison(**c) for c in data["comparisons"]),
                   float(data.get("alpha", CLEAR_BELOW)))


PRIMARY_FAMILIES: dict[str, PrimaryFamily] = {}
"""The families declared in this session, by chapter (:func:`declare_primary`)."""


def declare_primary(chapter: str, comparisons: Sequence[PrimaryComparison], *, alpha: float = CLEAR_BELOW,
                    replace: bool = False) -> PrimaryFamily:
    """Declare a chapter's primary comparisons before its runs; returns the family.

    Declaring the same family again (a notebook run twice) is allowed; declaring a different one
    for the same chapter is refused unless ``replace=True``, so the primaries cannot quietly
    change after the results are seen.

    >>> family = declare_primary("doctest", [PrimaryComparison("ich", "base", "accuracy_shift", 0.02)])
    >>> family.size, declare_primary("doctest", family.comparisons) == family
    (1, True)
    """
    family = PrimaryFamily(chapter, tuple(comparisons), alpha)
    previous = PRIMARY_FAMILIES.get(chapter)
    if previous is not None and previous != family and not replace:
        raise ValueError(f"chapter {chapter!r} already declared other primaries ({previous.size}); "
                         "primaries are declared once, before the runs (replace=True to redeclare)")
    PRIMARY_FAMILIES[chapter] = family
    return family


# ---------------------------------------------------------------------------------------------
# One comparison over draws
# ---------------------------------------------------------------------------------------------

def _name(variant: str) -> str:
    return VARIANTS[variant].label if variant in VARIANTS else variant


def paired_power(effect: float, n: int, alpha: float) -> float:
    """The power of a two-sided paired t test over ``n`` differences at ``alpha`` when the mean
    difference is ``effect`` standard deviations: P(abs(T) > t_crit) for T ~ noncentral t with
    n - 1 degrees of freedom and noncentrality effect * sqrt(n) (:data:`scipy.stats.nct`).

    >>> round(paired_power(1.0, 10, 0.05), 3)
    0.803
    """
    df, noncentrality = n - 1, effect * math.sqrt(n)
    critical = scipy.stats.t.ppf(1 - alpha / 2, df)
    upper = scipy.stats.nct.sf(critical, df, noncentrality)
    # The far tail underflows to NaN for a large noncentrality; it is below Phi(-noncentrality) there.
    lower = scipy.stats.nct.cdf(-critical, df, noncentrality)
    lower = lower if np.isfinite(lower) else scipy.stats.norm.cdf(-noncentrality)
    return float(upper + lower)


def minimum_detectable_effect(sd_diff: float, n: int, alpha: float, power: float = POWER) -> float:
    """The mean difference a two-sided paired t test over ``n`` draws detects with ``power`` at
    ``alpha``, for differences with standard deviation ``sd_diff`` (:func:`paired_power` solved
    with :func:`scipy.optimize.brentq`); NaN below two draws or without a spread.

    statsmodels' ``TTestPower.solve_power`` is not used: at few draws and a small alpha it stops
    short without a warning (n = 3, alpha = 0.05/27: an effect with 16% power), and its power
    turns NaN where the noncentral t's far tail underflows.

    >>> round(minimum_detectable_effect(0.02, 5, 0.05), 4)
    0.0336
    """
    if n < 2 or not np.isfinite(sd_diff) or sd_diff <= 0:
        return math.nan
    upper = 1.0
    while paired_power(upper, n, alpha) < power:
        upper *= 2
    effect = scipy.optimize.brentq(lambda d: paired_power(d, n, alpha) - power, 0.0, upper, xtol=1e-12)
    return float(effect * sd_diff)


def _tost_p(first: np.ndarray, second: np.ndarray, margin: float | None) -> float:
    from statsmodels.stats.weightstats import ttost_paired

    differences = first - second
    if margin is None or not np.isfinite(margin) or len(differences) < 2 or np.std(differences) == 0:
        return math.nan
    return float(ttost_paired(first, second, -margin, margin)[0])


def _mixed_p(rows: pd.DataFrame, metric: str, first: str, second: str, by: str) -> float:
    """p of ``first`` vs ``second`` in a linear mixed model with a random intercept and a random
    variant effect per draw (statsmodels' ``mixedlm``): a cross-check of the per-draw test."""
    import statsmodels.formula.api as smf

    data = rows.loc[rows[by].isin([first, second]), [by, DRAW, metric]].dropna()
    data = pd.DataFrame({"y": data[metric].astype(float), "treated": (data[by] == first).astype(float),
                         "draw": data[DRAW].astype(str)})
    if data["draw"].nunique() < 2:
        return math.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.mixedlm("y ~ treated", data, groups=data["draw"], re_formula="~treated").fit(reml=True)
        p = float(fit.pvalues["treated"])
    except (np.linalg.LinAlgError, ValueError):
        return math.nan
    return p if np.isfinite(p) else math.nan


def per_draw_comparison(rows: pd.DataFrame, metric: str, first: str, second: str, *,
                        margin: float | None = None, family_size: int = 1, alpha: float = CLEAR_BELOW,
                        by: str = "variant", mixed: bool = False, confidence: float = 0.95) -> dict[str, Any]:
    """``first`` minus ``second`` on ``metric``, the draw as the unit: seeds averaged within each
    draw, then a paired t test over draws with its t interval.

    Returns ``n_draws``, ``n_seeds`` (per draw, the fewest), ``mean_diff``, ``ci_low``,
    ``ci_high``, ``sd_diff`` (of the per-draw differences), ``p``, ``p_sign_flip`` (exact, over
    draws), ``tost_p`` (uncorrected, NaN without a margin), ``mde`` (at alpha / ``family_size``,
    Holm's strictest step), ``mde_alpha`` (at alpha) and, if ``mixed``, ``p_mixed``.

    >>> rows = pd.DataFrame({"variant": ["a", "b"] * 5, "benchmark_seed": np.repeat(range(5), 2),
    ...                      "seed": 0, "x": [.70, .60, .50, .41, .80, .69, .60, .50, .72, .63]})
    >>> result = per_draw_comparison(rows, "x", "a", "b", margin=0.05)
    >>> result["n_draws"], round(result["mean_diff"], 3), result["p"] < 0.001
    (5, 0.098, True)
    """
    means = draw_means(rows, metric, first, second, by=by)
    a, b = means["first"].to_numpy(), means["second"].to_numpy()
    test = paired_test(a, b, confidence)
    sd = float(np.std(a - b, ddof=1)) if len(a) >= 2 else math.nan
    result = {"n_draws": test["n"], "n_seeds": int(means["n_seeds"].min()) if len(means) else 0,
              "mean_diff": test["mean_diff"], "ci_low": test["ci_low"], "ci_high": test["ci_high"],
              "sd_diff": sd, "p": test["p"], "p_sign_flip": test["p_sign_flip"],
              "tost_p": _tost_p(a, b, margin),
              "mde": minimum_detectable_effect(sd, len(a), alpha / max(family_size, 1)),
              "mde_alpha": minimum_detectable_effect(sd, len(a), alpha)}
    if mixed:
        result["p_mixed"] = _mixed_p(pd.DataFrame(rows), metric, first, second, by)
    return result


def in_distribution_metric(metric: str, suffixes: Mapping[str, tuple[str, str | None]] = SPLIT_SUFFIXES) -> str | None:
    """The in-distribution column beside a shifted-split column (``accuracy_shift_context`` ->
    ``accuracy_test``); ``None`` when the column is not on a shifted split.

    >>> in_distribution_metric("mAP_all_classes_shift_objects"), in_distribution_metric("accuracy_test")
    ('mAP_all_classes_test', None)
    """
    parsed = split_of_column(metric, suffixes)
    if parsed is None or parsed[2] is None or parsed[1] == "test":
        return None
    return f"{parsed[0]}_test"


# ---------------------------------------------------------------------------------------------
# Families and verdicts
# ---------------------------------------------------------------------------------------------

def verdict(row: Mapping[str, Any]) -> str:
    """The verdict of an analysed comparison (see the module's rules).

    >>> verdict({"clear": True, "mean_diff": -0.03, "higher_is_better": True, "equivalent": False})
    'clear loss'
    >>> verdict({"clear": False, "mean_diff": 0.001, "equivalent": True})
    'equivalent (no effect within ±margin)'
    """
    if row["clear"]:
        better = row["mean_diff"] > 0 if row.get("higher_is_better", True) else row["mean_diff"] < 0
        return "clear gain" if better else "clear loss"
    if row.get("equivalent", False):
        return "equivalent (no effect within ±margin)"
    return "inconclusive"


def _finish(records: list[dict[str, Any]], alpha: float, kind: str, mixed: bool) -> pd.DataFrame:
    columns = list(FAMILY_COLUMNS) + (["p_mixed"] if mixed else [])
    table = pd.DataFrame(records)
    table["kind"] = kind
    table["family_size"] = int(np.isfinite(table["p"].astype(float)).sum())
    table["p_holm"] = holm(table["p"])
    table["clear"] = table["p_holm"] < alpha
    table["tost_p_holm"] = holm(table["tost_p"])
    table["equivalent"] = table["tost_p_holm"] < alpha
    table["verdict"] = [verdict(row) for row in table.to_dict("records")]
    return table[columns + ["higher_is_better"]].reset_index(drop=True)


def _beside(rows: pd.DataFrame, metric: str, first: str, second: str) -> tuple[str | None, float]:
    other = in_distribution_metric(metric)
    if other is None or other not in rows.columns:
        return other, math.nan
    try:
        return other, float(per_draw_comparison(rows, other, first, second)["mean_diff"])
    except KeyError:
        return other, math.nan


def analyse_family(rows: pd.DataFrame, family: PrimaryFamily, *, mixed: bool = False) -> pd.DataFrame:
    """One row per primary comparison (columns :data:`FAMILY_COLUMNS` and ``higher_is_better``):
    the per-draw comparison, Holm (``p_holm``, and the TOST's ``tost_p_holm``) within the primary
    family only, ``clear``, ``equivalent``, the MDE at Holm's strictest step and the ``verdict``.
    """
    rows = pd.DataFrame(rows)
    m = family.size
    records = []
    for c in family.comparisons:
        beside_metric, beside_diff = _beside(rows, c.metric, c.first, c.second)
        records.append({"family": family.chapter, "label": c.label, "first": c.first, "second": c.second,
                        "metric": c.metric, "margin": c.margin, "higher_is_better": c.higher_is_better,
                        **per_draw_comparison(rows, c.metric, c.first, c.second, margin=c.margin,
                                              family_size=m, alpha=family.alpha, mixed=mixed),
                        "in_distribution_metric": beside_metric, "in_distribution_diff": beside_diff})
    return _finish(records, family.alpha, "primary", mixed)


def analyse_exploratory(rows: pd.DataFrame, pairs: Sequence[tuple[str, str]], metrics: Sequence[str], *,
                        margins: Mapping[str, float] | None = None, name: str = "exploratory",
                        alpha: float = CLEAR_BELOW, mixed: bool = False) -> pd.DataFrame:
    """Every pair x metric, per draw, as its own Holm family (``kind`` = ``"exploratory"``), never
    mixed with the primaries. ``margins`` (by metric) enable the TOST; without one a comparison
    can be clear or inconclusive, not equivalent. Pairs whose variants lack rows are left out.
    """
    rows = pd.DataFrame(rows)
    present = set(rows["variant"])
    tests = [(first, second, metric) for metric in metrics for first, second in pairs
             if {first, second} <= present and metric in rows.columns]
    if not tests:
        raise KeyError(f"none of the pairs {list(pairs)} has rows for any of {list(metrics)}")
    records = []
    for first, second, metric in tests:
        margin = (margins or {}).get(metric)
        beside_metric, beside_diff = _beside(rows, metric, first, second)
        records.append({"family": name, "label": f"{_name(first)} - {_name(second)} ({metric})",
                        "first": first, "second": second, "metric": metric,
                        "margin": math.nan if margin is None else float(margin),
                        "higher_is_better": not metric.startswith(LOWER_IS_BETTER),
                        **per_draw_comparison(rows, metric, first, second, margin=margin,
                                              family_size=len(tests), alpha=alpha, mixed=mixed),
                        "in_distribution_metric": beside_metric, "in_distribution_diff": beside_diff})
    return _finish(records, alpha, "exploratory", mixed)


# ---------------------------------------------------------------------------------------------
# Words and tables
# ---------------------------------------------------------------------------------------------

def _points(value: float, percent: bool) -> str:
    return f"{100 * value:+.1f}" if percent else f"{value:+.3f}"


def format_p(p: float) -> str:
    """A p-value for prose and tables: three decimals, ``< 0.001`` below that, ``n/a`` when NaN.

    >>> format_p(0.0123), format_p(1e-6), format_p(float("nan"))
    ('0.012', '< 0.001', 'n/a')
    """
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _equals_p(name: str, p: float) -> str:
    return f"{name} {format_p(p)}" if p < 0.001 else f"{name} = {format_p(p)}"


def verdict_markdown(result: Mapping[str, Any], what: str | None = None, *, percent: bool = True,
                     width: int = 88) -> str:
    """A comparison's verdict as a Markdown sentence (for ``IPython.display.Markdown``), wrapped
    at ``width`` characters: the difference, its CI, the design, the Holm p, the TOST and the MDE.

    >>> row = {"label": "ICH on the shift", "first": "ich", "second": "base", "metric": "accuracy_shift",
    ...        "mean_diff": 0.012, "ci_low": -0.01, "ci_high": 0.034, "n_draws": 5, "n_seeds": 2,
    ...        "p": 0.2, "p_holm": 0.6, "family_size": 4, "kind": "primary", "margin": 0.02,
    ...        "tost_p_holm": 0.3, "mde": 0.045, "mde_alpha": 0.03, "clear": False, "equivalent": False,
    ...        "verdict": "inconclusive", "in_distribution_diff": 0.004}
    >>> print(verdict_markdown(row))
    **ICH on the shift**: ICH (per-video tokens) minus Base on accuracy_shift is +1.2 points
    (95% CI -1.0 to +3.4; 5 benchmark draws x 2 model seeds, seeds averaged within each
    draw), Holm p = 0.600 over 4 primary comparisons; in-distribution difference +0.4
    points. Verdict: **inconclusive**: not clear, and not shown equivalent within ±2.0
    points (TOST Holm p = 0.300); this design detects 4.5 points with 80% power at Holm's
    strictest step (3.0 at alpha = 0.05).
    """
    unit = " points" if percent else ""
    family = "primary comparisons" if result.get("kind", "primary") == "primary" else "exploratory comparisons"
    text = (f"**{what or result['label']}**: {_name(result['first'])} minus {_name(result['second'])} on "
            f"{result['metric']} is {_points(result['mean_diff'], percent)}{unit}")
    if np.isfinite(result["ci_low"]):
        text += f" (95% CI {_points(result['ci_low'], percent)} to {_points(result['ci_high'], percent)}; "
    else:
        text += " ("
    text += (f"{result['n_draws']} benchmark draws x {result['n_seeds']} model "
             f"seed{'s' if result['n_seeds'] != 1 else ''}, seeds averaged within each draw)")
    if np.isfinite(result["p_holm"]):
        text += f", {_equals_p('Holm p', result['p_holm'])} over {result['family_size']} {family}"
    else:
        text += ", no test possible"
    beside = result.get("in_distribution_diff", math.nan)
    if beside is not None and np.isfinite(beside):
        text += f"; in-distribution difference {_points(beside, percent)}{unit}"
    margin = result.get("margin", math.nan)
    margin_text = (f"±{_points(margin, percent)[1:]}{unit}" if margin is not None and np.isfinite(margin)
                   else "no margin declared")
    text += f". Verdict: **{result['verdict']}**"
    if result["verdict"].startswith("equivalent"):
        text += f": the difference lies within {margin_text} ({_equals_p('TOST Holm p', result['tost_p_holm'])})."
    elif result["verdict"] == "inconclusive":
        tost = (f" ({_equals_p('TOST Holm p', result['tost_p_holm'])})"
                if np.isfinite(result.get("tost_p_holm", math.nan)) else "")
        mde = (f"this design detects {_points(result['mde'], percent)[1:]}{unit} with 80% power at Holm's "
               f"strictest step ({_points(result['mde_alpha'], percent)[1:]} at alpha = 0.05)"
               if np.isfinite(result["mde"]) else "too few draws to compute the detectable effect")
        text += f": not clear, and not shown equivalent within {margin_text}{tost}; {mde}."
    else:
        text += "."
    return textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=False)


def summary_table(table: pd.DataFrame, *, percent: bool = True) -> pd.DataFrame:
    """A compact display of an analysed family (6 columns): comparison, difference with its 95%
    CI, Holm p, TOST Holm p, MDE at Holm's strictest step, verdict."""
    def pts(value: float) -> str:
        return "n/a" if not np.isfinite(value) else _points(value, percent)

    unit = " (points)" if percent else ""
    return pd.DataFrame({
        "comparison": table["label"],
        f"difference, 95% CI{unit}": [f"{pts(r.mean_diff)} ({pts(r.ci_low)} to {pts(r.ci_high)})"
                                      for r in table.itertuples()],
        "Holm p": [format_p(v) for v in table["p_holm"]],
        "TOST Holm p": [format_p(v) for v in table["tost_p_holm"]],
        f"MDE{unit}": [pts(v).lstrip("+") for v in table["mde"]],
        "verdict": table["verdict"],
    })


# ---------------------------------------------------------------------------------------------
# Results files: rows in long form, the analysis, provenance
# ---------------------------------------------------------------------------------------------

def split_of_column(column: str, suffixes: Mapping[str, tuple[str, str | None]] = SPLIT_SUFFIXES
                    ) -> tuple[str, str, str | None] | None:
    """``(metric, split, confounder)`` of a column ``<metric>_<suffix>`` (the longest matching
    suffix wins), ``None`` for a column that is not a per-split measure.

    >>> split_of_column("accuracy_shift_context")
    ('accuracy', 'test_shift_context', 'context')
    >>> split_of_column("mAP_all_classes_shift"), split_of_column("gap_accuracy")
    (('mAP_all_classes', 'test_shift', 'all'), None)
    """
    for suffix in sorted(suffixes, key=len, reverse=True):
        if column.endswith(f"_{suffix}") and len(column) > len(suffix) + 1:
            split, confounder = suffixes[suffix]
            return column[: -len(suffix) - 1], split, confounder
    return None


RUN_KEYS: tuple[str, ...] = ("variant", DRAW, SEED)
"""The columns that identify a run in the long form."""


def long_rows(rows: pd.DataFrame, suffixes: Mapping[str, tuple[str, str | None]] = SPLIT_SUFFIXES) -> pd.DataFrame:
    """Runs in long form: one record per run x numeric measure, with ``variant``,
    ``benchmark_seed``, ``seed``, ``column`` (the wide column), ``metric``, ``split`` and
    ``confounder`` (``None`` for run-level measures such as ``gap_accuracy`` or ``flops``) and
    ``value``. Non-numeric columns (``label``, ``benchmark_signature``) stay as identifiers.

    >>> rows = pd.DataFrame({"variant": ["a"], "benchmark_seed": [0], "seed": [0],
    ...                      "accuracy_shift_objects": [0.5], "flops": [10.0]})
    >>> long_rows(rows)[["column", "metric", "split", "confounder"]].iloc[0].tolist()
    ['accuracy_shift_objects', 'accuracy', 'test_shift_objects', 'objects']
    """
    rows = pd.DataFrame(rows).drop(columns=["cached"], errors="ignore")
    missing = [key for key in RUN_KEYS if key not in rows.columns]
    if missing:
        raise KeyError(f"rows lack the run columns {missing}")
    numeric = [c for c in rows.columns if c not in RUN_KEYS and pd.api.types.is_numeric_dtype(rows[c])
               and not pd.api.types.is_bool_dtype(rows[c])]
    ids = [c for c in rows.columns if c not in numeric]
    long = rows.melt(id_vars=ids, value_vars=numeric, var_name="column", value_name="value")
    parsed = [split_of_column(c, suffixes) or (c, None, None) for c in long["column"]]
    long["metric"] = [p[0] for p in parsed]
    long["split"] = [p[1] for p in parsed]
    long["confounder"] = [p[2] for p in parsed]
    return long[[*ids, "column", "metric", "split", "confounder", "value"]]


def wide_rows(long: pd.DataFrame) -> pd.DataFrame:
    """The runs back in wide form (one row per run) from :func:`long_rows`."""
    long = pd.DataFrame(long)
    ids = [c for c in long.columns if c not in ("column", "metric", "split", "confounder", "value")]
    wide = long.groupby([*ids, "column"], dropna=False, sort=False)["value"].first().unstack("column")
    wide.columns.name = None
    return wide.reset_index()


def write_evidence(path: str | Path, rows: pd.DataFrame, family: PrimaryFamily, *, profile: str, settings,
                   exploratory: Mapping[str, pd.DataFrame] | None = None,
                   suffixes: Mapping[str, tuple[str, str | None]] = SPLIT_SUFFIXES, mixed: bool = False,
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write a chapter's evidence to a JSON file (atomically) and return what was written.

    Stored: the runs in long form (:func:`long_rows`), the declared primary family and its
    analysis (:func:`analyse_family`, computed here from those rows), the ``exploratory`` tables
    by name, and provenance: profile, code fingerprint, run settings (``settings.key()``), the
    draws and seeds, each draw's benchmark signature (when the rows carry one) and
    :data:`EVIDENCE_VERSION`.
    """
    rows = pd.DataFrame(rows).drop(columns=["cached"], errors="ignore")
    rows = rows.drop_duplicates(list(RUN_KEYS), ignore_index=True)
    analysis = analyse_family(rows, family, mixed=mixed)
    signatures = {}
    if "benchmark_signature" in rows.columns:
        pairs = rows[[DRAW, "benchmark_signature"]].drop_duplicates().itertuples(index=False)
        signatures = {str(int(draw)): signature for draw, signature in pairs}
    data = {
        "chapter": family.chapter, "evidence_version": EVIDENCE_VERSION, "profile": profile,
        "code": code_fingerprint(), "settings": settings.key() if hasattr(settings, "key") else dict(settings),
        "draws": sorted(int(d) for d in rows[DRAW].unique()), "seeds": sorted(int(s) for s in rows[SEED].unique()),
        "benchmarks": signatures, "mixed": mixed, "suffixes": {k: list(v) for k, v in suffixes.items()},
        "primary_family": family.to_dict(), "primary": analysis.to_dict(orient="records"),
        "exploratory": {name: pd.DataFrame(t).to_dict(orient="records") for name, t in (exploratory or {}).items()},
        "runs": long_rows(rows, suffixes).to_dict(orient="records"), **(extra or {}),
    }
    write_json_atomic(path, data)
    return data


def load_evidence(path: str | Path) -> dict[str, Any]:
    """Read a file of :func:`write_evidence`: its fields, with ``runs`` (long), ``rows`` (wide),
    ``primary`` and each ``exploratory`` table as DataFrames and ``primary_family`` a
    :class:`PrimaryFamily`."""
    data = read_json(path)
    for key in ("runs", "primary_family", "primary", "evidence_version"):
        if key not in data:
            raise ValueError(f"{path}: no {key!r} field; expected a results file written by write_evidence")
    data["runs"] = pd.DataFrame(data["runs"])
    data["rows"] = wide_rows(data["runs"])
    data["primary"] = pd.DataFrame(data["primary"])
    data["primary_family"] = PrimaryFamily.from_dict(data["primary_family"])
    data["exploratory"] = {name: pd.DataFrame(t) for name, t in data.get("exploratory", {}).items()}
    return data


def assert_stored_analysis(results: str | Path | Mapping[str, Any], *, rtol: float = 1e-9) -> pd.DataFrame:
    """Recompute the primary family from a results file's stored rows and check that it equals
    the stored analysis (raises ``AssertionError`` naming what differs); returns the recomputed table."""
    data = load_evidence(results) if isinstance(results, (str, Path)) else results
    recomputed = analyse_family(data["rows"], data["primary_family"], mixed=bool(data.get("mixed", False)))
    stored = pd.DataFrame(data["primary"])[recomputed.columns].copy()
    for column in recomputed.columns:  # JSON stores NaN as null
        if pd.api.types.is_float_dtype(recomputed[column]):
            stored[column] = pd.to_numeric(stored[column], errors="coerce").astype(float)
    pd.testing.assert_frame_equal(recomputed.reset_index(drop=True), stored.reset_index(drop=True),
                                  check_dtype=False, rtol=rtol, obj="primary analysis (recomputed vs stored)")
    return recomputed

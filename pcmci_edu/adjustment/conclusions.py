"""Chapter 8's primary family, its computed conclusions, and its evidence file.

The draw is the unit of replication (:mod:`pcmci_edu.experiments.evidence`): each rung's model
seeds are averaged within a benchmark draw, then the per-draw differences are tested. The
chapter's **primary** comparisons (:data:`PRIMARY`) are declared here, in code, before any run;
Holm within them only. Their endpoint is the accuracy on ``test_shift_context``: the surrogate
logit adjustment estimates the *context*, so it is judged on the split where only the context's
tie to the activity is broken, against the base, the capacity control (attention pooling) and the
context oracle (trained with that tie broken). Everything else (the joint shift, mAP, the
linear rungs, the confounding sweep, the mediator-only IVC) is exploratory, its own Holm families.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pcmci_edu.adjustment.ladder import DEFAULT_CONFOUNDING, RUNG_TITLES
from pcmci_edu.adjustment.models import BEYOND_THE_PAPER_RUNG
from pcmci_edu.experiments.evidence import (PrimaryComparison, PrimaryFamily, analyse_exploratory, analyse_family,
                                            format_p, long_rows, per_draw_comparison, wide_rows, write_evidence)

CHAPTER = "chapter8"
MARGIN = 0.02
"""The book's margin (2 points of accuracy) within which a difference would not matter."""
ENDPOINT = "accuracy_shift_context"
"""The primary endpoint: accuracy where only the context (what the surrogate estimates) shifts."""
CONTROL = "base_attention_pool"
ORACLE = "oracle_context"
ADJUSTED_BASE = "base_surrogate_adjusted"
TARGET_FRACTION = 0.5
"""The beyond-the-paper target: recover at least this share of the context oracle's advantage
over the base on ``test_shift_context`` (and be clearly above the capacity control there)."""

PRIMARY: tuple[PrimaryComparison, ...] = (
    PrimaryComparison(BEYOND_THE_PAPER_RUNG, CONTROL, ENDPOINT, MARGIN, "Adjusted PCMCi vs the control"),
    PrimaryComparison(BEYOND_THE_PAPER_RUNG, "base", ENDPOINT, MARGIN, "Adjusted PCMCi vs the base"),
    PrimaryComparison(BEYOND_THE_PAPER_RUNG, ADJUSTED_BASE, ENDPOINT, MARGIN, "Adjusted PCMCi vs adjusted base"),
    PrimaryComparison(ADJUSTED_BASE, CONTROL, ENDPOINT, MARGIN, "Adjusted base vs the control"),
)
"""The chapter's primary family (declared before the runs; Holm within these four)."""

SHARED_VARIANTS: tuple[str, ...] = ("base", CONTROL, "oracle", ORACLE, "pcmci")
"""Registered variants the chapter trains with :func:`pcmci_edu.experiments.run_draws` (shared cache)."""
PRIMARY_ADJUSTED: tuple[str, ...] = (ADJUSTED_BASE, BEYOND_THE_PAPER_RUNG)
"""Adjusted rungs of the primaries (every draw x every seed)."""
MEDIATOR_ONLY = "pcmci_mediator_only"
MEDIATOR_SEEDS: tuple[int, ...] = (0,)
"""Exploratory design of the mediator-only IVC (what the beyond-the-paper rung is built on):
every draw, model seed 0 only (our budget choice)."""

EXPLORATORY_PAIRS: tuple[tuple[str, str], ...] = (
    (ORACLE, "base"), ("oracle", "base"), ("pcmci", "base"), ("pcmci", CONTROL), (ADJUSTED_BASE, "base"))
EXPLORATORY_METRICS: tuple[str, ...] = ("accuracy_shift_context", "accuracy_shift", "mAP_all_classes_shift_context",
                                        "accuracy_test")
"""The exploratory family ``models``: rungs that are not in a primary, on every endpoint."""
PRIMARY_PAIRS: tuple[tuple[str, str], ...] = tuple((c.first, c.second) for c in PRIMARY)
"""The primaries' pairs, on the endpoints other than the primary one: the exploratory family
``adjusted_other_endpoints`` (the joint shift, mAP on the context shift, in-distribution accuracy)."""
MEDIATOR_PAIRS: tuple[tuple[str, str], ...] = ((BEYOND_THE_PAPER_RUNG, MEDIATOR_ONLY), (MEDIATOR_ONLY, "pcmci"))
LINEAR_ENDPOINTS: tuple[str, ...] = ("accuracy_shift_context", "accuracy_test")


def primary_family() -> PrimaryFamily:
    """The declared primary family (:data:`PRIMARY`)."""
    return PrimaryFamily(CHAPTER, PRIMARY)


def _row(table: pd.DataFrame, first: str, second: str, metric: str) -> dict[str, Any]:
    match = table[(table["first"] == first) & (table["second"] == second) & (table["metric"] == metric)]
    if match.empty:
        raise KeyError(f"no comparison {first} - {second} on {metric}")
    return match.iloc[0].to_dict()


def _pts(value: float) -> str:
    return f"{100 * value:+.1f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _ci(row: Mapping[str, Any]) -> str:
    return f"95% CI {_pts(row['ci_low'])} to {_pts(row['ci_high'])}"


def means(rows: pd.DataFrame, metrics: Sequence[str], by: Sequence[str] = ("variant",)) -> pd.DataFrame:
    """Each rung's mean of ``metrics``: seeds averaged within each draw first, then over draws."""
    rows = pd.DataFrame(rows)
    per_draw = rows.groupby([*by, "benchmark_seed"])[list(metrics)].mean()
    return per_draw.groupby(list(by)).mean()


def exploratory_tables(model_rows: pd.DataFrame, linear_rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The exploratory families, each its own Holm: the trained rungs on the other endpoints, the
    mediator-only IVC (seed 0 rows only, its design), and the linear rungs vs the linear ERM at
    each confounding level."""
    model_rows, linear_rows = pd.DataFrame(model_rows), pd.DataFrame(linear_rows)
    margins = {m: MARGIN for m in EXPLORATORY_METRICS}
    tables = {"models": analyse_exploratory(model_rows, EXPLORATORY_PAIRS, EXPLORATORY_METRICS, margins=margins,
                                            name="models"),
              "adjusted_other_endpoints": analyse_exploratory(model_rows, PRIMARY_PAIRS, EXPLORATORY_METRICS[1:],
                                                              margins=margins, name="adjusted_other_endpoints")}
    if MEDIATOR_ONLY in set(model_rows["variant"]):
        seed_rows = model_rows[model_rows["seed"].isin(MEDIATOR_SEEDS)]
        tables["mediator_only"] = analyse_exploratory(seed_rows, MEDIATOR_PAIRS, (ENDPOINT, "accuracy_test"),
                                                      margins={ENDPOINT: MARGIN, "accuracy_test": MARGIN},
                                                      name="mediator_only")
    rungs = [name for name in RUNG_TITLES if name.startswith("linear_") and name != "linear_erm"]
    for level in sorted(linear_rows["confounding"].unique()):
        at_level = linear_rows[linear_rows["confounding"] == level]
        tables[f"linear@{level:g}"] = analyse_exploratory(
            at_level, [(rung, "linear_erm") for rung in rungs], LINEAR_ENDPOINTS,
            margins={m: MARGIN for m in LINEAR_ENDPOINTS}, name=f"linear@{level:g}")
    return tables


def beyond_the_paper_target(model_rows: pd.DataFrame, primary: pd.DataFrame) -> dict[str, Any]:
    """The target, computed: the rung's gain over the base on :data:`ENDPOINT` as a share of the
    context oracle's (ratio of the mean per-draw differences; its interval is the gain's 95% CI
    over the oracle's mean advantage, the advantage held fixed), and the primary comparison with the
    capacity control. Reached iff the share is at least :data:`TARGET_FRACTION` and that
    comparison is a clear gain (Holm p < 0.05 within the primary family)."""
    rows = pd.DataFrame(model_rows)
    gain = _row(primary, BEYOND_THE_PAPER_RUNG, "base", ENDPOINT)
    oracle = per_draw_comparison(rows, ENDPOINT, ORACLE, "base")
    control = _row(primary, BEYOND_THE_PAPER_RUNG, CONTROL, ENDPOINT)
    advantage = float(oracle["mean_diff"])
    if advantage > 0:
        share = gain["mean_diff"] / advantage
        share_ci = (gain["ci_low"] / advantage, gain["ci_high"] / advantage)
    else:
        share, share_ci = math.nan, (math.nan, math.nan)
    reached = bool(np.isfinite(share) and share >= TARGET_FRACTION and control["verdict"] == "clear gain")
    level = means(rows, [ENDPOINT, "accuracy_test"])
    return {"share": share, "share_ci": list(share_ci), "oracle_advantage": advantage,
            "oracle_advantage_ci": [oracle["ci_low"], oracle["ci_high"]], "gain_over_base": gain["mean_diff"],
            "versus_control": {k: control[k] for k in ("mean_diff", "ci_low", "ci_high", "p_holm", "verdict")},
            "accuracy": {name: {m: float(level.loc[name, m]) for m in (ENDPOINT, "accuracy_test")}
                         for name in ("base", CONTROL, ORACLE, BEYOND_THE_PAPER_RUNG) if name in level.index},
            "reached": reached}


def _comparison_sentence(row: Mapping[str, Any]) -> str:
    return (f"{_pts(row['mean_diff'])} points ({_ci(row)}, Holm p = {format_p(row['p_holm'])}; "
            f"{row['verdict']})")


def chapter8_conclusions(model_rows: pd.DataFrame, linear_rows: pd.DataFrame,
                         benchmarks: pd.DataFrame | None = None) -> dict[str, Any]:
    """The claims chapter 8 states and the sentences that state them, computed from its rows:
    ``{"primary": table, "exploratory": {...}, "claims": {...}, "sentences": {...}}``."""
    model_rows, linear_rows = pd.DataFrame(model_rows), pd.DataFrame(linear_rows)
    primary = analyse_family(model_rows, primary_family())
    exploratory = exploratory_tables(model_rows, linear_rows)
    claims: dict[str, Any] = {}
    sentences: dict[str, str] = {}

    target = beyond_the_paper_target(model_rows, primary)
    claims["target"] = target
    acc = target["accuracy"]
    control = target["versus_control"]
    if np.isfinite(target["share"]):
        share = (f"The rung recovers {100 * target['share']:.0f}% (95% CI {100 * target['share_ci'][0]:.0f}% "
                 f"to {100 * target['share_ci'][1]:.0f}%) of the oracle's advantage of "
                 f"{_pts(target['oracle_advantage'])} points over the base")
    else:
        share = (f"The oracle has no advantage over the base there ({_pts(target['oracle_advantage'])} "
                 "points), so the rung cannot recover half of it")
    sentences["target"] = (
        f"On test_shift_context the adjusted PCMCi reaches {_pct(acc[BEYOND_THE_PAPER_RUNG][ENDPOINT])} "
        f"accuracy, the base {_pct(acc['base'][ENDPOINT])}, the control {_pct(acc[CONTROL][ENDPOINT])} and "
        f"the context oracle {_pct(acc[ORACLE][ENDPOINT])}. {share} (target: at least "
        f"{100 * TARGET_FRACTION:.0f}%); against the control it is {_comparison_sentence(control)}. "
        f"In-distribution (test) accuracy: rung {_pct(acc[BEYOND_THE_PAPER_RUNG]['accuracy_test'])}, "
        f"base {_pct(acc['base']['accuracy_test'])}. The beyond-the-paper target is "
        + ("reached." if target["reached"] else "NOT reached."))

    structure = _row(primary, BEYOND_THE_PAPER_RUNG, ADJUSTED_BASE, ENDPOINT)
    alone = _row(primary, ADJUSTED_BASE, CONTROL, ENDPOINT)
    claims["pcmci_structure"] = structure["verdict"]
    claims["adjustment_alone"] = alone["verdict"]
    sentences["structure"] = (
        f"Is it PCMCi or the adjustment? Adjusted PCMCi minus the adjusted base on test_shift_context: "
        f"{_comparison_sentence(structure)}; the adjusted base minus the control: {_comparison_sentence(alone)}.")

    models = exploratory["models"]
    pcmci = _row(models, "pcmci", CONTROL, ENDPOINT)
    claims["pcmci_vs_control"] = pcmci["verdict"]
    sentences["pcmci"] = (f"PCMCi as the poster draws it minus the control on test_shift_context "
                          f"(exploratory): {_comparison_sentence(pcmci)}.")

    parts = linear_rows[linear_rows["variant"] == "linear_parts_removed"]
    largest = float((parts["accuracy_test"] - parts["accuracy_shift"]).abs().max())
    claims["parts_removed_identity"] = bool(largest == 0.0)
    sentences["parts_removed"] = (
        "The parts-removed rung is an identity, not a check: with the true context and object parts "
        "subtracted, test and test_shift hold the same videos' features, so its accuracies on the two "
        f"are equal by construction (largest difference over every level and draw: {100 * largest:.2f} "
        "points)." if largest == 0.0 else
        "The parts-removed rung is NOT an identity here: its test and test_shift accuracies differ by up "
        f"to {100 * largest:.2f} points.")

    top = f"linear@{DEFAULT_CONFOUNDING:g}"
    if top in exploratory:
        linear = exploratory[top]
        references = ("linear_parts_removed", "linear_oracle")  # an identity and a reference, not adjustments
        on_endpoint = linear[(linear["metric"] == ENDPOINT) & ~linear["first"].isin(references)]
        best = on_endpoint.loc[on_endpoint["mean_diff"].idxmax()].to_dict()
        price = _row(linear, best["first"], "linear_erm", "accuracy_test")
        clear = on_endpoint.loc[on_endpoint["verdict"] == "clear gain", "first"].tolist()
        claims["best_linear"] = best["first"]
        claims["clear_linear_gains"] = clear
        sentences["linear"] = (
            f"Linear rungs at confounding {DEFAULT_CONFOUNDING:g} (exploratory): the largest gain of an "
            f"adjustment on test_shift_context over the linear ERM is {RUNG_TITLES[best['first']]}'s, "
            f"{_comparison_sentence(best)}, at a test-accuracy change of {_pts(price['mean_diff'])} points. "
            "Clear gains there: " + (", ".join(RUNG_TITLES[r] for r in clear) if clear else "none") + ".")

    if benchmarks is not None and len(benchmarks):
        table = pd.DataFrame(benchmarks).groupby("confounding")[["empty_cells", "effective_sample_size"]].mean()
        claims["positivity"] = {f"{level:g}": {k: float(v) for k, v in row.items()} for level, row in table.iterrows()}
        sentences["positivity"] = (
            "Positivity of the training split, mean over draws: "
            + "; ".join(f"confounding {level:g}, {row['empty_cells']:.0f} empty (activity, context) cells, "
                        f"effective sample size {row['effective_sample_size']:.0f} after reweighting"
                        for level, row in table.iterrows()) + ".")
    return {"primary": primary, "exploratory": exploratory, "claims": claims, "sentences": sentences}


def _short_verdict(row: Mapping[str, Any]) -> str:
    if str(row["verdict"]).startswith("equivalent"):
        return f"equivalent within ±{100 * row['margin']:.0f} points"
    return str(row["verdict"])


def exploratory_lines(table: pd.DataFrame, width: int = 78) -> list[str]:
    """An exploratory family as short lines (at most ``width`` characters): grouped by metric, one
    comparison in two lines, its difference with the 95% CI, Holm p and verdict."""
    lines = []
    for metric, rows in pd.DataFrame(table).groupby("metric", sort=False):
        lines.append(f"{metric}:")
        for row in rows.to_dict("records"):
            lines.append(f"  {row['first']} - {row['second']}"[:width])
            lines.append(f"    {_pts(row['mean_diff'])} (95% CI {_pts(row['ci_low'])} to {_pts(row['ci_high'])}), "
                         f"Holm p {format_p(row['p_holm'])}, {_short_verdict(row)}"[:width])
    return lines


def write_chapter8_evidence(path: str | Path, model_rows: pd.DataFrame, linear_rows: pd.DataFrame,
                            benchmarks: pd.DataFrame, *, profile: str, settings, design: Mapping[str, Any]
                            ) -> dict[str, Any]:
    """The chapter's evidence file (:func:`pcmci_edu.experiments.write_evidence`): the trained
    runs in long form (split, draw, seed, confounder shifted) with the primary analysis, the
    exploratory tables, the linear runs in long form (``linear_runs``, by confounding level), the
    per-benchmark table, the design, the claims and the sentences."""
    found = chapter8_conclusions(model_rows, linear_rows, benchmarks)
    linear = pd.DataFrame(linear_rows).astype({"confounding": str})  # an identifier, not a measure
    extra = {"linear_runs": long_rows(linear).to_dict(orient="records"),
             "benchmarks": pd.DataFrame(benchmarks).to_dict(orient="records"), "design": dict(design),
             "claims": found["claims"], "sentences": found["sentences"]}
    data = write_evidence(path, model_rows, primary_family(), profile=profile, settings=settings,
                          exploratory=found["exploratory"], extra=extra)
    return {**data, **found}


def stored_rows(data: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(model rows, linear rows, per-benchmark table) of a loaded evidence file
    (:func:`pcmci_edu.experiments.load_evidence`)."""
    linear = wide_rows(pd.DataFrame(data["linear_runs"])).astype({"confounding": float})
    return data["rows"], linear, pd.DataFrame(data["benchmarks"])

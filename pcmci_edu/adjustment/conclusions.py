"""Chapter 8's conclusions, computed from the ladder's rows, and its results file.

Every comparison is paired and corrected over the whole chapter (Holm,
:func:`pcmci_edu.experiments.statistics.correct_family`): "clear" means Holm p < 0.05.
Trained rungs are paired on (benchmark draw, model seed). Linear rungs are convex fits that
no seed changes (only the surrogate's k-means start does), so their seeds are averaged within
a draw first and they are paired on draws. Each comparison is made within one confounding
level; its ``metric`` names the level (``gap_accuracy@0.9``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pcmci_edu.adjustment.ladder import RUNG_TITLES
from pcmci_edu.adjustment.models import BEYOND_THE_PAPER_RUNG
from pcmci_edu.experiments.cache import write_json_atomic
from pcmci_edu.experiments.statistics import correct_family, describe, lookup, paired_comparisons

TARGET_FRACTION = 0.5
"""The beyond-the-paper target: close at least this fraction of the base's excess gap over the oracle."""
LINEAR_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (name, "linear_erm") for name in RUNG_TITLES if name.startswith("linear_") and name != "linear_erm")
MODEL_PAIRS: tuple[tuple[str, str], ...] = (
    ("base_attention_pool", "base"), ("pcmci", "base"), ("pcmci_mediator_only", "pcmci"),
    ("base_surrogate_adjusted", "base"), (BEYOND_THE_PAPER_RUNG, "base"),
    (BEYOND_THE_PAPER_RUNG, "base_attention_pool"), (BEYOND_THE_PAPER_RUNG, "base_surrogate_adjusted"))
"""The comparisons of the chapter's family (on the shift gap), at every level where both rungs ran."""
PRICE_PAIRS: tuple[tuple[str, str], ...] = (("base_surrogate_adjusted", "base"), (BEYOND_THE_PAPER_RUNG, "base"))
"""Comparisons of test accuracy: the price of the adjustments."""


def level_metric(metric: str, level: float) -> str:
    """The family's name of a metric at one confounding level, e.g. ``gap_accuracy@0.9``."""
    return f"{metric}@{level:g}"


def linear_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Linear rows averaged over seeds within each (level, draw, rung)."""
    linear = rows[rows["family"] == "linear"]
    return linear.groupby(["confounding", "benchmark_seed", "rung"], as_index=False)[
        ["accuracy_test", "accuracy_shift", "gap_accuracy"]].mean()


def comparison_family(rows: pd.DataFrame) -> pd.DataFrame:
    """Every paired comparison of the chapter, Holm-corrected as one family."""
    rows = pd.DataFrame(rows)
    tables = []
    linear = linear_means(rows)
    models = rows[rows["family"] == "model"]
    for level in sorted(rows["confounding"].unique()):
        for frame, pairs, pair_on, metrics in (
                (linear, LINEAR_PAIRS, ("benchmark_seed",), ("gap_accuracy",)),
                (models, MODEL_PAIRS, ("benchmark_seed", "seed"), ("gap_accuracy",)),
                (models, PRICE_PAIRS, ("benchmark_seed", "seed"), ("accuracy_test",))):
            at_level = frame[frame["confounding"] == level]
            present = set(at_level["rung"])
            chosen = [pair for pair in pairs if set(pair) <= present]
            for metric in metrics:
                if chosen:
                    table = paired_comparisons(at_level, metric, chosen, by="rung", pair_on=pair_on)
                    table["metric"] = level_metric(metric, level)
                    table["confounding"] = level
                    tables.append(table)
    return correct_family(tables)


def mean_gaps(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean shift gap per rung (rows) and confounding level (columns)."""
    rows = pd.DataFrame(rows)
    table = rows.groupby(["rung", "confounding"])["gap_accuracy"].mean().unstack("confounding")
    return table.loc[[name for name in RUNG_TITLES if name in table.index]]


def fraction_closed(gaps: pd.DataFrame, rung: str, level: float) -> float:
    """Share of the ERM's excess gap over the oracle that a rung removes, from mean gaps:
    ``(gap_ERM - gap_rung) / (gap_ERM - gap_oracle)`` with the ERM and oracle of the rung's
    own family (linear head, or trained model)."""
    erm, oracle = ("linear_erm", "linear_oracle") if rung.startswith("linear_") else ("base", "oracle")
    excess = gaps.loc[erm, level] - gaps.loc[oracle, level]
    return float((gaps.loc[erm, level] - gaps.loc[rung, level]) / excess) if abs(excess) > 1e-9 else math.nan


def ladder_conclusions(rows: pd.DataFrame | Sequence[Mapping[str, Any]],
                       benchmarks: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The claims chapter 8 states, computed from its rows (and, for positivity, from the
    per-benchmark table of :func:`pcmci_edu.adjustment.ladder.run_ladder`), and the sentences
    that state them: ``{"claims": {...}, "sentences": [...], "comparisons": [...]}``."""
    rows = pd.DataFrame(rows)
    family = comparison_family(rows)
    gaps = mean_gaps(rows)
    levels = sorted(float(level) for level in rows["confounding"].unique())
    claims: dict[str, Any] = {"levels": levels, "family_size": int(np.isfinite(family["p"]).sum())}
    sentences: list[str] = []
    title = RUNG_TITLES

    fractions = {rung: {f"{level:g}": fraction_closed(gaps, rung, level) for level in levels
                        if not math.isnan(gaps.loc[rung, level])} for rung in gaps.index
                 if rung not in ("linear_erm", "linear_oracle", "base", "oracle")}
    claims["fraction_closed"] = fractions
    claims["mean_gap"] = {rung: {f"{level:g}": float(gaps.loc[rung, level]) for level in levels
                                 if not math.isnan(gaps.loc[rung, level])} for rung in gaps.index}

    upper = fractions.get("linear_parts_removed", {})
    claims["upper_bound_closes_most"] = bool(upper) and all(value > 0.5 for value in upper.values())
    sentences.append(
        "Check that the ladder is meaningful: with the true context and object parts removed, the linear "
        "head closes " + ", ".join(_share(upper[f"{l:g}"]) for l in levels if f"{l:g}" in upper)
        + " of the linear ERM's excess shift gap over the oracle (confounding "
        + ", ".join(f"{l:g}" for l in levels) + "): "
        + ("most of it at every level." if claims["upper_bound_closes_most"]
           else "NOT most of it at every level, so the ladder below cannot be read as intended."))

    top = max(levels)
    linear_at_top = {rung: fractions[rung][f"{top:g}"] for rung in fractions
                     if rung.startswith("linear_") and rung != "linear_parts_removed" and f"{top:g}" in fractions[rung]}
    if linear_at_top:
        best = max(linear_at_top, key=linear_at_top.get)
        claims["best_linear_adjustment"] = best
        clear_linear = [rung for rung in linear_at_top
                        if _clear_smaller(family, "gap_accuracy", top, rung, "linear_erm")]
        claims["clear_linear_adjustments"] = clear_linear
        sentences.append(
            f"At confounding {top:g}, among the adjustments of the linear head other than removing the parts, "
            f"{title[best]} closes the most of the excess gap ({_share(linear_at_top[best])}). Clearly "
            "smaller gaps than the ERM's (paired over draws, Holm): "
            + ("; ".join(f"{title[r]} ({_share(linear_at_top[r])})" for r in clear_linear) if clear_linear
               else "none") + ".")
        shares = {adjustment: (linear_at_top.get(f"linear_{adjustment}_true"),
                               linear_at_top.get(f"linear_{adjustment}_surrogate"))
                  for adjustment in ("logit_adjustment", "product_of_experts", "backdoor_sum", "reweighting")}
        shares = {name: pair for name, pair in shares.items() if None not in pair}
        claims["linear_shares_true_vs_surrogate"] = {name: {"true": t, "surrogate": e} for name, (t, e) in shares.items()}
        if shares:
            sentences.append(
                f"Knowing the confounder or estimating it (confounding {top:g}; share of the linear ERM's excess gap "
                "closed with the true context / with the label-free surrogate): "
                + "; ".join(f"{name.replace('_', ' ')} {_share(t)} / {_share(e)}" for name, (t, e) in shares.items())
                + ".")

    model_levels = [level for level in levels if {"base", "oracle"} <= set(
        rows.loc[(rows["family"] == "model") & (rows["confounding"] == level), "rung"])]
    target: dict[str, Any] = {}
    for level in model_levels:
        key = f"{level:g}"
        present = set(rows.loc[(rows["family"] == "model") & (rows["confounding"] == level), "rung"])
        base_gap, oracle_gap = gaps.loc["base", level], gaps.loc["oracle", level]
        if "base_attention_pool" in present:
            control = lookup(family, level_metric("gap_accuracy", level), "base_attention_pool", "base")
            sentences.append(
                f"Confounding {level:g}: the trained base loses {100 * base_gap:.1f} points of accuracy from test "
                f"to test_shift, the oracle {100 * oracle_gap:.1f}; the attention-pooling control changes the "
                f"base's gap by {describe(control)}.")
        if BEYOND_THE_PAPER_RUNG in present and "base_attention_pool" in present:
            closed = fractions[BEYOND_THE_PAPER_RUNG][key]
            versus_control = lookup(family, level_metric("gap_accuracy", level), BEYOND_THE_PAPER_RUNG,
                                    "base_attention_pool")
            price = lookup(family, level_metric("accuracy_test", level), BEYOND_THE_PAPER_RUNG, "base")
            reached = bool(closed >= TARGET_FRACTION and versus_control["mean_diff"] < 0 and versus_control["clear"])
            target[key] = {"fraction_closed": closed, "versus_control": versus_control,
                           "accuracy_change": price, "reached": reached}
            sentences.append(
                f"Beyond the paper, at confounding {level:g}: {title[BEYOND_THE_PAPER_RUNG]} closes "
                f"{_share(closed)} of the base's excess gap (target: {_share(TARGET_FRACTION)}); its gap "
                f"minus the control's is {describe(versus_control)}; its test accuracy minus the base's is "
                f"{describe(price)}. The target is " + ("reached." if reached else "NOT reached."))
            if "base_surrogate_adjusted" in present:
                versus_adjusted_base = lookup(family, level_metric("gap_accuracy", level), BEYOND_THE_PAPER_RUNG,
                                              "base_surrogate_adjusted")
                target[key]["versus_adjusted_base"] = versus_adjusted_base
                sentences.append(
                    f"Is it PCMCi or the adjustment? The base with the same surrogate logit adjustment closes "
                    f"{_share(fractions['base_surrogate_adjusted'][key])} of the excess gap; the PCMCi rung's gap minus "
                    f"the adjusted base's is {describe(versus_adjusted_base)}.")
        if {"pcmci", "pcmci_mediator_only"} <= present:
            routing = lookup(family, level_metric("gap_accuracy", level), "pcmci_mediator_only", "pcmci")
            claims.setdefault("routing_effect", {})[key] = routing
            sentences.append(
                f"IVC's front-door routing made real (mediator-only) changes PCMCi's gap by {describe(routing)}.")
        if "pcmci" in present:
            pcmci = lookup(family, level_metric("gap_accuracy", level), "pcmci", "base")
            claims.setdefault("pcmci_minus_base_gap", {})[key] = pcmci
            sentences.append(f"PCMCi as the poster draws it changes the base's gap by {describe(pcmci)} and "
                             f"closes {_share(fractions['pcmci'][key])} of the excess.")
    claims["target"] = target
    claims["target_reached"] = bool(target) and all(t["reached"] for t in target.values())
    if target:
        sentences.append(
            "Verdict: the beyond-the-paper target (close at least half of the base's excess shift gap AND a "
            "gap clearly below the attention-pooling control's, paired, Holm p < 0.05) is "
            + ("reached at every level where PCMCi was trained." if claims["target_reached"]
               else "not reached."))
    if benchmarks is not None:
        table = pd.DataFrame(benchmarks).groupby("confounding")[["empty_cells", "effective_sample_size"]].mean()
        claims["positivity"] = {f"{level:g}": {"empty_cells": float(row["empty_cells"]),
                                               "effective_sample_size": float(row["effective_sample_size"])}
                                for level, row in table.iterrows()}
        sentences.append(
            "Positivity of the training split, mean over draws: "
            + "; ".join(f"confounding {level:g}, {row['empty_cells']:.0f} empty (activity, context) cells and an "
                        f"effective sample size of {row['effective_sample_size']:.0f} after reweighting"
                        for level, row in table.iterrows()) + ".")
    return {"claims": claims, "sentences": sentences, "comparisons": family.to_dict(orient="records")}


def _share(fraction: float) -> str:
    """A fraction as a whole percentage (no "-0%").

    >>> _share(-0.001), _share(0.456)
    ('0%', '46%')
    """
    return f"{round(100 * fraction) + 0:.0f}%"


def _clear_smaller(family: pd.DataFrame, metric: str, level: float, first: str, second: str) -> bool:
    comparison = lookup(family, level_metric(metric, level), first, second)
    return bool(comparison["mean_diff"] < 0 and comparison["clear"])


def write_ladder_results(path: str | Path, rows: pd.DataFrame, *, profile: str, design, settings,
                         benchmarks: pd.DataFrame, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the chapter's rows, its per-benchmark table (positivity, surrogate agreement),
    comparisons, claims, sentences and provenance to JSON (atomic)."""
    from dataclasses import asdict

    from pcmci_edu.experiments.cache import code_fingerprint

    rows = pd.DataFrame(rows).drop(columns=["cached"], errors="ignore")
    data = {"profile": profile, "design": asdict(design), "settings": settings.key(), "code": code_fingerprint(),
            "rows": rows.to_dict(orient="records"), "benchmarks": pd.DataFrame(benchmarks).to_dict(orient="records"),
            **ladder_conclusions(rows, benchmarks), **(extra or {})}
    write_json_atomic(path, data)
    return data

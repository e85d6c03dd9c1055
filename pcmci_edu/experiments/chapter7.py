"""Chapter 7's conclusions, computed from its rows, and the results file that stores them.

:func:`chapter7_conclusions` turns the rows of chapter 7's grid (the ablation, the six orders,
the references and the beyond-the-paper variants) into claims and the sentences the chapter
prints; every "clearly" in them is a paired comparison, Holm-corrected over the chapter's
family (:func:`chapter7_comparisons`). The tests check those sentences against the stored rows
in ``results/chapter7_book.json``, which :func:`write_results` writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pcmci_edu.experiments.cache import benchmark_signature, code_fingerprint, write_json_atomic
from pcmci_edu.experiments.runs import RunSettings
from pcmci_edu.experiments.statistics import (COMPARISON_COLUMNS, PAIR_ON, _pct, best_variant, correct_family,
                                              describe, describe_family, family_size, lookup, paired_comparisons, rank_correlation,
                                              repeated_measures_test)
from pcmci_edu.experiments.variants import ABLATION, ORDER_VARIANTS, POSTER_ORDERS, VARIANTS, get_variant


BEYOND_THE_PAPER: tuple[str, ...] = ("frozen_text", "ivc_cross_sample", "pcmci_cross_sample",
                                     "pcmci_textbook", "pcmci_frozen_text")
"""Variants that change what the classifier can see, compared with the oracle's shift gap."""

STATISTICS_VERSION = 2
"""The version of how the conclusions are computed, stored in the results file: 1 compared
independent means (2 standard errors), 2 pairs runs by (benchmark draw, seed), tests with a paired
t test and corrects over the chapter's comparisons with Holm."""

PCMCI_VERSUS_BASE: tuple[tuple[str, str], ...] = (
    ("accuracy_test", "accuracy"), ("mAP_all_classes_test", "mAP"), ("gap_accuracy", "gap_accuracy"),
    ("gap_mAP_all_classes", "gap_mAP"), ("masked_score_ratio", "masked_score_ratio"))
"""PCMCi minus Base on these metrics (metric, claim suffix)."""


def _rows(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = pd.DataFrame(rows)
    return rows.drop_duplicates([c for c in ("variant", *PAIR_ON) if c in rows.columns], ignore_index=True)


def chapter7_comparisons(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Chapter 7's Holm family: every comparison its sentences state, paired by (draw, seed) and
    corrected together (:func:`~pcmci_edu.experiments.statistics.correct_family`).

    PCMCi against the base on five metrics; the control and PCMCi on the shift gap; ICH and the
    control on mAP; a repeated-measures ANOVA of the six orders on accuracy and on mAP; and each
    beyond-the-paper variant (and PCMCi) against the base (test accuracy, shift gap) and the
    control (shift gap). Comparisons whose variants are absent are left out.
    """
    rows = _rows(rows)
    present = set(rows["variant"])
    tables = []

    def add(metric: str, pairs: Sequence[tuple[str, str]]) -> None:
        pairs = [pair for pair in pairs if set(pair) <= present]
        if pairs:
            tables.append(paired_comparisons(rows, metric, pairs))

    for metric, _ in PCMCI_VERSUS_BASE:
        add(metric, [("pcmci", "base")])
    add("gap_accuracy", [("base_attention_pool", "base"), ("pcmci", "base_attention_pool")])
    add("mAP_all_classes_test", [("ich", "base"), ("base_attention_pool", "base"), ("ich", "base_attention_pool")])
    if set(ORDER_VARIANTS) <= present:
        tables += [repeated_measures_test(rows, metric, ORDER_VARIANTS, name="six orders")
                   for metric in ("accuracy_test", "mAP_all_classes_test")]
    if {"base", "oracle"} <= present:
        for name in (*BEYOND_THE_PAPER, "pcmci"):
            add("accuracy_test", [(name, "base")])
            add("gap_accuracy", [(name, "base"), (name, "base_attention_pool")])
    if not tables:
        return pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    return correct_family(tables)


def chapter7_conclusions(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The claims chapter 7 states, computed from its rows, and the sentences that state them.

    Returns ``{"claims": {...}, "sentences": [...]}``. Every "clearly" is a comparison of
    :func:`chapter7_comparisons` with a Holm-corrected p below 0.05 (``claims["comparisons"]``
    holds the whole family, ``claims["holm_family_size"]`` its size). Claims: the ablation's
    winner by accuracy and by all-class mAP on ``test``; PCMCi minus Base (accuracy, mAP, shift
    gap, masking probe); the best order, the rank of the poster's order, a repeated-measures ANOVA of
    whether the orders differ at all and Spearman's correlation of our order means with the
    poster's; the control's gain beside ICH's; and, for each "beyond the paper" variant present,
    the fraction of the base's excess shift gap (over the oracle's) that it removes and its cost
    in test accuracy.
    """
    rows = _rows(rows)
    present = set(rows["variant"])
    label = {v: get_variant(v).label for v in present if v in VARIANTS}
    family = chapter7_comparisons(rows)
    claims: dict[str, Any] = {"comparisons": family.to_dict(orient="records"),
                              "holm_family_size": family_size(family)}
    sentences: list[str] = []

    def find(metric: str, first: str, second: str) -> dict[str, Any]:
        return lookup(family, metric, first, second)

    def lower(comparison: Mapping[str, Any]) -> bool:
        return bool(comparison["mean_diff"] < 0 and comparison["clear"])

    sentences.append(
        describe_family(family, rows) + " Each comparison pairs the runs by benchmark draw and model seed and "
        "is a paired t test (the orders: a repeated-measures ANOVA), Holm-corrected over the whole family; "
        "\"clear\" means a corrected p below 0.05.")

    ablation = [v for v in ABLATION if v in present]
    if ablation:
        claims["ablation_best_accuracy"] = best_variant(rows, "accuracy_test", ablation)
        claims["ablation_best_mAP"] = best_variant(rows, "mAP_all_classes_test", ablation)
        sentences.append(
            f"In the ablation, the best test accuracy is {label[claims['ablation_best_accuracy']]}'s "
            f"and the best all-class mAP is {label[claims['ablation_best_mAP']]}'s; the poster has "
            f"PCMCi first on both.")
    if {"pcmci", "base"} <= present:
        for metric, key in PCMCI_VERSUS_BASE:
            claims[f"pcmci_minus_base_{key}"] = find(metric, "pcmci", "base")
        d = claims
        sentences.append(
            f"PCMCi minus Base: test accuracy {describe(d['pcmci_minus_base_accuracy'])}, "
            f"all-class mAP {describe(d['pcmci_minus_base_mAP'])}.")
        gap = d["pcmci_minus_base_gap_accuracy"]
        claims["pcmci_shrinks_gap"] = lower(gap)
        sentences.append(
            "The shift gap in accuracy (test minus test_shift) "
            + ("shrinks clearly" if claims["pcmci_shrinks_gap"] else "does not shrink clearly")
            + f" with PCMCi: {describe(gap)} against the base.")
        if "base_attention_pool" in present:
            control_gap = find("gap_accuracy", "base_attention_pool", "base")
            versus_control = find("gap_accuracy", "pcmci", "base_attention_pool")
            claims["control_minus_base_gap_accuracy"] = control_gap
            claims["pcmci_minus_control_gap_accuracy"] = versus_control
            claims["pcmci_gap_beats_control"] = lower(versus_control)
            sentences.append(
                f"The attention-pooling control, with no intervention, changes the gap by "
                f"{describe(control_gap)} against the base; PCMCi's gap minus the control's is "
                f"{describe(versus_control)}: "
                + ("PCMCi shrinks the gap clearly more than the control." if claims["pcmci_gap_beats_control"]
                   else "what PCMCi gains on the gap, the control gains too, so it is not evidence of "
                        "deconfounding."))
        ratio = d["pcmci_minus_base_masked_score_ratio"]
        claims["pcmci_lowers_masked_score"] = lower(ratio)
        sentences.append(
            "On the masking probe, the true activity's score with the action removed (relative to "
            "unmasked) " + ("falls clearly" if claims["pcmci_lowers_masked_score"]
                            else "does not fall clearly") + f" with PCMCi: {describe(ratio, percent=False)} "
            "in the ratio.")
    orders = [v for v in ORDER_VARIANTS if v in present]
    if len(orders) == len(ORDER_VARIANTS):
        means = rows.groupby("variant")[["accuracy_test", "mAP_all_classes_test"]].mean().loc[orders]
        claims["order_best_accuracy"] = str(means["accuracy_test"].idxmax())
        claims["order_best_mAP"] = str(means["mAP_all_classes_test"].idxmax())
        claims["poster_order_rank_accuracy"] = int(
            means["accuracy_test"].rank(ascending=False, method="min")["pcmci"])
        claims["order_rank_correlation_accuracy"] = rank_correlation(
            means["accuracy_test"], POSTER_ORDERS.set_index("variant").loc[orders, "B-Acc"])
        claims["order_rank_correlation_mAP"] = rank_correlation(
            means["mAP_all_classes_test"], POSTER_ORDERS.set_index("variant").loc[orders, "B-mAP"])
        claims["order_spread_accuracy"] = float(means["accuracy_test"].max() - means["accuracy_test"].min())
        claims["order_spread_mAP"] = float(means["mAP_all_classes_test"].max() - means["mAP_all_classes_test"].min())
        anova = {metric: find(metric, "six orders", "repeated-measures ANOVA")
                 for metric in ("accuracy_test", "mAP_all_classes_test")}
        claims["order_anova_accuracy"] = anova["accuracy_test"]
        claims["order_anova_mAP"] = anova["mAP_all_classes_test"]
        distinguishable = [name for metric, name in (("accuracy_test", "test accuracy"),
                                                     ("mAP_all_classes_test", "all-class mAP"))
                           if anova[metric]["clear"]]
        claims["orders_distinguishable"] = bool(distinguishable)
        best = claims["order_best_accuracy"]
        sentences.append(
            f"Among the six orders, {label[best]} has the best mean test accuracy; the poster's "
            f"ICH → ICI → IVC ranks {claims['poster_order_rank_accuracy']} of 6. The best order's mean minus "
            f"the worst's: accuracy {_pct(claims['order_spread_accuracy'])}, all-class mAP "
            f"{_pct(claims['order_spread_mAP'])}. Do the six orders differ at all? A repeated-measures "
            f"ANOVA over the paired runs gives Holm p = {anova['accuracy_test']['p_holm']:.3f} (accuracy) and "
            f"Holm p = {anova['mAP_all_classes_test']['p_holm']:.3f} (mAP; Friedman's rank test, uncorrected: "
            f"p = {anova['accuracy_test']['p_friedman']:.3f} and {anova['mAP_all_classes_test']['p_friedman']:.3f}): "
            + (f"the orders differ clearly in {' and in '.join(distinguishable)} on this benchmark. "
               if claims["orders_distinguishable"]
               else "on this benchmark the six orders cannot be told apart, so their ranking is not "
                    "evidence of an order effect. ")
            + f"Spearman's correlation of our order ranking with the poster's is "
            f"{claims['order_rank_correlation_accuracy']:+.2f} (accuracy) and "
            f"{claims['order_rank_correlation_mAP']:+.2f} (mAP).")
    if {"ich", "base_attention_pool", "base"} <= present:
        ich = find("mAP_all_classes_test", "ich", "base")
        control = find("mAP_all_classes_test", "base_attention_pool", "base")
        claims["ich_minus_base_mAP"], claims["control_minus_base_mAP"] = ich, control
        claims["ich_beats_control_mAP"] = find("mAP_all_classes_test", "ich", "base_attention_pool")
        sentences.append(
            f"ICH alone changes all-class mAP by {describe(ich)}; the attention-pooling control, "
            f"with no intervention, by {describe(control)}. A gain the control also gets is a "
            f"better readout, not deconfounding.")
    if {"base", "oracle"} <= present:
        means = rows.groupby("variant")["gap_accuracy"].mean()
        excess = float(means["base"] - means["oracle"])
        claims["base_gap_accuracy"] = float(means["base"])
        claims["oracle_gap_accuracy"] = float(means["oracle"])
        sentences.append(
            f"The base loses {100 * means['base']:.1f} points of accuracy from test to test_shift; "
            f"the oracle, trained without the confounders, loses {100 * means['oracle']:.1f}.")
        beyond = {}
        for name in [v for v in BEYOND_THE_PAPER + ("pcmci",) if v in present]:
            closed = (float(means["base"] - means[name]) / excess) if abs(excess) > 1e-9 else math.nan
            beyond[name] = {"gap_accuracy": float(means[name]), "fraction_of_gap_closed": closed,
                            "accuracy_change": find("accuracy_test", name, "base"),
                            "gap_change": find("gap_accuracy", name, "base")}
            if "base_attention_pool" in present:
                beyond[name]["gap_versus_control"] = find("gap_accuracy", name, "base_attention_pool")
        claims["beyond_the_paper"] = beyond
        if beyond:
            closers = [n for n, b in beyond.items() if lower(b["gap_change"])]
            claims["gap_closers"] = closers
            best = min(beyond, key=lambda n: beyond[n]["gap_accuracy"])
            claims["smallest_gap_variant"] = best
            beats_control = [n for n in closers if "gap_versus_control" in beyond[n]
                             and lower(beyond[n]["gap_versus_control"])]
            claims["gap_closers_beyond_control"] = beats_control
            sentences.append(
                f"Of the variants that change what the classifier can see, {label[best]} has the "
                f"smallest shift gap ({100 * beyond[best]['gap_accuracy']:.1f} points, "
                f"{100 * beyond[best]['fraction_of_gap_closed']:.0f}% of the base's excess over the "
                f"oracle removed) at a test-accuracy change of "
                f"{describe(beyond[best]['accuracy_change'])}. "
                + ("Clearly smaller gaps than the base's: " + "; ".join(label[n] for n in closers) + ". "
                   if closers else "None of them shrinks the gap clearly below the base's. ")
                + ("Clearly smaller than the attention-pooling control's too: "
                   + "; ".join(label[n] for n in beats_control) + "."
                   if beats_control else "None shrinks it clearly below the attention-pooling control's, "
                                         "which has no intervention at all."))
    return {"claims": claims, "sentences": sentences}


def write_results(path: str | Path, rows: pd.DataFrame, *, profile: str, benchmark: Mapping[str, Any],
                  settings: RunSettings, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write a chapter's rows, its computed conclusions and its provenance to a JSON file (atomic)."""
    rows = _rows(pd.DataFrame(rows).drop(columns=["cached"], errors="ignore"))
    data = {"profile": profile, "benchmark": benchmark_signature(benchmark),
            "settings": settings.key(), "code": code_fingerprint(), "statistics": STATISTICS_VERSION,
            "rows": rows.to_dict(orient="records"), **chapter7_conclusions(rows), **(extra or {})}
    write_json_atomic(path, data)
    return data

"""Chapter 7's conclusions, computed from its rows, and the results file that stores them.

:func:`chapter7_conclusions` turns the rows of chapter 7's grid (the ablation, the six orders,
the references and the beyond-the-paper variants) into claims and the sentences the chapter
prints; the tests check those sentences against the stored rows in
``results/chapter7_book.json``, which :func:`write_results` writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pcmci_edu.experiments.cache import benchmark_signature, code_fingerprint, write_json_atomic
from pcmci_edu.experiments.runs import RunSettings
from pcmci_edu.experiments.statistics import _describe, _pct, best_variant, difference, permutation_anova, rank_correlation
from pcmci_edu.experiments.variants import ABLATION, ORDER_VARIANTS, POSTER_ORDERS, VARIANTS, get_variant


BEYOND_THE_PAPER: tuple[str, ...] = ("frozen_text", "ivc_cross_sample", "pcmci_cross_sample",
                                     "pcmci_textbook", "pcmci_frozen_text")
"""Variants that change what the classifier can see, compared with the oracle's shift gap."""


def chapter7_conclusions(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The claims chapter 7 states, computed from its rows, and the sentences that state them.

    Returns ``{"claims": {...}, "sentences": [...]}``. Claims: the ablation's winner by accuracy
    and by all-class mAP on ``test``; PCMCi minus Base (accuracy, mAP, shift gap, masking
    probe) with its standard error; the best order and the rank of the poster's order; the rank
    correlation of our order means with the poster's; the control's gain beside ICH's; and, for
    each "beyond the paper" variant present, the fraction of the base's excess shift gap (over the
    oracle's) that it removes and its cost in test accuracy.
    """
    rows = pd.DataFrame(rows).drop_duplicates(["variant", "seed"])
    present = set(rows["variant"])
    label = {v: get_variant(v).label for v in present if v in VARIANTS}
    claims: dict[str, Any] = {}
    sentences: list[str] = []

    ablation = [v for v in ABLATION if v in present]
    if ablation:
        claims["ablation_best_accuracy"] = best_variant(rows, "accuracy_test", ablation)
        claims["ablation_best_mAP"] = best_variant(rows, "mAP_all_classes_test", ablation)
        sentences.append(
            f"In the ablation, the best test accuracy is {label[claims['ablation_best_accuracy']]}'s "
            f"and the best all-class mAP is {label[claims['ablation_best_mAP']]}'s; the poster has "
            f"PCMCi first on both.")
    if {"pcmci", "base"} <= present:
        for metric, key in (("accuracy_test", "accuracy"), ("mAP_all_classes_test", "mAP"),
                            ("gap_accuracy", "gap_accuracy"), ("gap_mAP_all_classes", "gap_mAP"),
                            ("masked_score_ratio", "masked_score_ratio")):
            claims[f"pcmci_minus_base_{key}"] = difference(rows, metric, "pcmci", "base")
        d = claims
        sentences.append(
            f"PCMCi minus Base: test accuracy {_describe(d['pcmci_minus_base_accuracy'])}, "
            f"all-class mAP {_describe(d['pcmci_minus_base_mAP'])}.")
        gap = d["pcmci_minus_base_gap_accuracy"]
        claims["pcmci_shrinks_gap"] = bool(gap["diff"] < 0 and gap["clear"])
        sentences.append(
            "The shift gap in accuracy (test minus test_shift) "
            + ("shrinks clearly" if claims["pcmci_shrinks_gap"] else "does not shrink clearly")
            + f" with PCMCi: {_describe(gap)} against the base.")
        if "base_attention_pool" in present:
            control_gap = difference(rows, "gap_accuracy", "base_attention_pool", "base")
            versus_control = difference(rows, "gap_accuracy", "pcmci", "base_attention_pool")
            claims["control_minus_base_gap_accuracy"] = control_gap
            claims["pcmci_minus_control_gap_accuracy"] = versus_control
            claims["pcmci_gap_beats_control"] = bool(versus_control["diff"] < 0 and versus_control["clear"])
            sentences.append(
                f"The attention-pooling control, with no intervention, changes the gap by "
                f"{_describe(control_gap)} against the base; PCMCi's gap minus the control's is "
                f"{_describe(versus_control)}: "
                + ("PCMCi shrinks the gap clearly more than the control." if claims["pcmci_gap_beats_control"]
                   else "what PCMCi gains on the gap, the control gains too, so it is not evidence of "
                        "deconfounding."))
        ratio = d["pcmci_minus_base_masked_score_ratio"]
        claims["pcmci_lowers_masked_score"] = bool(ratio["diff"] < 0 and ratio["clear"])
        sentences.append(
            "On the masking probe, the true activity's score with the action removed (relative to "
            "unmasked) " + ("falls clearly" if claims["pcmci_lowers_masked_score"]
                            else "does not fall clearly") + f" with PCMCi: {_describe(ratio, percent=False)} "
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
        best = claims["order_best_accuracy"]
        spread = {metric: difference(rows, metric, str(means[metric].idxmax()), str(means[metric].idxmin()))
                  for metric in ("accuracy_test", "mAP_all_classes_test")}
        claims["order_best_minus_worst_accuracy"] = spread["accuracy_test"]
        claims["order_best_minus_worst_mAP"] = spread["mAP_all_classes_test"]
        anova = {metric: permutation_anova([rows.loc[rows["variant"] == v, metric] for v in orders])
                 for metric in ("accuracy_test", "mAP_all_classes_test")}
        claims["order_anova_p_accuracy"] = anova["accuracy_test"][1]
        claims["order_anova_p_mAP"] = anova["mAP_all_classes_test"][1]
        # two tests (accuracy, mAP): Bonferroni, 0.05 / 2
        claims["orders_distinguishable"] = bool(min(claims["order_anova_p_accuracy"],
                                                    claims["order_anova_p_mAP"]) < 0.025)
        sentences.append(
            f"Among the six orders, {label[best]} has the best mean test accuracy; the poster's "
            f"ICH → ICI → IVC ranks {claims['poster_order_rank_accuracy']} of 6. The best order minus "
            f"the worst: accuracy {_describe(spread['accuracy_test'])}, all-class mAP "
            f"{_describe(spread['mAP_all_classes_test'])}. Do the six orders differ at all? A one-way "
            f"permutation ANOVA over seeds gives p = {claims['order_anova_p_accuracy']:.3f} (accuracy) "
            f"and p = {claims['order_anova_p_mAP']:.3f} (mAP): "
            + ("the orders are distinguishable on this benchmark (p < 0.025, Bonferroni for two tests). "
               if claims["orders_distinguishable"]
               else "on this benchmark the six orders cannot be told apart (no p < 0.025, Bonferroni "
                    "for two tests). ")
            + f"Spearman's correlation of our order ranking with the poster's is "
            f"{claims['order_rank_correlation_accuracy']:+.2f} (accuracy) and "
            f"{claims['order_rank_correlation_mAP']:+.2f} (mAP).")
    if {"ich", "base_attention_pool", "base"} <= present:
        ich = difference(rows, "mAP_all_classes_test", "ich", "base")
        control = difference(rows, "mAP_all_classes_test", "base_attention_pool", "base")
        claims["ich_minus_base_mAP"], claims["control_minus_base_mAP"] = ich, control
        claims["ich_beats_control_mAP"] = difference(rows, "mAP_all_classes_test", "ich",
                                                     "base_attention_pool")
        sentences.append(
            f"ICH alone changes all-class mAP by {_describe(ich)}; the attention-pooling control, "
            f"with no intervention, by {_describe(control)}. A gain the control also gets is a "
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
            cost = difference(rows, "accuracy_test", name, "base")
            beyond[name] = {"gap_accuracy": float(means[name]), "fraction_of_gap_closed": closed,
                            "accuracy_change": cost["diff"],
                            "gap_change": difference(rows, "gap_accuracy", name, "base")}
            if "base_attention_pool" in present:
                beyond[name]["gap_versus_control"] = difference(rows, "gap_accuracy", name,
                                                                "base_attention_pool")
        claims["beyond_the_paper"] = beyond
        if beyond:
            closers = [n for n, b in beyond.items() if b["gap_change"]["diff"] < 0 and b["gap_change"]["clear"]]
            claims["gap_closers"] = closers
            best = min(beyond, key=lambda n: beyond[n]["gap_accuracy"])
            claims["smallest_gap_variant"] = best
            beats_control = [n for n in closers if "gap_versus_control" in beyond[n]
                             and beyond[n]["gap_versus_control"]["diff"] < 0
                             and beyond[n]["gap_versus_control"]["clear"]]
            claims["gap_closers_beyond_control"] = beats_control
            sentences.append(
                f"Of the variants that change what the classifier can see, {label[best]} has the "
                f"smallest shift gap ({100 * beyond[best]['gap_accuracy']:.1f} points, "
                f"{100 * beyond[best]['fraction_of_gap_closed']:.0f}% of the base's excess over the "
                f"oracle removed) at a test-accuracy change of "
                f"{_pct(beyond[best]['accuracy_change'])}. "
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
    rows = pd.DataFrame(rows).drop(columns=["cached"], errors="ignore").drop_duplicates(["variant", "seed"])
    data = {"profile": profile, "benchmark": benchmark_signature(benchmark),
            "settings": settings.key(), "code": code_fingerprint(),
            "rows": rows.to_dict(orient="records"), **chapter7_conclusions(rows), **(extra or {})}
    write_json_atomic(path, data)
    return data

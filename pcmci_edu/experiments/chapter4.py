"""Chapter 4's evidence: ICH measured on the shift of its own confounder, the companion objects H.

Primaries (:func:`primary_comparisons`), declared before the runs, all on
``mAP_all_classes_shift_objects`` (the atomic actions are where companions sit): ICH against the
base, against the capacity control (attention pooling) and the objects oracle against ICH (how
much of the oracle's advantage remains). The in-distribution difference is carried beside each.
:func:`conclusions` writes the chapter's sentences from the rows and the analysis, for the
notebook and for ``tests/test_chapters_3_4.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pcmci_edu.experiments.evidence import PrimaryComparison, per_draw_comparison

CHAPTER = "chapter4"
METRIC = "mAP_all_classes_shift_objects"
"""The primary endpoint: atomic-action mAP over all classes on ``test_shift_objects``."""

MARGIN = 0.02
"""The book's equivalence margin: 2 points."""

VARIANTS: tuple[str, ...] = ("base", "ich", "base_attention_pool", "oracle_objects", "oracle")
"""The runs of chapter 4 on every draw: the primaries' variants and the joint oracle (exploratory)."""

DICTIONARY_VARIANTS: tuple[str, ...] = ("base", "ich", "ich_dictionary")
"""The dictionary reading's runs, on the first draw only (exploratory, to keep the chapter's time)."""

EXPLORATORY_PAIRS: tuple[tuple[str, str], ...] = (
    ("ich", "base"), ("ich", "base_attention_pool"), ("oracle_objects", "base"), ("oracle", "ich"))
EXPLORATORY_METRICS: tuple[str, ...] = ("accuracy_shift_objects", "mAP_all_classes_shift", "masked_score_ratio")


def primary_comparisons(margin: float = MARGIN) -> list[PrimaryComparison]:
    """Chapter 4's primaries on the objects shift."""
    return [
        PrimaryComparison("ich", "base", METRIC, margin, "ICH - base"),
        PrimaryComparison("ich", "base_attention_pool", METRIC, margin, "ICH - control (attention pool)"),
        PrimaryComparison("oracle_objects", "ich", METRIC, margin, "oracle_objects - ICH"),
    ]


def headroom(rows: pd.DataFrame, metric: str = METRIC) -> dict:
    """The objects oracle minus the base on ``metric`` (per draw, seeds averaged): the most an
    intervention on H could gain here."""
    return per_draw_comparison(pd.DataFrame(rows), metric, "oracle_objects", "base")


def _difference(row: Mapping) -> str:
    return (f"{100 * row['mean_diff']:+.1f} points (95% CI {100 * row['ci_low']:+.1f} to "
            f"{100 * row['ci_high']:+.1f})")


def conclusions(rows: pd.DataFrame, analysis: pd.DataFrame) -> dict[str, str]:
    """The chapter's sentences: the headroom, then ICH against the base, the control and the oracle."""
    table = pd.DataFrame(analysis).set_index(["first", "second"])
    room = headroom(rows)
    versus_base = table.loc[("ich", "base")]
    versus_control = table.loc[("ich", "base_attention_pool")]
    versus_oracle = table.loc[("oracle_objects", "ich")]
    finding = (
        f"On the objects shift, ICH minus the base is {_difference(versus_base)} of mAP over all classes "
        f"({versus_base['verdict']}); ICH minus the attention-pooling control is {_difference(versus_control)} "
        f"({versus_control['verdict']}); the objects oracle is {_difference(versus_oracle)} above ICH "
        f"({versus_oracle['verdict']}). In-distribution, ICH minus the base is "
        f"{100 * versus_base['in_distribution_diff']:+.1f} points.")
    room_sentence = (
        f"The room ICH has: the objects oracle minus the base on this shift is {_difference(room)} "
        f"over {room['n_draws']} draws: what breaking H in the training data itself buys the base on this shift, "
        f"the yardstick for any gain of an intervention on H.")
    return {"headroom": room_sentence, "finding": finding}


def alignment_sentence(alignment: pd.DataFrame) -> str:
    """The mechanism measure in words: the mean change in companion alignment (final minus frozen,
    :func:`~pcmci_edu.experiments.mechanisms.label_companion_alignment`) of ICH, the base and the control."""
    change = pd.DataFrame(alignment).groupby("variant")["change"].mean()
    ich, base, control = (float(change[v]) for v in ("ich", "base", "base_attention_pool"))
    more = ich < min(base, control)
    return (f"Final minus frozen companion alignment: ICH {ich:+.3f}, the base {base:+.3f}, the control "
            f"{control:+.3f} (negative: the label embeddings point less at their companions than the frozen "
            f"text does). ICH moves them away from their companions "
            + ("more than training alone does (base, control)." if more
               else "no more than training alone does (base, control)."))

"""Chapter 3's evidence: the base, the benchmark's headroom and what each confounder costs it.

The chapter declares its primaries before its runs (:func:`primary_comparisons`): each
confounder's oracle minus the base on that confounder's own shifted split, and the joint oracle
on the joint shift. Its sentences are computed here from the rows and the analysed family, so
the notebook and ``tests/test_chapters_3_4.py`` (which recomputes them from the stored results
file) say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pcmci_edu.experiments.evidence import PrimaryComparison
from pcmci_edu.experiments.statistics import DRAW, SEED

CHAPTER = "chapter3"
VARIANTS: tuple[str, ...] = ("base", "base_attention_pool", "oracle", "oracle_context", "oracle_objects",
                             "oracle_codependency")
"""The runs of chapter 3 (the later chapters read them from the run cache)."""

MARGIN = 0.02
"""The book's equivalence margin: 2 points of accuracy or mAP."""

HEADROOM_BELOW = 0.93
"""The issue's done-when: the base's mean in-distribution test accuracy is below 93%."""

ACCURACY_BY_SPLIT: dict[str, str] = {
    "test": "accuracy_test", "context shift": "accuracy_shift_context", "objects shift": "accuracy_shift_objects",
    "codependency shift": "accuracy_shift_codependency", "joint shift": "accuracy_shift"}
"""The base's activity accuracy on the in-distribution test split and on each shifted split."""


def primary_comparisons(margin: float = MARGIN) -> list[PrimaryComparison]:
    """Chapter 3's primaries: what each confounder costs the base, on its own shift."""
    return [
        PrimaryComparison("oracle_context", "base", "accuracy_shift_context", margin,
                          "C: oracle_context - base"),
        PrimaryComparison("oracle_objects", "base", "mAP_all_classes_shift_objects", margin,
                          "H: oracle_objects - base"),
        PrimaryComparison("oracle_codependency", "base", "mAP_all_classes_shift_codependency", margin,
                          "I: oracle_codependency - base"),
        PrimaryComparison("oracle", "base", "accuracy_shift", margin, "C+H (joint): oracle - base"),
    ]


def accuracy_by_draw(rows: pd.DataFrame, variant: str = "base") -> pd.DataFrame:
    """``variant``'s activity accuracy per benchmark draw (model seeds averaged within a draw), one
    column per split of :data:`ACCURACY_BY_SPLIT`, and a last row ``mean`` over draws."""
    rows = pd.DataFrame(rows)
    own = rows[rows["variant"] == variant]
    if own.empty:
        raise KeyError(f"no rows of variant {variant!r}; have {sorted(set(rows['variant']))}")
    columns = [c for c in ACCURACY_BY_SPLIT.values() if c in own.columns]
    per_draw = own.groupby(DRAW)[columns].mean()
    per_draw.loc["mean"] = per_draw.mean()
    per_draw.columns = [name for name, c in ACCURACY_BY_SPLIT.items() if c in columns]
    return per_draw


def headroom_sentence(rows: pd.DataFrame, below: float = HEADROOM_BELOW) -> str:
    """The base's in-distribution accuracy per draw and its mean, against ``below``."""
    table = accuracy_by_draw(rows)
    per_draw = table.drop(index="mean")["test"]
    mean = float(table.loc["mean", "test"])
    seeds = int(pd.DataFrame(rows).query("variant == 'base'").groupby(DRAW)[SEED].nunique().min())
    listed = ", ".join(f"{100 * v:.1f}%" for v in per_draw)
    verdict = ("below" if mean < below else "not below")
    return (f"The base's in-distribution test accuracy is {listed} on the {len(per_draw)} benchmark draws "
            f"({seeds} model seed{'s' if seeds != 1 else ''} each), mean {100 * mean:.1f}%: {verdict} "
            f"{100 * below:.0f}%, so the benchmark {'leaves' if mean < below else 'does not leave'} "
            f"headroom above the base.")


def shifts_sentence(rows: pd.DataFrame) -> str:
    """The base's mean activity accuracy on the test split and on each shifted split."""
    means = accuracy_by_draw(rows).loc["mean"]
    shifted = "; ".join(f"{name} {100 * float(means[name]):.1f}%" for name in means.index if name != "test")
    return f"The base's activity accuracy, mean over draws: test {100 * float(means['test']):.1f}%; {shifted}."


CONFOUNDER_OF: dict[str, str] = {
    "accuracy_shift_context": "the context (C)", "mAP_all_classes_shift_objects": "the companion objects (H)",
    "mAP_all_classes_shift_codependency": "the codependency (I)", "accuracy_shift": "context and objects (C+H)"}
"""The confounder each primary's metric shifts, in words."""


def cost_sentences(analysis: pd.DataFrame) -> dict[str, str]:
    """One sentence per primary (keyed by its label): what the confounder costs the base on its
    own shift, the oracle minus the base, with the in-distribution difference beside it."""
    sentences = {}
    for row in pd.DataFrame(analysis).to_dict("records"):
        unit = "accuracy" if row["metric"].startswith("accuracy") else "mAP (all classes)"
        what = CONFOUNDER_OF.get(row["metric"], row["metric"])
        sentences[row["label"]] = (
            f"Breaking {what} in training ({row['first']} minus {row['second']}) changes {unit} on its "
            f"shift by {100 * row['mean_diff']:+.1f} points (95% CI {100 * row['ci_low']:+.1f} to "
            f"{100 * row['ci_high']:+.1f}; in-distribution {100 * row['in_distribution_diff']:+.1f}): "
            f"{row['verdict']}{_qualifier(row)}.")
    return sentences


def _qualifier(row: Mapping) -> str:
    """What a verdict alone does not say: a clear difference inside the margin is small, and an
    oracle that loses to the base is no ceiling for its confounder."""
    notes = []
    if row["clear"] and row["equivalent"]:
        notes.append(f"also inside ±{100 * row['margin']:.0f} points (TOST): real but small")
    if row["clear"] and row["mean_diff"] < 0:
        notes.append("the oracle is worse than the base here, so it is no ceiling for this confounder")
    return "".join(f"; {note}" for note in notes)


def conclusions(rows: pd.DataFrame, analysis: pd.DataFrame) -> Mapping[str, str]:
    """Every computed sentence of chapter 3: headroom, the base on each shift, each confounder's cost."""
    return {"headroom": headroom_sentence(rows), "shifts": shifts_sentence(rows), **cost_sentences(analysis)}

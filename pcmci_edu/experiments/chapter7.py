"""Chapter 7's evidence: PCMCi (ICH -> ICI -> IVC) on the joint shift, its ablation and its orders.

The chapter declares its primary family (:func:`chapter7_family`) before its runs: PCMCi against
the base, against the capacity control and against the oracle on ``test_shift`` (every
confounder shifted at once), the draw as the unit (5 draws x 2 model seeds in the book profile),
Holm within the family, margin :data:`MARGIN`. Everything else is exploratory, each part its own
Holm family (:func:`chapter7_exploratory`): PCMCi on each confounder's own shift, the poster's
ablation rows against the base, and the six orders (:func:`order_table`, on the smaller design
of one draw x ``seeds_for_profile`` seeds, a repeated-measures ANOVA).

:func:`chapter7_findings` computes the chapter's sentences and the numbers it glues into its
prose from those tables; the tests recompute them from the rows stored in
``results/chapter7_book.json`` (:func:`write_results`, a thin wrapper of
:func:`~pcmci_edu.experiments.evidence.write_evidence`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pcmci_edu.experiments.evidence import (PrimaryComparison, PrimaryFamily, analyse_exploratory, long_rows,
                                            verdict_markdown, wide_rows, write_evidence)
from pcmci_edu.experiments.statistics import DRAW, SEED, rank_correlation, repeated_measures_test
from pcmci_edu.experiments.variants import ORDER_VARIANTS, POSTER_ABLATION, POSTER_ORDERS, get_variant

CHAPTER = "chapter7"

MARGIN = 0.02
"""The book's equivalence margin: 2 points of accuracy or mAP."""

PRIMARY_VARIANTS: tuple[str, ...] = ("base", "base_attention_pool", "oracle", "pcmci")
"""The runs of the primary family (5 draws x 2 seeds in the book profile)."""

ABLATION_ROWS: tuple[str, ...] = ("ich_ici", "ivc")
"""The poster's ablation rows besides the base and PCMCi (same design as the primaries)."""

CONFOUNDERS: tuple[str, ...] = ("context", "objects", "codependency")

SHORT_NAMES: dict[str, str] = {"base": "base", "base_attention_pool": "control", "oracle": "oracle",
                               "pcmci": "PCMCi", "ich_ici": "ICH+ICI", "ivc": "IVC only"}
"""Short names for narrow tables (the book's column is about 78 characters)."""

SHORT_METRICS: dict[str, str] = {"accuracy_shift": "acc shift", "accuracy_test": "acc test",
                                 "mAP_all_classes_test": "mAP test", "mAP_all_classes_shift": "mAP shift",
                                 **{f"accuracy_shift_{c}": f"acc {c}" for c in ("context", "objects", "codependency")}}


def _short_labels(table: pd.DataFrame) -> pd.DataFrame:
    """``label`` = "<first> - <second>, <metric>" in short names."""
    table = table.copy()
    table["label"] = [f"{SHORT_NAMES.get(a, a)} - {SHORT_NAMES.get(b, b)}, {SHORT_METRICS.get(m, m)}"
                      for a, b, m in zip(table["first"], table["second"], table["metric"])]
    return table

BEYOND_THE_PAPER: tuple[str, ...] = ("frozen_text", "ivc_cross_sample", "pcmci_cross_sample",
                                     "pcmci_textbook", "pcmci_frozen_text")
"""Variants beyond the paper that change what the classifier can see (a frozen text classifier, the
cross-sample and textbook readings). Chapter 7 no longer runs them: on its 5 x 2 design they would
cost ~50 runs over its time budget."""


def chapter7_family() -> tuple[PrimaryComparison, ...]:
    """Chapter 7's primary comparisons, all on the joint shift ``test_shift``."""
    return (
        PrimaryComparison("pcmci", "base", "accuracy_shift", MARGIN, "PCMCi vs base, joint shift"),
        PrimaryComparison("pcmci", "base_attention_pool", "accuracy_shift", MARGIN,
                          "PCMCi vs control, joint shift"),
        PrimaryComparison("oracle", "pcmci", "accuracy_shift", MARGIN, "oracle vs PCMCi, joint shift"),
        PrimaryComparison("pcmci", "base", "mAP_all_classes_shift", MARGIN, "PCMCi vs base, mAP, joint shift"),
    )


def own_shift_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Exploratory: PCMCi against the base and the control on each confounder's own shift."""
    metrics = [f"accuracy_shift_{c}" for c in CONFOUNDERS]
    return _short_labels(analyse_exploratory(rows, [("pcmci", "base"), ("pcmci", "base_attention_pool")],
                                             metrics, margins={m: MARGIN for m in metrics}, name="own shifts"))


def ablation_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Exploratory: the poster's ablation rows, and the control, against the base (joint shift, test)."""
    pairs = [(v, "base") for v in (*ABLATION_ROWS, "pcmci", "base_attention_pool")]
    metrics = ["accuracy_shift", "accuracy_test", "mAP_all_classes_test"]
    return _short_labels(analyse_exploratory(rows, pairs, metrics, margins={m: MARGIN for m in metrics},
                                             name="ablation"))


def ablation_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Per variant of the poster's ablation: our means over draws (seeds averaged within each
    draw, in percent) beside the poster's quoted Breakfast numbers."""
    rows = pd.DataFrame(rows)
    order = [v for v in POSTER_ABLATION["variant"] if v in set(rows["variant"])]
    metrics = ["accuracy_test", "accuracy_shift", "mAP_all_classes_test", "mAP_all_classes_shift"]
    per_draw = rows[rows["variant"].isin(order)].groupby(["variant", DRAW])[metrics].mean()
    means = 100 * per_draw.groupby("variant").mean().loc[order]
    poster = POSTER_ABLATION.set_index("variant").loc[order, ["B-Acc", "B-mAP"]]
    table = pd.concat([means, poster.rename(columns=lambda c: f"poster {c}")], axis=1)
    table.insert(0, "configuration", [SHORT_NAMES.get(v, v) for v in order])
    return table


def order_table(order_rows: pd.DataFrame) -> dict[str, Any]:
    """The six orders (exploratory, one draw): per-order means (percent) beside the poster's, the
    repeated-measures ANOVA over the seeds on test and joint-shift accuracy, the rank of the
    poster's order and Spearman's correlation of our order means with the poster's."""
    rows = pd.DataFrame(order_rows)
    orders = list(ORDER_VARIANTS)
    means = 100 * rows.groupby("variant")[["accuracy_test", "accuracy_shift", "mAP_all_classes_test"]].mean().loc[orders]
    poster = POSTER_ORDERS.set_index("variant").loc[orders]
    anova = {metric: repeated_measures_test(rows, metric, orders, name="six orders").iloc[0].to_dict()
             for metric in ("accuracy_test", "accuracy_shift")}
    return {
        "means": means.assign(**{"poster B-Acc": poster["B-Acc"], "poster B-mAP": poster["B-mAP"]}),
        "anova": anova,
        "draws": sorted(int(d) for d in rows[DRAW].unique()),
        "seeds": sorted(int(s) for s in rows[SEED].unique()),
        "poster_order_rank_test": int(means["accuracy_test"].rank(ascending=False, method="min")["pcmci"]),
        "poster_order_rank_shift": int(means["accuracy_shift"].rank(ascending=False, method="min")["pcmci"]),
        "rank_correlation_accuracy": rank_correlation(means["accuracy_test"], poster["B-Acc"]),
        "spread_test": float(means["accuracy_test"].max() - means["accuracy_test"].min()),
        "spread_shift": float(means["accuracy_shift"].max() - means["accuracy_shift"].min()),
    }


def chapter7_exploratory(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The exploratory tables computed from the 5 x 2 rows (the order study is separate)."""
    tables = {"own_shifts": own_shift_table(rows)}
    if set(ABLATION_ROWS) <= set(pd.DataFrame(rows)["variant"]):
        tables["ablation"] = ablation_table(rows)
    return tables


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _design(draws: int, seeds: int) -> str:
    return f"{_plural(draws, 'draw')} x {_plural(seeds, 'model seed')}"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _ci(row: Mapping[str, Any]) -> str:
    return f"{_points(row['mean_diff'])} points (95% CI {_points(row['ci_low'])} to {_points(row['ci_high'])})"


def _find(table: pd.DataFrame, first: str, second: str, metric: str) -> dict[str, Any]:
    match = table[(table["first"] == first) & (table["second"] == second) & (table["metric"] == metric)]
    if len(match) != 1:
        raise KeyError(f"no single comparison {first} - {second} on {metric}")
    return match.iloc[0].to_dict()


def _reading(versus_base: Mapping[str, Any], versus_control: Mapping[str, Any]) -> str:
    """What the first two primaries say together, in one sentence."""
    over_base = versus_base["verdict"] == "clear gain"
    over_control = versus_control["verdict"] == "clear gain"
    if over_base and over_control:
        return ("PCMCi beats both the base and the attention-pooling control on the joint shift: "
                "the gain is more than a better readout.")
    if over_base:
        return ("PCMCi beats the base on the joint shift, but it is not shown to beat the "
                "attention-pooling control, which has no intervention: this design does not separate "
                "deconfounding from a better readout.")
    return "PCMCi is not shown to beat the base on the joint shift."


def chapter7_findings(primary: pd.DataFrame, exploratory: Mapping[str, pd.DataFrame],
                      orders: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The chapter's computed words: ``verdicts`` (one Markdown sentence per primary, by label),
    ``glue`` (short strings for the prose), ``summary`` (the main finding with its number) and
    ``sentences`` (the exploratory findings). Every "clear" is a Holm p < 0.05 within its family."""
    primary = pd.DataFrame(primary)
    verdicts = {row["label"]: verdict_markdown(row) for row in primary.to_dict("records")}
    versus_base = _find(primary, "pcmci", "base", "accuracy_shift")
    versus_control = _find(primary, "pcmci", "base_attention_pool", "accuracy_shift")
    oracle = _find(primary, "oracle", "pcmci", "accuracy_shift")
    mAP = _find(primary, "pcmci", "base", "mAP_all_classes_shift")
    glue = {
        "ch7_vs_base": _ci(versus_base), "ch7_vs_base_verdict": versus_base["verdict"],
        "ch7_vs_control": _ci(versus_control), "ch7_vs_control_verdict": versus_control["verdict"],
        "ch7_oracle": _ci(oracle), "ch7_oracle_verdict": oracle["verdict"],
        "ch7_map": _ci(mAP), "ch7_map_verdict": mAP["verdict"],
        "ch7_price": f"{_points(versus_base['in_distribution_diff'])} points",
        "ch7_mde": f"{100 * versus_base['mde']:.1f} points",
        "ch7_n": _design(int(versus_base["n_draws"]), int(versus_base["n_seeds"])),
    }
    glue["ch7_reading"] = _reading(versus_base, versus_control)
    summary = (f"On the joint shift, PCMCi minus the base is {glue['ch7_vs_base']} in accuracy "
               f"({versus_base['verdict']}), PCMCi minus the attention-pooling control "
               f"{glue['ch7_vs_control']} ({versus_control['verdict']}), and the oracle minus PCMCi "
               f"{glue['ch7_oracle']} ({oracle['verdict']}); in distribution PCMCi differs from the base "
               f"by {glue['ch7_price']} ({glue['ch7_n']}, Holm over {int(versus_base['family_size'])} "
               "primary comparisons).")
    sentences = []
    own = exploratory["own_shifts"]
    parts = []
    for confounder in CONFOUNDERS:
        row = _find(own, "pcmci", "base", f"accuracy_shift_{confounder}")
        parts.append(f"{confounder} {_points(row['mean_diff'])} ({row['verdict'].split(' (')[0]})")
    sentences.append("Exploratory, PCMCi minus the base on each confounder's own shift: "
                     + "; ".join(parts) + f" points (Holm over the {len(own)} comparisons of that table).")
    if "ablation" in exploratory:
        ablation = exploratory["ablation"]
        parts = [f"{get_variant(v).label} {_points(_find(ablation, v, 'base', 'accuracy_shift')['mean_diff'])}"
                 f" ({_find(ablation, v, 'base', 'accuracy_shift')['verdict'].split(' (')[0]})"
                 for v in (*ABLATION_ROWS, "pcmci", "base_attention_pool")]
        sentences.append("Exploratory, the poster's ablation and the control (no intervention) against "
                         "the base on the joint shift: " + "; ".join(parts)
                         + f" points (Holm over the {len(ablation)} comparisons of that table).")
    if orders is not None:
        anova = orders["anova"]
        differ = [name for metric, name in (("accuracy_test", "test"), ("accuracy_shift", "joint-shift"))
                  if anova[metric]["p"] < 0.05]
        sentences.append(
            f"Exploratory, the six orders on draw {', '.join(map(str, orders['draws']))} x "
            f"{_plural(len(orders['seeds']), 'model seed')}: the poster's ICH → ICI → IVC ranks "
            f"{orders['poster_order_rank_test']} of 6 on test accuracy and {orders['poster_order_rank_shift']} "
            f"of 6 on the joint shift; best minus worst order {orders['spread_test']:.1f} points (test), "
            f"{orders['spread_shift']:.1f} (shift); repeated-measures ANOVA p = {anova['accuracy_test']['p']:.3f} "
            f"(test), {anova['accuracy_shift']['p']:.3f} (shift): "
            + (f"the orders differ in {' and '.join(differ)} accuracy on this draw (uncorrected)."
               if differ else "the orders cannot be told apart on this draw.")
            + f" Spearman's correlation with the poster's order ranking: "
              f"{orders['rank_correlation_accuracy']:+.2f}.")
    return {"verdicts": verdicts, "glue": glue, "summary": summary, "sentences": sentences}


def write_results(path: str | Path, rows: pd.DataFrame, family: PrimaryFamily, *, profile: str, settings,
                  order_rows: pd.DataFrame) -> dict[str, Any]:
    """Write chapter 7's evidence (:func:`~pcmci_edu.experiments.evidence.write_evidence`): the
    primary and ablation runs in long form with their analysis, the exploratory tables, the order
    study's runs (``order_runs``, long form) and the computed findings."""
    from pcmci_edu.experiments.evidence import RUN_KEYS, analyse_family

    rows = pd.DataFrame(rows).drop_duplicates(list(RUN_KEYS), ignore_index=True)
    exploratory = chapter7_exploratory(rows)
    findings = chapter7_findings(analyse_family(rows, family), exploratory, order_table(order_rows))
    return write_evidence(path, rows, family, profile=profile, settings=settings, exploratory=exploratory,
                          extra={"order_runs": long_rows(order_rows).to_dict(orient="records"),
                                 "findings": {k: findings[k] for k in ("glue", "summary", "sentences")}})


def stored_order_rows(data: Mapping[str, Any]) -> pd.DataFrame:
    """The order study's runs of a results file, wide."""
    return wide_rows(pd.DataFrame(data["order_runs"]))


def findings_from_results(data: Mapping[str, Any]) -> dict[str, Any]:
    """Recompute the findings of a loaded results file (:func:`~pcmci_edu.experiments.evidence.load_evidence`)
    from its stored rows: exploratory tables, order study and sentences."""
    from pcmci_edu.experiments.evidence import analyse_family

    primary = analyse_family(data["rows"], data["primary_family"])
    return chapter7_findings(primary, chapter7_exploratory(data["rows"]), order_table(stored_order_rows(data)))


def sequence_labels(variants: Sequence[str]) -> list[str]:
    """Short labels of orders for a plot axis ("ICH→ICI→IVC")."""
    return ["→".join(name.upper() for name in get_variant(v).interventions) for v in variants]

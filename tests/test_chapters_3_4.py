"""Chapters 3 and 4: their declared primaries, their computed sentences, and their results files.

The sentence functions (:mod:`pcmci_edu.experiments.chapter3`, ``chapter4``) are checked on rows
built here; when ``results/chapter3_book.json`` or ``results/chapter4_book.json`` exists (the book
build writes them), the stored analysis is recomputed from the stored rows and every verdict sentence
of the chapter is recomputed from them too: the test fails when a file is stale or wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcmci_edu import experiments as ex
from pcmci_edu.experiments import chapter3, chapter4

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = {"chapter3": REPO_ROOT / "results" / "chapter3_book.json",
           "chapter4": REPO_ROOT / "results" / "chapter4_book.json"}
MODULES = {"chapter3": chapter3, "chapter4": chapter4}


def _rows(effects: dict[str, float], metrics: list[str], draws: int = 5, seeds: int = 2, seed: int = 0) -> pd.DataFrame:
    """Rows of variants whose score on every metric is a per-draw level plus the variant's effect
    plus a little seed noise."""
    rng = np.random.default_rng(seed)
    records = []
    for draw in range(draws):
        level = 0.8 + 0.05 * rng.standard_normal()
        for variant, effect in effects.items():
            for s in range(seeds):
                records.append({"variant": variant, "benchmark_seed": draw, "seed": s,
                                **{m: level + effect + 0.002 * rng.standard_normal() for m in metrics}})
    return pd.DataFrame(records)


def test_chapter3_primaries_are_each_confounders_oracle_on_its_own_shift():
    family = ex.PrimaryFamily(chapter3.CHAPTER, tuple(chapter3.primary_comparisons()))
    assert [(c.first, c.metric) for c in family.comparisons] == [
        ("oracle_context", "accuracy_shift_context"), ("oracle_objects", "mAP_all_classes_shift_objects"),
        ("oracle_codependency", "mAP_all_classes_shift_codependency"), ("oracle", "accuracy_shift")]
    assert {c.second for c in family.comparisons} == {"base"}
    assert all(c.margin == 0.02 for c in family.comparisons)
    assert {c.first for c in family.comparisons} <= set(chapter3.VARIANTS)


def test_chapter3_accuracy_by_draw_averages_seeds_and_states_the_headroom():
    rows = _rows({"base": 0.0}, list(chapter3.ACCURACY_BY_SPLIT.values()))
    table = chapter3.accuracy_by_draw(rows)
    expected = rows.groupby("benchmark_seed")["accuracy_test"].mean()
    np.testing.assert_allclose(table.drop(index="mean")["test"].to_numpy(), expected.to_numpy())
    assert table.loc["mean", "test"] == pytest.approx(expected.mean())
    assert list(table.columns) == list(chapter3.ACCURACY_BY_SPLIT)
    sentence = chapter3.headroom_sentence(rows)
    assert f"mean {100 * expected.mean():.1f}%" in sentence and "5 benchmark draws" in sentence
    assert ("below 93%" in sentence) == (expected.mean() < 0.93)
    assert "not below" in chapter3.headroom_sentence(rows.assign(accuracy_test=0.97))
    with pytest.raises(KeyError, match="no rows of variant 'base'"):
        chapter3.accuracy_by_draw(rows.assign(variant="ich"))


def test_chapter3_cost_sentences_follow_the_verdicts():
    metrics = sorted({c.metric for c in chapter3.primary_comparisons()} | set(chapter3.ACCURACY_BY_SPLIT.values())
                     | {"mAP_all_classes_test"})
    rows = _rows({"base": 0.0, "oracle_context": 0.10, "oracle_objects": 0.001, "oracle_codependency": 0.0,
                  "oracle": 0.05}, metrics)
    family = ex.PrimaryFamily(chapter3.CHAPTER, tuple(chapter3.primary_comparisons()))
    analysis = ex.analyse_family(rows, family)
    sentences = chapter3.conclusions(rows, analysis)
    context = sentences["C: oracle_context - base"]
    assert "changes accuracy on its shift by +10.0 points" in context and context.endswith("clear gain.")
    assert "equivalent" in sentences["H: oracle_objects - base"]
    small = _rows({"base": 0.0, "oracle_context": 0.005, "oracle_objects": -0.01, "oracle_codependency": 0.0,
                   "oracle": 0.0}, metrics, seed=1)
    small_sentences = chapter3.conclusions(small, ex.analyse_family(small, family))
    assert small_sentences["C: oracle_context - base"].endswith("clear gain; also inside ±2 points (TOST): real but small.")
    assert "no ceiling" in small_sentences["H: oracle_objects - base"]
    assert set(sentences) == {"headroom", "shifts", *analysis["label"]}


def test_chapter4_primaries_and_sentences():
    comparisons = chapter4.primary_comparisons()
    assert {c.metric for c in comparisons} == {"mAP_all_classes_shift_objects"}
    assert [(c.first, c.second) for c in comparisons] == [
        ("ich", "base"), ("ich", "base_attention_pool"), ("oracle_objects", "ich")]
    rows = _rows({"base": 0.0, "ich": 0.0005, "base_attention_pool": 0.0, "oracle_objects": 0.05},
                 ["mAP_all_classes_shift_objects", "mAP_all_classes_test"])
    analysis = ex.analyse_family(rows, ex.PrimaryFamily(chapter4.CHAPTER, tuple(comparisons)))
    sentences = chapter4.conclusions(rows, analysis)
    assert "ICH minus the base is +0.1 points" in sentences["finding"]
    assert "(equivalent (no effect within ±margin))" in sentences["finding"]
    assert "above ICH" in sentences["finding"] and "clear gain" in sentences["finding"]
    room = chapter4.headroom(rows)
    assert room["mean_diff"] == pytest.approx(0.05, abs=0.003)
    assert f"{100 * room['mean_diff']:+.1f} points" in sentences["headroom"]


@pytest.mark.parametrize("chapter", sorted(RESULTS))
def test_stored_results_recompute(chapter):
    path = RESULTS[chapter]
    if not path.is_file():
        pytest.skip(f"{path.relative_to(REPO_ROOT)} is absent: the book build writes it "
                    f"(PCMCI_PROFILE=book, notebooks/0{chapter[-1]}_*.ipynb)")
    data = ex.load_evidence(path)
    module = MODULES[chapter]
    assert data["profile"] == "book"
    assert data["code"] == ex.code_fingerprint(), f"{path.name} is stale: written by other model code"
    assert data["primary_family"].comparisons == tuple(module.primary_comparisons()), (
        f"{path.name} stores other primaries than {module.__name__} declares")
    recomputed = ex.assert_stored_analysis(data)
    assert set(data["rows"]["variant"]) >= {c.first for c in data["primary_family"].comparisons}
    assert len(data["draws"]) >= 5, "the book profile compares over at least 5 benchmark draws"
    stored = data["primary"]
    for row, again in zip(stored.to_dict("records"), recomputed.to_dict("records")):
        assert ex.verdict_markdown(row, width=78) == ex.verdict_markdown(again, width=78)
    assert module.conclusions(data["rows"], stored) == module.conclusions(data["rows"], recomputed)
    if chapter == "chapter4":
        alignment = data["exploratory"]["alignment"]
        assert set(alignment["variant"]) == {"base", "ich", "base_attention_pool"}
        np.testing.assert_allclose(alignment["change"], alignment["final"] - alignment["frozen"], atol=1e-9)
        assert chapter4.alignment_sentence(alignment).startswith("Final minus frozen companion alignment: ICH")


def test_chapter4_alignment_sentence_says_which_moves_more():
    table = pd.DataFrame({"variant": ["base", "ich", "base_attention_pool"] * 2,
                          "change": [-0.1, -0.2, -0.1, -0.12, -0.22, -0.14]})
    sentence = chapter4.alignment_sentence(table)
    assert "ICH -0.210, the base -0.110, the control -0.120" in sentence
    assert sentence.endswith("more than training alone does (base, control).")
    assert "no more than" in chapter4.alignment_sentence(table.assign(change=-table["change"]))


def test_masking_probe_is_lower_is_better():
    rows = _rows({"base": 0.05, "oracle": 0.0}, ["masked_accuracy", "accuracy_test"])
    table = ex.analyse_exploratory(rows, [("base", "oracle")], ["masked_accuracy"])
    assert table.loc[0, "verdict"] == "clear loss"

"""The experiment harness, and chapter 7's stated conclusions checked against its results file."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from pcmci_edu import experiments as ex
from pcmci_edu.experiments import cache, runs

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAPTER7_RESULTS = REPO_ROOT / "results" / "chapter7_book.json"


# ---------------------------------------------------------------------------------------------
# Variants
# ---------------------------------------------------------------------------------------------

def test_the_six_orders_are_the_permutations_of_the_three_interventions():
    orders = {ex.get_variant(name).interventions for name in ex.ORDER_VARIANTS}
    assert orders == set(itertools.permutations(("ich", "ici", "ivc")))
    assert ex.ORDER_VARIANTS[-1] == "pcmci"  # the poster lists its own order last
    assert list(ex.POSTER_ORDERS["variant"]) == list(ex.ORDER_VARIANTS)


def test_the_ablation_matches_the_poster_rows():
    assert [ex.get_variant(v).interventions for v in ex.ABLATION] == [
        (), ("ich", "ici"), ("ivc",), ("ich", "ici", "ivc")]
    assert list(ex.POSTER_ABLATION["variant"]) == list(ex.ABLATION)
    # the quoted numbers: PCMCi first on both columns in the poster
    assert ex.POSTER_ABLATION.set_index("variant")["B-Acc"].idxmax() == "pcmci"


def test_references_and_controls_exist():
    assert ex.get_variant("oracle").train_split == "train_oracle"
    assert ex.get_variant("base_attention_pool").interventions == ()
    assert ex.get_variant("base_attention_pool").option_dict  # differs from the base by an option
    for name in ex.BEYOND_THE_PAPER:
        assert ex.get_variant(name).option_dict, name


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown variant 'nope'.*base"):
        ex.get_variant("nope")


# ---------------------------------------------------------------------------------------------
# Summaries and conclusions on rows whose answer is known
# ---------------------------------------------------------------------------------------------

def _rows(means: dict[str, dict[str, float]], seeds=(0, 1, 2), jitter=0.002) -> pd.DataFrame:
    rows = []
    for variant, metrics in means.items():
        for seed in seeds:
            offset = (seed - 1) * jitter
            rows.append({"variant": variant, "label": ex.get_variant(variant).label, "seed": seed,
                         **{m: v + offset for m, v in metrics.items()}})
    return pd.DataFrame(rows)


def _metrics(acc, mAP, gap, ratio=0.9):
    return {"accuracy_test": acc, "mAP_all_classes_test": mAP, "gap_accuracy": gap,
            "gap_mAP_all_classes": gap, "masked_score_ratio": ratio}


def test_summarize_gives_mean_and_sample_std_in_the_requested_order():
    rows = _rows({"base": _metrics(0.5, 0.4, 0.1), "pcmci": _metrics(0.7, 0.6, 0.05)})
    table = ex.summarize(rows, metrics=["accuracy_test"], order=["pcmci", "base"])
    assert list(table.index) == ["pcmci", "base"]
    assert table.loc["pcmci", "accuracy_test_mean"] == pytest.approx(0.7)
    assert table.loc["pcmci", "accuracy_test_std"] == pytest.approx(0.002)
    assert table.loc["base", "n"] == 3
    shown = ex.format_table(table, ["accuracy_test"])
    assert shown.loc[0, "accuracy_test"] == "70.0 ± 0.2"


def test_difference_flags_only_clear_differences():
    rows = _rows({"base": _metrics(0.5, 0.4, 0.1), "pcmci": _metrics(0.7, 0.6, 0.1)})
    clear = ex.difference(rows, "accuracy_test", "pcmci", "base")
    assert clear["diff"] == pytest.approx(0.2) and clear["clear"]
    same = ex.difference(rows, "gap_accuracy", "pcmci", "base")
    assert same["diff"] == pytest.approx(0.0, abs=1e-12) and not same["clear"]


def test_conclusions_follow_the_numbers():
    means = {"base": _metrics(0.60, 0.50, 0.10, 1.0), "ich_ici": _metrics(0.80, 0.55, 0.10),
             "ivc": _metrics(0.62, 0.52, 0.10), "pcmci": _metrics(0.70, 0.60, 0.02, 0.5),
             "oracle": _metrics(0.58, 0.48, 0.0), "base_attention_pool": _metrics(0.6, 0.58, 0.1),
             "ich": _metrics(0.6, 0.59, 0.1), "frozen_text": _metrics(0.5, 0.4, 0.05)}
    # orders: ours fall from order 1 to PCMCi's, the poster's rise (except order 2)
    for rank, name in enumerate(ex.ORDER_VARIANTS[:-1]):
        means[name] = _metrics(0.75 - 0.01 * rank, 0.5, 0.1)
    result = ex.chapter7_conclusions(_rows(means))
    claims = result["claims"]
    assert claims["ablation_best_accuracy"] == "ich_ici"
    assert claims["ablation_best_mAP"] == "pcmci"
    assert claims["pcmci_shrinks_gap"] is True
    assert claims["pcmci_lowers_masked_score"] is True
    assert claims["order_best_accuracy"] == "order_ivc_ich_ici"
    assert claims["poster_order_rank_accuracy"] == 6
    ours = [0.75, 0.74, 0.73, 0.72, 0.71, 0.70]
    expected = scipy.stats.spearmanr(ours, ex.POSTER_ORDERS["B-Acc"]).statistic
    assert claims["order_rank_correlation_accuracy"] == pytest.approx(expected)
    assert expected < -0.9
    assert claims["smallest_gap_variant"] == "pcmci"
    assert claims["pcmci_gap_beats_control"] is True  # 0.02 against the control's 0.10
    assert claims["orders_distinguishable"] is True  # 1-point steps, 0.2-point spread over seeds
    assert claims["order_anova_p_accuracy"] < 0.01
    assert claims["beyond_the_paper"]["pcmci"]["fraction_of_gap_closed"] == pytest.approx(0.8)
    assert any("ICH + ICI" in s and "best test accuracy" in s for s in result["sentences"])


# ---------------------------------------------------------------------------------------------
# Cache and files
# ---------------------------------------------------------------------------------------------

def test_permutation_anova_separates_different_groups_and_not_equal_ones():
    rng = np.random.default_rng(0)
    same = [rng.normal(0, 1, 5) for _ in range(4)]
    apart = [rng.normal(3 * i, 1, 5) for i in range(4)]
    assert ex.permutation_anova(apart, permutations=999)[1] < 0.01
    assert ex.permutation_anova(same, permutations=999)[1] > 0.05
    with pytest.raises(ValueError, match="at least two"):
        ex.permutation_anova([[1.0]])


def test_json_is_written_atomically_and_bad_json_is_a_clear_error(tmp_path):
    path = tmp_path / "sub" / "rows.json"
    ex.write_json_atomic(path, {"a": np.float32(0.5), "b": float("nan"), "c": np.arange(2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": None, "c": [0, 1]}
    assert [p.name for p in path.parent.iterdir()] == ["rows.json"]  # no temporary left behind
    path.write_text('{"a": 1,\n "b": }')
    with pytest.raises(ValueError, match=r"rows.json: not valid JSON at line 2"):
        ex.read_json(path)


def test_code_fingerprint_covers_every_file_that_decides_a_run(monkeypatch):
    files = {path.relative_to(cache.PACKAGE_ROOT).as_posix() for path in cache.fingerprinted_files()}
    assert {"model.py", "train.py", "metrics.py", "interventions/ich.py", "data/benchmark.py"} <= files
    assert (cache.PACKAGE_ROOT / "experiments" / "cache.py").is_file()  # the root is the package
    monkeypatch.setattr(cache, "FINGERPRINT_PATHS", cache.FINGERPRINT_PATHS + ("moved_away.py",))
    with pytest.raises(FileNotFoundError, match="moved_away.py"):
        cache.fingerprinted_files()


def test_run_grid_reuses_cached_runs(tmp_path, monkeypatch):
    calls = []

    def fake_run(variant, benchmark, seed, settings, return_model=False, progress=True):
        calls.append((variant.name, seed))
        row = {"variant": variant.name, "label": variant.label, "seed": seed, "accuracy_test": 0.1 * seed}
        return (row, None) if return_model else row

    monkeypatch.setattr(runs, "run_variant", fake_run)  # the module run_grid looks it up in
    benchmark = {"train": [0] * 3, "test": [0] * 2}
    settings = ex.RunSettings.for_profile("smoke")
    first = ex.run_grid(["base", "ich"], [0, 1], benchmark, settings, tmp_path, progress=False)
    assert len(calls) == 4 and not first["cached"].any()
    second = ex.run_grid(["base", "ich", "ivc"], [0, 1], benchmark, settings, tmp_path, progress=False)
    assert len(calls) == 6  # only ivc was trained again
    assert second["cached"].tolist() == [True] * 4 + [False] * 2
    assert second.loc[1, "accuracy_test"] == pytest.approx(0.1)
    other = ex.RunSettings.for_profile("book")
    ex.run_grid(["base"], [0], benchmark, other, tmp_path, progress=False)
    assert len(calls) == 7  # different settings: a different run


@pytest.fixture(scope="module")
def smoke_benchmark():
    from pcmci_edu.data import make_benchmark

    return make_benchmark("breakfast", profile="smoke", seed=0)


def test_one_run_on_the_smoke_benchmark_gives_a_consistent_row(smoke_benchmark, tmp_path):
    settings = ex.RunSettings.for_profile("smoke")
    frame = ex.run_grid(["base"], [0], smoke_benchmark, settings, tmp_path, progress=False)
    row = frame.iloc[0]
    for split in ("test", "shift", "masked"):
        for metric in ex.HEADLINE_METRICS:
            assert 0.0 <= row[f"{metric}_{split}"] <= 1.0, (metric, split)
    assert row["gap_accuracy"] == pytest.approx(row["accuracy_test"] - row["accuracy_shift"])
    assert row["masked_score_ratio"] == pytest.approx(
        row["true_activity_score_masked"] / row["true_activity_score_test"])
    assert row["parameters"] > 0 and row["flops"] > 0 and row["step_seconds"] > 0
    # the cached weights rebuild a model that reproduces the row
    model, cached_row = ex.trained_model("base", smoke_benchmark, 0, settings, tmp_path)
    again = ex.evaluate_model(model, smoke_benchmark)
    assert again["accuracy_test"] == pytest.approx(cached_row["accuracy_test"])
    assert again["mAP_all_classes_shift"] == pytest.approx(cached_row["mAP_all_classes_shift"])


def test_zero_shot_scores_every_split_with_frozen_and_clean_text(smoke_benchmark):
    frozen = ex.zero_shot(smoke_benchmark, text="frozen")
    clean = ex.zero_shot(smoke_benchmark, text="clean")
    assert list(frozen["split"]) == ["test", "test_shift", "test_masked"]
    for table in (frozen, clean):
        assert table[["accuracy", "mAP_all_classes", "mAP_present_classes"]].stack().between(0, 1).all()
    with pytest.raises(ValueError, match="text='nope'"):
        ex.zero_shot(smoke_benchmark, text="nope")


def test_part_occlusion_removes_each_part_and_reads_the_gate(smoke_benchmark):
    settings = ex.RunSettings.for_profile("smoke")
    model = ex.build_model("ivc", smoke_benchmark, settings, seed=0)
    table = ex.part_occlusion(model, smoke_benchmark["test"], max_videos=8)
    assert list(table["part"]) == ["action", "context", "objects"]
    assert {"logit_drop", "gate_change", "attention_change"} <= set(table.columns)
    assert (table["attention_change"].between(0, 1)).all()
    truth = ex.frame_truth(smoke_benchmark["test"], 0)
    assert truth["action"].shape == truth["companion"].shape == (48, smoke_benchmark["test"].num_frames)
    assert truth["action"].sum() == smoke_benchmark["test"].num_frames  # one action per frame


# ---------------------------------------------------------------------------------------------
# Chapter 7: the chapter's stated conclusions checked against its results file
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chapter7():
    if not CHAPTER7_RESULTS.is_file():
        pytest.fail(f"{CHAPTER7_RESULTS} is missing: build chapter 7 in the book profile "
                    "(it writes this file) and commit it")
    return json.loads(CHAPTER7_RESULTS.read_text())


def test_chapter7_results_cover_every_configuration_over_three_seeds(chapter7):
    rows = pd.DataFrame(chapter7["rows"])
    assert chapter7["profile"] == "book"
    for name in set(ex.ABLATION) | set(ex.ORDER_VARIANTS) | set(ex.REFERENCES):
        seeds = rows.loc[rows["variant"] == name, "seed"]
        assert seeds.nunique() >= 3, f"{name}: {seeds.nunique()} seeds"
    for column in ("accuracy_test", "mAP_all_classes_test", "accuracy_shift", "masked_accuracy"):
        assert rows[column].between(0, 1).all(), column


def test_chapter7_claims_match_the_rows(chapter7):
    """Recompute each claim from the rows with plain pandas, independently of the harness."""
    rows = pd.DataFrame(chapter7["rows"])
    claims = chapter7["claims"]
    means = rows.groupby("variant").mean(numeric_only=True)
    ablation = means.loc[list(ex.ABLATION)]
    assert claims["ablation_best_accuracy"] == ablation["accuracy_test"].idxmax()
    assert claims["ablation_best_mAP"] == ablation["mAP_all_classes_test"].idxmax()
    orders = means.loc[list(ex.ORDER_VARIANTS)]
    assert claims["order_best_accuracy"] == orders["accuracy_test"].idxmax()
    assert claims["poster_order_rank_accuracy"] == 1 + int(
        (orders["accuracy_test"] > orders.loc["pcmci", "accuracy_test"]).sum())
    gap = means.loc["pcmci", "gap_accuracy"] - means.loc["base", "gap_accuracy"]
    assert claims["pcmci_minus_base_gap_accuracy"]["diff"] == pytest.approx(gap)
    if claims["pcmci_shrinks_gap"]:
        assert gap < 0
    assert claims["base_gap_accuracy"] == pytest.approx(means.loc["base", "gap_accuracy"])
    assert claims["oracle_gap_accuracy"] == pytest.approx(means.loc["oracle", "gap_accuracy"])
    smallest = means.loc[list(claims["beyond_the_paper"]), "gap_accuracy"].idxmin()
    assert claims["smallest_gap_variant"] == smallest
    assert claims["orders_distinguishable"] == (min(claims["order_anova_p_accuracy"],
                                                    claims["order_anova_p_mAP"]) < 0.025)
    versus_control = means.loc["pcmci", "gap_accuracy"] - means.loc["base_attention_pool", "gap_accuracy"]
    assert claims["pcmci_minus_control_gap_accuracy"]["diff"] == pytest.approx(versus_control)
    if claims["pcmci_gap_beats_control"]:
        assert versus_control < 0


def test_chapter7_sentences_state_the_claims(chapter7):
    text = " ".join(chapter7["sentences"])
    claims = chapter7["claims"]
    label = {name: ex.get_variant(name).label for name in ex.VARIANTS}
    assert f"the best test accuracy is {label[claims['ablation_best_accuracy']]}'s" in text
    assert f"{label[claims['order_best_accuracy']]} has the best mean test accuracy" in text
    assert f"ranks {claims['poster_order_rank_accuracy']} of 6" in text
    shrink = "shrinks clearly" if claims["pcmci_shrinks_gap"] else "does not shrink clearly"
    assert shrink in text
    control = ("PCMCi shrinks the gap clearly more than the control" if claims["pcmci_gap_beats_control"]
               else "the control gains too, so it is not evidence of deconfounding")
    assert control in text
    # and they are what the harness computes from the same rows today
    again = ex.chapter7_conclusions(pd.DataFrame(chapter7["rows"]))
    assert again["sentences"] == chapter7["sentences"]

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
import torch

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
    from pcmci_edu.data.benchmark import ORACLE_SPLITS
    for confounder, variant in ex.ORACLE_VARIANTS.items():
        assert ex.get_variant(variant).train_split == ORACLE_SPLITS[confounder]
        assert not ex.get_variant(variant).interventions
    assert set(ex.TARGETS.values()) == {"context", "objects", "codependency"}
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

def _rows(means: dict[str, dict[str, float]], seeds=(0, 1, 2), jitter=0.002, noise=0.0) -> pd.DataFrame:
    """Rows whose means are known: a seed effect shared by all variants (``jitter``), plus
    independent noise per run (``noise``, a fixed generator) so paired tests see some spread."""
    rng = np.random.default_rng(0)
    rows = []
    for variant, metrics in means.items():
        for seed in seeds:
            offset = (seed - 1) * jitter
            rows.append({"variant": variant, "label": ex.get_variant(variant).label, "seed": seed,
                         **{m: v + offset + noise * rng.standard_normal() for m, v in metrics.items()}})
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


def test_paired_comparisons_pair_by_draw_and_seed_and_flag_only_clear_differences():
    rows = _rows({"base": _metrics(0.5, 0.4, 0.1), "pcmci": _metrics(0.7, 0.6, 0.1)}, noise=0.005)
    shuffled = rows.sample(frac=1.0, random_state=0)  # pairing follows the seed, not the row order
    table = ex.paired_comparisons(shuffled, "accuracy_test", [("pcmci", "base")])
    assert list(table.columns) == list(ex.COMPARISON_COLUMNS)
    row = table.iloc[0]
    a, b = ex.paired_values(rows, "accuracy_test", "pcmci", "base")
    expected = scipy.stats.ttest_rel(a, b)
    assert row["n"] == 3 and row["mean_diff"] == pytest.approx(np.mean(a - b))
    assert row["p"] == pytest.approx(expected.pvalue) and row["clear"]
    assert row["ci_low"] < row["mean_diff"] < row["ci_high"]
    # three pairs: 8 sign flips, so the exact sign-flip test cannot go below 2/8
    assert row["p_sign_flip"] == pytest.approx(0.25)
    same = ex.paired_comparisons(rows, "gap_accuracy", [("pcmci", "base")]).iloc[0]
    assert abs(same["mean_diff"]) < 0.02 and not same["clear"]


def test_pairs_are_matched_on_the_benchmark_draw_too():
    rows = pd.DataFrame({"variant": ["a", "a", "b", "b"], "benchmark_seed": [0, 1, 1, 0], "seed": [0, 0, 0, 0],
                         "x": [1.0, 2.0, 2.5, 1.5]})
    a, b = ex.paired_values(rows, "x", "a", "b")
    assert a.tolist() == [1.0, 2.0] and b.tolist() == [1.5, 2.5]
    with pytest.raises(ValueError, match="several rows"):
        ex.paired_values(rows.drop(columns="benchmark_seed"), "x", "a", "b")  # one draw: two runs of seed 0
    with pytest.raises(KeyError, match="'c'"):
        ex.paired_values(rows, "x", "a", "c")


def test_holm_corrects_over_the_whole_family():
    assert ex.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    rows = _rows({"base": _metrics(0.5, 0.4, 0.1), "pcmci": _metrics(0.52, 0.6, 0.1),
                  "ich": _metrics(0.51, 0.41, 0.1)}, noise=0.01)
    first = ex.paired_comparisons(rows, "accuracy_test", [("pcmci", "base")])
    second = ex.paired_comparisons(rows, "mAP_all_classes_test", [("pcmci", "base"), ("ich", "base")])
    family = ex.correct_family([first, second])
    assert ex.family_size(family) == 3
    assert family["p_holm"].tolist() == pytest.approx(ex.holm(family["p"]).tolist())
    assert (family["p_holm"] >= family["p"]).all()
    assert family["clear"].tolist() == (family["p_holm"] < 0.05).tolist()
    # a comparison listed twice is one test; the same pair at another level (a column the chapter adds) is another
    levels = [first.assign(level=0.5), first.assign(level=0.9), first.assign(level=0.9)]
    assert ex.family_size(ex.correct_family(levels)) == 2
    assert ex.family_size(ex.correct_family([first, first, second])) == 3


def test_repeated_measures_test_sees_a_consistent_effect_and_not_noise():
    apart = _rows({name: _metrics(0.70 + 0.02 * i, 0.5, 0.1) for i, name in enumerate(ex.ORDER_VARIANTS)},
                  noise=0.002)
    same = _rows({name: _metrics(0.70, 0.5, 0.1) for name in ex.ORDER_VARIANTS}, noise=0.002)
    assert ex.repeated_measures_test(apart, "accuracy_test", ex.ORDER_VARIANTS).iloc[0]["p"] < 0.001
    assert ex.repeated_measures_test(same, "accuracy_test", ex.ORDER_VARIANTS).iloc[0]["p"] > 0.05
    row = ex.repeated_measures_test(apart, "accuracy_test", ex.ORDER_VARIANTS).iloc[0]
    assert row["mean_diff"] == pytest.approx(0.1, abs=0.01) and 0 < row["p_friedman"] < 0.05


def test_rank_correlation_is_scipys_spearman():
    assert ex.rank_correlation([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(
        scipy.stats.spearmanr([1, 2, 3, 4], [10, 30, 20, 40]).statistic)
    assert math.isnan(ex.rank_correlation([1, 1, 1], [1, 2, 3]))


def test_conclusions_follow_the_numbers():
    means = {"base": _metrics(0.60, 0.50, 0.10, 1.0), "ich_ici": _metrics(0.80, 0.55, 0.10),
             "ivc": _metrics(0.62, 0.52, 0.10), "pcmci": _metrics(0.70, 0.60, 0.02, 0.5),
             "oracle": _metrics(0.58, 0.48, 0.0), "base_attention_pool": _metrics(0.6, 0.58, 0.1),
             "ich": _metrics(0.6, 0.59, 0.1), "frozen_text": _metrics(0.5, 0.4, 0.05)}
    # orders: ours fall from order 1 to PCMCi's, the poster's rise (except order 2)
    for rank, name in enumerate(ex.ORDER_VARIANTS[:-1]):
        means[name] = _metrics(0.75 - 0.01 * rank, 0.5, 0.1)
    rows = _rows(means, noise=0.001)
    result = ex.chapter7_conclusions(rows)
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
    assert claims["orders_distinguishable"] is True  # 1-point steps, 0.1-point noise
    assert claims["order_anova_accuracy"]["p_holm"] < 0.05
    family = pd.DataFrame(claims["comparisons"])
    assert claims["holm_family_size"] == len(family) == ex.family_size(family)
    assert family["clear"].tolist() == (family["p_holm"] < 0.05).tolist()
    assert result["sentences"][0].startswith(ex.describe_family(family, rows))
    assert f"{len(family)} paired tests over 3 model seeds" in result["sentences"][0]
    gaps = rows.groupby("variant")["gap_accuracy"].mean()
    assert claims["beyond_the_paper"]["pcmci"]["fraction_of_gap_closed"] == pytest.approx(
        (gaps["base"] - gaps["pcmci"]) / (gaps["base"] - gaps["oracle"]))
    assert claims["beyond_the_paper"]["pcmci"]["fraction_of_gap_closed"] == pytest.approx(0.8, abs=0.02)
    assert any("ICH + ICI" in s and "best test accuracy" in s for s in result["sentences"])


# ---------------------------------------------------------------------------------------------
# Cache and files
# ---------------------------------------------------------------------------------------------

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
    assert {"model.py", "train.py", "metrics.py", "interventions/ich.py", "data/benchmark/generator.py",
            "data/benchmark/probes.py"} <= files
    assert (cache.PACKAGE_ROOT / "experiments" / "cache.py").is_file()  # the root is the package
    monkeypatch.setattr(cache, "FINGERPRINT_PATHS", cache.FINGERPRINT_PATHS + ("moved_away.py",))
    with pytest.raises(FileNotFoundError, match="moved_away.py"):
        cache.fingerprinted_files()


def test_run_grid_reuses_cached_runs(tmp_path, monkeypatch):
    calls = []

    def fake_run(variant, benchmark, seed, settings, train_set=None, return_model=False, progress=True):
        calls.append((variant.name, seed))
        row = {"variant": variant.name, "label": variant.label, "seed": seed, "accuracy_test": 0.1 * seed}
        return (row, torch.nn.Linear(1, 1)) if return_model else row

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
    for split in ("test", "shift", "shift_context", "shift_objects", "shift_codependency", "masked"):
        for metric in ex.HEADLINE_METRICS:
            assert 0.0 <= row[f"{metric}_{split}"] <= 1.0, (metric, split)
    assert row["gap_accuracy"] == pytest.approx(row["accuracy_test"] - row["accuracy_shift"])
    for confounder in ("context", "objects", "codependency"):
        assert row[f"gap_mAP_all_classes_{confounder}"] == pytest.approx(
            row["mAP_all_classes_test"] - row[f"mAP_all_classes_shift_{confounder}"])
    # the shifts are different splits, so their measures are not copies of one another
    assert len({row["mAP_all_classes_shift_context"], row["mAP_all_classes_shift_objects"],
                row["mAP_all_classes_shift_codependency"]}) == 3
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


def test_zero_shot_map_ranks_the_raw_similarity_whatever_the_temperature(smoke_benchmark):
    from pcmci_edu.data.benchmark import zero_shot_scores
    from pcmci_edu.metrics import mean_average_precision

    tables = [ex.zero_shot(smoke_benchmark, temperature=t).set_index("split") for t in (1.0, 0.01, 0.001)]
    for table in tables[1:]:
        for column in ("accuracy", "mAP_all_classes", "mAP_present_classes"):
            assert table[column].to_numpy() == pytest.approx(tables[0][column].to_numpy(), abs=0), column
    _, cosines = zero_shot_scores(smoke_benchmark["test"])
    assert tables[1].loc["test", "mAP_all_classes"] == pytest.approx(
        mean_average_precision(cosines, smoke_benchmark["test"].actions, "all_classes"))


def test_map_ranks_logits_where_a_float32_sigmoid_saturates():
    from types import SimpleNamespace

    # positives at logits 30, negatives at 20: a float32 sigmoid gives exactly 1.0 to both
    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    logits = np.where(targets == 1, 30.0, 20.0).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits))
    assert (probabilities == 1.0).all()  # the ties the probability path would rank
    split = SimpleNamespace(actions=targets, activities=np.array([0, 1, 0, 1]), has_activities=True)
    measures = ex.split_measures(logits, logits, split)
    assert measures["mAP_all_classes"] == pytest.approx(1.0)
    assert measures["mAP_present_classes"] == pytest.approx(1.0)
    assert measures["accuracy"] == pytest.approx(1.0)
    from pcmci_edu.metrics import mean_average_precision

    assert mean_average_precision(probabilities, targets) < 0.9  # what ranking the probabilities gave


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
    """Recompute each claim from the stored rows with plain pandas and scipy, independently of
    the harness: the descriptive claims stored in the file, and the paired, Holm-corrected
    comparisons the harness computes from those rows today."""
    rows = pd.DataFrame(chapter7["rows"])
    stored = chapter7["claims"]
    claims = ex.chapter7_conclusions(rows)["claims"]
    means = rows.groupby("variant").mean(numeric_only=True)
    ablation = means.loc[list(ex.ABLATION)]
    orders = means.loc[list(ex.ORDER_VARIANTS)]
    for source in (stored, claims):  # what the descriptive claims say does not depend on the tests
        assert source["ablation_best_accuracy"] == ablation["accuracy_test"].idxmax()
        assert source["ablation_best_mAP"] == ablation["mAP_all_classes_test"].idxmax()
        assert source["order_best_accuracy"] == orders["accuracy_test"].idxmax()
        assert source["poster_order_rank_accuracy"] == 1 + int(
            (orders["accuracy_test"] > orders.loc["pcmci", "accuracy_test"]).sum())
        assert source["base_gap_accuracy"] == pytest.approx(means.loc["base", "gap_accuracy"])
        assert source["oracle_gap_accuracy"] == pytest.approx(means.loc["oracle", "gap_accuracy"])
        smallest = means.loc[list(source["beyond_the_paper"]), "gap_accuracy"].idxmin()
        assert source["smallest_gap_variant"] == smallest

    def paired(variant: str, other: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        a = rows[rows["variant"] == variant].set_index("seed")[metric]
        b = rows[rows["variant"] == other].set_index("seed")[metric]
        seeds = sorted(set(a.index) & set(b.index))
        return a.loc[seeds].to_numpy(float), b.loc[seeds].to_numpy(float)

    family = pd.DataFrame(claims["comparisons"])
    tests = family[family["second"] != "repeated-measures ANOVA"]
    for comparison in tests.itertuples():
        a, b = paired(comparison.first, comparison.second, comparison.metric)
        assert comparison.mean_diff == pytest.approx(np.mean(a - b))
        assert comparison.p == pytest.approx(scipy.stats.ttest_rel(a, b).pvalue)
    from statsmodels.stats.multitest import multipletests

    assert family["p_holm"].to_numpy() == pytest.approx(multipletests(family["p"], method="holm")[1])
    assert claims["holm_family_size"] == len(family)
    gap = claims["pcmci_minus_base_gap_accuracy"]
    assert claims["pcmci_shrinks_gap"] == (gap["mean_diff"] < 0 and gap["p_holm"] < 0.05)
    versus_control = claims["pcmci_minus_control_gap_accuracy"]
    assert versus_control["mean_diff"] == pytest.approx(
        means.loc["pcmci", "gap_accuracy"] - means.loc["base_attention_pool", "gap_accuracy"])
    assert claims["pcmci_gap_beats_control"] == (versus_control["mean_diff"] < 0 and versus_control["p_holm"] < 0.05)
    assert claims["orders_distinguishable"] == bool(
        claims["order_anova_accuracy"]["p_holm"] < 0.05 or claims["order_anova_mAP"]["p_holm"] < 0.05)


def test_chapter7_sentences_state_the_claims(chapter7):
    result = ex.chapter7_conclusions(pd.DataFrame(chapter7["rows"]))
    text = " ".join(result["sentences"])
    claims = result["claims"]
    label = {name: ex.get_variant(name).label for name in ex.VARIANTS}
    assert f"the best test accuracy is {label[claims['ablation_best_accuracy']]}'s" in text
    assert f"{label[claims['order_best_accuracy']]} has the best mean test accuracy" in text
    assert f"ranks {claims['poster_order_rank_accuracy']} of 6" in text
    shrink = "shrinks clearly" if claims["pcmci_shrinks_gap"] else "does not shrink clearly"
    assert shrink in text
    control = ("PCMCi shrinks the gap clearly more than the control" if claims["pcmci_gap_beats_control"]
               else "the control gains too, so it is not evidence of deconfounding")
    assert control in text
    assert f"Holm family of this chapter: {claims['holm_family_size']} paired tests" in text
    assert "on one benchmark draw" in text  # the stored rows come from one draw: the chapter says so


def test_chapter7_stored_sentences_are_what_the_harness_computes_today(chapter7):
    if chapter7.get("statistics") != ex.STATISTICS_VERSION:
        pytest.skip(f"{CHAPTER7_RESULTS.name} was written with statistics version "
                    f"{chapter7.get('statistics', 1)} (now {ex.STATISTICS_VERSION}): a book-profile run of "
                    "chapter 7 must regenerate it")
    again = ex.chapter7_conclusions(pd.DataFrame(chapter7["rows"]))
    assert again["sentences"] == chapter7["sentences"]

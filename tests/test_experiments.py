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


def _chapter7_rows(shift: dict[str, float], rng: np.random.Generator) -> pd.DataFrame:
    """5 draws x 2 seeds of each variant: a draw effect shared by every variant, small seed noise."""
    records = []
    for draw in range(5):
        level = rng.normal(0, 0.03)
        for variant, value in shift.items():
            for seed in (0, 1):
                noise = rng.normal(0, 1e-4)
                records.append({"variant": variant, "benchmark_seed": draw, "seed": seed,
                                "accuracy_test": 0.9 + level + noise, "mAP_all_classes_test": 0.8 + level + noise,
                                "accuracy_shift": value + level + noise,
                                "mAP_all_classes_shift": value - 0.1 + level + noise,
                                **{f"accuracy_shift_{c}": value + 0.05 + level + noise
                                   for c in ("context", "objects", "codependency")}})
    return pd.DataFrame(records)


def test_chapter7_findings_follow_the_numbers():
    rng = np.random.default_rng(0)
    rows = _chapter7_rows({"base": 0.50, "base_attention_pool": 0.551, "oracle": 0.70, "pcmci": 0.551,
                           "ich_ici": 0.50, "ivc": 0.52}, rng)
    family = ex.PrimaryFamily("chapter7 test", ex.chapter7_family())
    primary = ex.analyse_family(rows, family)
    orders = pd.DataFrame([{"variant": v, "benchmark_seed": 0, "seed": s, "accuracy_test": 0.9 - 0.01 * i,
                            "accuracy_shift": 0.5 + 0.01 * i + rng.normal(0, 0.001), "mAP_all_classes_test": 0.8}
                           for i, v in enumerate(ex.ORDER_VARIANTS) for s in range(3)])
    findings = ex.chapter7_findings(primary, ex.chapter7_exploratory(rows), ex.order_table(orders))
    glue = findings["glue"]
    assert glue["ch7_vs_base_verdict"] == "clear gain" and glue["ch7_vs_base"].startswith("+5.1 points")
    assert glue["ch7_vs_control_verdict"].startswith("equivalent")
    assert glue["ch7_oracle_verdict"] == "clear gain" and glue["ch7_oracle"].startswith("+14.9 points")
    assert glue["ch7_price"] == "+0.0 points" and glue["ch7_n"] == "5 draws x 2 model seeds"
    assert glue["ch7_mde"] == f"{100 * primary.loc[0, 'mde']:.1f} points" and primary.loc[0, "mde"] > 0
    assert f"PCMCi minus the base is {glue['ch7_vs_base']} in accuracy (clear gain)" in findings["summary"]
    assert "not shown to beat the attention-pooling control" in glue["ch7_reading"]
    assert set(findings["verdicts"]) == {c.label for c in family.comparisons}
    # the order study: the poster's order (last) is worst on test and best on the shift
    assert "ranks 6 of 6 on test accuracy and 1 of 6 on the joint shift" in findings["sentences"][2]
    assert "the orders differ in test and joint-shift accuracy" in findings["sentences"][2]
    assert "IVC only +2.0 (clear gain)" in findings["sentences"][1]
    assert "Base + attention pooling (control) +5.1 (clear gain)" in findings["sentences"][1]


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
        pytest.skip(f"{CHAPTER7_RESULTS.name} is absent: the book build of chapter 7 (book profile) writes it")
    data = json.loads(CHAPTER7_RESULTS.read_text())
    missing = [key for key in ("runs", "primary", "order_runs", "findings") if key not in data]
    assert not missing, (f"{CHAPTER7_RESULTS.name} is stale (no {missing}): rebuild chapter 7 in the book profile")
    return ex.load_evidence(CHAPTER7_RESULTS)


def test_chapter7_results_follow_the_declared_design(chapter7):
    assert chapter7["profile"] == "book"
    assert chapter7["primary_family"].comparisons == ex.chapter7_family()
    rows = chapter7["rows"]
    for variant in ("base", "base_attention_pool", "oracle", "pcmci", "ich_ici", "ivc"):
        runs = rows[rows["variant"] == variant]
        assert runs["benchmark_seed"].nunique() == 5 and runs.groupby("benchmark_seed")["seed"].nunique().min() == 2
    long = chapter7["runs"]
    shifted = long[long["column"] == "accuracy_shift_context"]
    assert (shifted["split"] == "test_shift_context").all() and (shifted["confounder"] == "context").all()
    assert set(long.loc[long["column"] == "accuracy_shift", "confounder"]) == {"all"}
    orders = ex.chapter7.stored_order_rows(chapter7)
    assert set(orders["variant"]) == set(ex.ORDER_VARIANTS) and orders["seed"].nunique() >= 3
    for column in ("accuracy_test", "accuracy_shift", "mAP_all_classes_shift"):
        assert rows[column].between(0, 1).all(), column


def test_chapter7_primary_analysis_is_recomputed_from_the_rows(chapter7):
    """The stored analysis equals the harness's today, and plain pandas/scipy/statsmodels agree."""
    from statsmodels.stats.multitest import multipletests

    recomputed = ex.assert_stored_analysis(chapter7)
    rows = chapter7["rows"]
    p_values = []
    for comparison in recomputed.itertuples():
        per_draw = rows.groupby(["variant", "benchmark_seed"])[comparison.metric].mean().unstack("variant")
        a, b = per_draw[comparison.first].to_numpy(), per_draw[comparison.second].to_numpy()
        assert comparison.mean_diff == pytest.approx(np.mean(a - b))
        assert comparison.p == pytest.approx(scipy.stats.ttest_rel(a, b).pvalue, nan_ok=True)
        p_values.append(comparison.p)
    tested = np.isfinite(p_values)
    assert recomputed.loc[tested, "p_holm"].to_numpy() == pytest.approx(
        multipletests(np.asarray(p_values)[tested], method="holm")[1])
    for name, table in ex.chapter7_exploratory(rows).items():
        stored = chapter7["exploratory"][name]
        assert stored["label"].tolist() == table["label"].tolist()
        assert stored["mean_diff"].to_numpy(float) == pytest.approx(table["mean_diff"].to_numpy(float))
        assert stored["verdict"].tolist() == table["verdict"].tolist()


def test_chapter7_sentences_are_computed_from_the_stored_rows(chapter7):
    findings = ex.findings_from_results(chapter7)
    stored = chapter7["findings"]
    assert findings["glue"] == stored["glue"]
    assert findings["summary"] == stored["summary"]
    assert findings["sentences"] == stored["sentences"]
    primary = chapter7["primary"].set_index("label")
    versus_base = primary.loc["PCMCi vs base, joint shift"]
    assert f"{100 * versus_base['mean_diff']:+.1f} points" in findings["summary"]
    assert f"({versus_base['verdict']})" in findings["summary"]

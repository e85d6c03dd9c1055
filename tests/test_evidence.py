"""Evidence over benchmark draws: per-draw tests, TOST, MDE, primary families, verdicts, files."""

from __future__ import annotations

import dataclasses
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch

from pcmci_edu import experiments as ex
from pcmci_edu.experiments import runs


def _draw_rows(effects: dict[str, float], draws=range(5), seeds=(0, 1), draw_sd=0.05, interaction_sd=0.01,
               seed_sd=0.002, metric="accuracy_shift", rng_seed=0) -> pd.DataFrame:
    """Rows with a known mean per variant (``effects``), a large shared draw effect, a smaller
    variant x draw interaction (what the per-draw test sees) and small seed noise."""
    rng = np.random.default_rng(rng_seed)
    records = []
    for draw in draws:
        shared = rng.normal(0, draw_sd)
        for variant, mean in effects.items():
            interaction = rng.normal(0, interaction_sd)
            for seed in seeds:
                value = 0.5 + mean + shared + interaction + rng.normal(0, seed_sd)
                records.append({"variant": variant, "benchmark_seed": draw, "seed": seed, metric: value,
                                "accuracy_test": value + 0.1})
    return pd.DataFrame(records)


# ---------------------------------------------------------------------------------------------
# The draw is the unit
# ---------------------------------------------------------------------------------------------

def test_draws_and_seeds_per_profile():
    assert ex.draws_for_profile("book") == [0, 1, 2, 3, 4] and ex.seeds_per_draw("book") == [0, 1]
    assert len(ex.draws_for_profile("smoke")) == 2 and len(ex.seeds_per_draw("smoke")) == 1
    assert len(ex.draws_for_profile("full")) >= 5 and len(ex.seeds_per_draw("full")) == 3
    assert ex.seeds_for_profile("book") == [0, 1, 2]  # the old helper still answers its callers


def test_per_draw_test_is_a_t_test_on_the_draw_means_not_on_the_seeds():
    # two draws, ten seeds each: the variants differ by a draw-level interaction, seeds barely vary
    rows = _draw_rows({"a": 0.02, "b": 0.0}, draws=[0, 1], seeds=range(6), interaction_sd=0.02)
    result = ex.per_draw_comparison(rows, "accuracy_shift", "a", "b")
    means = rows.groupby(["variant", "benchmark_seed"])["accuracy_shift"].mean().unstack("variant")
    expected = scipy.stats.ttest_rel(means["a"], means["b"])
    assert result["n_draws"] == 2 and result["n_seeds"] == 6
    assert result["p"] == pytest.approx(expected.pvalue)
    assert result["mean_diff"] == pytest.approx((means["a"] - means["b"]).mean())
    interval = expected.confidence_interval()
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((interval.low, interval.high))
    # pairing the 12 (draw, seed) runs as if independent claims far more than two draws support
    seed_level = ex.paired_comparisons(rows, "accuracy_shift", [("a", "b")]).iloc[0]
    assert seed_level["n"] == 12 and seed_level["p"] < result["p"] / 100


def test_paired_comparisons_can_make_the_draw_the_unit():
    rows = _draw_rows({"a": 0.02, "b": 0.0}, seeds=(0, 1, 2))
    table = ex.paired_comparisons(rows, "accuracy_shift", [("a", "b")], per_draw=True).iloc[0]
    result = ex.per_draw_comparison(rows, "accuracy_shift", "a", "b")
    assert table["n"] == 5 and table["p"] == pytest.approx(result["p"])
    assert table["mean_diff"] == pytest.approx(result["mean_diff"])


def test_draw_means_need_the_draw_column():
    rows = pd.DataFrame({"variant": ["a", "b"], "seed": [0, 0], "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="benchmark_seed.*unit of replication"):
        ex.draw_means(rows, "x", "a", "b")


def test_tost_is_the_larger_of_the_two_one_sided_tests():
    rows = _draw_rows({"a": 0.002, "b": 0.0}, interaction_sd=0.005, rng_seed=3)
    result = ex.per_draw_comparison(rows, "accuracy_shift", "a", "b", margin=0.02)
    means = rows.groupby(["variant", "benchmark_seed"])["accuracy_shift"].mean().unstack("variant")
    d = (means["a"] - means["b"]).to_numpy()
    lower = scipy.stats.ttest_1samp(d, -0.02, alternative="greater").pvalue
    upper = scipy.stats.ttest_1samp(d, 0.02, alternative="less").pvalue
    assert result["tost_p"] == pytest.approx(max(lower, upper))
    assert ex.per_draw_comparison(rows, "accuracy_shift", "a", "b")["tost_p"] != result["tost_p"]  # NaN: no margin
    assert np.isnan(ex.per_draw_comparison(rows, "accuracy_shift", "a", "b")["tost_p"])


@pytest.mark.parametrize("n, alpha", [(2, 0.05), (5, 0.05), (5, 0.0125), (3, 0.05 / 27), (10, 0.05)])
def test_mde_has_80_percent_power_in_simulated_t_tests(n, alpha):
    sd = 0.03
    mde = ex.minimum_detectable_effect(sd, n, alpha)
    differences = np.random.default_rng(0).normal(mde, sd, size=(40_000, n))
    p = scipy.stats.ttest_1samp(differences, 0.0, axis=1).pvalue
    assert np.mean(p < alpha) == pytest.approx(0.8, abs=0.01)
    assert np.isnan(ex.minimum_detectable_effect(sd, 1, alpha)) and np.isnan(ex.minimum_detectable_effect(0, n, alpha))


def test_three_seeds_and_27_tests_detect_only_huge_effects():
    # the review's point: chapter 7's design (n = 3, Holm over 27) detects only effects of about
    # 17 SDs of the differences; five draws and four primaries detect 2.5 SDs
    assert ex.minimum_detectable_effect(1.0, 3, 0.05 / 27) > 15
    assert ex.minimum_detectable_effect(1.0, 5, 0.05 / 4) < 2.6


def test_mixed_model_cross_check_agrees_on_a_strong_effect():
    rows = _draw_rows({"a": 0.05, "b": 0.0}, seeds=(0, 1, 2))
    result = ex.per_draw_comparison(rows, "accuracy_shift", "a", "b", mixed=True)
    assert result["p"] < 0.01 and 0 <= result["p_mixed"] < 0.01


# ---------------------------------------------------------------------------------------------
# Primary families, exploratory families, verdicts
# ---------------------------------------------------------------------------------------------

FOUR_WAYS = {"gain": 0.06, "loss": -0.06, "same": 0.0005, "unsure": 0.01, "base": 0.0}


def _family(name="test-ch") -> ex.PrimaryFamily:
    return ex.PrimaryFamily(name, (
        ex.PrimaryComparison("gain", "base", "accuracy_shift", 0.02, "gain vs base"),
        ex.PrimaryComparison("loss", "base", "accuracy_shift", 0.02, "loss vs base"),
        ex.PrimaryComparison("same", "base", "accuracy_shift", 0.03, "same vs base"),
        ex.PrimaryComparison("unsure", "base", "accuracy_shift", 0.001, "unsure vs base"),
    ))


@pytest.fixture(scope="module")
def four_ways() -> pd.DataFrame:
    rows = _draw_rows(FOUR_WAYS, interaction_sd=0.004, rng_seed=1)
    unsure = rows["variant"] == "unsure"  # a noisy variant: its difference cannot be pinned down
    rows.loc[unsure, "accuracy_shift"] += np.repeat(np.random.default_rng(7).normal(0, 0.04, 5), 2)
    return rows


def test_analyse_family_gives_the_four_verdicts_with_holm_within_the_primaries(four_ways):
    table = ex.analyse_family(four_ways, _family())
    assert list(table.columns)[: len(ex.FAMILY_COLUMNS)] == list(ex.FAMILY_COLUMNS)
    assert dict(zip(table["first"], table["verdict"])) == {
        "gain": "clear gain", "loss": "clear loss", "same": "equivalent (no effect within ±margin)",
        "unsure": "inconclusive"}
    assert table["p_holm"].tolist() == pytest.approx(ex.holm(table["p"]).tolist())
    assert (table["family_size"] == 4).all() and (table["kind"] == "primary").all()
    assert (table["n_draws"] == 5).all() and (table["n_seeds"] == 2).all()
    # the MDE at Holm's strictest step (alpha / 4) is larger than at alpha
    assert (table["mde"] > table["mde_alpha"]).all()
    # the in-distribution difference is reported beside the shifted-split one
    assert (table["in_distribution_metric"] == "accuracy_test").all()
    steady = table["first"] != "unsure"  # the noise was added to unsure's shifted split only
    assert table.loc[steady, "in_distribution_diff"].tolist() == pytest.approx(table.loc[steady, "mean_diff"].tolist())


def test_exploratory_is_its_own_family(four_ways):
    primary = ex.analyse_family(four_ways, _family())
    explored = ex.analyse_exploratory(four_ways, [("gain", "loss"), ("same", "unsure"), ("gain", "base")],
                                      ["accuracy_shift", "accuracy_test"])
    assert (explored["kind"] == "exploratory").all() and (explored["family_size"] == 6).all()
    assert explored["p_holm"].tolist() == pytest.approx(ex.holm(explored["p"]).tolist())
    # the same comparison gets its own family's correction in each table
    in_primary = primary.set_index("first").loc["gain", "p_holm"]
    in_explored = explored[(explored["first"] == "gain") & (explored["second"] == "base")
                           & (explored["metric"] == "accuracy_shift")]["p_holm"].item()
    assert in_primary != in_explored
    assert not explored["verdict"].str.startswith("equivalent").any()  # no margins: no equivalence


def test_primaries_are_declared_once_and_never_a_gap():
    with pytest.raises(ValueError, match="gap falls when test accuracy falls"):
        ex.PrimaryComparison("ich", "base", "gap_mAP_all_classes", 0.02)
    with pytest.raises(ValueError, match="positive number"):
        ex.PrimaryComparison("ich", "base", "accuracy_shift", 0.0)
    with pytest.raises(ValueError, match="twice"):
        ex.PrimaryFamily("x", (ex.PrimaryComparison("a", "b", "accuracy_shift", 0.1),) * 2)
    family = ex.declare_primary("test-declare", _family().comparisons)
    assert ex.PRIMARY_FAMILIES["test-declare"] is family
    assert ex.declare_primary("test-declare", _family().comparisons) == family
    with pytest.raises(ValueError, match="already declared other primaries"):
        ex.declare_primary("test-declare", _family().comparisons[:2])
    assert ex.declare_primary("test-declare", _family().comparisons[:2], replace=True).size == 2


def test_verdict_sentence_states_the_numbers_and_fits_the_column(four_ways):
    table = ex.analyse_family(four_ways, _family())
    for row in table.to_dict("records"):
        text = ex.verdict_markdown(row, width=80)
        assert max(len(line) for line in text.splitlines()) <= 80
        flat = " ".join(text.split())
        assert f"Holm p {'' if row['p_holm'] < 0.001 else '= '}{ex.format_p(row['p_holm'])}" in flat
        assert row["verdict"] in flat
        assert f"{100 * row['mean_diff']:+.1f} points" in flat and "5 benchmark draws x 2 model seeds" in flat
        if row["verdict"] == "inconclusive":
            assert f"detects {100 * row['mde']:.1f} points" in flat


def test_summary_table_and_forest_plot(four_ways):
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    table = ex.analyse_family(four_ways, _family())
    shown = ex.summary_table(table)
    assert shown.shape == (4, 6) and shown["verdict"].tolist() == table["verdict"].tolist()
    fig, ax = plt.subplots()
    ex.forest_plot(ax, table)
    assert [t.get_text() for t in ax.get_yticklabels()] == table["label"].tolist()
    shaded = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(shaded) == 4  # one margin band per comparison
    widths = sorted(np.ptp(c.get_paths()[0].vertices[:, 0]) for c in shaded)
    assert widths == pytest.approx(sorted(200 * table["margin"]))
    assert any(np.allclose(line.get_xdata(), 0) for line in ax.get_lines())  # the zero line
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Long form and results files
# ---------------------------------------------------------------------------------------------

def test_columns_map_to_split_and_confounder_by_suffix():
    assert ex.split_of_column("mAP_all_classes_shift_codependency") == (
        "mAP_all_classes", "test_shift_codependency", "codependency")
    assert ex.split_of_column("accuracy_masked") == ("accuracy", "test_masked", None)
    custom = {"ood": ("test_ood", "lighting")}
    assert ex.split_of_column("accuracy_ood", custom) == ("accuracy", "test_ood", "lighting")
    assert ex.split_of_column("accuracy_shift", custom) is None
    assert ex.in_distribution_metric("accuracy_shift_context") == "accuracy_test"


def test_long_rows_round_trip(four_ways):
    rows = four_ways.assign(label="x", flops=1.0)
    long = ex.long_rows(rows)
    assert set(long["split"].dropna()) == {"test", "test_shift"}
    assert long.loc[long["column"] == "flops", "split"].isna().all()
    back = ex.wide_rows(long).set_index(["variant", "benchmark_seed", "seed"]).sort_index()
    original = rows.set_index(["variant", "benchmark_seed", "seed"]).sort_index()
    pd.testing.assert_frame_equal(back[original.columns], original, check_dtype=False)


def test_evidence_file_round_trip_and_recomputation_can_fail(four_ways, tmp_path):
    family = _family()
    rows = four_ways.assign(benchmark_signature=lambda r: "sig" + r["benchmark_seed"].astype(str), cached=True)
    explored = ex.analyse_exploratory(rows, [("gain", "loss")], ["accuracy_test"])
    path = tmp_path / "chapter.json"
    written = ex.write_evidence(path, rows, family, profile="smoke", settings=ex.RunSettings.for_profile("smoke"),
                                exploratory={"extra": explored})
    loaded = ex.load_evidence(path)
    assert loaded["primary_family"] == family and loaded["draws"] == [0, 1, 2, 3, 4] and loaded["seeds"] == [0, 1]
    assert loaded["benchmarks"] == {str(d): f"sig{d}" for d in range(5)}
    assert loaded["code"] == written["code"] and loaded["profile"] == "smoke"
    assert "cached" not in loaded["runs"].columns
    assert set(loaded["runs"].columns) >= {"variant", "benchmark_seed", "seed", "split", "confounder", "value"}
    assert loaded["exploratory"]["extra"]["p_holm"].tolist() == pytest.approx(explored["p_holm"].tolist())
    recomputed = ex.assert_stored_analysis(path)
    assert recomputed["verdict"].tolist() == loaded["primary"]["verdict"].tolist()
    # a stored analysis that the rows do not give is caught
    data = json.loads(path.read_text())
    data["primary"][0]["mean_diff"] += 0.01
    path.write_text(json.dumps(data))
    with pytest.raises(AssertionError, match="mean_diff"):
        ex.assert_stored_analysis(path)


def test_loading_a_file_of_another_kind_is_a_clear_error(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="other.json.*write_evidence"):
        ex.load_evidence(path)


# ---------------------------------------------------------------------------------------------
# run_draws
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _FakeConfig:
    seed: int


class _FakeBenchmark(dict):
    def __init__(self, seed: int):
        super().__init__(train=[0] * 3, test=[0] * 2)
        self.config = _FakeConfig(seed)


def test_run_draws_generates_each_draw_once_and_labels_every_run(tmp_path, monkeypatch):
    made, trained = [], []

    def fake_run(variant, benchmark, seed, settings, train_set=None, return_model=False, progress=True):
        trained.append((variant.name, benchmark.config.seed, seed))
        row = {"variant": variant.name, "label": variant.label, "seed": seed,
               "accuracy_shift": 0.1 * benchmark.config.seed + 0.01 * seed}
        return (row, torch.nn.Linear(1, 1)) if return_model else row

    def make(draw):
        made.append(draw)
        return _FakeBenchmark(draw)

    monkeypatch.setattr(runs, "run_variant", fake_run)
    settings = ex.RunSettings.for_profile("smoke")
    rows = ex.run_draws(["base", "ich"], [0, 1, 2], [0, 1], make, settings=settings, cache=tmp_path, progress=False)
    assert made == [0, 1, 2] and len(trained) == 12 and len(rows) == 12
    assert set(map(tuple, rows[["variant", "benchmark_seed", "seed"]].to_numpy().tolist())) == {
        (v, d, s) for v in ("base", "ich") for d in range(3) for s in range(2)}
    assert rows.groupby("benchmark_seed")["benchmark_signature"].nunique().eq(1).all()
    assert rows["benchmark_signature"].nunique() == 3
    last = rows.loc[(rows["benchmark_seed"] == 2) & (rows["seed"] == 1), "accuracy_shift"]
    assert last.tolist() == pytest.approx([0.21] * 2)
    again = ex.run_draws(["base", "ich"], [0, 1, 2], [0, 1], make, settings=settings, cache=tmp_path, progress=False)
    assert len(trained) == 12 and again["cached"].all()  # the cache is run_grid's
    with pytest.raises(ValueError, match="seed 5"):
        ex.run_draws(["base"], [0], [0], lambda draw: _FakeBenchmark(5), settings=settings, progress=False)


def test_run_draws_on_real_smoke_benchmarks(tmp_path):
    settings = ex.RunSettings.for_profile("smoke")
    rows = ex.run_draws(["base"], ex.draws_for_profile("smoke"), ex.seeds_per_draw("smoke"), profile="smoke",
                        settings=settings, cache=tmp_path, progress=False)
    assert rows["benchmark_seed"].tolist() == [0, 1] and rows["seed"].tolist() == [0, 0]
    assert rows["benchmark_signature"].nunique() == 2  # two draws, two benchmarks
    assert rows["accuracy_shift"].between(0, 1).all()

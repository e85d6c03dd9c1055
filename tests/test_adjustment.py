"""The adjustment ladder of chapter 8: its parts on cases whose answer is known, and the chapter's
stated conclusions checked against its results file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pcmci_edu.adjustment import conclusions, ladder, models
from pcmci_edu.adjustment.adjustments import linear_rung
from pcmci_edu.adjustment.confounders import Surrogate, pooled_features, true_confounder
from pcmci_edu.adjustment.positivity import cell_counts, effective_sample_size, importance_weights

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAPTER8_RESULTS = REPO_ROOT / "results" / "chapter8_book.json"


@pytest.fixture(scope="module")
def smoke_benchmark():
    return ladder.ladder_benchmark("smoke", 0.9, 0)


# ---------------------------------------------------------------------------------------------
# Positivity and reweighting
# ---------------------------------------------------------------------------------------------

def test_importance_weights_turn_the_joint_into_the_product_of_marginals():
    rng = np.random.default_rng(0)
    labels = rng.integers(3, size=600)
    confounder = np.where(rng.random(600) < 0.7, labels, rng.integers(3, size=600))  # tied to the label
    weights = importance_weights(labels, confounder)
    joint = np.zeros((3, 3))
    np.add.at(joint, (labels, confounder), weights)
    joint /= joint.sum()
    assert joint == pytest.approx(np.outer(joint.sum(1), joint.sum(0)), abs=1e-12)
    assert effective_sample_size(weights) < len(labels)  # unequal weights are worth fewer videos
    assert effective_sample_size(np.ones(7)) == pytest.approx(7)


def test_positivity_counts_empty_cells(smoke_benchmark):
    train = smoke_benchmark["train"]
    counts = cell_counts(train.activities, train.contexts, 10, len(train.truth.context_names))
    _, row = ladder.linear_cell("smoke", 0.9, 0)
    assert row["empty_cells"] == (counts == 0).sum() and row["cells"] == counts.size
    assert 0 < row["effective_sample_size"] <= len(train)


# ---------------------------------------------------------------------------------------------
# The confounder and the linear rungs
# ---------------------------------------------------------------------------------------------

class _FramesAndTextsOnly:
    """A split that exposes frames and label texts, and no label of any video."""

    def __init__(self, split, frames: np.ndarray | None = None):
        self._frames = split.all_frames() if frames is None else frames
        self.action_text_features = split.action_text_features
        self.activity_text_features = split.activity_text_features

    def all_frames(self) -> np.ndarray:
        return self._frames


def test_the_surrogate_reads_no_label(smoke_benchmark):
    train = smoke_benchmark["train"]
    surrogate = Surrogate.fit(_FramesAndTextsOnly(train), 5, seed=0)  # would fail on any label access
    assert surrogate.centres.shape == (5, train.feature_dim)
    assert np.array_equal(surrogate.assign(train), surrogate.assign_features(pooled_features(train)))


def test_the_surrogate_finds_a_constant_added_per_group():
    """Videos whose frames differ by a group vector (plus small noise) fall into their group."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 30)
    offsets = 3.0 * rng.standard_normal((4, 16))
    frames = offsets[groups][:, None, :] + 0.1 * rng.standard_normal((120, 5, 16))
    split = type("Split", (), {})()
    split.action_text_features, split.activity_text_features = rng.standard_normal((2, 16)), None
    surrogate = Surrogate.fit(_FramesAndTextsOnly(split, frames.astype(np.float32)), 4, seed=0)
    found = surrogate.assign_features(frames.mean(1))
    assert len({(g, f) for g, f in zip(groups, found)}) == 4  # one cluster per group


def test_removing_the_true_parts_leaves_no_shift_gap(smoke_benchmark):
    """test and test_shift share scripts and noise: without context and objects their features match."""
    row = linear_rung(smoke_benchmark, "parts_removed")
    assert row["gap_accuracy"] == 0.0 and row["accuracy_test"] == row["accuracy_shift"]


def test_adjustments_that_need_a_confounder_say_so(smoke_benchmark):
    with pytest.raises(ValueError, match="'logit_adjustment' adjustment needs a confounder"):
        linear_rung(smoke_benchmark, "logit_adjustment")
    with pytest.raises(ValueError, match="unknown adjustment 'nope'"):
        linear_rung(smoke_benchmark, "nope")
    confounder = {name: true_confounder(smoke_benchmark[name]) for name in ("train", "test", "test_shift")}
    for adjustment in ("logit_adjustment", "product_of_experts", "backdoor_sum", "reweighting"):
        row = linear_rung(smoke_benchmark, adjustment, confounder)
        assert 0 <= row["accuracy_shift"] <= 1
        assert row["gap_accuracy"] == pytest.approx(row["accuracy_test"] - row["accuracy_shift"])


# ---------------------------------------------------------------------------------------------
# The surrogate logit adjustment inside a trained model
# ---------------------------------------------------------------------------------------------

def test_surrogate_logit_adjustment_adds_its_offset_in_training_only(smoke_benchmark):
    from pcmci_edu import experiments as ex

    train = smoke_benchmark["train"]
    settings = models.ladder_settings("smoke")
    model = ex.build_model("pcmci_mediator_only", smoke_benchmark, settings, seed=0)
    surrogate = Surrogate.fit(train, 4, seed=0)
    adjusted = models.SurrogateLogitAdjusted.for_training_split(model, train, surrogate)
    frames = torch.as_tensor(train.all_frames()[:6])
    clusters = surrogate.assign_features(pooled_features(train)[:6])
    assert adjusted.surrogate(frames).tolist() == clusters.tolist()
    model.eval(), adjusted.eval()
    with torch.no_grad():
        plain, at_test = model(frames), adjusted(frames)
        assert torch.equal(plain.activity_logits, at_test.activity_logits)  # removed at test
        model.train(), adjusted.train()
        torch.manual_seed(0)
        plain = model(frames)
        torch.manual_seed(0)
        in_training = adjusted(frames)
    offsets = adjusted.activity_offsets[torch.as_tensor(clusters)]
    assert torch.allclose(in_training.activity_logits - plain.activity_logits, offsets, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Conclusions on rows whose answer is known
# ---------------------------------------------------------------------------------------------

def _rows(model_gaps: dict[str, float], linear_gaps: dict[str, float], level: float = 0.9) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for draw in range(4):
        for rung, gap in linear_gaps.items():
            rows.append({"family": "linear", "confounding": level, "benchmark_seed": draw, "seed": 0,
                         "rung": rung, "accuracy_test": 0.95, "gap_accuracy": gap + 0.002 * rng.standard_normal(),
                         "accuracy_shift": 0.0})
        for seed in range(3):
            for rung, gap in model_gaps.items():
                rows.append({"family": "model", "confounding": level, "benchmark_seed": draw, "seed": seed,
                             "rung": rung, "accuracy_test": 0.95 + 0.002 * rng.standard_normal(),
                             "gap_accuracy": gap + 0.002 * rng.standard_normal(), "accuracy_shift": 0.0})
    return pd.DataFrame(rows)


LINEAR = {"linear_erm": 0.12, "linear_oracle": 0.0, "linear_parts_removed": 0.0,
          "linear_logit_adjustment_true": 0.05, "linear_logit_adjustment_surrogate": 0.06}


def test_conclusions_reach_the_target_when_the_adjusted_rung_closes_the_gap():
    rows = _rows({"base": 0.15, "oracle": 0.01, "base_attention_pool": 0.11, "pcmci": 0.11,
                  "pcmci_mediator_only": 0.12, "base_surrogate_adjusted": 0.03,
                  "pcmci_surrogate_adjusted": 0.04}, LINEAR)
    result = conclusions.ladder_conclusions(rows)
    claims = result["claims"]
    assert claims["upper_bound_closes_most"]
    assert claims["target"]["0.9"]["fraction_closed"] == pytest.approx(11 / 14, abs=0.02)
    assert claims["target_reached"]
    assert claims["best_linear_adjustment"] == "linear_parts_removed" or "linear_logit_adjustment_true"
    assert any("is reached at every level" in s for s in result["sentences"])
    family = pd.DataFrame(result["comparisons"])
    assert family["p_holm"].ge(family["p"] - 1e-12).all()  # Holm never lowers a p-value


def test_conclusions_say_so_when_the_target_is_missed():
    rows = _rows({"base": 0.15, "oracle": 0.01, "base_attention_pool": 0.11, "pcmci": 0.11,
                  "pcmci_mediator_only": 0.12, "base_surrogate_adjusted": 0.10,
                  "pcmci_surrogate_adjusted": 0.11}, LINEAR)
    result = conclusions.ladder_conclusions(rows)
    assert not result["claims"]["target_reached"]
    assert any("target is NOT reached" in s for s in result["sentences"])


# ---------------------------------------------------------------------------------------------
# Chapter 8's results file: the rows behind the chapter, and its sentences
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chapter8():
    assert CHAPTER8_RESULTS.is_file(), "results/chapter8_book.json is missing: run notebooks/08 in the book profile"
    return json.loads(CHAPTER8_RESULTS.read_text())


def test_chapter8_rows_cover_the_sweep(chapter8):
    rows = pd.DataFrame(chapter8["rows"])
    assert chapter8["profile"] == "book"
    assert rows["confounding"].nunique() >= 3
    trained = rows[rows["family"] == "model"]
    for level, at_level in trained.groupby("confounding"):
        assert at_level["benchmark_seed"].nunique() >= 2 and at_level["seed"].nunique() >= 3, level
        assert {"base", "oracle", "base_attention_pool"} <= set(at_level["rung"])
    assert rows.groupby("confounding")["benchmark_seed"].nunique().min() >= 2
    for column in ("confounding", "benchmark_seed", "seed", "rung", "gap_accuracy", "accuracy_test"):
        assert rows[column].notna().all(), column
    assert (rows["gap_accuracy"] - (rows["accuracy_test"] - rows["accuracy_shift"])).abs().max() < 1e-9
    assert {"pcmci", "pcmci_mediator_only", models.BEYOND_THE_PAPER_RUNG} <= set(trained["rung"])


def test_chapter8_upper_bound_closes_most_of_the_gap(chapter8):
    rows = pd.DataFrame(chapter8["rows"])
    gaps = conclusions.mean_gaps(rows)
    for level in gaps.columns:
        assert conclusions.fraction_closed(gaps, "linear_parts_removed", level) > 0.5, level
    assert chapter8["claims"]["upper_bound_closes_most"]


def test_chapter8_claims_and_sentences_follow_from_the_rows(chapter8):
    recomputed = conclusions.ladder_conclusions(pd.DataFrame(chapter8["rows"]), pd.DataFrame(chapter8["benchmarks"]))
    assert recomputed["sentences"] == chapter8["sentences"]
    stored, claims = chapter8["claims"], recomputed["claims"]
    assert claims["target_reached"] == stored["target_reached"]
    assert claims["family_size"] == stored["family_size"] == len(chapter8["comparisons"])
    for level, target in claims["target"].items():
        assert target["fraction_closed"] == pytest.approx(stored["target"][level]["fraction_closed"])
        assert target["versus_control"]["p_holm"] == pytest.approx(stored["target"][level]["versus_control"]["p_holm"])
    family = pd.DataFrame(chapter8["comparisons"])
    assert family["p_holm"].notna().all() and (family["clear"] == (family["p_holm"] < 0.05)).all()


def test_chapter8_positivity_table_matches_the_benchmarks(chapter8):
    table = pd.DataFrame(chapter8["benchmarks"])
    row = table[(table["confounding"] == 0.9) & (table["benchmark_seed"] == 0)].iloc[0]
    train = ladder.ladder_benchmark("book", 0.9, 0)["train"]
    counts = cell_counts(train.activities, train.contexts, 10, len(train.truth.context_names))
    assert row["empty_cells"] == (counts == 0).sum()
    by_level = table.groupby("confounding")["empty_cells"].mean()
    assert by_level.is_monotonic_increasing  # stronger confounding, more empty cells


def test_the_frames_carry_the_context_so_the_backdoor_sum_has_nothing_to_add():
    """The chapter's reason why the back-door sum collapses to ERM: x determines c on the default benchmark."""
    from pcmci_edu.adjustment.confounders import context_decodability

    assert context_decodability(ladder.ladder_benchmark("book", 0.9, 0)) > 0.9

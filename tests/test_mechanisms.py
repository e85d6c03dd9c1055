"""The mechanism measures (pcmci_edu.experiments.mechanisms) come out either way on constructed cases."""

import math

import numpy as np
import pytest
import torch

from pcmci_edu.data import make_benchmark
from pcmci_edu.experiments import mechanisms
from pcmci_edu.model import PCMCi


@pytest.fixture(scope="module")
def smoke():
    return make_benchmark("breakfast", profile="smoke", seed=0)


@pytest.fixture(scope="module")
def model(smoke):
    return PCMCi.from_dataset(smoke["train"], width=32, layers=1, heads=2)


def test_companion_excess_has_both_signs():
    rng = np.random.default_rng(0)
    objects = np.linalg.qr(rng.standard_normal((16, 6)))[0].T        # 6 orthonormal objects in 16-d
    companion = np.array([0, 1, 2, 3, -1])
    towards = np.stack([objects[c] if c >= 0 else objects[5] for c in companion])
    away = np.stack([-objects[c] if c >= 0 else objects[5] for c in companion])
    assert mechanisms.companion_excess(towards, objects, companion) == pytest.approx(1.0)
    assert mechanisms.companion_excess(away, objects, companion) == pytest.approx(-1.0)
    assert abs(mechanisms.companion_excess(objects[[4, 4, 4, 4, 4]], objects, companion)) < 0.25


def test_label_companion_alignment_tracks_the_label_embeddings(smoke, model):
    measures = mechanisms.label_companion_alignment(model, smoke)
    assert set(measures) == {"frozen", "trained", "final", "change"}
    assert measures["frozen"] > 0.2                   # T0 is contaminated by the companions
    assert measures["trained"] == pytest.approx(measures["frozen"], abs=1e-5)  # untrained base: T = T0
    clean = model.label_embeddings.detach().clone()
    with torch.no_grad():
        model.label_embeddings[model.num_activities:] = smoke.truth.clean_action_text_features
    try:
        after = mechanisms.label_companion_alignment(model, smoke)
    finally:
        with torch.no_grad():
            model.label_embeddings.copy_(clean)
    assert after["trained"] < measures["frozen"] - 0.2 and after["change"] < -0.2


def test_between_group_share_and_decoding_have_both_outcomes():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 30)
    grouped = np.eye(4)[groups] * 5 + 0.1 * rng.standard_normal((120, 4))
    unrelated = rng.standard_normal((120, 4))
    assert mechanisms.between_group_share(grouped, groups) > 0.95
    assert mechanisms.between_group_share(unrelated, groups) < 0.1
    assert mechanisms.decoding_accuracy(grouped, groups)["accuracy"] > 0.95
    decoded = mechanisms.decoding_accuracy(unrelated, groups)
    assert decoded["chance"] == pytest.approx(0.25) and decoded["accuracy"] < 0.45


def test_context_measures_on_a_model(smoke, model):
    share = mechanisms.context_variance_share(model, smoke)
    assert 0.0 <= share <= 1.0
    vectors = mechanisms.pooled_video_vectors(model, smoke["test"])
    assert vectors.shape == (len(smoke["test"]), model.label_embeddings.shape[1])
    decoded = mechanisms.context_decodability(model, smoke, folds=2)
    assert 0.0 <= decoded["accuracy"] <= 1.0 and 0.0 < decoded["chance"] < 1.0


def test_cooccurrence_margin_has_both_signs(smoke):
    split, train = smoke["test_shift_codependency"], smoke["train"]
    background = smoke.truth.background_index
    seen, present = (train.actions > 0).astype(float), (split.actions > 0).astype(float)
    seen[:, background] = present[:, background] = 0
    together = seen.T @ seen
    np.fill_diagonal(together, 0)
    linked = ((present @ together) > 0).astype(float)   # a scorer that follows training co-occurrence
    follows = mechanisms.cooccurrence_margin(linked, split.actions, train.actions, background)
    against = mechanisms.cooccurrence_margin(-linked, split.actions, train.actions, background)
    neutral = mechanisms.cooccurrence_margin(np.asarray(split.actions, float), split.actions, train.actions, background)
    assert follows["margin"] > 0.5 and against["margin"] < -0.5 and neutral["margin"] == 0.0
    nothing = mechanisms.cooccurrence_margin(np.zeros((1, 3)), np.ones((1, 3)), np.ones((1, 3)))
    assert math.isnan(nothing["margin"])


def test_codependency_margin_on_a_model(smoke, model):
    measures = mechanisms.codependency_margin(model, smoke)
    assert set(measures) == {"associated", "other", "margin"}
    assert np.isfinite(measures["margin"])

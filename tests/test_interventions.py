"""The three interventions one by one: OT plans, relation graphs, the front-door module."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from pcmci_edu.interventions import (ICH, ICI, IVC, PassThroughFusion, build_memory, build_prototypes,
                                     build_relations, entropic_transport_plan)
from pcmci_edu.interventions.ich import cosine_similarity_matrix, transport_cost
from tests.test_model_fakes import FakeVideoDataset


@pytest.fixture(scope="module")
def train_set() -> FakeVideoDataset:
    return FakeVideoDataset(num_videos=30)


def random_cost(batch=3, labels=5, tokens=7, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    similarity = 2 * torch.rand(batch, labels, tokens, generator=generator) - 1
    return transport_cost(similarity)


# ----- ICH -------------------------------------------------------------------------------

def test_ot_plan_has_the_requested_marginals():
    cost = random_cost()
    prior = torch.softmax(torch.randn(3, 7), dim=-1)
    plan = entropic_transport_plan(cost, epsilon=0.1, token_marginal=prior, max_iter=500, tol=1e-7)
    assert torch.allclose(plan.sum(-1), torch.full((3, 5), 1 / 5), atol=1e-5)
    assert torch.allclose(plan.sum(-2), prior, atol=1e-5)
    assert (plan >= 0).all()


def test_ot_plan_agrees_with_pot_called_directly():
    cost = random_cost().double()
    plan = entropic_transport_plan(cost, epsilon=0.1, max_iter=1000, tol=1e-9)
    for video in range(3):
        expected = ot.sinkhorn(np.full(5, 1 / 5), np.full(7, 1 / 7), cost[video].numpy(), reg=0.1,
                               method="sinkhorn_log", numItermax=10_000, stopThr=1e-12)
        np.testing.assert_allclose(plan[video].numpy(), expected, atol=1e-6)


def test_ot_plan_prefers_cheap_pairs():
    """A label whose cost to one token is far lower sends most of its mass there."""
    cost = torch.ones(1, 2, 2)
    cost[0, 0, 0] = cost[0, 1, 1] = 0.0
    plan = entropic_transport_plan(cost, epsilon=0.05)
    assert plan[0, 0, 0] > 0.45 and plan[0, 0, 1] < 0.05


@pytest.mark.parametrize("epsilon", [1e-2, 3e-3, 1e-3])
def test_small_epsilon_gives_no_nan_in_float32(epsilon):
    text = torch.randn(4, 9, 16, requires_grad=True)
    frames = torch.randn(4, 8, 16)
    cost = transport_cost(cosine_similarity_matrix(text, frames))
    plan = entropic_transport_plan(cost.float(), epsilon=epsilon, max_iter=200)
    assert plan.dtype == torch.float32 and torch.isfinite(plan).all()
    (plan @ frames).sum().backward()
    assert torch.isfinite(text.grad).all()


def test_ich_per_video_and_dictionary(train_set):
    text = torch.randn(1, 9, 16)
    frames = torch.stack([train_set[i]["frames"] for i in range(4)])
    per_video = ICH(16, epsilon=0.05)
    text_prime, details = per_video(text, frames)
    assert text_prime.shape == (4, 9, 16) and details["ot_plan"].shape == (4, 9, 8)
    rows = details["ot_plan"] / details["ot_plan"].sum(-1, keepdim=True)
    assert torch.allclose(details["ich_pooled"], rows @ frames, atol=1e-5)     # H = P* V^P, rows renormalised

    dictionary = build_prototypes(train_set, num_prototypes=6, seed=0)
    assert dictionary.prototypes.shape == (6, 16)
    assert torch.isclose(dictionary.prior.sum(), torch.tensor(1.0)) and (dictionary.prior > 0).all()
    stratified = ICH(16, epsilon=0.05, dictionary=dictionary)
    text_prime, details = stratified(text, frames)
    assert text_prime.shape == (1, 9, 16), "the dictionary reading gives the same T' for every video"
    assert torch.allclose(details["ot_plan"].sum(-2), dictionary.prior[None], atol=1e-4)


def test_pass_through_fusion_keeps_its_block():
    fusion = PassThroughFusion((1.0, 0.0), dim=6, noise_std=0.0)
    x, y = torch.randn(2, 3, 6), torch.randn(1, 3, 6)
    assert torch.allclose(fusion(x, y), x)
    averaging = PassThroughFusion((0.5, 0.5), dim=6, noise_std=0.0)
    assert torch.allclose(averaging(x, y), (x + y) / 2)
    noisy = PassThroughFusion((1.0, 0.0), dim=6, noise_std=0.02)
    assert 0 < (noisy(x, y) - x).abs().max() < 0.5
    with pytest.raises(ValueError, match="takes 2 blocks"):
        fusion(x)


# ----- ICI -------------------------------------------------------------------------------

def test_relations_from_annotations(train_set):
    relations = build_relations(train_set)
    assert relations.names == ("co_occurrence", "exclusivity", "sharedness", "precedence")
    assert relations.adjacency.shape == (4, 9, 9)
    labels = np.concatenate([np.eye(3)[train_set.activities], train_set.actions], axis=1)
    co = relations.adjacency[0].numpy()
    i, j = 3 + 1, 3 + 3                              # P(action 3 | action 1)
    expected = (labels[:, i] * labels[:, j]).sum() / labels[:, i].sum()
    assert co[i, j] == pytest.approx(expected)
    assert np.allclose(np.diag(co), 0)
    exclusive = relations.adjacency[1].numpy()
    assert exclusive[0, 1] == 1 and exclusive[0, 3] == 0       # activities exclude each other; act 0 has action 0
    assert exclusive[3 + 2, 3 + 3] == 1                        # actions 2 and 3 are in no common script
    shared = relations.adjacency[2].numpy()
    assert shared[3 + 0, 3 + 4] == pytest.approx(1 / 3)        # action 0 in {0, 2}, action 4 in {1, 2}
    precedence = relations.adjacency[3].numpy()
    assert precedence[3 + 0, 3 + 1] == 1 and precedence[3 + 1, 3 + 0] == 0   # scripts run 0 -> 1 -> 2
    normalised = relations.normalised()
    assert torch.allclose(normalised.sum(-1), torch.ones(4, 9))
    graph = relations.to_networkx("precedence")
    assert graph.has_edge("action_0", "action_1") and not graph.has_edge("action_1", "action_0")


def test_relations_without_activities_or_segments():
    dataset = FakeVideoDataset(num_videos=20, with_activities=False)
    relations = build_relations(dataset)
    assert relations.names == ("co_occurrence", "exclusivity", "precedence")
    assert relations.num_labels == 6 and "sharedness" in relations.notes
    dataset.segments = [[] for _ in dataset.segments]
    assert build_relations(dataset).names == ("co_occurrence", "exclusivity")


def test_ici_matches_the_poster_formula(train_set):
    relations = build_relations(train_set)
    module = ICI(relations, dim=16, noise_std=0.05)
    text = torch.randn(3, 9, 16)
    text_star, details = module(text)
    graphs = [relations.normalised()[k] @ text @ module.theta[k] for k in range(4)]   # G_k(T') = A_k T' Theta_k
    relation = torch.cat(graphs, dim=-1) @ module.relation_fusion.weight.T           # (concat_k G_k) W^R
    expected = torch.cat([text, relation], dim=-1) @ module.fusion.weight.T           # [T', R(T')] W^I
    assert torch.allclose(text_star, expected, atol=1e-4)
    assert torch.allclose(details["relation_message"], relation, atol=1e-4)
    for k, name in enumerate(relations.names):
        assert torch.allclose(details["relation_outputs"][name], graphs[k], atol=1e-4)
    assert "relation_outputs" not in module(text, with_details=False)[1]


def test_ici_rejects_mismatched_labels(train_set):
    module = ICI(build_relations(train_set), dim=16)
    with pytest.raises(ValueError, match="cover 9 labels"):
        module(torch.randn(2, 7, 16))


# ----- IVC -------------------------------------------------------------------------------

def test_ivc_gates_the_video_tokens(train_set):
    module = IVC(16, noise_std=0.05)
    mediator, tokens = torch.randn(1, 9, 16), torch.randn(4, 8, 16)
    video_star, details = module(mediator, tokens)
    assert video_star.shape == (4, 8, 16)
    gate = details["ivc_gate"]
    assert ((gate > 0) & (gate < 1)).all()
    assert torch.allclose(gate, torch.sigmoid(details["mediator_hat"]))            # V' = sigma(A(M, F(V))) F(V)
    expected = torch.cat([details["mediator_hat"], gate * tokens], -1) @ module.fusion.weight.T
    assert torch.allclose(video_star, expected, atol=1e-5)                          # V* = [M_hat, V'] W^C
    assert torch.allclose(details["ivc_attention"].sum(-1), torch.ones(4, 8))


def test_cross_sample_ivc_attends_to_the_memory(train_set):
    memory = build_memory(train_set, size=5, seed=0)
    assert memory.shape == (5, 16)
    module = IVC(16, memory=memory, noise_std=0.05)
    tokens = torch.randn(2, 8, 16)
    video_star, details = module(torch.randn(2, 9, 16), tokens)
    assert details["ivc_cross_sample_attention"].shape == (2, 8, 5)
    blocks = [details["mediator_hat"], details["ivc_gate"] * tokens, details["ivc_cross_sample"]]
    assert torch.allclose(video_star, torch.cat(blocks, -1) @ module.fusion.weight.T, atol=1e-5)  # [M_hat, V', V_cs] W^C
    weights = details["ivc_cross_sample_attention"]
    values = module.cross_sample_attention.value(memory)
    assert torch.allclose(details["ivc_cross_sample"], module.cross_sample_attention.output(weights @ values), atol=1e-5)

"""The base model and PCMCi: shapes, gradients, every order, switches, pass-through at step 0."""

from __future__ import annotations

import itertools

import pytest
import torch

from pcmci_edu.model import ModelConfig, ModelOutput, PCMCi
from tests.test_model_fakes import FakeVideoDataset

ALL_ORDERS = list(itertools.permutations(("ich", "ici", "ivc")))
SUBSETS = [(), ("ich",), ("ici",), ("ivc",), ("ich", "ici"), ("ich", "ivc"), ("ici", "ivc")]


@pytest.fixture(scope="module")
def train_set() -> FakeVideoDataset:
    return FakeVideoDataset(num_videos=24)


@pytest.fixture(scope="module")
def frames(train_set) -> torch.Tensor:
    return torch.stack([train_set[i]["frames"] for i in range(5)])


def build(train_set, **overrides) -> PCMCi:
    return PCMCi.from_dataset(train_set, width=16, heads=2, **overrides)


@pytest.mark.parametrize("interventions", ALL_ORDERS + SUBSETS, ids=lambda order: "-".join(order) or "base")
def test_every_order_has_shapes_and_gradients(train_set, frames, interventions):
    model = build(train_set, interventions=interventions)
    output = model(frames)
    assert isinstance(output, ModelOutput)
    assert output.action_logits.shape == (5, 6) and output.activity_logits.shape == (5, 3)
    targets = torch.stack([train_set[i]["actions"] for i in range(5)])
    activities = torch.stack([train_set[i]["activity"] for i in range(5)])
    loss = model.loss(output, activities, targets)
    loss.backward()
    assert torch.isfinite(loss)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} got no gradient in order {interventions}"
        assert torch.isfinite(parameter.grad).all(), name
    for name in interventions:                        # each intervention actually learns
        grads = [p.grad.abs().sum() for p in model.interventions[name].parameters()]
        assert sum(grads) > 0, f"{name} has zero gradient"


def test_orders_give_different_computations(train_set, frames):
    logits = {order: build(train_set, interventions=order, fusion_noise_std=0.1)(frames).action_logits
              for order in ALL_ORDERS}
    for first, second in itertools.combinations(ALL_ORDERS, 2):
        assert not torch.allclose(logits[first], logits[second], atol=1e-6), (first, second)


SWITCHES = {  # name: (options, the options it is compared with)
    "ich": ({"interventions": ("ich",)}, {"interventions": ()}),
    "ici": ({"interventions": ("ici",)}, {"interventions": ()}),
    "ivc": ({"interventions": ("ivc",)}, {"interventions": ()}),
    "attention_pooling": ({"interventions": (), "label_pooling": "attention"}, {"interventions": ()}),
    "dictionary_ich": ({"interventions": ("ich",), "ich_visual_tokens": "dictionary", "ich_num_prototypes": 8},
                       {"interventions": ("ich",)}),
    "cross_sample_ivc": ({"interventions": ("ivc",), "ivc_sampling": "cross_sample", "ivc_memory_size": 8},
                         {"interventions": ("ivc",)}),
}


@pytest.mark.parametrize("switch", SWITCHES)
def test_each_switch_changes_the_computation(train_set, frames, switch):
    options, reference = SWITCHES[switch]
    changed = build(train_set, **options)(frames).action_logits
    baseline = build(train_set, **reference)(frames).action_logits
    assert not torch.allclose(changed, baseline, atol=1e-5)


def test_interventions_pass_through_at_step_zero(train_set, frames):
    """With no random part, every fusion starts as the identity on its kept block: the full
    model's logits equal the base model's (IVC's gate is 1/2 everywhere; cosines ignore it)."""
    base = build(train_set, interventions=(), fusion_noise_std=0.0).eval()
    for order in ALL_ORDERS[:2] + [("ich",), ("ici",), ("ivc",)]:
        model = build(train_set, interventions=order, fusion_noise_std=0.0).eval()
        details = model(frames, return_details=True).details
        assert torch.allclose(model(frames).action_logits, base(frames).action_logits, atol=1e-4), order
        if "ivc" in order:
            assert torch.allclose(details["ivc_gate"], torch.full_like(details["ivc_gate"], 0.5))


def test_details_hold_the_intermediates(train_set, frames):
    model = build(train_set, interventions=("ich", "ici", "ivc"))
    output = model(frames, return_details=True)
    details = output.details
    labels = 3 + 6
    assert details["ot_plan"].shape == (5, labels, 8)
    assert details["ich_pooled"].shape == details["text_after_ich"].shape == (5, labels, 16)
    assert set(details["relation_outputs"]) == {"co_occurrence", "exclusivity", "sharedness", "precedence"}
    assert all(value.shape == (5, labels, 16) for value in details["relation_outputs"].values())
    assert details["ivc_attention"].shape == (5, 8, labels)
    assert torch.allclose(details["ivc_attention"].sum(-1), torch.ones(5, 8))
    assert details["ivc_gate"].shape == (5, 8, 16)
    assert details["text_final"].shape == (5, labels, 16) and details["video_final"].shape == (5, 16)
    assert model(frames).details == {}


def test_attention_pooling_gives_one_video_vector_per_label(train_set, frames):
    details = build(train_set, interventions=(), label_pooling="attention")(frames, return_details=True).details
    assert details["video_final"].shape == (5, 9, 16)
    assert torch.allclose(details["label_attention"].sum(-1), torch.ones(5, 9))


def test_label_learning_rate_multiplier(train_set):
    frozen = build(train_set, interventions=(), label_lr_multiplier=0.0)
    assert not frozen.label_embeddings.requires_grad
    assert all(frozen.label_embeddings is not p for g in frozen.parameter_groups(0.01) for p in g["params"])
    slowed = build(train_set, interventions=(), label_lr_multiplier=0.1)
    groups = slowed.parameter_groups(0.01)
    label_group = [g for g in groups if any(p is slowed.label_embeddings for p in g["params"])]
    assert len(label_group) == 1 and label_group[0]["lr_multiplier"] == 0.1
    grouped = sum(len(g["params"]) for g in groups)
    assert grouped == sum(1 for p in slowed.parameters() if p.requires_grad)


def test_label_embeddings_start_at_the_text_features(train_set):
    model = build(train_set)
    expected = torch.cat([train_set.activity_text_features, train_set.action_text_features])
    assert torch.equal(model.label_embeddings.detach(), expected)


def test_dataset_without_activities(frames):
    dataset = FakeVideoDataset(num_videos=12, with_activities=False)
    model = build(dataset)
    output = model(frames)
    assert output.activity_logits is None and output.action_logits.shape == (5, 6)
    loss = model.loss(output, torch.full((5,), -1), torch.ones(5, 6))
    assert torch.isfinite(loss)


def test_same_seed_same_model_and_no_global_rng_side_effect(train_set):
    torch.manual_seed(5)
    expected_next = torch.rand(1)
    torch.manual_seed(5)
    first, second = build(train_set, seed=3), build(train_set, seed=3)
    assert torch.equal(torch.rand(1), expected_next)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    other = build(train_set, seed=4)
    assert not torch.equal(other.video_encoder.position, first.video_encoder.position)


@pytest.mark.parametrize("bad, message", [
    ({"interventions": ("ich", "ich")}, "once"),
    ({"interventions": ("xyz",)}, "unknown interventions"),
    ({"label_pooling": "max"}, "label_pooling"),
    ({"width": 30, "heads": 4}, "divisible"),
])
def test_config_rejects_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(feature_dim=16, num_frames=8, **bad)


def test_clear_errors_for_missing_inputs(train_set, frames):
    config = ModelConfig(feature_dim=16, num_frames=8, interventions=("ici",))
    with pytest.raises(ValueError, match="relation graphs"):
        PCMCi(config, train_set.action_text_features, train_set.activity_text_features)
    model = build(train_set, interventions=())
    with pytest.raises(ValueError, match="expected \\[batch, frames, 16\\]"):
        model(frames[..., :4])
    with pytest.raises(ValueError, match="at most 8 frames"):
        model(torch.randn(2, 9, 16))


def test_frames_wider_than_label_texts_get_an_adapter(frames):
    """Breakfast's 2048-d I3D frames with 512-d CLIP texts, in miniature: 16-d frames, 8-d texts."""
    dataset = FakeVideoDataset(num_videos=12)
    generator = torch.Generator().manual_seed(0)
    dataset.action_text_features = torch.randn(len(dataset.action_names), 8, generator=generator)
    dataset.activity_text_features = torch.randn(len(dataset.activity_names), 8, generator=generator)
    model = build(dataset)
    assert model.config.text_dim == 8 and model.config.embedding_dim == 8
    output = model(frames, return_details=True)
    assert output.action_logits.shape == (5, len(dataset.action_names))
    assert output.details["video_tokens"].shape[-1] == 8
    model.loss(output, torch.zeros(5, dtype=torch.long), torch.ones_like(output.action_logits)).backward()
    assert model.frame_adapter.weight.grad is not None and model.frame_adapter.weight.grad.abs().sum() > 0
    assert build(FakeVideoDataset(num_videos=12)).frame_adapter is None  # same widths: no adapter
    with pytest.raises(ValueError, match="text_dim == feature_dim"):
        ModelConfig(feature_dim=16, num_frames=8, text_dim=8, ich_visual_tokens="dictionary")

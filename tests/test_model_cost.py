"""Cost accounting: torch's flop counter on the head and on an open_clip ViT-B/16 (meta device)."""

from __future__ import annotations

import pytest
import torch

from pcmci_edu.cost import (POSTER_COSTS, backbone_cost, count_flops, count_parameters, cost_table,
                            forward_flops_by_part, head_cost, ici_token_map_flops, model_at_scale,
                            training_step_flops)
from pcmci_edu.model import PCMCi
from tests.test_model_fakes import FakeVideoDataset


def test_flop_counter_counts_two_per_multiply_add():
    layer = torch.nn.Linear(16, 8, bias=False)
    assert count_flops(layer, torch.randn(4, 16)) == 2 * 4 * 16 * 8
    assert count_parameters(layer) == 128


def test_head_cost_grows_with_the_interventions():
    dataset = FakeVideoDataset(num_videos=12)
    base = head_cost(PCMCi.from_dataset(dataset, interventions=(), width=16, heads=2))
    full = head_cost(PCMCi.from_dataset(dataset, width=16, heads=2))
    assert 0 < base.flops < full.flops and base.parameters < full.parameters
    # the label-side matrix products alone: ICH's W^H on H, ICI's relation maps, IVC's keys and values
    labels, dim = 9, 16
    assert full.flops - base.flops > 2 * labels * dim * dim * 4


def test_ici_costs_its_token_maps_and_its_label_mixing_per_video():
    """After per-video ICH, ICI's forward cost per video is exactly (K+1) D x D maps on each of the
    N tokens, the label mixing (K+1) L x L on the N plan columns, and the [L, (K+1)N] x [(K+1)N, D]
    product; the benchmark's floor argument rests on the first term."""
    dataset = FakeVideoDataset(num_videos=12)
    model = PCMCi.from_dataset(dataset, width=16, heads=2).train()
    frames = torch.stack([dataset[i]["frames"] for i in range(3)])
    per_video = forward_flops_by_part(model, frames)["ici"] - forward_flops_by_part(model, frames[:2])["ici"]
    maps, labels = len(model.interventions["ici"].relation_names) + 1, 9
    tokens, dim = dataset.num_frames, dataset.feature_dim
    assert per_video == 2 * maps * (tokens * dim * dim + labels * labels * tokens + labels * tokens * dim)
    assert ici_token_map_flops(model, batch_size=1) == 2 * maps * tokens * dim * dim
    parts = forward_flops_by_part(model, frames)
    assert list(parts) == ["video encoder", "ich", "ici", "ivc", "scoring"]
    assert model.training                                       # left in the mode it was in
    assert sum(parts.values()) == count_flops(model.eval(), frames)


def test_a_training_step_costs_more_than_its_forward_pass_and_at_most_three_times():
    dataset = FakeVideoDataset(num_videos=12)
    model = PCMCi.from_dataset(dataset, width=16, heads=2)
    batch = [torch.stack([dataset[i][key] for i in range(4)]) for key in ("frames", "activity", "actions")]
    forward = count_flops(model.eval(), batch[0])
    step = training_step_flops(model, *batch)
    assert forward < step <= 3 * forward
    assert all(parameter.grad is None for parameter in model.parameters())


def test_vit_b16_backbone_cost_on_the_meta_device():
    cost = backbone_cost("ViT-B-16", num_frames=2)
    assert cost.visual.parameters == pytest.approx(86.19e6, rel=1e-3)
    assert cost.visual.flops == pytest.approx(2 * 35.13e9, rel=1e-2)     # 35.1 GFLOPs = 17.6 GMACs per 224px frame
    assert cost.text_parameters > 30e6


def test_cost_table_puts_measured_rows_beside_the_poster():
    dataset = FakeVideoDataset(num_videos=12)
    heads = {"PCMCi": model_at_scale(dataset, feature_dim=32, num_frames=4, width=32, heads=2)}
    table = cost_table(heads, backbone_cost(num_frames=1))
    assert list(table["model"])[:3] == ["PCMCi: head alone", "PCMCi: ViT-B-16 x 1 frames + head",
                                        "PCMCi: same, counting the text tower's parameters"]
    poster = table[table["model"] == "PCMCi (poster)"].iloc[0]
    assert (poster["GFLOPs"], poster["params_M"]) == POSTER_COSTS["PCMCi"] == (650.0, 211.0)
    assert table.loc[1, "GFLOPs"] > table.loc[0, "GFLOPs"]

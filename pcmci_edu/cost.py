"""Cost accounting: parameters and FLOPs per video, for the head alone and with a CLIP
backbone in front, beside the poster's numbers.

FLOPs come from torch's counter (:class:`torch.utils.flop_counter.FlopCounterMode`), which
counts two FLOPs per multiply-add and covers matrix products, convolutions and attention;
elementwise work (Sinkhorn's log-sum-exps, softmax, normalisation) is not counted. Papers
often report multiply-adds under the name FLOPs: the table gives both (GMACs = GFLOPs / 2).
The poster does not say which convention its 650 GFLOPs use.

The backbone is open_clip's ViT-B/16, built with random weights (``pretrained=None``, no
download) on PyTorch's ``meta`` device: shapes only, so counting costs no compute. The
poster does not give the number of frames per video; we use :data:`PAPER_FRAME_COUNT` = 32,
the frames per video our extraction and configs use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

PAPER_FRAME_COUNT = 32
"""Frames per video for the backbone's cost (our choice: the poster does not give it)."""

POSTER_COSTS: dict[str, tuple[float, float]] = {
    "Text4Vis": (835.0, 287.0),
    "MA-LMM": (29063.0, 7526.0),
    "HierarQ": (37877.0, 7881.0),
    "PCMCi": (650.0, 211.0),
}
"""(GFLOPs, M parameters) per method, from the poster's main comparison table (Breakfast/COIN)."""


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters (optionally only those that require gradients).

    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(function: Callable[..., object], *inputs: torch.Tensor) -> int:
    """FLOPs of ``function(*inputs)`` by torch's counter (2 per multiply-add).

    >>> count_flops(nn.Linear(3, 2, bias=False), torch.randn(5, 3))
    60
    """
    with FlopCounterMode(display=False) as counter:
        function(*inputs)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class Cost:
    """Parameters and forward FLOPs per video of one part of a model."""

    parameters: int
    flops: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.parameters + other.parameters, self.flops + other.flops)


def head_cost(model: nn.Module, frames: torch.Tensor | None = None) -> Cost:
    """The head's (PCMCi's or the base's) cost for one video: ``frames`` ``[1, N, D]``, or a
    random video of the model's size. Run in eval mode.

    The FLOPs are those one more video adds to a batch (a batch of three videos less a batch of
    two): products of parameters alone, which the model computes once per batch (ICI's maps
    ``Theta_k W^R_k W^I``, IVC's ``W_o W_v`` and ``W_k^T W_q``), are not a cost per video. (Not one
    video less none: with a single video, per-video label embeddings have a batch of one, like
    shared ones, and IVC's attention takes its path for shared ones.)
    """
    config = model.config
    if frames is None:
        frames = torch.randn(1, config.num_frames, config.feature_dim,
                             generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    frames = frames.to(device)
    flops = count_flops(model, torch.cat([frames] * 3)) - count_flops(model, torch.cat([frames] * 2))
    model.train(was_training)
    return Cost(count_parameters(model), flops)


def training_step_flops(model: nn.Module, frames: torch.Tensor, activities: torch.Tensor,
                        actions: torch.Tensor) -> int:
    """Matrix FLOPs of one training step on a batch: the forward pass, the loss and its backward
    pass (AdamW's update is elementwise, so not counted). Gradients are left cleared."""
    was_training = model.training
    model.train()
    with FlopCounterMode(display=False) as counter:
        model.loss(model(frames), activities, actions).backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return int(counter.get_total_flops())


def forward_flops_by_part(model: nn.Module, frames: torch.Tensor) -> dict[str, int]:
    """Forward FLOPs of a PCMCi model on a batch (in eval mode), by part: ``"video encoder"`` F(V)
    (with the frame adapter, if any), each intervention by name, and ``"scoring"`` (pooling and the
    cosine logits).

    >>> from pcmci_edu.model import ModelConfig, PCMCi
    >>> model = PCMCi(ModelConfig(feature_dim=8, num_frames=4, width=8, heads=2, interventions=("ivc",)),
    ...               torch.randn(5, 8), torch.randn(2, 8))
    >>> parts = forward_flops_by_part(model, torch.randn(3, 4, 8))
    >>> list(parts), sum(parts.values()) == count_flops(model.eval(), torch.randn(3, 4, 8))
    (['video encoder', 'ivc', 'scoring'], True)
    """
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(frames)
    model.train(was_training)
    counts = {name: sum(by_operator.values()) for name, by_operator in counter.get_flop_counts().items()}
    root = type(model).__name__
    parts = {"video encoder": counts.get(f"{root}.video_encoder", 0) + counts.get(f"{root}.frame_adapter", 0)}
    parts.update({name: counts.get(f"{root}.interventions.{name}", 0) for name in model.config.interventions})
    parts["scoring"] = int(counter.get_total_flops()) - sum(parts.values())
    return parts


def ici_token_map_flops(model: nn.Module, batch_size: int) -> int:
    """FLOPs of the product in ICI that, after per-video ICH, no ordering of the products we found
    avoids (the logits need every row norm of ``T*``, IVC's scores every row): its ``K+1``
    ``D x D`` maps (``W^I_1`` and each ``Theta_k W^R_k W^I_2``) applied to each of the ``N`` visual
    tokens of every video (``(V^P W^H_2) M_k`` in ICI's ``_factored_map``):
    ``2 B (K+1) N D^2``. Forward pass only."""
    config = model.config
    maps = len(model.interventions["ici"].relation_names) + 1
    return 2 * batch_size * maps * config.num_frames * config.embedding_dim ** 2


@dataclass(frozen=True)
class BackboneCost:
    """A CLIP model's visual tower cost per video and its text tower's parameters (the label
    texts are encoded once, so the text tower costs no FLOPs per video)."""

    name: str
    num_frames: int
    visual: Cost
    text_parameters: int


def backbone_cost(model_name: str = "ViT-B-16", num_frames: int = PAPER_FRAME_COUNT,
                  image_size: int = 224) -> BackboneCost:
    """Parameters and FLOPs per video of open_clip's ``model_name`` image tower at
    ``num_frames`` frames of ``image_size`` pixels (random weights on the meta device)."""
    import logging

    import open_clip

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))         # silence "No pretrained weights loaded": intended here
    try:
        model = open_clip.create_model(model_name, pretrained=None, device="meta")
    finally:
        root.setLevel(level)
    images = torch.empty(num_frames, 3, image_size, image_size, device="meta")
    flops = count_flops(model.encode_image, images)
    visual = count_parameters(model.visual)
    return BackboneCost(model_name, num_frames, Cost(visual, flops), count_parameters(model) - visual)


def model_at_scale(train_set, feature_dim: int = 512, num_frames: int = PAPER_FRAME_COUNT, seed: int = 0,
                   **config_fields) -> nn.Module:
    """A PCMCi head at a real backbone's feature size for cost accounting: label sets and
    relation graphs from ``train_set``'s annotations, random text features of ``feature_dim``
    (``config_fields`` as in :class:`pcmci_edu.model.ModelConfig`; dictionary ICH and
    cross-sample IVC get random prototypes / memory of their configured sizes)."""
    from pcmci_edu.interventions.ich import PrototypeDictionary
    from pcmci_edu.interventions.ici import build_relations
    from pcmci_edu.model import ModelConfig, PCMCi

    config = ModelConfig(feature_dim=feature_dim, num_frames=num_frames, seed=seed, **config_fields)
    generator = torch.Generator().manual_seed(seed)
    actions = torch.randn(len(train_set.action_names), feature_dim, generator=generator)
    activities = (torch.randn(len(train_set.activity_names), feature_dim, generator=generator)
                  if train_set.has_activities else None)
    relations = build_relations(train_set) if "ici" in config.interventions else None
    prototypes = torch.randn(config.ich_num_prototypes, feature_dim, generator=generator)
    dictionary = PrototypeDictionary(prototypes, torch.full((config.ich_num_prototypes,),
                                                            1.0 / config.ich_num_prototypes))
    memory = torch.randn(config.ivc_memory_size, feature_dim, generator=generator)
    return PCMCi(config, actions, activities, relations, dictionary, memory)


def cost_table(heads: Mapping[str, nn.Module], backbone: BackboneCost | None = None):
    """A pandas table: each head alone and with the backbone in front (parameters in millions,
    GFLOPs and GMACs per video), then the poster's rows (quoted, not measured)."""
    import pandas as pd

    rows = []
    for name, model in heads.items():
        head = head_cost(model)
        rows.append(_row(f"{name}: head alone", head, "measured (FlopCounterMode)"))
        if backbone is not None:
            rows.append(_row(f"{name}: {backbone.name} x {backbone.num_frames} frames + head",
                             backbone.visual + head, "measured (FlopCounterMode)"))
            rows.append(_row(f"{name}: same, counting the text tower's parameters",
                             replace(backbone.visual + head,
                                     parameters=backbone.visual.parameters + backbone.text_parameters
                                     + head.parameters), "measured (FlopCounterMode)"))
    for name, (gflops, mparams) in POSTER_COSTS.items():
        rows.append({"model": f"{name} (poster)", "params_M": mparams, "GFLOPs": gflops, "GMACs": float("nan"),
                     "source": "quoted from the poster (convention not stated)"})
    return pd.DataFrame(rows)


def _row(name: str, cost: Cost, source: str) -> dict[str, object]:
    return {"model": name, "params_M": cost.parameters / 1e6, "GFLOPs": cost.flops / 1e9,
            "GMACs": cost.flops / 2e9, "source": source}

"""Independent training runs trained together: one batched model with a leading ensemble axis.

A small model (the book's width-64, one-layer encoder) spends most of a training step in the
overhead of each operation, not in arithmetic. :func:`fit_ensemble` trains ``E`` runs of one
architecture (different seeds, and different benchmark draws when their shapes agree) as one
model: the members' parameters are stacked (:func:`torch.func.stack_module_state`), the model's
own ``forward`` and ``loss`` run under :func:`torch.func.vmap` (:func:`torch.func.functional_call`),
so each operation is issued once for all members, and one AdamW steps every member's parameters.
ICH's Sinkhorn solves every member's problems in one POT call
(:func:`pcmci_edu.interventions.ich.solve_entropic_transport` folds the members into POT's batch).

Each member is trained exactly as :func:`pcmci_edu.train.fit` trains it alone: built alone and
then stacked (its own initialisation), its own shuffling per epoch (``fit``'s permutation), its
own dropout masks (drawn from a generator seeded as ``fit`` seeds the global one each epoch, in
the same order), its own label embeddings, gradient clipping on its own gradient norm, the same
learning-rate schedule. So its weights and metrics equal the alone run's within float tolerance
(tests/test_ensemble.py), with one qualification: POT stops Sinkhorn when the worst problem of
its batch meets the tolerance, so a member of an ensemble with ICH may run a few more Sinkhorn
iterations than alone (its plans then differ by less than the tolerance, 1e-5).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from pcmci_edu.train import (History, TrainConfig, _epoch_order, _epoch_seed, _stack, adamw, mixed_precision,
                             resolve_device, warmup_cosine)


def can_share_a_batch(models: Sequence[nn.Module], train_sets: Sequence, configs: Sequence[TrainConfig]) -> str | None:
    """Why these runs cannot be trained as one ensemble, or ``None`` when they can: one model
    class and configuration (the seed aside), parameters and buffers of the same shapes, training
    splits of the same size and frame shape, and training settings equal but for the seed."""
    first, first_config = models[0], configs[0]
    shapes = {name: tuple(value.shape) for name, value in first.state_dict().items()}
    for model, train_set, config in zip(models, train_sets, configs):
        if type(model) is not type(first):
            return f"model classes differ ({type(model).__name__}, {type(first).__name__})"
        if hasattr(first, "config") and replace(model.config, seed=0) != replace(first.config, seed=0):
            return "model configurations differ beyond the seed"
        if {name: tuple(value.shape) for name, value in model.state_dict().items()} != shapes:
            return "parameter or buffer shapes differ"
        if replace(config, seed=0) != replace(first_config, seed=0):
            return "training settings differ beyond the seed"
        if len(train_set) != len(train_sets[0]):
            return f"training splits differ in size ({len(train_set)}, {len(train_sets[0])})"
    return None


def fit_ensemble(models: Sequence[nn.Module], train_sets: Sequence, configs: Sequence[TrainConfig],
                 progress: bool = True) -> list[History]:
    """Train ``models[e]`` on ``train_sets[e]`` with ``configs[e]`` (seeds may differ), all at once.

    Each member's trained weights are written back into ``models[e]`` (left on the training
    device, in eval mode), as :func:`pcmci_edu.train.fit` leaves a model; returns one
    :class:`~pcmci_edu.train.History` per member (``epoch``, ``step``, ``lr``, ``train_loss``,
    ``seconds``; no evaluation, no checkpoints: a grid caches finished runs instead).
    """
    if not models or not len(models) == len(train_sets) == len(configs):
        raise ValueError(f"fit_ensemble needs as many models, training splits and configs, got "
                         f"{len(models)}, {len(train_sets)}, {len(configs)}")
    reason = can_share_a_batch(models, train_sets, configs)
    if reason is not None:
        raise ValueError(f"these runs cannot be trained as one ensemble: {reason}")
    config, members = configs[0], len(models)
    device = resolve_device(config.device)
    for model in models:
        model.to(device).train()
    template = models[0]
    params, buffers = stack_module_state(list(models))
    optimizer = _optimizer(template, params, config)
    data = [_stack(train_set) for train_set in train_sets]
    videos = len(data[0])
    steps_per_epoch = math.ceil(videos / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(config.warmup_fraction * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, warmup_steps))
    autocast, scaler = mixed_precision(config, device)
    member_loss = vmap(_member_loss(template), in_dims=(0, 0, 0, 0, 0, 0))
    frame_generators = [np.random.default_rng(run.seed) for run in configs]   # as fit draws the frames
    frames, activities, actions = _stacked(data, device)
    member_index = torch.arange(members).unsqueeze(1)

    histories = [History() for _ in models]
    step = 0
    for epoch in tqdm(range(config.epochs), desc=f"training {members} runs", disable=not progress, leave=False):
        started = time.perf_counter()
        generators = [torch.Generator(device).manual_seed(_epoch_seed(run.seed, epoch)) for run in configs]
        if any(getattr(train_set, "resamples_frames", False) for train_set in train_sets):
            frames = torch.stack([torch.as_tensor(train_set.all_frames(generator), dtype=torch.float32)
                                  for train_set, generator in zip(train_sets, frame_generators)]).to(device)
        orders = torch.stack([_epoch_order(videos, run.seed, epoch, 0, 1) for run in configs])   # [E, V]
        losses = []
        for start in range(0, videos, config.batch_size):
            batch = orders[:, start:start + config.batch_size]                                    # [E, B]
            batch_frames = frames[member_index, batch.to(frames.device)]
            masks = _dropout_masks(template, batch.shape[1], frames.shape[2], generators)
            with autocast():
                loss = member_loss(params, buffers, batch_frames, activities[member_index, batch],
                                   actions[member_index, batch], masks)                          # [E]
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss.sum()).backward()          # members are independent: each gets its own gradient
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                clip_member_gradients(params.values(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(loss.detach())
            step += 1
        mean_losses = torch.stack(losses).float().mean(0).tolist()
        seconds = time.perf_counter() - started
        for history, mean_loss in zip(histories, mean_losses):
            history.rows.append({"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
                                 "train_loss": mean_loss, "seconds": seconds})
    with torch.no_grad():
        for index, model in enumerate(models):
            for name, parameter in model.named_parameters():
                parameter.copy_(params[name][index])
            model.eval()
    return histories


def _member_loss(template: nn.Module):
    """One member's loss from its parameters and batch: the model's own ``forward`` and ``loss``."""
    def loss(params, buffers, frames, activities, actions, masks):
        output = functional_call(template, (params, buffers), (frames,), {"dropout_masks": masks})
        return template.loss(output, activities, actions)
    return loss


def _stacked(data, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every member's training split as ``[E, V, ...]`` tensors (one copy when they are one split)."""
    members = len(data)
    if all(item is data[0] for item in data):
        return tuple(getattr(data[0], name).to(device).unsqueeze(0).expand(members, *getattr(data[0], name).shape)
                     for name in ("frames", "activities", "actions"))
    return tuple(torch.stack([getattr(item, name) for item in data]).to(device)
                 for name in ("frames", "activities", "actions"))


def _dropout_masks(template: nn.Module, batch: int, frames: int,
                   generators: Sequence[torch.Generator]) -> list[torch.Tensor] | None:
    """Each member's dropout masks for one step from its own generator, stacked ``[E, ...]``."""
    encoder = getattr(template, "video_encoder", None)
    if encoder is None:
        return None
    drawn = [encoder.dropout_masks(batch, frames, generator) for generator in generators]
    if drawn[0] is None:
        return None
    return [torch.stack(site) for site in zip(*drawn)]


def _optimizer(template: nn.Module, params: dict[str, torch.Tensor], config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the stacked parameters, grouped as :func:`pcmci_edu.train.build_optimizer` groups
    the template's (weight decay and learning-rate multiplier per parameter)."""
    names = {id(parameter): name for name, parameter in template.named_parameters()}
    if hasattr(template, "parameter_groups"):
        groups = template.parameter_groups(config.weight_decay)
    else:
        groups = [{"params": [p for p in template.parameters() if p.requires_grad],
                   "weight_decay": config.weight_decay, "lr_multiplier": 1.0}]
    for group in groups:
        group["params"] = [params[names[id(parameter)]] for parameter in group["params"]]
        group["lr"] = config.lr * group.get("lr_multiplier", 1.0)
    return adamw(groups, config.lr)


@torch.no_grad()
def clip_member_gradients(parameters, max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` for each member on its own: every member's gradient
    (the slices ``[e]`` of the stacked parameters) is scaled so its total norm is at most
    ``max_norm``. Stays on the device (no read-back)."""
    grads = [parameter.grad for parameter in parameters if parameter.grad is not None]
    if not grads:
        return
    norms = torch.stack([torch.linalg.vector_norm(grad.reshape(len(grad), -1), dim=1) for grad in grads])    # [P, E]
    total = torch.linalg.vector_norm(norms, dim=0)                                             # [E]
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for grad in grads:
        grad.mul_(scale.view(-1, *[1] * (grad.ndim - 1)).to(grad.dtype))

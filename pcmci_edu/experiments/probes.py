"""Looking inside a trained model: the figures of chapters 4-6.

Intermediate quantities of a forward pass (:func:`model_details`), where ICH's transport plans
put their mass against the generator's truth (:func:`plan_mass_on_truth`, chapter 4), per-class
average precision against label structure (chapter 5), and how IVC's gate and attention react
when a part of the features is removed (:func:`part_occlusion`, :func:`attention_on_own_action`,
chapter 6).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from pcmci_edu.experiments.evaluation import predict_scores


def _frames(dataset, indices: Sequence[int]) -> torch.Tensor:
    return torch.stack([dataset[int(i)]["frames"] for i in indices])


@torch.no_grad()
def model_details(model: torch.nn.Module, dataset, indices: Sequence[int],
                  frames: torch.Tensor | None = None) -> dict[str, Any]:
    """The model's intermediate quantities (``return_details=True``) for some videos, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    frames = _frames(dataset, indices) if frames is None else frames
    output = model(frames.to(device), return_details=True)
    details = {name: (value.detach().cpu() if isinstance(value, torch.Tensor) else value)
               for name, value in output.details.items()}
    details["action_logits"] = output.action_logits.cpu()
    details["activity_logits"] = None if output.activity_logits is None else output.activity_logits.cpu()
    return details


def frame_truth(split, index: int) -> dict[str, np.ndarray]:
    """What the generator put in each frame of one video, as label x frame masks over the
    actions: ``action`` [K, N] (the action is performed in the frame) and ``companion``
    [K, N] (the action's companion object is visible in the frame)."""
    frame_actions = np.asarray(split.frame_actions[index])
    frame_objects = np.asarray(split.frame_objects[index])
    companions = np.asarray(split.truth.companion_index)
    labels = np.arange(len(companions))[:, None]
    action = frame_actions[None, :] == labels
    companion = (companions[:, None] >= 0) & (frame_objects[None, :] == companions[:, None])
    return {"action": action, "companion": companion}


def plan_mass_on_truth(plans: torch.Tensor | np.ndarray, split, indices: Sequence[int],
                       num_activities: int) -> dict[str, float]:
    """Where an OT plan's rows put their mass, averaged over the videos' true actions.

    For each video and each action it contains, the row of the plan (renormalised to one) is
    split into the share on frames where that action is performed, on frames that show only
    its companion object (not the action), and elsewhere; ``uniform_action`` is what a uniform
    row would put on the action's frames.
    """
    plans = np.asarray(plans, dtype=np.float64)
    shares = {"on_action": [], "on_companion_only": [], "elsewhere": [], "uniform_action": []}
    for row, index in enumerate(indices):
        truth = frame_truth(split, int(index))
        for k in np.flatnonzero(np.asarray(split.actions[int(index)]) > 0):
            plan = plans[row, num_activities + k]
            plan = plan / max(plan.sum(), 1e-12)
            action, companion = truth["action"][k], truth["companion"][k] & ~truth["action"][k]
            shares["on_action"].append(plan[action].sum())
            shares["on_companion_only"].append(plan[companion].sum())
            shares["elsewhere"].append(plan[~action & ~companion].sum())
            shares["uniform_action"].append(action.mean())
    return {name: float(np.mean(values)) if values else math.nan for name, values in shares.items()}


def _true_label_logit(model: torch.nn.Module, frames: torch.Tensor, split, indices) -> torch.Tensor:
    output = model(frames)
    if output.activity_logits is not None and getattr(split, "has_activities", True):
        labels = torch.as_tensor(np.asarray(split.activities)[list(indices)], device=frames.device)
        return output.activity_logits.gather(1, labels[:, None]).squeeze(1)
    targets = torch.as_tensor(np.asarray(split.actions)[list(indices)], device=frames.device)
    return (output.action_logits * targets).sum(1) / targets.sum(1).clamp_min(1)


@torch.no_grad()
def part_occlusion(model: torch.nn.Module, split, parts: Sequence[str] = ("action", "context", "objects"),
                   max_videos: int = 128, seed: int = 0) -> pd.DataFrame:
    """How much the model leans on each additive part of the features (from ``split.parts``).

    For each part, the frames are recomputed without it (``frames - part``) and we measure the
    mean drop of the true label's logit, the mean absolute change of the IVC gate and the total
    variation between IVC's attention ``P(m | V)`` with and without the part (where the model
    has IVC). One row per part.
    """
    model.eval()
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(split), size=min(max_videos, len(split)), replace=False))
    device = next(model.parameters()).device
    frames = _frames(split, indices).to(device)
    reference = model(frames, return_details=True)
    reference_logit = _true_label_logit(model, frames, split, indices)
    rows = []
    for part in parts:
        removed = frames - torch.as_tensor(split.parts[part][indices], device=device)
        output = model(removed, return_details=True)
        row = {"part": part,
               "logit_drop": float((reference_logit - _true_label_logit(model, removed, split, indices)).mean())}
        if "ivc_gate" in reference.details:
            row["gate_change"] = float((output.details["ivc_gate"] - reference.details["ivc_gate"]).abs().mean())
            row["attention_change"] = float(0.5 * (output.details["ivc_attention"] -
                                                   reference.details["ivc_attention"]).abs().sum(-1).mean())
        rows.append(row)
    return pd.DataFrame(rows)


@torch.no_grad()
def attention_on_own_action(model: torch.nn.Module, split, max_videos: int = 128, seed: int = 0) -> dict[str, float]:
    """IVC's attention ``P(m | V)`` of each frame: the mass on the label of the action performed
    in that frame, against the uniform ``1 / L`` (frames with an action only)."""
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(split), size=min(max_videos, len(split)), replace=False))
    details = model_details(model, split, indices)
    if "ivc_attention" not in details:
        raise ValueError("the model has no IVC: no attention P(m | V) to read")
    attention = details["ivc_attention"].numpy()                       # [B, N, L]
    num_activities = getattr(model, "num_activities", 0)
    frame_actions = np.asarray(split.frame_actions)[indices]            # [B, N]
    visible = frame_actions >= 0
    own = np.take_along_axis(attention, (num_activities + np.maximum(frame_actions, 0))[..., None], -1)[..., 0]
    return {"on_own_action": float(own[visible].mean()), "uniform": 1.0 / attention.shape[-1]}


def per_class_average_precision(model: torch.nn.Module, dataset) -> np.ndarray:
    """Average precision of each atomic action on a split ``[K]`` (NaN without positives)."""
    from pcmci_edu.metrics import average_precision_per_class

    _, action_scores = predict_scores(model, dataset)  # raw logits: a float32 sigmoid would tie
    return average_precision_per_class(action_scores, np.asarray(dataset.actions))


def activities_per_action(train_set) -> np.ndarray:
    """In how many activities each atomic action occurs in training ``[K]`` (1: exclusive to one
    activity; more: shared)."""
    membership = np.zeros((len(train_set.activity_names), len(train_set.action_names)))
    np.add.at(membership, np.asarray(train_set.activities), np.asarray(train_set.actions))
    return (membership > 0).sum(0)


def label_similarity(embeddings: torch.Tensor | np.ndarray) -> np.ndarray:
    """Cosine similarity between label embeddings ``[L, D]`` -> ``[L, L]``."""
    embeddings = torch.nn.functional.normalize(torch.as_tensor(np.asarray(embeddings), dtype=torch.float32), dim=-1)
    return (embeddings @ embeddings.T).numpy()

"""Does each intervention act on its own confounder? One mechanism measure per confounder.

The benchmark's truth says what each confounder is, so each intervention's mechanism can be
measured directly, beside its endpoint (accuracy on its own shifted split):

* ICH targets the co-occurrence confounder H. The frozen label texts are contaminated by each
  action's companion object (``T0_k = normalize(t_k + c * o_companion(k))``);
  :func:`label_companion_alignment` measures how much each label embedding still points at its
  own companion rather than at the other objects, for the frozen text and after training.
* IVC targets the visual confounder C. :func:`context_variance_share` is the share of the
  variance of the model's pooled video vector that lies between contexts, and
  :func:`context_decodability` how well a linear decoder reads the context from it; both on
  ``test_shift_context`` by default, where the context is independent of the activity, so
  what they find is context carried for its own sake, not as a proxy of the activity.
* ICI targets the label codependency I. :func:`codependency_margin`, on
  ``test_shift_codependency`` by default, compares the scores of absent actions that
  co-occur in training with a present one against those of the other absent actions: a model
  that predicts actions from their training companions scores the former higher.

Every measure can come out either way (``tests/test_mechanisms.py`` builds cases of both
signs); none is a verdict alone: set it beside the base, the capacity control and that
confounder's oracle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def companion_excess(label_embeddings: np.ndarray, object_vectors: np.ndarray,
                     companion_index: np.ndarray) -> float:
    """Mean over actions with a companion of cos(label_k, o_companion(k)) minus the mean cosine
    of label_k with the other objects: > 0 where labels lean towards their own companions."""
    labels = _unit(np.asarray(label_embeddings, dtype=np.float64))
    objects = _unit(np.asarray(object_vectors, dtype=np.float64))
    companion_index = np.asarray(companion_index)
    has = np.flatnonzero(companion_index >= 0)
    if len(has) == 0 or len(objects) < 2:
        raise ValueError("companion_excess needs actions with a companion and at least two objects")
    cosines = labels[has] @ objects.T                                   # [K', O]
    own = cosines[np.arange(len(has)), companion_index[has]]
    others = (cosines.sum(1) - own) / (len(objects) - 1)
    return float(np.mean(own - others))


@torch.no_grad()
def label_companion_alignment(model: torch.nn.Module, benchmark: Mapping[str, Any],
                              split: str = "test") -> dict[str, float]:
    """How strongly the action label embeddings point at their companion objects (ICH's H).

    Returns :func:`companion_excess` of ``"frozen"``: the frozen text ``T0`` (the benchmark's
    contaminated text features); ``"trained"``: the model's label embedding parameters ``T``;
    ``"final"``: the label embeddings the model actually scores with (``text_final``, after
    ICH/ICI, averaged over the videos of ``split``); and ``"change"`` = final minus frozen.
    The reference directions are the generator's object vectors in the frame feature space,
    where ``T0`` lives; training moves ``T`` within the space of the video encoder's output,
    which starts there too (same dimension, cosine logits).
    """
    truth = benchmark.truth
    frozen = np.asarray(benchmark["train"].action_text_features, dtype=np.float64)
    skip = model.num_activities
    trained = model.label_embeddings.detach().cpu().numpy()[skip:]
    final = _final_text(model, benchmark[split])[skip:]
    measures = {name: companion_excess(labels, truth.object_vectors, truth.companion_index)
                for name, labels in (("frozen", frozen), ("trained", trained), ("final", final))}
    measures["change"] = measures["final"] - measures["frozen"]
    return measures


def _forward_details(model: torch.nn.Module, dataset, batch_size: int = 256):
    model.eval()
    device = next(model.parameters()).device
    frames = torch.as_tensor(dataset.all_frames(), dtype=torch.float32)
    for start in range(0, len(frames), batch_size):
        yield model(frames[start:start + batch_size].to(device), return_details=True).details


@torch.no_grad()
def _final_text(model: torch.nn.Module, dataset) -> np.ndarray:
    total, count = None, 0
    for details in _forward_details(model, dataset):
        text = details["text_final"].float().sum(0).cpu()
        total = text if total is None else total + text
        count += details["text_final"].shape[0]
    return (total / count).numpy()


@torch.no_grad()
def pooled_video_vectors(model: torch.nn.Module, dataset) -> np.ndarray:
    """The model's pooled video vector per video ``[V, D]`` (``video_final``; with per-label
    attention pooling, its mean over labels), after IVC when the model has it."""
    vectors = []
    for details in _forward_details(model, dataset):
        video = details["video_final"].float()
        vectors.append((video.mean(1) if video.ndim == 3 else video).cpu().numpy())
    return np.concatenate(vectors).astype(np.float64)


def between_group_share(vectors: np.ndarray, groups: np.ndarray) -> float:
    """Share of the total variance of ``vectors`` ``[V, D]`` that lies between ``groups``
    (the multivariate eta squared, summed over dimensions): 0 when every group has the same
    mean, 1 when every vector equals its group's mean."""
    vectors = np.asarray(vectors, dtype=np.float64)
    groups = np.asarray(groups)
    centred = vectors - vectors.mean(0)
    total = float((centred ** 2).sum())
    if total == 0:
        return 0.0
    between = 0.0
    for group in np.unique(groups):
        members = centred[groups == group]
        between += len(members) * float((members.mean(0) ** 2).sum())
    return between / total


def context_variance_share(model: torch.nn.Module, benchmark: Mapping[str, Any],
                           split: str = "test_shift_context") -> float:
    """IVC's C: :func:`between_group_share` of the pooled video vectors by context on ``split``
    (default ``test_shift_context``, where context is independent of the activity)."""
    dataset = benchmark[split]
    return between_group_share(pooled_video_vectors(model, dataset), dataset.contexts)


def decoding_accuracy(vectors: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Cross-validated accuracy of a linear decoder (multinomial logistic regression, features
    standardised) of ``groups`` from ``vectors``, and chance (the largest group's share).
    Groups with a single member are left out; the folds are at most the smallest group's size."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    groups = np.asarray(groups)
    names, counts = np.unique(groups, return_counts=True)
    kept = np.isin(groups, names[counts >= 2])        # a group seen once cannot be both fit and tested
    groups, counts = groups[kept], counts[counts >= 2]
    folds = int(min(folds, counts.min())) if len(counts) >= 2 else 0
    if folds < 2:
        raise ValueError("decoding_accuracy needs at least two groups with two members or more")
    decoder = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=1.0))
    scores = cross_val_score(decoder, np.asarray(vectors, dtype=np.float64)[kept], groups,
                             cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return {"accuracy": float(scores.mean()), "chance": float(counts.max() / counts.sum())}


def context_decodability(model: torch.nn.Module, benchmark: Mapping[str, Any],
                         split: str = "test_shift_context", folds: int = 5) -> dict[str, float]:
    """IVC's C: :func:`decoding_accuracy` of the context from the pooled video vectors on ``split``."""
    dataset = benchmark[split]
    return decoding_accuracy(pooled_video_vectors(model, dataset), dataset.contexts, folds)


def cooccurrence_margin(scores: np.ndarray, targets: np.ndarray, train_targets: np.ndarray,
                        background_index: int = -1) -> dict[str, float]:
    """Mean score of absent actions that co-occur in training with a present action
    (``"associated"``) minus that of the other absent actions (``"other"``): ``"margin"``.

    Per video, then averaged over the videos that have both kinds of absent actions; the
    background action (present everywhere) is left out. NaN when no video has both.
    """
    scores = np.asarray(scores, dtype=np.float64)
    present = np.asarray(targets) > 0
    seen = (np.asarray(train_targets) > 0).astype(np.float64)
    keep = np.ones(present.shape[1], dtype=bool)
    if background_index >= 0:
        keep[background_index] = False
    together = (seen.T @ seen) > 0
    np.fill_diagonal(together, False)
    associated_means, other_means = [], []
    for v in range(len(scores)):
        here = present[v] & keep
        absent = ~present[v] & keep
        linked = together[here].any(0) & absent
        unlinked = absent & ~linked
        if linked.any() and unlinked.any():
            associated_means.append(scores[v, linked].mean())
            other_means.append(scores[v, unlinked].mean())
    if not associated_means:
        return {"associated": float("nan"), "other": float("nan"), "margin": float("nan")}
    associated, other = float(np.mean(associated_means)), float(np.mean(other_means))
    return {"associated": associated, "other": other, "margin": associated - other}


def codependency_margin(model: torch.nn.Module, benchmark: Mapping[str, Any],
                        split: str = "test_shift_codependency") -> dict[str, float]:
    """ICI's I: :func:`cooccurrence_margin` of the model's raw action logits on ``split``
    (default ``test_shift_codependency``, whose scripts recombine activities), co-occurrence
    read from ``train``."""
    from pcmci_edu.experiments.evaluation import predict_scores

    dataset = benchmark[split]
    _, action_scores = predict_scores(model, dataset)
    return cooccurrence_margin(action_scores, dataset.actions, benchmark["train"].actions,
                               getattr(benchmark.truth, "background_index", -1))

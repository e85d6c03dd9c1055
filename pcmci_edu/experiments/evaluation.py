"""How a trained model (or the zero-shot text prior) is measured: one row of numbers per run.

:func:`evaluate_model` gives accuracy and both mAP conventions (:mod:`pcmci_edu.metrics`) on
``test``, on the joint ``test_shift`` and on the shift of each confounder alone
(``test_shift_context``, ``test_shift_objects``, ``test_shift_codependency``), on
``test_masked``, the shift gaps, and the masking probe; every run of
chapters 3-7 goes through it. :func:`zero_shot` measures the frozen text prior with no training
(chapter 3).

Every mAP here ranks the *raw* scores (the logits; for zero-shot, the cosine similarities), never
probabilities: a float32 sigmoid rounds every logit above about 17 to exactly 1.0, and the tied
scores lose the ranking that average precision measures. Probabilities serve only the true-label
scores (the masking probe).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch


def _probabilities(scores: torch.Tensor | np.ndarray | None, multi_label: bool) -> np.ndarray | None:
    """Scores as probabilities: softmax over activities, sigmoid per action (logits in)."""
    if scores is None:
        return None
    scores = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
    return (torch.sigmoid(scores) if multi_label else torch.softmax(scores, dim=-1)).numpy()


def predict_scores(model: torch.nn.Module, dataset) -> tuple[np.ndarray | None, np.ndarray]:
    """Raw activity logits [V, A] (``None`` without activities) and action logits [V, K]."""
    from pcmci_edu.train import predict

    activity_scores, action_scores = predict(model, dataset)
    return (None if activity_scores is None else np.asarray(activity_scores)), np.asarray(action_scores)


def predict_probabilities(model: torch.nn.Module, dataset) -> tuple[np.ndarray | None, np.ndarray]:
    """Activity probabilities [V, A] (``None`` without activities) and action probabilities [V, K]."""
    activity_scores, action_scores = predict_scores(model, dataset)
    return _probabilities(activity_scores, False), _probabilities(action_scores, True)


def split_measures(activity_scores: np.ndarray | None, action_scores: np.ndarray, dataset) -> dict[str, float]:
    """Accuracy, both mAP conventions and the mean probability of the true labels on one split.

    ``activity_scores`` and ``action_scores`` are raw scores (logits): the mAPs rank them as they
    are, accuracy takes their argmax, and only the true-label scores pass them through a softmax
    (activities) or a sigmoid (actions).
    """
    from pcmci_edu.metrics import mean_average_precision, top1_accuracy

    targets = np.asarray(dataset.actions)
    action_scores = np.asarray(action_scores, dtype=np.float64)
    action_probs = _probabilities(action_scores, True)
    measures = {
        "mAP_all_classes": mean_average_precision(action_scores, targets, protocol="all_classes"),
        "mAP_present_classes": mean_average_precision(action_scores, targets, protocol="present_classes"),
        "true_action_score": float((action_probs * targets).sum() / max(targets.sum(), 1)),
    }
    if activity_scores is not None and getattr(dataset, "has_activities", True):
        labels = np.asarray(dataset.activities)
        activity_probs = _probabilities(activity_scores, False)
        measures["accuracy"] = top1_accuracy(np.asarray(activity_scores), labels)
        measures["true_activity_score"] = float(activity_probs[np.arange(len(labels)), labels].mean())
    else:
        measures["accuracy"] = math.nan
        measures["true_activity_score"] = math.nan
    return {name: float(value) for name, value in measures.items()}


SPLIT_SUFFIX: dict[str, str] = {
    "test": "test", "test_shift": "shift", "test_masked": "masked",
    "test_shift_context": "shift_context", "test_shift_objects": "shift_objects",
    "test_shift_codependency": "shift_codependency",
}
"""Evaluated split -> the suffix of its columns (``accuracy_shift_context``, ...)."""

SHIFT_SUFFIXES: dict[str, str] = {"joint": "shift", "context": "shift_context", "objects": "shift_objects",
                                  "codependency": "shift_codependency"}
"""Confounder (as in :data:`pcmci_edu.data.benchmark.SHIFT_SPLITS`) -> its shifted split's column suffix."""

HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "mAP_all_classes", "mAP_present_classes")


def evaluate_model(model: torch.nn.Module, benchmark: Mapping[str, Any]) -> dict[str, float]:
    """The row's measures of a trained model on ``test``, every shifted split and ``test_masked``.

    Keys: ``<metric>_<suffix>`` for the suffixes of :data:`SPLIT_SUFFIX` (``test``, ``shift``
    for the joint shift, ``shift_context``, ``shift_objects``, ``shift_codependency``,
    ``masked``; splits the benchmark lacks are skipped); the gaps, derived values to show
    beside both accuracies, never alone: ``gap_<metric>`` = test minus the joint shift and
    ``gap_<metric>_<confounder>`` = test minus that confounder's shift; the masking probe ``masked_accuracy`` (activity
    accuracy with the action part removed) and ``masked_score_ratio`` (the mean score of the
    true activity, masked over unmasked: a causal model's falls well below 1).
    """
    row: dict[str, float] = {}
    for split, suffix in SPLIT_SUFFIX.items():
        if split not in benchmark:
            continue
        dataset = benchmark[split]
        activity_scores, action_scores = predict_scores(model, dataset)
        for name, value in split_measures(activity_scores, action_scores, dataset).items():
            row[f"{name}_{suffix}"] = value
    for metric in HEADLINE_METRICS:
        for confounder, suffix in SHIFT_SUFFIXES.items():
            if f"{metric}_{suffix}" in row:
                name = f"gap_{metric}" if confounder == "joint" else f"gap_{metric}_{confounder}"
                row[name] = row[f"{metric}_test"] - row[f"{metric}_{suffix}"]
    if "accuracy_masked" in row:
        row["masked_accuracy"] = row["accuracy_masked"]
        row["masked_true_score"] = row["true_activity_score_masked"]
        row["masked_score_ratio"] = row["true_activity_score_masked"] / row["true_activity_score_test"]
        row["masked_action_score_ratio"] = (row["true_action_score_masked"] /
                                            row["true_action_score_test"])
    return row


def zero_shot(benchmark: Mapping[str, Any], splits: Sequence[str] = ("test", "test_shift", "test_masked"),
              text: str = "frozen", temperature: float = 0.01) -> pd.DataFrame:
    """Zero-shot measures with no training: the cosine of each video's mean frame with the label
    texts (:func:`pcmci_edu.data.benchmark.zero_shot_scores`), one row per split.

    ``text="frozen"`` uses the benchmark's (companion-contaminated) VLM text embeddings;
    ``text="clean"`` the generator's clean ones from ``benchmark.truth``. Accuracy and mAP rank the
    raw cosines, so they do not depend on ``temperature``; only the true-label scores do (the
    cosines divided by ``temperature`` through a softmax over activities and a sigmoid per action).
    """
    from pcmci_edu.data.benchmark import zero_shot_scores

    if text not in ("frozen", "clean"):
        raise ValueError(f"text={text!r}: expected 'frozen' or 'clean'")
    truth = getattr(benchmark, "truth", None) if text == "clean" else None
    if text == "clean" and truth is None:
        raise ValueError("text='clean' needs a benchmark with ground truth (benchmark.truth)")
    rows = []
    for split in splits:
        dataset = benchmark[split]
        activity, action = zero_shot_scores(dataset, truth)
        activity_logits = None if activity is None else np.asarray(activity, dtype=np.float64) / temperature
        action_logits = np.asarray(action, dtype=np.float64) / temperature
        rows.append({"split": split, "text": text, **split_measures(activity_logits, action_logits, dataset)})
    return pd.DataFrame(rows)

"""How a trained model (or the zero-shot text prior) is measured: one row of numbers per run.

:func:`evaluate_model` gives accuracy and both mAP conventions (:mod:`pcmci_edu.metrics`) on
``test``, ``test_shift`` and ``test_masked``, the shift gap, and the masking probe; every run of
chapters 3-7 goes through it. :func:`zero_shot` measures the frozen text prior with no training
(chapter 3).
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


def predict_probabilities(model: torch.nn.Module, dataset) -> tuple[np.ndarray | None, np.ndarray]:
    """Activity probabilities [V, A] (``None`` without activities) and action probabilities [V, K]."""
    from pcmci_edu.train import predict

    activity_scores, action_scores = predict(model, dataset)
    return _probabilities(activity_scores, False), _probabilities(action_scores, True)


def split_measures(activity_probs: np.ndarray | None, action_probs: np.ndarray, dataset) -> dict[str, float]:
    """Accuracy, both mAP conventions and the mean score of the true labels on one split."""
    from pcmci_edu.metrics import mean_average_precision, top1_accuracy

    targets = np.asarray(dataset.actions)
    measures = {
        "mAP_all_classes": mean_average_precision(action_probs, targets, protocol="all_classes"),
        "mAP_present_classes": mean_average_precision(action_probs, targets,
                                                      protocol="present_classes"),
        "true_action_score": float((action_probs * targets).sum() / max(targets.sum(), 1)),
    }
    if activity_probs is not None and getattr(dataset, "has_activities", True):
        labels = np.asarray(dataset.activities)
        measures["accuracy"] = top1_accuracy(torch.as_tensor(activity_probs), torch.as_tensor(labels))
        measures["true_activity_score"] = float(activity_probs[np.arange(len(labels)), labels].mean())
    else:
        measures["accuracy"] = math.nan
        measures["true_activity_score"] = math.nan
    return {name: float(value) for name, value in measures.items()}


SPLIT_SUFFIX: dict[str, str] = {"test": "test", "test_shift": "shift", "test_masked": "masked"}

HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "mAP_all_classes", "mAP_present_classes")


def evaluate_model(model: torch.nn.Module, benchmark: Mapping[str, Any]) -> dict[str, float]:
    """The row's measures of a trained model on ``test``, ``test_shift`` and ``test_masked``.

    Keys: ``<metric>_<split>`` for split suffixes ``test``, ``shift``, ``masked``; the shift gap
    ``gap_<metric>`` = test minus test_shift; the masking probe ``masked_accuracy`` (activity
    accuracy with the action part removed) and ``masked_score_ratio`` (the mean score of the
    true activity, masked over unmasked: a causal model's falls well below 1).
    """
    row: dict[str, float] = {}
    for split, suffix in SPLIT_SUFFIX.items():
        if split not in benchmark:
            continue
        dataset = benchmark[split]
        activity_probs, action_probs = predict_probabilities(model, dataset)
        for name, value in split_measures(activity_probs, action_probs, dataset).items():
            row[f"{name}_{suffix}"] = value
    for metric in HEADLINE_METRICS:
        if f"{metric}_shift" in row:
            row[f"gap_{metric}"] = row[f"{metric}_test"] - row[f"{metric}_shift"]
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
    ``text="clean"`` the generator's clean ones from ``benchmark.truth``. The cosines divided by
    ``temperature`` go through a softmax (activities) and a sigmoid (actions); accuracy and mAP
    do not depend on the temperature, the true-label scores do.
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
        activity_probs = None if activity is None else _probabilities(activity / temperature, False)
        action_probs = _probabilities(action / temperature, True)
        rows.append({"split": split, "text": text, **split_measures(activity_probs, action_probs, dataset)})
    return pd.DataFrame(rows)

"""Metrics: top-1 accuracy for activities, mean average precision for atomic actions.

Two mAP conventions are in use and every number in the book names its own:

* ``"all_classes"`` (the Breakfast long-term protocol, as in VideoGraph): the mean of
  per-class AP over **all** K classes, a class with no positive video scoring 0. On
  Breakfast's P47-P54 test split 5 of 48 actions never occur, so even a perfect scorer
  gets 43/48.
* ``"present_classes"`` (Charades' official evaluation): videos with no label are
  excluded (the official code ranks them last, as negatives, which leaves every AP
  unchanged) and the mean runs over classes with at least one positive.

Per-class AP is scikit-learn's ``average_precision_score``: the sum over positives of the
precision at their rank, divided by the number of positives. It equals the Charades
official AP whenever scores have no ties (sklearn groups tied scores into one threshold).
So pass raw scores (logits, similarities), not probabilities: AP needs only the ranking, and a
float32 sigmoid rounds every logit above about 17 to exactly 1.0, which creates such ties.

>>> import numpy as np
>>> scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.3]])
>>> targets = np.array([[1, 0], [0, 1], [0, 0]])
>>> mean_average_precision(scores, targets, "present_classes")
1.0
>>> top1_accuracy(scores, np.array([0, 1, 1]))
0.6666666666666666
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score

PROTOCOLS: tuple[str, ...] = ("all_classes", "present_classes")
RESULT_KEYS: tuple[str, ...] = ("accuracy", "mAP_all_classes", "mAP_present_classes")


def _numpy(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.dtype == object:
        raise TypeError(f"{name}: expected a numeric array, got objects")
    return array


def top1_accuracy(logits, labels) -> float:
    """Fraction of rows whose highest score is at the label. ``logits`` [B, A], ``labels`` [B]."""
    logits, labels = _numpy(logits, "logits"), _numpy(labels, "labels").astype(np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"top1_accuracy: expected logits [B, A] and labels [B], got {logits.shape} and {labels.shape}")
    if len(labels) == 0:
        raise ValueError("top1_accuracy: no samples")
    if (labels < 0).any() or (labels >= logits.shape[1]).any():
        raise ValueError(
            f"top1_accuracy: labels must lie in [0, {logits.shape[1] - 1}] (a dataset without activities "
            "marks them -1: it has no accuracy)"
        )
    return float((logits.argmax(axis=1) == labels).mean())


def average_precision_per_class(scores, targets) -> np.ndarray:
    """AP of each class ``[K]``; NaN for a class with no positive."""
    scores, targets = _numpy(scores, "scores").astype(np.float64), _numpy(targets, "targets")
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(f"average precision: scores {scores.shape} and targets {targets.shape} must both be [V, K]")
    if not np.isfinite(scores).all():
        raise ValueError("average precision: scores contain NaN or infinity")
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("average precision: targets must be multi-hot (0 or 1)")
    targets = targets.astype(np.int64)
    result = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):
        if targets[:, k].any():
            result[k] = average_precision_score(targets[:, k], scores[:, k])
    return result


def mean_average_precision(scores, targets, protocol: str = "all_classes") -> float:
    """Mean of per-class AP under a named ``protocol`` (see the module docstring).

    ``scores`` and ``targets`` are [V, K]; targets are multi-hot.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown mAP protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    scores, targets = _numpy(scores, "scores"), _numpy(targets, "targets")
    if protocol == "all_classes":
        return float(np.nan_to_num(average_precision_per_class(scores, targets), nan=0.0).mean())
    labelled = targets.reshape(len(targets), -1).sum(axis=1) > 0
    per_class = average_precision_per_class(scores[labelled], targets[labelled])
    if np.isnan(per_class).all():
        raise ValueError("mAP over present classes: no class has a positive video")
    return float(np.nanmean(per_class))


def action_metrics(scores, targets) -> dict[str, float]:
    """Both mAP conventions, under the project's result keys."""
    return {
        "mAP_all_classes": mean_average_precision(scores, targets, "all_classes"),
        "mAP_present_classes": mean_average_precision(scores, targets, "present_classes"),
    }

"""Metrics against small cases computed by hand."""

import numpy as np
import pytest
import torch

from pcmci_edu.metrics import (
    action_metrics,
    average_precision_per_class,
    mean_average_precision,
    top1_accuracy,
)


def test_top1_accuracy_by_hand():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 1.0]])
    assert top1_accuracy(logits, np.array([0, 1, 0, 0])) == pytest.approx(3 / 4)
    assert top1_accuracy(torch.tensor(logits), torch.tensor([0, 1, 2, 0])) == 1.0


def test_top1_accuracy_rejects_missing_activity():
    with pytest.raises(ValueError, match="-1"):
        top1_accuracy(np.zeros((2, 3)), np.array([0, -1]))
    with pytest.raises(ValueError, match=r"\[B, A\]"):
        top1_accuracy(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_average_precision_by_hand():
    # class 0: ranking by score = [pos, neg, pos, neg] -> AP = (1/1 + 2/3) / 2 = 5/6
    # class 1: ranking = [neg, pos, neg, neg] -> AP = 1/2
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.5, 0.75], [0.1, 0.2]])
    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    np.testing.assert_allclose(average_precision_per_class(scores, targets), [5 / 6, 1 / 2])
    assert mean_average_precision(scores, targets, "all_classes") == pytest.approx((5 / 6 + 1 / 2) / 2)


def test_all_classes_counts_absent_class_as_zero_present_classes_skips_it():
    scores = np.array([[0.9, 0.2, 0.5], [0.1, 0.8, 0.4]])
    targets = np.array([[1, 0, 0], [0, 1, 0]])  # class 2 has no positive
    assert mean_average_precision(scores, targets, "all_classes") == pytest.approx(2 / 3)
    assert mean_average_precision(scores, targets, "present_classes") == pytest.approx(1.0)


def test_perfect_scorer_on_breakfast_like_labels_is_capped_at_present_fraction():
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 48)) < 0.3).astype(int)
    targets[:, 43:] = 0  # five classes never occur
    targets[0, :43] = 1
    assert mean_average_precision(targets.astype(float), targets, "all_classes") == pytest.approx(43 / 48)
    assert mean_average_precision(targets.astype(float), targets, "present_classes") == pytest.approx(1.0)


def _charades_official_ap(scores, targets):
    """The Charades official AP, written out: videos without labels get -inf, ranked last."""
    scores = scores.astype(float).copy()
    scores[targets.sum(1) == 0] = -np.inf
    aps = []
    for k in range(scores.shape[1]):
        order = np.argsort(-scores[:, k], kind="stable")
        hits = targets[order, k] == 1
        if hits.sum() == 0:
            continue
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(precision[hits].sum() / hits.sum())
    return float(np.mean(aps))


def test_present_classes_matches_the_charades_official_ranking():
    rng = np.random.default_rng(1)
    targets = (rng.random((40, 6)) < 0.25).astype(int)
    targets[:5] = 0  # videos without any action
    targets[:, 5] = 0  # a class without any positive
    scores = rng.random((40, 6))  # no ties
    assert mean_average_precision(scores, targets, "present_classes") == pytest.approx(
        _charades_official_ap(scores, targets)
    )


def test_videos_without_labels_do_not_change_present_classes_map():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.95, 0.99]])
    targets = np.array([[1, 0], [0, 1], [0, 0]])  # the unlabelled video would otherwise rank first
    assert mean_average_precision(scores, targets, "present_classes") == pytest.approx(1.0)
    assert mean_average_precision(scores, targets, "all_classes") < 1.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown mAP protocol"):
        mean_average_precision(np.zeros((2, 2)), np.zeros((2, 2)), "charades")
    with pytest.raises(ValueError, match="NaN"):
        mean_average_precision(np.array([[np.nan, 0.0]]), np.array([[1, 0]]))
    with pytest.raises(ValueError, match="multi-hot"):
        mean_average_precision(np.zeros((1, 2)), np.array([[2, 0]]))
    with pytest.raises(ValueError, match="both be"):
        mean_average_precision(np.zeros((2, 3)), np.zeros((2, 2)))


def test_action_metrics_keys():
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    targets = np.array([[1, 0], [0, 1]])
    assert action_metrics(scores, targets) == {"mAP_all_classes": 1.0, "mAP_present_classes": 1.0}

"""Positivity and the effective sample size of reweighting.

The back-door adjustments of the ladder average over the contexts ``c`` with weights that
need every (activity, context) cell to occur in training: ``P(y, c) > 0`` wherever
``P(y) P(c) > 0``. Importance reweighting to the shifted distribution gives video ``i`` the
weight ``w_i = P(y_i) P(c_i) / P(y_i, c_i)``; its effective sample size
``(sum w)^2 / sum w^2`` says how many videos the reweighted training set is worth.
"""

from __future__ import annotations

import numpy as np


def cell_counts(labels: np.ndarray, confounder: np.ndarray, num_labels: int, num_values: int) -> np.ndarray:
    """How many training videos fall in each (label, confounder value) cell ``[Y, C]``."""
    counts = np.zeros((num_labels, num_values), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(confounder)), 1)
    return counts


def importance_weights(labels: np.ndarray, confounder: np.ndarray) -> np.ndarray:
    """``w_i = P(y_i) P(c_i) / P(y_i, c_i)`` from the empirical frequencies, normalised to mean 1.

    Reweighting by ``w`` turns the training distribution's ``P(y, c)`` into ``P(y) P(c)``,
    the shifted split's; it cannot reach a cell with no video (positivity).

    >>> importance_weights(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1])).round(2).tolist()
    [0.86, 0.86, 1.71, 0.57]
    """
    labels, confounder = np.asarray(labels), np.asarray(confounder)
    counts = cell_counts(labels, confounder, labels.max() + 1, confounder.max() + 1).astype(float)
    total = counts.sum()
    p_joint = counts / total
    p_label, p_value = p_joint.sum(1), p_joint.sum(0)
    weights = p_label[labels] * p_value[confounder] / p_joint[labels, confounder]
    return weights / weights.mean()


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``.

    >>> effective_sample_size(np.ones(10))
    10.0
    """
    weights = np.asarray(weights, dtype=float)
    return float(weights.sum() ** 2 / (weights ** 2).sum())


def positivity_row(split) -> dict[str, float]:
    """One row of the positivity table for a benchmark's training split: the empty
    (activity, context) cells, the cells a shifted test video can fall in, and the effective
    sample size of importance reweighting with the true context."""
    labels, contexts = np.asarray(split.activities), np.asarray(split.contexts)
    counts = cell_counts(labels, contexts, len(split.activity_names), len(split.truth.context_names))
    weights = importance_weights(labels, contexts)
    return {"videos": int(len(labels)), "cells": int(counts.size), "empty_cells": int((counts == 0).sum()),
            "effective_sample_size": effective_sample_size(weights)}

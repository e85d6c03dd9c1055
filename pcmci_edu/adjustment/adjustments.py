r"""The adjustments of the ladder, each a linear softmax head on mean-pooled frame features.

Every rung trains the same head (:func:`fit_head`: multinomial logistic regression, L2
penalty, full-batch L-BFGS) with the same budget; only what it sees or how its loss is
weighted changes. ``c`` is a confounder: the benchmark's true context or a label-free
surrogate (:mod:`pcmci_edu.adjustment.confounders`).

* ERM: :math:`\hat P(y \mid x)` on the confounded training videos.
* Oracle: the same head trained on ``train_oracle`` (confounders broken).
* Parts removed (needs the truth): the context and object parts are subtracted from every
  frame before pooling, in training and at test: the upper bound.
* Logit adjustment: train :math:`\mathrm{softmax}(f(x) + \log \hat P(y \mid c))`, predict with
  :math:`f(x)` alone. The fixed offset explains what ``c`` says about ``y``, so ``f`` need not.
* Product of experts: train :math:`\mathrm{softmax}(f(x) + g(c))` with a confounder-only
  expert ``g`` learned jointly, predict with ``f`` alone.
* Back-door sum: :math:`\sum_c \hat P(y \mid x, c) \hat P(c)`, the textbook adjustment formula,
  with ``c`` one-hot beside ``x``.
* Reweighting: ERM with weights :math:`P(y)P(c)/P(y,c)`
  (:func:`pcmci_edu.adjustment.positivity.importance_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import softmax

from pcmci_edu.adjustment.confounders import CONFOUNDER_PARTS, pooled_features
from pcmci_edu.adjustment.positivity import importance_weights
from pcmci_edu.experiments import torch_threads

ADJUSTMENTS: tuple[str, ...] = ("erm", "oracle", "parts_removed", "logit_adjustment", "product_of_experts",
                                "backdoor_sum", "reweighting")
"""The adjustments a linear rung can use; the last four need a confounder."""
NEEDS_CONFOUNDER: frozenset[str] = frozenset({"logit_adjustment", "product_of_experts", "backdoor_sum",
                                              "reweighting"})
L2_PENALTY = 1e-3
"""The head's L2 penalty on its weights (per video, on standardised features): our choice."""
SMOOTHING = 0.5
"""Pseudo-count per (label, confounder) cell when estimating ``P(y | c)`` for logit adjustment."""


@dataclass
class LinearHead:
    """``logits = x W + b`` on standardised features; ``scale`` standardises."""

    weight: np.ndarray
    bias: np.ndarray
    scale: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features / self.scale @ self.weight + self.bias


def fit_head(features: np.ndarray, labels: np.ndarray, num_labels: int, *, weights: np.ndarray | None = None,
             offsets: np.ndarray | None = None, expert_inputs: np.ndarray | None = None,
             max_iter: int = 200) -> tuple[LinearHead, np.ndarray | None]:
    """Fit the ladder's head by full-batch L-BFGS (a convex problem: the optimum does not
    depend on a seed).

    ``weights`` [V]: per-video loss weights. ``offsets`` [V, Y]: fixed logits added in training
    only. ``expert_inputs`` [V] (integers): a confounder-only expert ``g(c)`` (a table
    ``[C, Y]``) learned jointly and added in training only. Returns the head and the expert
    table (``None`` without one).
    """
    scale = float(features.std()) or 1.0
    x = torch.as_tensor(features / scale, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    w = torch.ones(len(y), dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    offset = None if offsets is None else torch.as_tensor(offsets, dtype=torch.float64)
    weight = torch.zeros(x.shape[1], num_labels, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_labels, dtype=torch.float64, requires_grad=True)
    parameters = [weight, bias]
    expert = None
    if expert_inputs is not None:
        expert_index = torch.as_tensor(expert_inputs, dtype=torch.long)
        expert = torch.zeros(int(expert_index.max()) + 1, num_labels, dtype=torch.float64, requires_grad=True)
        parameters.append(expert)
    optimizer = torch.optim.LBFGS(parameters, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = x @ weight + bias
        if offset is not None:
            logits = logits + offset
        if expert is not None:
            logits = logits + expert[expert_index]
        loss = (w * F.cross_entropy(logits, y, reduction="none")).sum() / w.sum()
        loss = loss + L2_PENALTY * (weight ** 2).sum()
        if expert is not None:
            loss = loss + L2_PENALTY * (expert ** 2).sum()
        loss.backward()
        return loss

    with torch_threads(1):  # a tiny problem: more threads only contend on a shared CPU
        optimizer.step(closure)
    head = LinearHead(weight.detach().numpy(), bias.detach().numpy(), scale)
    return head, None if expert is None else expert.detach().numpy()


def log_conditional(labels: np.ndarray, confounder: np.ndarray, num_labels: int,
                    num_values: int) -> np.ndarray:
    """``log P(y | c)`` ``[C, Y]`` from training counts with :data:`SMOOTHING` per cell."""
    counts = np.full((num_values, num_labels), SMOOTHING)
    np.add.at(counts, (np.asarray(confounder), np.asarray(labels)), 1.0)
    return np.log(counts / counts.sum(1, keepdims=True))


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(1) == np.asarray(labels)).mean())


MEASURED_SPLITS: dict[str, str] = {"test": "test", "test_shift": "shift", "test_shift_context": "shift_context",
                                   "test_shift_objects": "shift_objects"}
"""Split -> column suffix of the linear rungs' accuracies (as :func:`pcmci_edu.experiments.evaluate_model`)."""


def linear_rung(benchmark, adjustment: str, confounder: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Train and measure one linear rung: activity accuracy ``accuracy_<suffix>`` on every split
    of :data:`MEASURED_SPLITS` the benchmark has, and the joint shift gap (test minus test_shift,
    shown beside both accuracies, never alone).

    ``confounder`` maps ``"train"`` and each measured split to each video's confounder
    value (true context or surrogate cluster); the adjustments in :data:`NEEDS_CONFOUNDER`
    need it (only the back-door sum reads it at test, and only to know its values' range).
    """
    if adjustment not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {adjustment!r}: expected one of {ADJUSTMENTS}")
    if adjustment in NEEDS_CONFOUNDER and confounder is None:
        raise ValueError(f"the {adjustment!r} adjustment needs a confounder (true or surrogate)")
    train = benchmark["train_oracle" if adjustment == "oracle" else "train"]
    labels = np.asarray(train.activities)
    num_labels = len(train.activity_names)
    remove = CONFOUNDER_PARTS if adjustment == "parts_removed" else ()
    x_train = pooled_features(train, remove)
    tests = {name: (pooled_features(benchmark[name], remove), np.asarray(benchmark[name].activities))
             for name in MEASURED_SPLITS if name in benchmark}
    c = None if confounder is None else np.asarray(confounder["train"])
    if adjustment == "backdoor_sum":
        values = int(max(np.max(v) for v in confounder.values())) + 1
        prior = np.bincount(c, minlength=values) / len(c)
        scale = float(x_train.std())
        head, _ = fit_head(np.hstack([x_train, scale * np.eye(values)[c]]), labels, num_labels)
        measures = {}
        for name, (x, y) in tests.items():
            probabilities = sum(prior[value] * softmax(head.logits(np.hstack([x, scale * np.tile(np.eye(values)[value], (len(x), 1))])), axis=1)
                                for value in range(values) if prior[value] > 0)
            measures[name] = _accuracy(probabilities, y)
    else:
        options: dict = {}
        if adjustment == "logit_adjustment":
            table = log_conditional(labels, c, num_labels, int(c.max()) + 1)
            options["offsets"] = table[c]
        elif adjustment == "product_of_experts":
            options["expert_inputs"] = c
        elif adjustment == "reweighting":
            options["weights"] = importance_weights(labels, c)
        head, _ = fit_head(x_train, labels, num_labels, **options)
        measures = {name: _accuracy(head.logits(x), y) for name, (x, y) in tests.items()}
    row = {f"accuracy_{MEASURED_SPLITS[name]}": value for name, value in measures.items()}
    row["gap_accuracy"] = row["accuracy_test"] - row["accuracy_shift"]
    return row

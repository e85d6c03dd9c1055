"""Linear probes of the benchmark: how much each feature part predicts the labels.

:func:`probe_report` fits linear probes on each pooled part (context, action, objects, the
whole) and scores zero-shot with the frozen and the clean label texts (:func:`zero_shot_scores`,
also chapter 3's zero-shot baseline); :func:`select_strengths` runs the grid of
:data:`SELECTION_RULE` by which the presets' default strengths were chosen, with probes only,
before any model was trained (``benchmarks/benchmark_generation.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from pcmci_edu.data.benchmark.generator import make_benchmark
from pcmci_edu.data.benchmark.splits import SHIFT_SPLITS, Benchmark, BenchmarkSplit, BenchmarkTruth, _unit
from pcmci_edu.data.dataset import VideoDataset


def _pooled(split: BenchmarkSplit, part: str) -> np.ndarray:
    values = split.frames if part == "whole" else split.parts[part]
    return np.asarray(values, dtype=np.float64).mean(axis=1)


def zero_shot_scores(dataset: VideoDataset, truth: BenchmarkTruth | None = None) -> tuple[np.ndarray | None, np.ndarray]:
    """Frozen-text zero-shot scores: cosine between each video's mean frame and each label text.

    Uses the dataset's frozen (for the benchmark: companion-contaminated) text features, or the
    clean ones of ``truth`` when given. Returns ``(activity_scores [V, A] or None, action_scores [V, K])``.
    """
    if truth is not None:
        action_text, activity_text = truth.clean_action_text_features, truth.clean_activity_text_features
    else:
        action_text, activity_text = dataset.action_text_features, dataset.activity_text_features
    if action_text is None:
        raise ValueError(f"{dataset!r} has no label text features: zero-shot scoring needs them")
    pooled = _unit(dataset.all_frames().mean(axis=1).astype(np.float64))

    def cosine(text: torch.Tensor) -> np.ndarray:
        return pooled @ _unit(text.numpy().astype(np.float64)).T

    return (None if activity_text is None else cosine(activity_text)), cosine(action_text)


def probe_report(bench: Benchmark, parts: tuple[str, ...] = ("context", "action", "objects", "whole"),
                 train_splits: tuple[str, ...] = ("train", "train_oracle")) -> "pandas.DataFrame":
    """Linear probes on mean-pooled feature parts: how much each part predicts the labels.

    Zero-shot rows score the whole pooled features with :func:`zero_shot_scores`, using the
    frozen (contaminated) label text features and the clean ones. For each training split and part, a multinomial logistic regression predicts the activity
    (top-1 accuracy) and a ridge regression scores the atomic actions (mAP over all classes);
    both are fit on the part pooled over frames and evaluated on the same part of ``test``
    and of every shifted split (:data:`SHIFT_SPLITS`: ``test_shift`` and each confounder's
    own) the benchmark has. ``"whole"`` is the frames themselves. The oracle split is probed on
    the whole features only. A context-leaning scorer shows as a large test -> test_shift gap.
    """
    import pandas as pd
    from sklearn.linear_model import LogisticRegression, Ridge

    from pcmci_edu.metrics import mean_average_precision, top1_accuracy

    tests = ["test", *(name for name in SHIFT_SPLITS.values() if name in bench)]
    rows = []
    for train_name in train_splits:
        train = bench[train_name]
        for part in parts if train_name == "train" else ("whole",):
            features = _pooled(train, part)
            scale = features.std() or 1.0
            row = {"trained_on": train_name, "part": part}
            ridge = Ridge(alpha=1.0).fit(features / scale, train.actions)
            classifier = None
            if train.has_activities:
                classifier = LogisticRegression(max_iter=500, C=1.0).fit(features / scale, train.activities)
            for test_name in tests:
                test = bench[test_name]
                pooled = _pooled(test, part) / scale
                if classifier is not None:
                    row[f"accuracy_{test_name}"] = top1_accuracy(classifier.decision_function(pooled), test.activities)
                row[f"mAP_{test_name}"] = mean_average_precision(ridge.predict(pooled), test.actions, "all_classes")
            rows.append(row)
    for text in ("frozen", "clean"):
        row = {"trained_on": f"zero-shot {text}_text", "part": "whole"}
        for test_name in tests:
            test = bench[test_name]
            activity_scores, action_scores = zero_shot_scores(test, bench.truth if text == "clean" else None)
            if activity_scores is not None:
                row[f"accuracy_{test_name}"] = top1_accuracy(activity_scores, test.activities)
            row[f"mAP_{test_name}"] = mean_average_precision(action_scores, test.actions, "all_classes")
        rows.append(row)
    return pd.DataFrame(rows)


SELECTION_GRID: dict[str, tuple[float, ...]] = {"confounder_strength": (0.35, 0.5, 0.7, 1.0),
                                                "noise": (5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0)}
"""Strengths tried when choosing a preset's defaults (context and objects share one strength)."""


ACCURACY_WINDOW: tuple[float, float] = (0.85, 0.92)
"""Where the confounded whole-feature probe's activity accuracy on ``test`` must fall (rule (a))."""

MAP_WINDOW: tuple[float, float] = (0.80, 0.90)
"""The same for presets without activities (Charades), on mAP over all classes."""

MIN_SHIFT_LOSS = 0.10
"""Rule (b): the confounded probe's least mAP loss from ``test`` to the joint ``test_shift``."""


SELECTION_RULE = (
    "Headroom rule (issue 20), written before this grid was run and before any model was trained on the "
    "new splits. Among grid settings where (a) a linear probe on the whole pooled features fit on the "
    "confounded train scores on test an activity accuracy in [0.85, 0.92] (Charades, which has no activity: "
    "mAP over all classes in [0.80, 0.90]), so that the base is well below the ceiling, and (b) the same probe "
    "loses at least 0.10 mAP (all classes) from test to the joint test_shift (the confounding matters), choose "
    "the weakest confounders (smallest context = objects strength), then the noise whose probe score on test "
    "is closest to the window's centre. Other strengths stay fixed: confounding 0.9, companion_rate 0.8, "
    "text_contamination 0.7. A preset with no eligible setting keeps its previous defaults (reported)."
)


PREVIOUS_SELECTION_RULE = (
    "Among grid settings where (a) a linear probe on the whole pooled features fit on train_oracle reaches "
    "mAP (all classes) on test in [0.85, 0.95] (learnable, not saturated) and (b) the same probe fit on the "
    "confounded train loses at least 0.10 mAP from test to test_shift (the confounding matters), choose the "
    "weakest confounders (smallest context = objects strength), then the smallest noise. Other strengths stay "
    "fixed: confounding 0.9, companion_rate 0.8, text_contamination 0.7. Decided before any model was trained."
)
"""The rule the defaults came from before issue 20 (it left the base at 98.4% test accuracy)."""


def select_strengths(preset: str, profile: str = "book", seed: int = 0,
                     grid: dict[str, tuple[float, ...]] = SELECTION_GRID,
                     progress: bool = False) -> tuple["pandas.DataFrame", dict[str, float] | None]:
    """Run the probe grid of ``SELECTION_RULE`` for one preset: (table, chosen strengths or None).

    The table also shows the probes' losses on each confounder's own shift (exploratory: the
    rule uses only the joint one).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    settings = [(s, n) for s in grid["confounder_strength"] for n in grid["noise"]]
    rows = []
    for strength, noise in tqdm(settings, desc=f"strength grid {preset}", disable=not progress):
        bench = make_benchmark(preset, profile=profile, seed=seed, context_strength=strength,
                               objects_strength=strength, noise=noise)
        report = probe_report(bench, parts=("whole",)).set_index("trained_on")
        confounded, oracle = report.loc["train"], report.loc["train_oracle"]
        row = {"confounder_strength": strength, "noise": noise,
               "confounded_accuracy_test": confounded.get("accuracy_test", float("nan")),
               "confounded_mAP_test": confounded["mAP_test"],
               "oracle_mAP_test": oracle["mAP_test"]}
        for confounder, split in SHIFT_SPLITS.items():
            row[f"mAP_loss_{confounder}"] = confounded["mAP_test"] - confounded[f"mAP_{split}"]
        rows.append(row)
    table = pd.DataFrame(rows)
    has_activities = bool(table["confounded_accuracy_test"].notna().all())
    score, (low, high) = (("confounded_accuracy_test", ACCURACY_WINDOW) if has_activities
                          else ("confounded_mAP_test", MAP_WINDOW))
    table["eligible"] = table[score].between(low, high) & (table["mAP_loss_joint"] >= MIN_SHIFT_LOSS)
    eligible = table[table["eligible"]].copy()
    if eligible.empty:
        return table, None
    eligible["distance"] = (eligible[score] - (low + high) / 2).abs()
    best = eligible.sort_values(["confounder_strength", "distance", "noise"]).iloc[0]
    return table, {"context_strength": float(best["confounder_strength"]),
                   "objects_strength": float(best["confounder_strength"]), "noise": float(best["noise"])}

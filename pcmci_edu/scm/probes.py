"""Correlational probes of the benchmark: traces of ``H`` and ``C`` a plain classifier picks up (chapter 1).

:class:`CorrelationalScorer` is a logistic regression on mean-pooled frames, and
:func:`masking_probe` asks whether its score survives removing the action from the frames;
:func:`companion_similarity` measures the ``H -> T`` contamination of label texts and
:func:`context_predictiveness` how well the context alone predicts the activity.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd


def mean_pooled(dataset) -> np.ndarray:
    """``[V, D]``: each video's frame features averaged over time."""
    return np.asarray(dataset.all_frames(), dtype=np.float32).mean(axis=1)


class CorrelationalScorer:
    """A purely correlational video classifier: logistic regression on mean-pooled frames.

    It learns whatever predicts the label in its training split (actions, context, companion
    objects alike), which is what the masking probe exposes. ``target="activity"`` fits one
    multinomial model; ``target="actions"`` fits one binary model per action (labels scored
    in isolation).
    """

    def __init__(self, target: str = "activity", C: float = 1.0, max_iter: int = 500) -> None:
        if target not in ("activity", "actions"):
            raise ValueError(f"target must be 'activity' or 'actions', got {target!r}")
        self.target = target
        self.C = C
        self.max_iter = max_iter
        self.model = None

    def fit(self, dataset) -> "CorrelationalScorer":
        """Fit on ``dataset`` (a :class:`~pcmci_edu.data.dataset.VideoDataset` with frames)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features = mean_pooled(dataset)
        classifier = LogisticRegression(C=self.C, max_iter=self.max_iter)
        if self.target == "activity":
            if not dataset.has_activities:
                raise ValueError(f"dataset {dataset.name!r} has no activity labels: use target='actions'")
            labels = dataset.activities
        else:
            classifier = OneVsRestClassifier(classifier)
            labels = (np.asarray(dataset.actions) > 0).astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant action columns (never / always present)
            self.model = make_pipeline(StandardScaler(), classifier).fit(features, labels)
        self.num_classes = dataset.num_activities if self.target == "activity" else dataset.num_actions
        return self

    def scores(self, dataset) -> np.ndarray:
        """Probabilities ``[V, A]`` (activity) or ``[V, K]`` (actions)."""
        if self.model is None:
            raise RuntimeError("CorrelationalScorer: call fit(train) before scores(...)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probabilities = self.model.predict_proba(mean_pooled(dataset))
        if self.target == "activity":
            full = np.zeros((len(probabilities), self.num_classes))
            full[:, self.model.classes_] = probabilities
            return full
        return probabilities


def masking_probe(scorer: CorrelationalScorer, test, masked) -> pd.DataFrame:
    """The score of each video's true activity before and after its action part is masked.

    ``masked`` holds the same videos as ``test`` with the action part removed and the context
    and companion objects kept. A model that relies on the action must lose score; one that
    relies on the confounders keeps (or raises) it. Columns: ``video_id``, ``label``,
    ``score``, ``masked_score``, ``holds`` (masked score at least 90% of the unmasked one).
    """
    same = (len(test) == len(masked) and np.array_equal(test.activities, masked.activities)
            and np.array_equal(test.actions, masked.actions))
    if not same:
        raise ValueError(f"masking_probe: {masked.split!r} does not hold the videos of {test.split!r} in order")
    labels = np.asarray(test.activities)
    rows = np.arange(len(labels))
    score = scorer.scores(test)[rows, labels]
    masked_score = scorer.scores(masked)[rows, labels]
    return pd.DataFrame({
        "video_id": list(test.video_ids), "label": labels, "score": score,
        "masked_score": masked_score, "holds": masked_score >= 0.9 * score,
    })


def companion_similarity(text_features, object_vectors: np.ndarray, companion_index: np.ndarray) -> np.ndarray:
    """Cosine between each action's label-text embedding and its companion object's visual
    vector (``H -> T``: a VLM's text for *fry egg* that points towards *pan*); NaN for actions
    without a companion (``companion_index`` -1).

    >>> companion_similarity(np.eye(2), np.array([[1.0, 0.0]]), np.array([0, -1])).tolist()
    [1.0, nan]
    """
    text = np.asarray(text_features, dtype=np.float64)
    objects = np.asarray(object_vectors, dtype=np.float64)
    companion_index = np.asarray(companion_index)
    result = np.full(len(text), np.nan)
    has = companion_index >= 0
    a, b = text[has], objects[companion_index[has]]
    result[has] = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return result


def context_predictiveness(train, splits: Mapping[str, object]) -> pd.DataFrame:
    """How well the context alone predicts the activity, fitted on ``train``.

    The predictor is the most frequent training activity of each context value (the plug-in
    ``argmax_y P(y | c)``). For each split: its accuracy, the accuracy of always answering the
    most frequent training activity, and the adjusted (for chance) mutual information between context
    and activity in that split.
    """
    from sklearn.metrics import adjusted_mutual_info_score

    table = pd.crosstab(pd.Series(train.contexts, name="context"), pd.Series(train.activities, name="activity"))
    lookup = table.idxmax(axis=1)
    majority = int(pd.Series(train.activities).mode().iloc[0])
    rows = []
    for name, split in {"train": train, **dict(splits)}.items():
        predicted = pd.Series(split.contexts).map(lookup).fillna(majority).to_numpy()
        rows.append({
            "split": name,
            "context_accuracy": float((predicted == split.activities).mean()),
            "majority_accuracy": float((split.activities == majority).mean()),
            "ami_context_activity": float(adjusted_mutual_info_score(split.contexts, split.activities)),
        })
    return pd.DataFrame(rows)

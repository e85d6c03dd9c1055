"""The confounder of the ladder: the benchmark's true one, and a learned label-free surrogate.

The benchmark knows, for every video, its context ``c`` (the person/kitchen that the
generator tied to the activity in training) and the additive parts of its frames
(:attr:`BenchmarkSplit.parts <pcmci_edu.data.benchmark.splits.BenchmarkSplit.parts>`). A real dataset knows neither, so
the ladder also uses a *surrogate* (:class:`Surrogate`): k-means clusters of the training
videos' mean frame features after the label texts' span is projected out, fitted without
any video's label (our choice; ICH's prototype dictionary uses the same estimator on
frames). How well the clusters recover the true context is measured, not assumed
(:func:`surrogate_agreement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFOUNDER_PARTS: tuple[str, ...] = ("context", "objects")
"""The benchmark's confounding parts of a frame: the context and the companion objects."""


def pooled_features(split, remove: Sequence[str] = ()) -> np.ndarray:
    """Mean frame feature of every video ``[V, D]`` (float64), with the named true parts
    (``"context"``, ``"objects"``) subtracted from the frames first."""
    pooled = split.all_frames().mean(axis=1, dtype=np.float64)
    for part in remove:  # the mean of a difference is the difference of the means
        pooled = pooled - split.parts[part].mean(axis=1, dtype=np.float64)
    return pooled


def true_confounder(split) -> np.ndarray:
    """The context index of every video ``[V]``: the generator's truth."""
    return np.asarray(split.contexts, dtype=np.int64)


@dataclass
class Surrogate:
    """A label-free estimate of the confounder.

    Each video's mean frame feature, with the span of the label texts projected out, goes to
    the nearest of ``centres`` (k-means of the training videos). The label texts are the frozen
    VLM's text features of the label *names* (the same for every video), so no video's label
    is read. Why project them out: a frame is mostly its action, and k-means on raw mean frames
    finds the activities as much as the contexts; what the label texts cannot explain is mostly
    what is not the action. Both choices (the projection, and as many clusters as the benchmark
    has contexts) are ours.
    """

    basis: np.ndarray
    """[D, R] orthonormal directions of the label texts (projected out before clustering; :func:`text_basis`)."""
    centres: np.ndarray
    """[K, D] cluster centres in standardised units."""
    scale: float

    @classmethod
    def fit(cls, train_split, clusters: int, seed: int = 0) -> "Surrogate":
        """k-means (scikit-learn) on the training videos' residual mean frames; no label is read."""
        from sklearn.cluster import KMeans

        texts = [np.asarray(t, dtype=np.float64) for t in (train_split.action_text_features,
                                                            train_split.activity_text_features) if t is not None]
        basis = text_basis(np.concatenate(texts))
        residual = _residual(pooled_features(train_split), basis)
        scale = float(residual.std()) or 1.0
        kmeans = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit(residual / scale)
        return cls(basis, kmeans.cluster_centers_, scale)

    def assign(self, split) -> np.ndarray:
        """The surrogate confounder of every video of a split ``[V]``."""
        return self.assign_features(pooled_features(split))

    def assign_features(self, pooled: np.ndarray) -> np.ndarray:
        """The nearest centre of each mean frame feature ``[V, D]`` -> ``[V]``."""
        residual = _residual(np.asarray(pooled, dtype=np.float64), self.basis) / self.scale
        distances = ((residual[:, None, :] - self.centres[None]) ** 2).sum(-1)
        return distances.argmin(axis=1)

    @property
    def clusters(self) -> int:
        return len(self.centres)


def text_basis(texts: np.ndarray) -> np.ndarray:
    """Orthonormal directions of the label texts ``[L, D]`` to project out, ``[D, R]``: their
    leading singular directions, at most half the feature width (with as many labels as
    dimensions, the whole span would leave nothing to cluster)."""
    directions, values, _ = np.linalg.svd(np.asarray(texts, dtype=np.float64).T, full_matrices=False)
    rank = int((values > 1e-9 * values.max()).sum())
    return directions[:, :min(rank, texts.shape[1] // 2)]


def _residual(features: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``features`` minus their projection on the columns of ``basis``."""
    return features - (features @ basis) @ basis.T


def surrogate_agreement(surrogate: np.ndarray, split) -> dict[str, float]:
    """Adjusted Rand index of the surrogate's clusters with the true context and with the
    activity (1: the same partition, 0: chance). A surrogate that follows the activity more
    than the context would remove signal, not confounding."""
    from sklearn.metrics import adjusted_rand_score

    return {"with_context": float(adjusted_rand_score(true_confounder(split), surrogate)),
            "with_activity": float(adjusted_rand_score(np.asarray(split.activities), surrogate))}


def context_decodability(benchmark) -> float:
    """How much of the context the frames carry: accuracy on ``test_shift`` of a linear decoder
    (scikit-learn's logistic regression) of the context from the mean frame features, fitted on
    ``train_oracle`` (where the context is independent of the activity, so the decoder cannot
    read the context off the activity). Near 1: ``x`` determines ``c``."""
    from sklearn.linear_model import LogisticRegression

    train, test = benchmark["train_oracle"], benchmark["test_shift"]
    features = pooled_features(train)
    scale = float(features.std()) or 1.0
    decoder = LogisticRegression(max_iter=1000).fit(features / scale, true_confounder(train))
    return float(decoder.score(pooled_features(test) / scale, true_confounder(test)))

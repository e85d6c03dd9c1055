r"""ICH: intervention for co-occurrence hallucination (back-door adjustment for H).

The poster (Xu et al., CVPR 2026):

.. math::

    S = \langle T, V^P \rangle, \qquad
    P^* = \arg\max_{P \in \mathcal{U}} \langle P, -\log S \rangle + \lambda \mathcal{H}(P), \qquad
    H = P^* V^P, \qquad T' = [T, H] W^H .

Our reading. ``S`` is the cosine similarity between each label embedding and each
visual token. The cost is ``-log`` of ``S`` normalised to ``[0, 1]`` (``(1 + S) / 2``), so
a well-aligned pair costs nothing. The poster writes ``argmax`` of the cost plus
entropy; we read it as the usual entropic optimal transport *minimum*
``min_P <P, C> - lambda H(P)`` over the couplings ``U(a, b)`` of the label marginal ``a``
(uniform) and the token marginal ``b`` (uniform, or the prior ``p(h)``), solved by
log-domain Sinkhorn in POT (``ot.batch.solve_batch``) on torch tensors, batched over
videos, with gradients through the iterations. ``H`` stacks one OT-pooled visual vector
per label (the plan's rows renormalised to sum to one), and ``W^H`` fuses it with ``T``.

Two readings of the visual tokens ``V^P``:

* ``"video"`` (default): the frozen frame features of the video itself, as the
  predecessor paper's figure draws it; ``T'`` is then per video.
* ``"dictionary"``: ``M`` prototypes of the training frame features (k-means) with the
  prior ``p(h)`` = cluster frequency, the textbook stratification
  ``sum_h P(Y | V, do(T), h) P(h)``; ``T'`` is then the same for every video.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

# POT probes every array library it finds when imported; its JAX probe makes JAX reserve most
# of a GPU's memory (Colab ships JAX). We hand POT torch tensors only, so we skip the others
# unless the user chose otherwise.
for _library in ("JAX", "TENSORFLOW", "CUPY"):
    os.environ.setdefault(f"POT_BACKEND_DISABLE_{_library}", "1")

import ot  # noqa: E402  (after the settings above)
import torch
import torch.nn.functional as F
from torch import nn

from pcmci_edu.interventions.fusion import FactoredText, PassThroughFusion

VISUAL_TOKEN_SOURCES = ("video", "dictionary")
MARGINAL_TOLERANCE = 1e-2
"""ICH warns when a plan's marginal error (:attr:`TransportSolution.marginal_error`) exceeds this."""


def cosine_similarity_matrix(text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``S = <T, V^P>``: cosine similarity of every label with every token, ``[B, L, N]``."""
    return F.normalize(text, dim=-1) @ F.normalize(tokens, dim=-1).transpose(-1, -2)


def transport_cost(similarity: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """The OT cost ``-log`` of the similarity normalised to ``[0, 1]``: ``-log((1 + S) / 2)``."""
    return -torch.log(((1.0 + similarity) / 2.0).clamp_min(floor))


@dataclass
class TransportSolution:
    """An entropic OT plan and how well POT's Sinkhorn converged to it."""

    plan: torch.Tensor
    """``P*`` ``[B, L, N]``."""
    iterations: int
    """Sinkhorn iterations run (POT checks its tolerance every ten)."""
    marginal_error: torch.Tensor
    """Per problem, ``|P* 1 - a|_1 + |P*^T 1 - b|_1``: the transported mass that is in the wrong
    place, of a total of 1 (0 when converged), ``[B]``."""


def solve_entropic_transport(
    cost: torch.Tensor,
    epsilon: float,
    label_marginal: torch.Tensor | None = None,
    token_marginal: torch.Tensor | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
) -> TransportSolution:
    r"""The entropic OT plan ``P* = argmin_{P in U(a, b)} <P, C> - epsilon H(P)``, batched, with
    its iteration count and marginal error.

    ``cost`` is ``[B, L, N]``; the marginals are ``[B, L]`` and ``[B, N]`` (uniform when
    ``None``). POT's log-domain Sinkhorn (``ot.batch.solve_batch(..., method="log_sinkhorn")``)
    runs on the cost's device in float32 with autograd through its iterations, and stops when
    the label marginal's error (Euclidean norm) is below ``tol`` or after ``max_iter``
    iterations.

    >>> solution = solve_entropic_transport(torch.rand(2, 3, 5), epsilon=0.1)
    >>> solution.plan.shape, bool(solution.marginal_error.max() < 1e-4), solution.iterations <= 100
    (torch.Size([2, 3, 5]), True, True)
    """
    if epsilon <= 0:
        raise ValueError(f"the entropic regularisation epsilon must be > 0, got {epsilon}")
    batch, labels, tokens = cost.shape
    cost = cost.float()
    if label_marginal is None:
        label_marginal = torch.full((batch, labels), 1.0 / labels, device=cost.device)
    if token_marginal is None:
        token_marginal = torch.full((batch, tokens), 1.0 / tokens, device=cost.device)
    label_marginal, token_marginal = label_marginal.float(), token_marginal.float()
    result = ot.batch.solve_batch(
        cost, reg=epsilon, a=label_marginal, b=token_marginal,
        max_iter=max_iter, tol=tol, method="log_sinkhorn", grad="autodiff",
    )
    plan = result.plan
    with torch.no_grad():
        error = ((plan.sum(-1) - label_marginal).abs().sum(-1)
                 + (plan.sum(-2) - token_marginal).abs().sum(-1))
    return TransportSolution(plan, int(result.log["n_iter"]) + 1, error)


def entropic_transport_plan(
    cost: torch.Tensor,
    epsilon: float,
    label_marginal: torch.Tensor | None = None,
    token_marginal: torch.Tensor | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
) -> torch.Tensor:
    r"""The entropic OT plan ``P* = argmin_{P in U(a, b)} <P, C> - epsilon H(P)``, batched:
    :func:`solve_entropic_transport`'s plan.

    >>> plan = entropic_transport_plan(torch.rand(2, 3, 5), epsilon=0.1)
    >>> plan.shape, bool(torch.allclose(plan.sum(-1), torch.full((2, 3), 1 / 3), atol=1e-4))
    (torch.Size([2, 3, 5]), True)
    """
    return solve_entropic_transport(cost, epsilon, label_marginal, token_marginal, max_iter, tol).plan


@dataclass
class PrototypeDictionary:
    """The dictionary reading of ``V^P``: ``M`` prototypes ``[M, D]`` and their prior ``p(h)`` ``[M]``."""

    prototypes: torch.Tensor
    prior: torch.Tensor


def build_prototypes(train_dataset, num_prototypes: int = 64, seed: int = 0,
                     max_frames: int = 10_000) -> PrototypeDictionary:
    """k-means of the training frame features (scikit-learn); ``p(h)`` = cluster frequency.

    At most ``max_frames`` frames (a seeded random subset) are clustered, which keeps it to
    seconds on a CPU; the prior counts every training frame's nearest prototype.
    """
    from sklearn.cluster import KMeans

    frames = _all_frames(train_dataset)
    if len(frames) < num_prototypes:
        raise ValueError(
            f"{num_prototypes} prototypes need at least as many training frames; "
            f"{getattr(train_dataset, 'name', 'the dataset')} has {len(frames)}")
    sample = frames
    if len(frames) > max_frames:
        sample = frames[np.random.default_rng(seed).choice(len(frames), size=max_frames, replace=False)]
    kmeans = KMeans(n_clusters=num_prototypes, n_init=1, random_state=seed).fit(sample)
    counts = np.bincount(kmeans.predict(frames), minlength=num_prototypes).astype(np.float64)
    prior = (counts + 1e-3) / (counts + 1e-3).sum()          # p(h) > 0: log-domain Sinkhorn takes log p(h)
    return PrototypeDictionary(torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32),
                               torch.as_tensor(prior, dtype=torch.float32))


def _all_frames(dataset) -> np.ndarray:
    """All frame features of a dataset, ``[V * N, D]`` float32."""
    if hasattr(dataset, "all_frames"):
        frames = np.asarray(dataset.all_frames(), dtype=np.float32)
        return frames.reshape(-1, frames.shape[-1])
    return np.concatenate([dataset[i]["frames"].numpy() for i in range(len(dataset))]).astype(np.float32)


class ICH(nn.Module):
    """Back-door adjustment for co-occurrence hallucination: ``T' = [T, H] W^H``.

    ``W^H`` starts as ``[I; 0]`` plus a small random part, so at step 0 ``T' ~= T``
    (the intervention passes the label embeddings through).

    When the Sinkhorn iterations end with more than :data:`MARGINAL_TOLERANCE` of the mass
    in the wrong place (too small an ``epsilon`` for the costs, or too few iterations), the
    module warns, once per instance (per run); the details always carry the error.
    """

    def __init__(self, dim: int, epsilon: float = 0.05, max_iter: int = 50,
                 dictionary: PrototypeDictionary | None = None, noise_std: float = 0.02) -> None:
        super().__init__()
        self.epsilon, self.max_iter = epsilon, max_iter
        self.fusion = PassThroughFusion((1.0, 0.0), dim, noise_std)  # W^H
        self.visual_tokens = "video" if dictionary is None else "dictionary"
        self.warned_about_convergence = False
        if dictionary is not None:
            if dictionary.prototypes.shape[-1] != dim:
                raise ValueError(f"prototypes have dimension {dictionary.prototypes.shape[-1]}, "
                                 f"the label embeddings {dim}")
            self.register_buffer("prototypes", dictionary.prototypes.float())
            self.register_buffer("prior", dictionary.prior.float())

    def forward(self, text: torch.Tensor, frames: torch.Tensor, with_details: bool = True,
                factored: bool = False) -> tuple[torch.Tensor | FactoredText, dict]:
        """``text`` ``[B or 1, L, D]``, frozen ``frames`` ``[B, N, D]`` -> ``T'`` and details
        (``ich_pooled`` H only ``with_details``; ``ot_iterations`` and ``ot_marginal_error``
        ``[B]`` always).

        ``T'`` is ``[B, L, D]`` with the video's own tokens, and keeps the text's batch size
        with the dictionary (the same for every video). ``H W^H_2`` is computed as
        ``P (V^P W^H_2)`` (``P``: the plan's rows renormalised), the same product in fewer
        operations when there are fewer tokens than labels. ``factored`` (with the video's own
        tokens): return ``T'`` as :class:`~pcmci_edu.interventions.fusion.FactoredText`
        ``T W^H_1 + P (V^P W^H_2)`` for ICI to use, unmultiplied (details then lack ``text_after_ich``).
        """
        if self.visual_tokens == "video":
            tokens, token_marginal = frames, None                      # V^P: the video's frozen tokens
        else:
            tokens = self.prototypes.unsqueeze(0)                       # V^P: the prototype dictionary
            token_marginal = self.prior.expand(text.shape[0], -1)       # p(h)
        with torch.autocast(device_type=text.device.type, enabled=False):
            similarity = cosine_similarity_matrix(text.float(), tokens.float())   # S = <T, V^P>
            cost = transport_cost(similarity)                                      # -log S (normalised)
            solution = solve_entropic_transport(cost, self.epsilon, token_marginal=token_marginal,
                                                max_iter=self.max_iter)            # P*
            rows = solution.plan / solution.plan.sum(-1, keepdim=True)            # P* rows renormalised
        self._check_convergence(solution)
        keep_weight, pooled_weight = self.fusion.block_weights(text.dtype)       # W^H_1, W^H_2
        projected_tokens = F.linear(tokens.to(text.dtype), pooled_weight)         # V^P W^H_2
        text_prime = FactoredText(F.linear(text, keep_weight), rows, projected_tokens)  # T' = [T, H] W^H
        details = {"similarity": similarity, "ot_plan": solution.plan,
                   "ot_iterations": solution.iterations, "ot_marginal_error": solution.marginal_error}
        if with_details:
            details["ich_pooled"] = rows @ tokens.float()                             # H = P* V^P
        if factored and self.visual_tokens == "video":
            return text_prime, details
        details["text_after_ich"] = text_prime = text_prime.materialise()
        return text_prime, details

    def _check_convergence(self, solution: TransportSolution) -> None:
        worst = float(solution.marginal_error.max())
        if worst > MARGINAL_TOLERANCE and not self.warned_about_convergence:
            self.warned_about_convergence = True
            warnings.warn(
                f"ICH: Sinkhorn stopped after {solution.iterations} iterations with {worst:.3g} of the "
                f"transported mass in the wrong place (tolerance {MARGINAL_TOLERANCE}; epsilon="
                f"{self.epsilon}, max_iter={self.max_iter}): raise ich_max_iter or ich_epsilon "
                "(this warning is shown once per model)", RuntimeWarning, stacklevel=3)

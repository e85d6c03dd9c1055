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
from types import SimpleNamespace

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
SINKHORN_RANGE = "ich: POT log_sinkhorn"
"""The profiler's name for POT's solver call (its stop check reads the device every ten iterations)."""
CONVERGENCE_CHECK_EVERY = 50
"""In training, ICH reads its worst marginal error back to the host on its first forward pass and
then once every this many (not every step: the read waits for the device)."""


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
    worst_error: torch.Tensor | None = None
    """The largest marginal error of the batch (of every member's problems under vmap), a 0-d
    tensor on the device: read it only when needed (it waits for the device)."""


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
    the label marginal's error (Euclidean norm, the worst problem of the batch) is below ``tol``
    or after ``max_iter`` iterations. POT checks that on the host once every ten iterations:
    the only host synchronisation left in a training step (``ot.batch`` offers no solver
    without it).

    Under :func:`torch.func.vmap` (the batched ensembles of :mod:`pcmci_edu.ensemble`) the
    problems of every member are folded into POT's batch and solved in one call.

    >>> solution = solve_entropic_transport(torch.rand(2, 3, 5), epsilon=0.1)
    >>> solution.plan.shape, bool(solution.marginal_error.max() < 1e-4), solution.iterations <= 100
    (torch.Size([2, 3, 5]), True, True)
    """
    if epsilon <= 0:
        raise ValueError(f"the entropic regularisation epsilon must be > 0, got {epsilon}")
    batch, labels, tokens = cost.shape
    cost = cost.float()
    if label_marginal is None:
        label_marginal = cost.new_full((batch, labels), 1.0 / labels)
    if token_marginal is None:
        token_marginal = cost.new_full((batch, tokens), 1.0 / tokens)
    label_marginal, token_marginal = label_marginal.float(), token_marginal.float()
    log = SimpleNamespace()                  # not a pytree: vmap hands the same object to the solver
    if torch._C._functorch.is_batchedtensor(cost):
        plan, error = _SinkhornAcrossMembers.apply(cost, label_marginal, token_marginal, epsilon, max_iter,
                                                    tol, log)
    else:
        plan, error = _sinkhorn(cost, label_marginal, token_marginal, epsilon, max_iter, tol, log)
    return TransportSolution(plan, log.iterations, error, log.worst_error)


def _sinkhorn(cost: torch.Tensor, label_marginal: torch.Tensor, token_marginal: torch.Tensor, epsilon: float,
              max_iter: int, tol: float, log: SimpleNamespace) -> tuple[torch.Tensor, torch.Tensor]:
    """POT's batched log-domain Sinkhorn: the plan ``[B, L, N]`` and each problem's marginal error
    ``|P* 1 - a|_1 + |P*^T 1 - b|_1`` ``[B]``; the iteration count and the worst error go to ``log``."""
    with torch.profiler.record_function(SINKHORN_RANGE):
        result = ot.batch.solve_batch(
            cost, reg=epsilon, a=label_marginal, b=token_marginal,
            max_iter=max_iter, tol=tol, method="log_sinkhorn", grad="autodiff",
        )
    plan = result.plan
    with torch.no_grad():
        error = ((plan.sum(-1) - label_marginal).abs().sum(-1)
                 + (plan.sum(-2) - token_marginal).abs().sum(-1))
    log.iterations, log.worst_error = int(result.log["n_iter"]) + 1, error.max()
    return plan, error


class _SinkhornAcrossMembers(torch.autograd.Function):
    """:func:`_sinkhorn` under :func:`torch.func.vmap`: the vmapped dimension (the ensemble's
    members) is folded into POT's batch, so every member's problems are solved in one call, and
    autograd records POT's iterations on the folded tensors as for a single run. POT decides when
    to stop on the worst problem of the folded batch, so a member may run a few more iterations
    than alone (until every member's problems meet ``tol``)."""

    generate_vmap_rule = False

    @staticmethod
    def forward(cost, label_marginal, token_marginal, epsilon, max_iter, tol, log):
        raise RuntimeError("_SinkhornAcrossMembers runs only under torch.func.vmap")

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def vmap(info, in_dims, cost, label_marginal, token_marginal, epsilon, max_iter, tol, log):
        members = info.batch_size
        tensors = [value.movedim(dim, 0) if dim is not None else value.expand(members, *value.shape)
                   for value, dim in zip((cost, label_marginal, token_marginal), in_dims[:3])]
        plan, error = _sinkhorn(*(value.flatten(0, 1) for value in tensors), epsilon, max_iter, tol, log)
        return (plan.view(members, -1, *plan.shape[1:]), error.view(members, -1)), (0, 0)


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
    module warns, once per instance (per run); the details always carry the error. The worst
    error is kept on the device and read on the first training forward pass, then every
    :data:`CONVERGENCE_CHECK_EVERY`, and on every pass in eval mode or with details; so in
    training the warning comes at most that many steps after the first bad plan.
    """

    def __init__(self, dim: int, epsilon: float = 0.05, max_iter: int = 50,
                 dictionary: PrototypeDictionary | None = None, noise_std: float = 0.02) -> None:
        super().__init__()
        self.epsilon, self.max_iter = epsilon, max_iter
        self.fusion = PassThroughFusion((1.0, 0.0), dim, noise_std)  # W^H
        self.visual_tokens = "video" if dictionary is None else "dictionary"
        self.warned_about_convergence = False
        self._worst_error: torch.Tensor | None = None      # since the last check, on the device
        self._iterations, self._passes = 0, 0
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
        self._record_convergence(solution, check_now=with_details or not self.training)
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

    def _record_convergence(self, solution: TransportSolution, check_now: bool) -> None:
        """Keep the worst marginal error on the device; read it (:meth:`check_convergence`) when
        ``check_now``, on the first pass and every :data:`CONVERGENCE_CHECK_EVERY` passes."""
        worst = solution.worst_error               # over every member's problems under vmap
        self._worst_error = worst if self._worst_error is None else torch.maximum(self._worst_error, worst)
        self._iterations = max(self._iterations, solution.iterations)
        self._passes += 1
        if check_now or self._passes == 1 or self._passes % CONVERGENCE_CHECK_EVERY == 0:
            self.check_convergence()

    def check_convergence(self) -> None:
        """Warn (once per instance) when a plan since the last check had more than
        :data:`MARGINAL_TOLERANCE` of its mass in the wrong place; reads one number from the device."""
        if self._worst_error is None:
            return
        worst, iterations = float(self._worst_error), self._iterations
        self._worst_error, self._iterations = None, 0
        if worst > MARGINAL_TOLERANCE and not self.warned_about_convergence:
            self.warned_about_convergence = True
            warnings.warn(
                f"ICH: Sinkhorn stopped after {iterations} iterations with {worst:.3g} of the "
                f"transported mass in the wrong place (tolerance {MARGINAL_TOLERANCE}; epsilon="
                f"{self.epsilon}, max_iter={self.max_iter}): raise ich_max_iter or ich_epsilon "
                "(this warning is shown once per model)", RuntimeWarning, stacklevel=4)

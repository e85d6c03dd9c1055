r"""IVC: intervention for visual confounders (front-door adjustment for C).

The poster (Xu et al., CVPR 2026):

.. math::

    P(Y \mid do(V), T) = \sum_{m} \sum_{v'} P(Y \mid m, v', T) P(m \mid V) P(v')
    \approx P(Y \mid [M, V'] W^C, T) = P(Y \mid V^*, T), \qquad
    V' = \sigma(\mathcal{A}(M, \mathcal{F}(V); \Theta_M)) \, \mathcal{F}(V).

Our reading. The deconfounded label embeddings ``T*`` are the mediator ``M``. The
cross-attention ``A`` from the video tokens ``F(V)`` (queries) to ``M`` (keys, values)
gives ``P(m | V)`` (the attention weights) and the attended mediator ``M_hat`` per frame;
its sigmoid gates the video tokens; ``V* = [M_hat, V'] W^C``.

Two readings of the sum over ``v'``:

* ``"in_sample"`` (default): ``v'`` is the video's own gated tokens, as the poster writes.
* ``"cross_sample"``: as Causal Attention (Yang et al., CVPR 2021), the expectation over
  ``P(v')`` is an attention of each frame over a memory of *other training videos'*
  features (:func:`build_memory`), and its output ``V_cs`` joins the fusion:
  ``V* = [M_hat, V', V_cs] W^C``.

Two routings of what reaches the classifier (``routing``):

* ``"poster"`` (default): ``V* = [M_hat, V'] W^C`` as the poster writes it. The gated video
  ``V'`` goes to the classifier beside the mediator: a direct path ``V -> Y`` that does not
  pass through ``M``, so the architecture does *not* enforce the front-door's condition.
* ``"mediator_only"``: ``V* = M_hat W^C``, the attended mediator alone. The video then
  reaches the logits only through the attention weights ``P(m | V)`` over the mediator (and
  through ``M`` itself where ``M`` depends on the video, as after per-video ICH): change the
  video tokens while keeping ``P(m | V)`` and ``M``, and the output does not change. This is
  the routing the front-door criterion asks for (our option; the poster does not have it).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pcmci_edu.interventions.fusion import PassThroughFusion

SAMPLING_READINGS = ("in_sample", "cross_sample")
ROUTINGS = ("poster", "mediator_only")


class CrossAttention(nn.Module):
    """Single-head scaled dot-product attention from ``queries`` to ``context``.

    Returns the output ``softmax(q k^T / sqrt(d)) v W_o`` and the attention weights.
    ``W_o`` starts small (Gaussian, ``output_std``) and its bias at zero, so the output
    starts near zero.
    """

    def __init__(self, dim: int, context_dim: int | None = None, output_std: float = 0.02) -> None:
        super().__init__()
        context_dim = context_dim or dim
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(context_dim, dim)
        self.value = nn.Linear(context_dim, dim)
        self.output = nn.Linear(dim, dim)
        nn.init.normal_(self.output.weight, 0.0, output_std)
        nn.init.zeros_(self.output.bias)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``queries`` ``[B, N, D]``, ``context`` ``[B or 1, L, D]`` -> ``[B, N, D]``, weights ``[B, N, L]``.

        A context per video that is longer than the queries (per-video label embeddings) is
        not projected. The query and key maps are multiplied together and moved to the queries'
        side, ``(W_q x + b_q) . (W_k m + b_k) = (W_k^T W_q x + W_k^T b_q) . m + (W_q^T b_k) . x +
        b_q . b_k`` (the last two terms are the same for every key, so the softmax drops them; they
        are kept, at the cost of one dot product per frame, so that the key bias has its gradient
        as in the plain form), and the value and output maps are applied, multiplied together,
        after the weighted sum (the weights sum to one). The same attention, in fewer operations.
        """
        if context.shape[0] == 1 or context.shape[1] <= queries.shape[1]:
            query = self.query(queries)
            scores = query @ self.key(context).transpose(-1, -2) / math.sqrt(queries.shape[-1])
            weights = scores.softmax(dim=-1)
            return self.output(weights @ self.value(context)), weights
        dtype = queries.dtype
        query_weight, query_bias = self.query.weight.to(dtype), self.query.bias.to(dtype)
        key_weight, key_bias = self.key.weight.to(dtype), self.key.bias.to(dtype)
        query_key = F.linear(queries, key_weight.T @ query_weight, key_weight.T @ query_bias)  # W_k^T (W_q x + b_q)
        query_key_bias = F.linear(queries, (query_weight.T @ key_bias).unsqueeze(0), query_bias @ key_bias)
        scores = (query_key @ context.to(dtype).transpose(-1, -2) + query_key_bias) / math.sqrt(queries.shape[-1])
        weights = scores.softmax(dim=-1)
        output_weight = self.output.weight.to(dtype)
        value_output = output_weight @ self.value.weight.to(dtype)                # W_o W_v
        bias = output_weight @ self.value.bias.to(dtype) + self.output.bias.to(dtype)
        return F.linear(weights @ context.to(dtype), value_output, bias), weights


def build_memory(train_dataset, size: int = 64, seed: int = 0) -> torch.Tensor:
    """A memory of training videos for cross-sample IVC: k-means centres of the videos'
    mean frame features (scikit-learn), ``[size, D]``; all videos when there are fewer."""
    from sklearn.cluster import KMeans

    if hasattr(train_dataset, "all_frames"):
        videos = np.asarray(train_dataset.all_frames(), dtype=np.float32).mean(1)
    else:
        videos = np.stack([train_dataset[i]["frames"].numpy().mean(0) for i in range(len(train_dataset))])
    if len(videos) <= size:
        return torch.as_tensor(videos, dtype=torch.float32)
    kmeans = KMeans(n_clusters=size, n_init=1, random_state=seed).fit(videos)
    return torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32)


class IVC(nn.Module):
    """Front-door adjustment for visual confounders: ``V* = [M_hat, V'] W^C``.

    Step-0 pass-through: ``W^C`` starts as ``[0; I]`` (``[0; I; 0]`` cross-sample) plus a small
    random part, so ``V* ~= V' = sigmoid(M_hat) F(V)``; with the attention's small random
    initialisation the gate starts near ``1/2`` everywhere, and the cosine logits, blind to
    a common scale, start as the base model's.

    ``routing="mediator_only"``: ``V* = M_hat W^C`` with ``W^C`` starting as ``I`` (plus the
    small random part); the gated video ``V'`` is not passed on (see the module docstring).
    It cannot be combined with the cross-sample reading, whose output reads the video tokens.
    """

    def __init__(self, dim: int, memory: torch.Tensor | None = None, noise_std: float = 0.02,
                 routing: str = "poster") -> None:
        super().__init__()
        if routing not in ROUTINGS:
            raise ValueError(f"IVC routing={routing!r}: expected one of {ROUTINGS}")
        if routing == "mediator_only" and memory is not None:
            raise ValueError("IVC routing='mediator_only' passes only the attended mediator on; the "
                             "cross-sample reading adds a block computed from the video tokens")
        self.routing = routing
        self.attention = CrossAttention(dim, output_std=noise_std)             # A(M, F(V); Theta_M)
        self.sampling = "in_sample" if memory is None else "cross_sample"
        blocks = (1.0,) if routing == "mediator_only" else (0.0, 1.0) if memory is None else (0.0, 1.0, 0.0)
        self.fusion = PassThroughFusion(blocks, dim, noise_std)             # W^C
        if memory is not None:
            self.register_buffer("memory", memory.float())
            self.cross_sample_attention = CrossAttention(dim, memory.shape[-1], noise_std)

    def forward(self, mediator: torch.Tensor, tokens: torch.Tensor,
                mean_over_frames: bool = False) -> tuple[torch.Tensor, dict]:
        """``M = T*`` ``[B or 1, L, D]``, ``F(V)`` ``[B, N, D]`` -> ``V*`` ``[B, N, D]`` and details.

        ``mean_over_frames``: return only the mean of ``V*`` over the frames, ``[B, 1, D]`` (the
        fusion is linear, so it is applied to the blocks' means: the same value in fewer
        operations, for a model that pools by the mean).
        """
        mediator_hat, attention = self.attention(tokens, mediator)           # M_hat, P(m | V)
        gate = torch.sigmoid(mediator_hat)
        gated = gate * tokens                                                 # V' = sigma(A(M, F(V))) F(V)
        blocks = [mediator_hat] if self.routing == "mediator_only" else [mediator_hat, gated]
        details = {"ivc_attention": attention, "ivc_gate": gate, "mediator_hat": mediator_hat}
        if self.sampling == "cross_sample":
            memory = self.memory.to(tokens.dtype).unsqueeze(0)
            cross_sample, cross_attention = self.cross_sample_attention(tokens, memory)  # sum_v' P(v') ...
            blocks.append(cross_sample)
            details.update(ivc_cross_sample=cross_sample, ivc_cross_sample_attention=cross_attention)
        if mean_over_frames:
            blocks = [block.mean(dim=1, keepdim=True) for block in blocks]
        video_star = self.fusion(*blocks)                                     # V* = [M_hat, V'] W^C
        details["video_after_ivc"] = video_star
        return video_star, details

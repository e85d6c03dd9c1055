"""Fusion matrices that start as a pass-through.

Every intervention ends with a fusion matrix that mixes blocks of features, e.g.
ICH's ``T' = [T, H] W^H``. A random ``W^H`` would wipe out the label embeddings'
initialisation from the frozen text encoder at step 0. So each fusion matrix starts as
"keep one block, plus a small random part": at step 0 the intervention passes its
input through, and training decides how much of the other blocks to mix in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class PassThroughFusion(nn.Module):
    """``[x_1, ..., x_n] W`` for ``n`` blocks of width ``dim``, with ``W`` starting as the
    stacked ``w_i I`` plus Gaussian noise of standard deviation ``noise_std``:
    ``block_weights=(1, 0)`` keeps the first block, ``(1/R,) * R`` averages R blocks.

    The blocks are passed separately (``fusion(x, y)`` is ``[x, y] W``) and broadcast, so a
    block shared by every video (shape ``[1, L, D]``) is multiplied once.

    >>> fusion = PassThroughFusion((1.0, 0.0), dim=4, noise_std=0.0)
    >>> x, y = torch.randn(3, 4), torch.randn(3, 4)
    >>> torch.allclose(fusion(x, y), x)
    True
    """

    def __init__(self, block_weights: Sequence[float], dim: int, noise_std: float = 0.02) -> None:
        super().__init__()
        if not block_weights:
            raise ValueError("PassThroughFusion needs at least one block weight")
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.dim = dim
        weight = noise_std * torch.randn(dim, len(block_weights) * dim)
        for index, block_weight in enumerate(block_weights):
            weight[:, index * dim:(index + 1) * dim] += block_weight * torch.eye(dim)
        self.weight = nn.Parameter(weight)

    @property
    def num_blocks(self) -> int:
        """How many blocks the fusion takes."""
        return self.weight.shape[1] // self.dim

    def block_weights(self, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, ...]:
        """``W_1, ..., W_n``, each ``[dim, dim]`` as :func:`torch.nn.functional.linear` takes it
        (block ``i`` contributes ``x_i W_i^T``), so an intervention can multiply them out."""
        return self.weight.to(dtype or self.weight.dtype).split(self.dim, dim=1)

    def forward(self, *blocks: torch.Tensor) -> torch.Tensor:
        """``[x_1, ..., x_n] W``, computed as ``sum_i x_i W_i`` with broadcasting."""
        if len(blocks) != self.num_blocks:
            raise ValueError(f"this fusion takes {self.num_blocks} blocks, got {len(blocks)}")
        weights = self.block_weights(blocks[0].dtype)
        return sum(F.linear(block, weight) for block, weight in zip(blocks, weights))


@dataclass
class FactoredText:
    """Per-video label embeddings kept as ``shared + weights @ tokens``: ``shared`` ``[1 or B, L, D]``,
    ``weights`` ``[B, L, N]``, ``tokens`` ``[B, N, D]``.

    ICH's ``T' = T W^H_1 + P (V^P W^H_2)`` has this form, with ``N`` frames fewer than the ``L``
    labels; a following linear map of the labels (ICI) can then act on the ``N`` tokens instead
    of the ``L`` label rows of every video. :meth:`materialise` gives the plain tensor.
    """

    shared: torch.Tensor
    weights: torch.Tensor
    tokens: torch.Tensor

    def materialise(self) -> torch.Tensor:
        """``shared + weights @ tokens``, ``[B, L, D]``."""
        return self.shared + self.weights.to(self.tokens.dtype) @ self.tokens

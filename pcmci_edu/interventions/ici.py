r"""ICI: intervention for codependency illusion (back-door adjustment for I).

The poster (Xu et al., CVPR 2026):

.. math::

    R(T') = \Big( \bigoplus_{k=1}^{K} \mathcal{G}_k(T'; \Theta_k) \Big) W^R, \qquad
    T^* = [T', R(T')] W^I .

The relational cues among labels are the observable surrogate of the latent
codependency ``I``. We estimate ``K`` relation graphs from the training annotations
(:func:`build_relations`) and run one graph convolution ``G_k(T') = A_k T' Theta_k``
(Kipf and Welling) per relation, with ``A_k`` the graph with self-loops, row-normalised.

The graphs live on the model's label set: the activities first (none for a dataset
without activities, such as Charades), then the atomic actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pcmci_edu.interventions.fusion import FactoredText, PassThroughFusion

RELATION_NAMES = ("co_occurrence", "exclusivity", "sharedness", "precedence")


@dataclass
class Relations:
    """``K`` relation graphs over the labels (activities first, then actions).

    ``adjacency[k, i, j]`` is the weight of the edge ``i -> j`` in relation ``names[k]``
    (no self-loops; :meth:`normalised` adds them).
    """

    names: tuple[str, ...]
    adjacency: torch.Tensor
    label_names: list[str]
    num_activities: int
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        count = len(self.label_names)
        if self.adjacency.shape != (len(self.names), count, count):
            raise ValueError(f"adjacency has shape {tuple(self.adjacency.shape)}; expected "
                             f"({len(self.names)}, {count}, {count}) for relations {self.names}")

    @property
    def num_labels(self) -> int:
        """``L``: activities plus actions."""
        return len(self.label_names)

    def normalised(self) -> torch.Tensor:
        """``A_k``: each graph with self-loops, rows normalised to sum to one, ``[K, L, L]``."""
        with_loops = self.adjacency + torch.eye(self.num_labels)
        return with_loops / with_loops.sum(-1, keepdim=True)

    def to_networkx(self, name: str, threshold: float = 0.0):
        """One relation as a ``networkx.DiGraph`` over the label names (edges above ``threshold``)."""
        import networkx as nx

        if name not in self.names:
            raise KeyError(f"no relation {name!r}; these exist: {self.names}")
        weights = self.adjacency[self.names.index(name)].numpy()
        graph = nx.DiGraph()
        graph.add_nodes_from(self.label_names)
        rows, cols = np.nonzero(weights > threshold)
        graph.add_weighted_edges_from(
            (self.label_names[i], self.label_names[j], float(weights[i, j])) for i, j in zip(rows, cols))
        return graph


def build_relations(train_dataset) -> Relations:
    """Estimate the relation graphs from a training split's annotations.

    * ``co_occurrence``: ``P(j | i)``, the fraction of training videos with label ``i``
      that also have label ``j`` (an activity counts as a label of its videos);
    * ``exclusivity``: 1 for two labels that both occur in training but never together;
    * ``sharedness`` (datasets with activities): for two actions, the Jaccard overlap of the
      sets of activities they occur in (actions shared across the same activities); for
      two activities, the Jaccard overlap of their action sets;
    * ``precedence`` (datasets with segments): ``P(i before j | i and j in a video)``,
      comparing the first occurrence of each action.

    Relations that a dataset cannot provide are left out and explained in ``notes``.
    """
    actions = np.asarray(train_dataset.actions, dtype=np.float64)
    num_videos, num_actions = actions.shape
    has_activities = bool(getattr(train_dataset, "has_activities", len(train_dataset.activity_names) > 0))
    activity_names = list(train_dataset.activity_names) if has_activities else []
    num_activities = len(activity_names)
    labels = actions
    if has_activities:
        activities = np.asarray(train_dataset.activities)
        if activities.min() < 0 or activities.max() >= num_activities:
            raise ValueError(f"{train_dataset.name} {train_dataset.split}: activities must lie in "
                             f"[0, {num_activities}) for a dataset with activities")
        labels = np.concatenate([np.eye(num_activities)[activities], actions], axis=1)
    label_names = activity_names + list(train_dataset.action_names)
    size = len(label_names)
    off_diagonal = 1.0 - np.eye(size)

    together = labels.T @ labels                                       # videos with i and j
    count = np.diag(together).copy()
    co_occurrence = together / np.maximum(count[:, None], 1.0) * off_diagonal
    seen = count > 0
    exclusivity = ((together == 0) & seen[:, None] & seen[None, :]).astype(np.float64) * off_diagonal
    graphs, names, notes = [co_occurrence, exclusivity], ["co_occurrence", "exclusivity"], {}

    if has_activities:
        membership = np.zeros((num_activities, num_actions))             # activity a has action k
        np.add.at(membership, np.asarray(train_dataset.activities), actions)
        membership = (membership > 0).astype(np.float64)
        sharedness = np.zeros((size, size))
        sharedness[num_activities:, num_activities:] = _jaccard(membership.T)
        sharedness[:num_activities, :num_activities] = _jaccard(membership)
        graphs.append(sharedness * off_diagonal)
        names.append("sharedness")
    else:
        notes["sharedness"] = "left out: the dataset has no activities to share actions across"

    precedence = _precedence(train_dataset.segments, num_actions)
    if precedence is None:
        notes["precedence"] = "left out: the dataset has no temporal segments"
    else:
        full = np.zeros((size, size))
        full[num_activities:, num_activities:] = precedence
        graphs.append(full * off_diagonal)
        names.append("precedence")

    return Relations(tuple(names), torch.as_tensor(np.stack(graphs), dtype=torch.float32),
                     label_names, num_activities, notes)


def _jaccard(sets: np.ndarray) -> np.ndarray:
    """Pairwise Jaccard overlap of the rows of a 0/1 matrix."""
    intersection = sets @ sets.T
    sizes = sets.sum(1)
    union = sizes[:, None] + sizes[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def _precedence(segments, num_actions: int) -> np.ndarray | None:
    """``P(i starts before j | both in a video)`` from per-video (action, start, end) segments."""
    before = np.zeros((num_actions, num_actions))
    both = np.zeros((num_actions, num_actions))
    any_segment = False
    for video_segments in segments or []:
        first: dict[int, float] = {}
        for action, start, _end in video_segments:
            if not 0 <= int(action) < num_actions:
                raise ValueError(f"segment action index {action} outside [0, {num_actions})")
            first[int(action)] = min(first.get(int(action), float("inf")), float(start))
        if len(first) < 2:
            any_segment = any_segment or bool(first)
            continue
        any_segment = True
        index = np.fromiter(first.keys(), dtype=np.int64)
        starts = np.fromiter(first.values(), dtype=np.float64)
        both[np.ix_(index, index)] += 1.0
        before[np.ix_(index, index)] += (starts[:, None] < starts[None, :])
    if not any_segment:
        return None
    return np.divide(before, both, out=np.zeros_like(before), where=both > 0)


class ICI(nn.Module):
    """Back-door adjustment for codependency illusion: ``T* = [T', R(T')] W^I``.

    Step-0 pass-through: each ``Theta_k`` starts as the identity, ``W^R`` as the mean over
    the relations (each block ``I / K``), and ``W^I`` as ``[I; 0]``, each plus a small random
    part, so ``T* ~= T'`` at step 0 while ``R(T')`` already carries the averaged neighbour
    messages that training can mix in.
    """

    def __init__(self, relations: Relations, dim: int, noise_std: float = 0.02) -> None:
        super().__init__()
        self.relation_names = relations.names
        self.register_buffer("adjacency", relations.normalised())                 # A_k
        count = len(relations.names)
        self.theta = nn.Parameter(torch.eye(dim).repeat(count, 1, 1)
                                  + noise_std * torch.randn(count, dim, dim))      # Theta_k
        self.relation_fusion = PassThroughFusion((1.0 / count,) * count, dim, noise_std)  # W^R
        self.fusion = PassThroughFusion((1.0, 0.0), dim, noise_std)             # W^I

    def forward(self, text: torch.Tensor | FactoredText, with_details: bool = True) -> tuple[torch.Tensor, dict]:
        """``T'`` ``[B or 1, L, D]`` -> ``T*`` ``[B or 1, L, D]`` and details (each relation's
        output ``G_k(T')`` and ``R(T')``, computed only ``with_details``).

        ``T* = [T', R(T')] W^I`` with ``R(T') = (concat_k A_k T' Theta_k) W^R`` is one linear map
        of ``T'``, computed multiplied out: ``T* = sum_{k=0..K} A_k T' M_k`` with ``A_0 = I``,
        ``M_0 = W^I_1`` and ``M_k = Theta_k W^R_k W^I_2``; the label mixing ``A_k T'`` of every
        video and relation is one matrix product, the maps ``M_k`` one batched product. ``T'``
        given as :class:`~pcmci_edu.interventions.fusion.FactoredText` ``S + P U`` (after ICH):
        ``T* = map(S) + sum_k (A_k P) (U M_k)``, the maps acting on the ``N`` tokens of each video
        rather than on its ``L`` labels.
        """
        if isinstance(text, FactoredText) and with_details:
            text = text.materialise()
        labels = (text.weights if isinstance(text, FactoredText) else text).shape[-2]
        if labels != self.adjacency.shape[-1]:
            raise ValueError(f"ICI's relation graphs cover {self.adjacency.shape[-1]} labels; "
                             f"the label embeddings have {labels}")
        dtype = text.tokens.dtype if isinstance(text, FactoredText) else text.dtype
        adjacency, theta = self.adjacency.to(dtype), self.theta.to(dtype)
        keep_weight, relation_weight = self.fusion.block_weights(dtype)                  # W^I_1, W^I_2
        merged = theta @ torch.stack(self.relation_fusion.block_weights(dtype)).transpose(-1, -2)
        maps = torch.cat([keep_weight.T.unsqueeze(0), merged @ relation_weight.T])       # M_0 .. M_K
        mixing = torch.cat([torch.eye(labels, dtype=dtype, device=adjacency.device).unsqueeze(0), adjacency])
        if isinstance(text, FactoredText):
            shared = _apply_maps(_mix_labels(text.shared, mixing), maps, len(text.shared))
            text_star = shared + _factored_map(text, mixing, maps)
            return text_star, {"text_after_ici": text_star}
        batch, _, dim = text.shape
        mixed = _mix_labels(text, mixing)                                                 # A_k T'
        text_star = _apply_maps(mixed, maps, batch)                                       # T*
        details = {"text_after_ici": text_star}
        if with_details:
            neighbours = mixed[1:].view(len(merged), labels, batch, dim).transpose(1, 2)  # A_k T' [K, B, L, D]
            details["relation_message"] = torch.einsum("kbid,kde->bie", neighbours, merged)  # R(T')
            graph_outputs = torch.einsum("kbid,kde->bkie", neighbours, theta)          # G_k(T') = A_k T' Theta_k
            details["relation_outputs"] = dict(zip(self.relation_names, graph_outputs.unbind(1)))
        return text_star, details


def _mix_labels(text: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """``A_k X`` for every ``k`` and video in one matrix product: ``[K+1, L * B, C]`` (rows by label,
    then video) for ``text`` ``[B, L, C]`` and ``mixing`` ``[K+1, L, L]``."""
    batch, labels, width = text.shape
    by_label = text.transpose(0, 1).reshape(labels, batch * width)                       # [L, B*C]
    return (mixing.flatten(0, 1) @ by_label).view(len(mixing), labels * batch, width)


def _apply_maps(mixed: torch.Tensor, maps: torch.Tensor, batch: int) -> torch.Tensor:
    """``sum_k (A_k X) M_k`` ``[B, L, D]`` from :func:`_mix_labels`' ``[K+1, L * B, D]``."""
    return torch.bmm(mixed, maps).sum(0).view(-1, batch, maps.shape[-1]).transpose(0, 1)


def _factored_map(text: FactoredText, mixing: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """``sum_k (A_k P) (U M_k)`` for ``T' = S + P U``: one batched product over the ``K+1`` blocks,
    laid out by (token, relation) so that ``U M_k`` needs no copy."""
    batch, labels, tokens = text.weights.shape
    count, dim = len(maps), maps.shape[-1]
    weights = _mix_labels(text.weights.to(maps.dtype), mixing).view(count, labels, batch, tokens)
    weights = weights.permute(2, 1, 3, 0).reshape(batch, labels, tokens * count)      # (A_k P)[l, n]
    projected = (text.tokens.expand(batch, -1, -1).reshape(batch * tokens, dim)
                 @ maps.transpose(0, 1).reshape(dim, count * dim)).view(batch, tokens * count, dim)  # (U M_k)[n]
    return torch.bmm(weights, projected)

r"""The base model (Text4Vis-style) and PCMCi, which adds the three interventions.

Base. A learnable video encoder ``F(V)`` (linear projection, temporal transformer with
position embeddings, projection back, plus a residual of the frozen frame features) turns
the frozen frame features ``V`` ``[N, D]`` into tokens; their mean is the video vector
``v``. Learnable label embeddings ``T`` ``[L, D]`` start from the frozen text features ``T0``
(activities first, then atomic actions). The logits are ``s * cos(v, T_l)`` with a learnable
scale ``s``; activities use softmax cross-entropy, atomic actions sigmoid binary
cross-entropy (with a learnable bias per action).

PCMCi. The interventions run in a configurable order (the poster's is ICH -> ICI -> IVC):

* ICH: ``T' = [T, H] W^H`` with ``H = P* V^P`` (:mod:`pcmci_edu.interventions.ich`);
* ICI: ``T* = [T', R(T')] W^I`` (:mod:`pcmci_edu.interventions.ici`);
* IVC: ``V* = [M_hat, V'] W^C`` with the current text as mediator ``M``
  (:mod:`pcmci_edu.interventions.ivc`).

The pooled ``V*`` is scored against the final label embeddings ``T*``.
``interventions=()`` is the base model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pcmci_edu.interventions import INTERVENTIONS
from pcmci_edu.interventions.ich import ICH, VISUAL_TOKEN_SOURCES, PrototypeDictionary, build_prototypes
from pcmci_edu.interventions.ici import ICI, Relations, build_relations
from pcmci_edu.interventions.ivc import IVC, ROUTINGS, SAMPLING_READINGS, build_memory

LABEL_POOLINGS = ("mean", "attention")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes, the interventions and their order, and the controls and variants.

    ``interventions``: names from ``("ich", "ici", "ivc")`` in the order they run; ``()`` is the base.
    ``label_pooling``: ``"mean"`` (one video vector) or ``"attention"`` (one per label, each an
    attention over frames with the label embedding as query: the capacity control for
    per-video ICH). ``label_lr_multiplier``: the label embeddings' learning rate relative to
    the rest (0 freezes them at the text features). ``ich_visual_tokens``: ``"video"`` (own
    frames) or ``"dictionary"`` (k-means prototypes with prior). ``ivc_sampling``:
    ``"in_sample"`` or ``"cross_sample"`` (memory of other training videos). ``ivc_routing``:
    ``"poster"`` (``V* = [M_hat, V'] W^C``) or ``"mediator_only"`` (``V* = M_hat W^C``: the
    video reaches the classifier only through the mediator).
    ``text_dim``: the width of the label text features when it differs from the frame
    features' (e.g. Breakfast's 2048-d I3D frames with 512-d CLIP label texts); a learnable
    linear adapter then maps the frames into the text space before anything else, so every
    module works at :attr:`embedding_dim`. ``None``: the same width as the frames.

    >>> ModelConfig(feature_dim=8, num_frames=4, interventions=("ivc", "ich")).interventions
    ('ivc', 'ich')
    """

    feature_dim: int
    num_frames: int
    width: int = 128
    layers: int = 1
    heads: int = 4
    dropout: float = 0.1
    interventions: tuple[str, ...] = INTERVENTIONS
    label_pooling: str = "mean"
    label_lr_multiplier: float = 1.0
    logit_scale_init: float = 1.0 / 0.07
    fusion_noise_std: float = 0.02
    ich_visual_tokens: str = "video"
    ich_epsilon: float = 0.05
    ich_max_iter: int = 50
    ich_num_prototypes: int = 64
    ivc_sampling: str = "in_sample"
    ivc_memory_size: int = 64
    ivc_routing: str = "poster"
    text_dim: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "interventions", tuple(self.interventions))
        unknown = [name for name in self.interventions if name not in INTERVENTIONS]
        if unknown:
            raise ValueError(f"unknown interventions {unknown}: expected names from {INTERVENTIONS}")
        if len(set(self.interventions)) != len(self.interventions):
            raise ValueError(f"each intervention may appear once, got {self.interventions}")
        for name, value, allowed in (("label_pooling", self.label_pooling, LABEL_POOLINGS),
                                     ("ich_visual_tokens", self.ich_visual_tokens, VISUAL_TOKEN_SOURCES),
                                     ("ivc_sampling", self.ivc_sampling, SAMPLING_READINGS),
                                     ("ivc_routing", self.ivc_routing, ROUTINGS)):
            if value not in allowed:
                raise ValueError(f"ModelConfig.{name}={value!r}: expected one of {allowed}")
        for name in ("feature_dim", "num_frames", "width", "heads", "ich_max_iter",
                     "ich_num_prototypes", "ivc_memory_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ModelConfig.{name} must be positive, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ValueError(f"ModelConfig.width={self.width} must be divisible by heads={self.heads}")
        if self.label_lr_multiplier < 0:
            raise ValueError(f"ModelConfig.label_lr_multiplier must be >= 0, got {self.label_lr_multiplier}")
        if self.text_dim is not None and self.text_dim <= 0:
            raise ValueError(f"ModelConfig.text_dim must be positive or None, got {self.text_dim}")
        if self.ivc_routing == "mediator_only" and self.ivc_sampling == "cross_sample":
            raise ValueError("ModelConfig.ivc_routing='mediator_only' cannot be combined with "
                             "ivc_sampling='cross_sample' (its block reads the video tokens)")
        if self.adapts_frames and (self.ich_visual_tokens == "dictionary" or self.ivc_sampling == "cross_sample"):
            raise ValueError("dictionary ICH and cross-sample IVC build prototypes from the frozen frame features, "
                             f"so they need text_dim == feature_dim (got {self.text_dim} and {self.feature_dim})")

    @property
    def adapts_frames(self) -> bool:
        """Whether frames and label texts differ in width, so a frame adapter is needed."""
        return self.text_dim is not None and self.text_dim != self.feature_dim

    @property
    def embedding_dim(self) -> int:
        """The width every module works at: the label texts' (``text_dim``, else ``feature_dim``)."""
        return self.text_dim if self.text_dim is not None else self.feature_dim

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain values (for checkpoints and logs)."""
        return asdict(self)


@dataclass
class ModelOutput:
    """Logits per video and, with ``return_details=True``, the intermediate quantities.

    ``details`` keys (present when the part ran): ``video_tokens`` F(V); ICH: ``similarity`` S,
    ``ot_plan`` P* ``[B, L, N]``, ``ot_iterations`` (Sinkhorn's), ``ot_marginal_error`` ``[B]``
    (mass in the wrong place, see :class:`~pcmci_edu.interventions.ich.TransportSolution`),
    ``ich_pooled`` H, ``text_after_ich`` T'; ICI:
    ``relation_outputs`` {relation: G_k(T') ``[B, L, D]``}, ``relation_message`` R(T'),
    ``text_after_ici`` T*; IVC: ``ivc_attention`` P(m|V) ``[B, N, L]``, ``ivc_gate``
    ``[B, N, D]``, ``mediator_hat``, cross-sample: ``ivc_cross_sample`` V_cs and ``ivc_cross_sample_attention`` ``[B, N, Q]``,
    ``video_after_ivc`` V*; always ``text_final`` ``[B, L, D]``, ``video_final`` (``[B, D]``, or
    ``[B, L, D]`` with attention pooling), ``label_attention`` ``[B, L, N]`` with attention pooling.
    """

    action_logits: torch.Tensor
    activity_logits: torch.Tensor | None
    details: dict[str, Any] = field(default_factory=dict)


class VideoEncoder(nn.Module):
    """``F(V) = V + W_out Transformer(V W_in + E_pos)``: frozen frame features -> video tokens.

    ``W_out`` starts small, so at step 0 the tokens are the frozen features themselves and
    the logits are the frozen vision-language model's zero-shot scores.

    The transformer is ``nn.TransformerEncoderLayer``'s parameters (pre-norm, ReLU) run by
    ``_encoder_layer``, whose dropout multiplies by masks drawn beforehand
    (:meth:`dropout_masks`): a run draws them from torch's global generator, a batched ensemble
    (:mod:`pcmci_edu.ensemble`) from each member's own generator, so a member sees exactly the
    masks it would see trained alone.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.project_in = nn.Linear(config.embedding_dim, config.width)
        self.position = nn.Parameter(0.02 * torch.randn(config.num_frames, config.width))
        layer = nn.TransformerEncoderLayer(config.width, config.heads, 2 * config.width, config.dropout,
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.project_out = nn.Linear(config.width, config.embedding_dim)
        nn.init.normal_(self.project_out.weight, 0.0, 0.02)
        nn.init.zeros_(self.project_out.bias)
        self.dropout, self.heads = config.dropout, config.heads

    def dropout_masks(self, batch: int, frames: int,
                      generator: torch.Generator | None = None) -> list[torch.Tensor] | None:
        """The dropout masks of one training forward pass (``None`` in eval mode or without
        dropout): per layer, on the attention weights ``[B, heads, N, N]``, the attention's output
        ``[B, N, W]``, the feed-forward hidden ``[B, N, 2W]`` and its output ``[B, N, W]``; each
        ``Bernoulli(1 - p) / (1 - p)`` (a uniform draw below ``1 - p``), drawn from ``generator`` (torch's global one when ``None``)."""
        if not self.training or self.dropout == 0:
            return None
        width = self.project_in.out_features
        shapes = [(batch, self.heads, frames, frames), (batch, frames, width), (batch, frames, 2 * width),
                  (batch, frames, width)] * len(self.transformer.layers)
        keep = 1 - self.dropout       # uniform draws below keep: a tenth of bernoulli_'s time on a CPU
        return [torch.rand(shape, device=self.position.device, generator=generator).lt_(keep).div_(keep)
                for shape in shapes]

    def forward(self, frames: torch.Tensor, dropout_masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``[B, N, D]`` -> ``[B, N, D]``; ``dropout_masks`` from :meth:`dropout_masks` (drawn here
        from the global generator when ``None`` in training mode)."""
        if frames.shape[1] > len(self.position):
            raise ValueError(f"the model was built for at most {len(self.position)} frames per video, "
                             f"got {frames.shape[1]}")
        if dropout_masks is None:
            dropout_masks = self.dropout_masks(frames.shape[0], frames.shape[1])
        hidden = self.project_in(frames) + self.position[:frames.shape[1]]
        for index, layer in enumerate(self.transformer.layers):
            masks = None if dropout_masks is None else dropout_masks[4 * index:4 * index + 4]
            hidden = _encoder_layer(layer, hidden, self.heads, masks)
        return frames + self.project_out(hidden)


def _encoder_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, heads: int,
                   masks: list[torch.Tensor] | None) -> torch.Tensor:
    """One pre-norm ``nn.TransformerEncoderLayer`` (ReLU): ``x + SA(LN_1 x)``, then ``+ FF(LN_2 x)``,
    written out so that its four dropouts multiply by given ``masks`` (``None``: no dropout)."""
    def drop(value: torch.Tensor, index: int) -> torch.Tensor:
        return value if masks is None else value * masks[index]

    attention = layer.self_attn
    batch, frames, width = x.shape
    query, key, value = F.linear(layer.norm1(x), attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
    query, key, value = (part.reshape(batch, frames, heads, width // heads).transpose(1, 2)
                         for part in (query, key, value))
    weights = (query @ key.transpose(-1, -2) / math.sqrt(width // heads)).softmax(dim=-1)
    attended = (drop(weights, 0) @ value).transpose(1, 2).reshape(batch, frames, width)
    x = x + drop(attention.out_proj(attended), 1)
    hidden = drop(F.relu(layer.linear1(layer.norm2(x))), 2)
    return x + drop(layer.linear2(hidden), 3)


class PCMCi(nn.Module):
    """The base model plus the interventions named in ``config.interventions``, in that order.

    ``action_text_features`` ``[K, D]`` and ``activity_text_features`` ``[A, D]`` (``None``
    without activities) are the frozen text features ``T0``. ``relations`` (needed by ICI),
    ``dictionary`` (ICH's dictionary reading) and ``memory`` (cross-sample IVC) come from the
    training split: :meth:`from_dataset` builds them.

    >>> model = PCMCi(ModelConfig(feature_dim=8, num_frames=4, interventions=("ich", "ivc")),
    ...               torch.randn(5, 8), torch.randn(2, 8))
    >>> out = model(torch.randn(3, 4, 8))
    >>> tuple(out.action_logits.shape), tuple(out.activity_logits.shape)
    ((3, 5), (3, 2))
    """

    def __init__(self, config: ModelConfig, action_text_features: torch.Tensor,
                 activity_text_features: torch.Tensor | None = None, relations: Relations | None = None,
                 dictionary: PrototypeDictionary | None = None, memory: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        action_text_features = torch.as_tensor(action_text_features, dtype=torch.float32)
        if activity_text_features is None or len(activity_text_features) == 0:
            activity_text_features = action_text_features.new_zeros(0, action_text_features.shape[-1])
        activity_text_features = torch.as_tensor(activity_text_features, dtype=torch.float32)
        for name, features in (("action_text_features", action_text_features),
                               ("activity_text_features", activity_text_features)):
            if features.ndim != 2 or features.shape[-1] != config.embedding_dim:
                raise ValueError(f"{name} has shape {tuple(features.shape)}; expected [labels, "
                                 f"{config.embedding_dim}] (ModelConfig.text_dim, else feature_dim)")
        self.num_activities, self.num_actions = len(activity_text_features), len(action_text_features)
        self._check_inputs(relations, dictionary, memory)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.frame_adapter = (nn.Linear(config.feature_dim, config.embedding_dim)
                                  if config.adapts_frames else None)      # frames -> text space (I3D + CLIP)
            self.video_encoder = VideoEncoder(config)                                     # F(V)
            self.label_embeddings = nn.Parameter(torch.cat([activity_text_features, action_text_features]),
                                                 requires_grad=config.label_lr_multiplier > 0)  # T <- T0
            self.logit_scale = nn.Parameter(torch.tensor(math.log(config.logit_scale_init)))
            self.action_bias = nn.Parameter(torch.zeros(self.num_actions))
            if config.label_pooling == "attention":
                self.pooling_scale = nn.Parameter(torch.tensor(math.log(10.0)))
            dim, noise = config.embedding_dim, config.fusion_noise_std
            self.interventions = nn.ModuleDict()
            if "ich" in config.interventions:
                self.interventions["ich"] = ICH(dim, config.ich_epsilon, config.ich_max_iter,
                                                dictionary if config.ich_visual_tokens == "dictionary" else None,
                                                noise)
            if "ici" in config.interventions:
                self.interventions["ici"] = ICI(relations, dim, noise)
            if "ivc" in config.interventions:
                self.interventions["ivc"] = IVC(dim, memory if config.ivc_sampling == "cross_sample" else None,
                                                noise, config.ivc_routing)

    def _check_inputs(self, relations, dictionary, memory) -> None:
        config = self.config
        if "ici" in config.interventions:
            if relations is None:
                raise ValueError("ICI needs relation graphs: pass relations=build_relations(train_set) "
                                 "or build the model with PCMCi.from_dataset")
            if relations.num_labels != self.num_activities + self.num_actions:
                raise ValueError(f"the relation graphs cover {relations.num_labels} labels; the model has "
                                 f"{self.num_activities} activities + {self.num_actions} actions")
        if "ich" in config.interventions and config.ich_visual_tokens == "dictionary" and dictionary is None:
            raise ValueError("dictionary ICH needs prototypes: pass dictionary=build_prototypes(train_set)")
        if "ivc" in config.interventions and config.ivc_sampling == "cross_sample" and memory is None:
            raise ValueError("cross-sample IVC needs a memory: pass memory=build_memory(train_set)")

    @classmethod
    def from_dataset(cls, train_set, config: ModelConfig | None = None, **overrides) -> PCMCi:
        """Build a model for a training split: sizes and text features from the dataset, and
        whatever the configuration needs from its annotations (relations, prototypes, memory).

        ``overrides`` replace fields of ``config`` (or of the default configuration), e.g.
        ``PCMCi.from_dataset(train, interventions=())`` for the base model.
        """
        if train_set.action_text_features is None or train_set.feature_dim is None:
            raise ValueError(f"{train_set.name} {train_set.split} has no text or frame features: "
                             "extract them first (pcmci_edu.extract)")
        if config is None:
            text_dim = int(train_set.action_text_features.shape[-1])
            overrides.setdefault("text_dim", None if text_dim == train_set.feature_dim else text_dim)
            config = ModelConfig(feature_dim=train_set.feature_dim, num_frames=train_set.num_frames, **overrides)
        else:
            config = replace(config, **overrides)
        if (config.feature_dim, config.num_frames) != (train_set.feature_dim, train_set.num_frames):
            raise ValueError(f"ModelConfig has feature_dim={config.feature_dim}, num_frames={config.num_frames}; "
                             f"{train_set.name} has {train_set.feature_dim}, {train_set.num_frames}")
        relations = build_relations(train_set) if "ici" in config.interventions else None
        dictionary = memory = None
        if "ich" in config.interventions and config.ich_visual_tokens == "dictionary":
            dictionary = build_prototypes(train_set, config.ich_num_prototypes, config.seed)
        if "ivc" in config.interventions and config.ivc_sampling == "cross_sample":
            memory = build_memory(train_set, config.ivc_memory_size, config.seed)
        activity_features = train_set.activity_text_features if train_set.has_activities else None
        if train_set.has_activities and activity_features is None:
            raise ValueError(f"{train_set.name} {train_set.split} has activities but no activity_text_features")
        return cls(config, train_set.action_text_features, activity_features, relations, dictionary, memory)

    @property
    def has_activities(self) -> bool:
        """Whether the model has an activity head."""
        return self.num_activities > 0

    def forward(self, frames: torch.Tensor, return_details: bool = False,
                dropout_masks: list[torch.Tensor] | None = None) -> ModelOutput:
        """``frames`` ``[B, N, D]`` (frozen features) -> :class:`ModelOutput`. ``dropout_masks``:
        the encoder's (:meth:`VideoEncoder.dropout_masks`; drawn from the global generator when
        ``None`` in training mode)."""
        if frames.ndim != 3 or frames.shape[-1] != self.config.feature_dim:
            raise ValueError(f"frames have shape {tuple(frames.shape)}; expected [batch, frames, "
                             f"{self.config.feature_dim}]")
        details: dict[str, Any] = {}
        if self.frame_adapter is not None:
            frames = self.frame_adapter(frames)
        tokens = self.video_encoder(frames, dropout_masks)                                # F(V)
        details["video_tokens"] = tokens
        text = self.label_embeddings.unsqueeze(0)              # T, [1, L, D] until it depends on the video
        mean_only = self.config.label_pooling == "mean" and not return_details  # IVC may return V*'s frame mean
        order = self.config.interventions
        for position, name in enumerate(order):
            if name == "ich":                   # factored: T' kept as T W^H_1 + P (V^P W^H_2) for ICI next
                factored = not return_details and order[position + 1:position + 2] == ("ici",)
                text, part = self.interventions["ich"](text, frames, return_details, factored)  # T' = [T, H] W^H
            elif name == "ici":
                text, part = self.interventions["ici"](text, return_details)              # T* = [T', R(T')] W^I
            else:
                tokens, part = self.interventions["ivc"](text, tokens, mean_only)         # V* = [M_hat, V'] W^C
            details.update(part)
        video = self._pool(tokens, text, details)
        logits = self.logit_scale.exp().clamp(max=100.0) * _cosine(video, text)      # s * cos(v, T_l)
        details.update(text_final=text.expand(frames.shape[0], -1, -1), video_final=video)
        activity_logits = logits[:, :self.num_activities] if self.has_activities else None
        action_logits = logits[:, self.num_activities:] + self.action_bias
        return ModelOutput(action_logits, activity_logits, details if return_details else {})

    def _pool(self, tokens: torch.Tensor, text: torch.Tensor, details: dict) -> torch.Tensor:
        """Mean over frames ``[B, D]``, or per-label attention pooling ``[B, L, D]``."""
        if self.config.label_pooling == "mean":
            return tokens.mean(dim=1)
        similarity = F.normalize(text, dim=-1) @ F.normalize(tokens, dim=-1).transpose(-1, -2)
        attention = (self.pooling_scale.exp() * similarity).softmax(dim=-1)              # [B, L, N]
        details["label_attention"] = attention
        return attention @ tokens

    def loss(self, output: ModelOutput, activities: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Cross-entropy on activities (averaged over the videos with an activity, ``>= 0``; none: 0)
        plus binary cross-entropy on the atomic actions (averaged over actions and videos).

        Masks, not boolean indexing: the shapes stay fixed and nothing is read back to the host."""
        loss = F.binary_cross_entropy_with_logits(output.action_logits.float(), actions.float())
        if output.activity_logits is not None:
            labelled = activities >= 0
            per_video = F.cross_entropy(output.activity_logits.float(), activities.clamp_min(0), reduction="none")
            loss = loss + (per_video * labelled).sum() / labelled.sum().clamp_min(1)
        return loss

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW parameter groups: the label embeddings at ``label_lr_multiplier`` times the
        learning rate; no weight decay on biases, norms, scales, position and label embeddings.
        Each group carries ``lr_multiplier`` for the trainer's schedule."""
        decay, no_decay = [], []
        for name, parameter in self.named_parameters():
            if not parameter.requires_grad or name == "label_embeddings":
                continue
            (no_decay if parameter.ndim < 2 or name.endswith("position") else decay).append(parameter)
        groups = [{"params": decay, "weight_decay": weight_decay, "lr_multiplier": 1.0},
                  {"params": no_decay, "weight_decay": 0.0, "lr_multiplier": 1.0}]
        if self.label_embeddings.requires_grad:
            groups.append({"params": [self.label_embeddings], "weight_decay": 0.0,
                           "lr_multiplier": self.config.label_lr_multiplier})
        return [group for group in groups if group["params"]]


def _cosine(video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """``cos(v, T_l)`` ``[B, L]`` for a video vector ``[B, D]`` (or one per label, ``[B, L, D]``)
    and label embeddings ``[B or 1, L, D]``: unit vectors, then one matrix product."""
    video, text = F.normalize(video, dim=-1), F.normalize(text, dim=-1)
    if video.ndim == 3:
        return (video * text).sum(-1)
    if text.shape[0] == 1:
        return video @ text[0].T
    return (text @ video.unsqueeze(-1)).squeeze(-1)

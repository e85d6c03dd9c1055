"""The configurations chapters 3-7 compare, by name, and the poster's tables they are read against.

A :class:`Variant` names one configuration (the base, a capacity control, an intervention, an
order of the three, the oracle); :data:`VARIANTS` holds every one the book trains, and
:data:`ABLATION`, :data:`ORDER_VARIANTS` and :data:`REFERENCES` the groups the chapters show
together. :data:`POSTER_ABLATION` and :data:`POSTER_ORDERS` quote the poster's Breakfast tables,
which chapter 7 sets beside our runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd



INTERVENTION_NAMES: dict[str, str] = {"ich": "ICH", "ici": "ICI", "ivc": "IVC"}


@dataclass(frozen=True)
class Variant:
    """One configuration a chapter compares.

    ``interventions`` is the order in which ICH, ICI and IVC are applied (``()`` is the base);
    ``options`` are extra :class:`pcmci_edu.model.ModelConfig` fields (a capacity control, a
    reading of an intervention, frozen text); ``train_split`` names the split it trains on
    (``"train_oracle"`` for the oracle, whose context and objects are broken;
    ``"train_oracle_<confounder>"`` for the oracle of one confounder).

    >>> VARIANTS["oracle_objects"].train_split
    'train_oracle_objects'
    >>> VARIANTS["pcmci"].interventions
    ('ich', 'ici', 'ivc')
    >>> VARIANTS["order_ivc_ich_ici"].label
    'IVC → ICH → ICI'
    """

    name: str
    interventions: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    train_split: str = "train"
    title: str = ""
    description: str = ""

    @property
    def label(self) -> str:
        """A short human name: the title, else the order of the interventions, else "Base"."""
        if self.title:
            return self.title
        if not self.interventions:
            return "Base"
        return " → ".join(INTERVENTION_NAMES[name] for name in self.interventions)

    @property
    def option_dict(self) -> dict[str, Any]:
        """``options`` as a dictionary."""
        return dict(self.options)


def order_name(order: Sequence[str]) -> str:
    """The variant name of an order of the three interventions.

    >>> order_name(("ivc", "ich", "ici"))
    'order_ivc_ich_ici'
    """
    return "order_" + "_".join(order)


PCMCI_ORDER: tuple[str, ...] = ("ich", "ici", "ivc")

# The poster's six orders, in the poster's table order (Order 1 ... Order 5, then PCMCi).
ORDERS: tuple[tuple[str, ...], ...] = (
    ("ivc", "ich", "ici"),
    ("ivc", "ici", "ich"),
    ("ici", "ivc", "ich"),
    ("ici", "ich", "ivc"),
    ("ich", "ivc", "ici"),
    PCMCI_ORDER,
)


def _variants() -> dict[str, Variant]:
    table = [
        Variant("base", (), title="Base",
                description="the VLM recipe: temporal transformer, mean pooling, cosine logits "
                            "against label embeddings initialised from the frozen text"),
        Variant("base_attention_pool", (), (("label_pooling", "attention"),),
                title="Base + attention pooling (control)",
                description="capacity control for per-video ICH: each label pools the frames "
                            "with its own attention, no optimal transport, no back-door"),
        Variant("frozen_text", (), (("label_lr_multiplier", 0.0),), title="Base, frozen text",
                description="the base with the frozen text embeddings as a fixed classifier"),
        Variant("oracle", (), train_split="train_oracle", title="Oracle (unconfounded train)",
                description="the base trained on train_oracle, where the confounders are broken"),
        Variant("oracle_context", (), train_split="train_oracle_context", title="Oracle, context broken",
                description="the base trained on train_oracle_context: context independent of the "
                            "activity, objects and scripts as in train (IVC's reference)"),
        Variant("oracle_objects", (), train_split="train_oracle_objects", title="Oracle, objects broken",
                description="the base trained on train_oracle_objects: objects independent of the "
                            "actions, context and scripts as in train (ICH's reference)"),
        Variant("oracle_codependency", (), train_split="train_oracle_codependency",
                title="Oracle, codependency broken",
                description="the base trained on train_oracle_codependency: scripts spliced across "
                            "activities, context and companions following the training rules "
                            "(ICI's reference)"),
        Variant("ich", ("ich",), title="ICH (per-video tokens)",
                description="ICH with V^P = the video's own frozen frame tokens (default)"),
        Variant("ich_dictionary", ("ich",), (("ich_visual_tokens", "dictionary"),),
                title="ICH (prototype dictionary)",
                description="ICH with V^P = k-means prototypes of training frames, prior p(h)"),
        Variant("ici", ("ici",), title="ICI", description="ICI alone"),
        Variant("ich_ici", ("ich", "ici"), title="ICH + ICI",
                description="the poster's ablation row: text deconfounded, vision not"),
        Variant("ivc", ("ivc",), title="IVC only",
                description="IVC with the in-sample reading of the front-door sum over v'"),
        Variant("ivc_cross_sample", ("ivc",), (("ivc_sampling", "cross_sample"),),
                title="IVC only, cross-sample",
                description="IVC whose sum over v' attends over other training videos"),
        Variant("pcmci", PCMCI_ORDER, title="PCMCi (ICH → ICI → IVC)",
                description="all three, in the poster's order"),
        Variant("pcmci_cross_sample", PCMCI_ORDER, (("ivc_sampling", "cross_sample"),),
                title="PCMCi, cross-sample IVC",
                description="all three, IVC's sum over v' across training videos"),
        Variant("pcmci_textbook", PCMCI_ORDER,
                (("ich_visual_tokens", "dictionary"), ("ivc_sampling", "cross_sample")),
                title="PCMCi, textbook readings",
                description="all three with the textbook readings of both adjustments: ICH "
                            "stratifies over a fixed dictionary of h with its prior, IVC sums over "
                            "other training videos"),
        Variant("pcmci_frozen_text", PCMCI_ORDER, (("label_lr_multiplier", 0.0),),
                title="PCMCi, frozen text",
                description="all three, the label embeddings kept at the frozen text"),
        Variant("pcmci_mediator_only", PCMCI_ORDER, (("ivc_routing", "mediator_only"),),
                title="PCMCi, mediator-only IVC",
                description="all three, IVC passing only the attended mediator to the classifier "
                            "(chapter 8)"),
    ]
    for order in ORDERS:
        if order != PCMCI_ORDER:
            table.append(Variant(order_name(order), order,
                                 description="the poster's order study: " +
                                             " → ".join(INTERVENTION_NAMES[o] for o in order)))
    return {variant.name: variant for variant in table}


VARIANTS: dict[str, Variant] = _variants()
"""Every configuration the chapters compare, by name."""

ABLATION: tuple[str, ...] = ("base", "ich_ici", "ivc", "pcmci")
"""The poster's ablation rows: Base, ICH+ICI, IVC only, all (PCMCi)."""

ORDER_VARIANTS: tuple[str, ...] = tuple(
    "pcmci" if order == PCMCI_ORDER else order_name(order) for order in ORDERS)
"""The poster's six orders as variant names, in the poster's table order."""

REFERENCES: tuple[str, ...] = ("oracle", "base_attention_pool")
"""The two references of every comparison: the oracle and the capacity control."""

ORACLE_VARIANTS: dict[str, str] = {"context": "oracle_context", "objects": "oracle_objects",
                                   "codependency": "oracle_codependency", "joint": "oracle"}
"""Confounder -> the oracle variant trained with it alone broken (its split: ``ORACLE_SPLITS``)."""

TARGETS: dict[str, str] = {"ivc": "context", "ich": "objects", "ici": "codependency"}
"""Intervention -> the confounder it targets (IVC: C, ICH: H, ICI: I): its shift and its oracle."""


def get_variant(name: str | Variant) -> Variant:
    """A variant by name (or the variant itself); a clear error for an unknown name."""
    if isinstance(name, Variant):
        return name
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}: expected one of {', '.join(VARIANTS)}") from None


# The poster's Breakfast tables, quoted (Xu et al., CVPR 2026, "Ablation + Order"), in percent.
POSTER_ABLATION = pd.DataFrame(
    {"variant": ["base", "ich_ici", "ivc", "pcmci"],
     "setup": ["Base", "ICH+ICI", "IVC only", "PCMCi"],
     "B-Acc": [91.55, 95.77, 93.24, 97.46], "B-mAP": [80.23, 85.59, 88.31, 90.51]})
"""The poster's ablation on Breakfast (accuracy and mAP in percent), quoted as the paper's numbers."""

POSTER_ORDERS = pd.DataFrame(
    {"variant": list(ORDER_VARIANTS),
     "order": ["IVC → ICH → ICI", "IVC → ICI → ICH", "ICI → IVC → ICH",
               "ICI → ICH → IVC", "ICH → IVC → ICI", "ICH → ICI → IVC"],
     "B-Acc": [92.96, 92.39, 94.08, 95.49, 96.34, 97.46],
     "B-mAP": [81.76, 80.94, 83.13, 87.43, 89.72, 90.51]})
"""The poster's six intervention orders on Breakfast (percent), quoted as the paper's numbers."""

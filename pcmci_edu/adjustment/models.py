r"""Trained-model rungs: PCMCi's modules, the capacity control, and an adjustment inside PCMCi.

The rungs that train the book's model (:class:`pcmci_edu.model.PCMCi`) rather than the linear
head: the base, the oracle, the attention-pooling control, PCMCi as the poster draws it, PCMCi
with a mediator-only IVC (:mod:`pcmci_edu.interventions.ivc`), and, beyond the paper, a model
trained with a *surrogate logit adjustment* (:class:`SurrogateLogitAdjusted`):

.. math::

    \text{train:}\ \ \mathrm{softmax}\big(f(V) + \log \hat P(y \mid \hat c(V))\big), \qquad
    \text{test:}\ \ \mathrm{softmax}\big(f(V)\big),

with :math:`\hat c` the label-free surrogate of :mod:`pcmci_edu.adjustment.confounders`. The
offset is the confounder-only effect, fixed from training counts; removing it at test is the
counterfactual subtraction of that effect (the spirit of total-indirect-effect debiasing).
Atomic actions get the same treatment with the log-odds :math:`\log \hat P(a_k \mid \hat c) -
\log(1 - \hat P(a_k \mid \hat c))`.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from pcmci_edu.adjustment.adjustments import SMOOTHING, log_conditional
from pcmci_edu.adjustment.confounders import Surrogate
from pcmci_edu.experiments import (RunCache, RunSettings, Variant, benchmark_signature, evaluate_model, get_variant,
                                   run_key)


@dataclass(frozen=True)
class ModelRung:
    """A trained-model rung: a registered variant, optionally with the surrogate logit adjustment."""

    name: str
    variant: str
    adjusted: bool = False
    title: str = ""


MODEL_RUNGS: tuple[ModelRung, ...] = (
    ModelRung("base", "base", title="Base (ERM)"),
    ModelRung("oracle", "oracle", title="Oracle (unconfounded train)"),
    ModelRung("base_attention_pool", "base_attention_pool", title="Attention-pooling control"),
    ModelRung("pcmci", "pcmci", title="PCMCi (poster)"),
    ModelRung("pcmci_mediator_only", "pcmci_mediator_only", title="PCMCi, mediator-only IVC"),
    ModelRung("base_surrogate_adjusted", "base", adjusted=True, title="Base + surrogate logit adjustment"),
    ModelRung("pcmci_surrogate_adjusted", "pcmci_mediator_only", adjusted=True,
              title="PCMCi (mediator-only) + surrogate logit adjustment"),
)
"""The trained-model rungs, by name; the last is the beyond-the-paper variant."""
BEYOND_THE_PAPER_RUNG = "pcmci_surrogate_adjusted"


def model_rung(name: str) -> ModelRung:
    """A model rung by name; a clear error for an unknown one."""
    for rung in MODEL_RUNGS:
        if rung.name == name:
            return rung
    raise KeyError(f"unknown model rung {name!r}: expected one of {', '.join(r.name for r in MODEL_RUNGS)}")


class SurrogateLogitAdjusted(nn.Module):
    """A model whose logits get ``log P(y | c_hat(V))`` added in training only (see the module
    docstring). ``c_hat`` is computed from the frames themselves, so the wrapper trains with
    :func:`pcmci_edu.train.fit` and predicts with :func:`pcmci_edu.train.predict` unchanged."""

    def __init__(self, model: nn.Module, surrogate: Surrogate, activity_offsets: np.ndarray | None,
                 action_offsets: np.ndarray) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("basis", torch.as_tensor(surrogate.basis, dtype=torch.float32))
        self.register_buffer("centres", torch.as_tensor(surrogate.centres, dtype=torch.float32))
        self.scale = surrogate.scale
        self.register_buffer("action_offsets", torch.as_tensor(action_offsets, dtype=torch.float32))
        self.register_buffer("activity_offsets", None if activity_offsets is None
                             else torch.as_tensor(activity_offsets, dtype=torch.float32))

    @classmethod
    def for_training_split(cls, model: nn.Module, train_split, surrogate: Surrogate) -> "SurrogateLogitAdjusted":
        """Offsets from the training split's counts per surrogate cluster (:data:`SMOOTHING` per cell)."""
        clusters = surrogate.assign(train_split)
        actions = np.asarray(train_split.actions, dtype=np.float64)
        present = np.full((surrogate.clusters, actions.shape[1]), SMOOTHING)
        absent = np.full_like(present, SMOOTHING)
        np.add.at(present, clusters, actions)
        np.add.at(absent, clusters, 1.0 - actions)
        action_offsets = np.log(present) - np.log(absent)
        activity_offsets = None
        if train_split.has_activities:
            activity_offsets = log_conditional(np.asarray(train_split.activities), clusters,
                                               len(train_split.activity_names), surrogate.clusters)
        return cls(model, surrogate, activity_offsets, action_offsets)

    def surrogate(self, frames: torch.Tensor) -> torch.Tensor:
        """The surrogate cluster of each video ``[B]`` (as :meth:`Surrogate.assign_features`)."""
        pooled = frames.float().mean(dim=1)
        residual = (pooled - (pooled @ self.basis) @ self.basis.T) / self.scale
        return torch.cdist(residual, self.centres).argmin(dim=1)

    def forward(self, frames: torch.Tensor, return_details: bool = False):
        """The wrapped model's output, with ``log P(y | c_hat)`` of each video's surrogate cluster
        added to the logits in training only (at test the offset is removed)."""
        output = self.model(frames, return_details)
        if self.training:
            clusters = self.surrogate(frames)
            output.action_logits = output.action_logits + self.action_offsets[clusters]
            if output.activity_logits is not None and self.activity_offsets is not None:
                output.activity_logits = output.activity_logits + self.activity_offsets[clusters]
        return output

    def loss(self, output, activities: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The wrapped model's loss on the (adjusted) logits."""
        return self.model.loss(output, activities, actions)

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """The wrapped model's optimiser parameter groups."""
        return self.model.parameter_groups(weight_decay)


NUMBER_DECIDING_MODULES: tuple[str, ...] = ("adjustments.py", "confounders.py", "models.py")
"""The modules of this package whose code decides an adjusted run's numbers."""


@functools.lru_cache(maxsize=1)
def _source_hash() -> str:
    """A hash of :data:`NUMBER_DECIDING_MODULES`: part of every adjusted run's cache key. Computed
    once per process, like :func:`pcmci_edu.experiments.code_fingerprint`: a file edited while a
    kernel runs does not change the code that kernel trains with."""
    digest = hashlib.sha256()
    for name in NUMBER_DECIDING_MODULES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:12]


def rung_key(rung: ModelRung, seed: int, benchmark, settings: RunSettings) -> str:
    """The run cache key of a model rung: the variant's key for plain rungs (so rows are shared
    with other chapters where the setting matches), plus the adjustment's code for adjusted ones."""
    variant = get_variant(rung.variant)
    extra = {"adjustment": "surrogate_logit", "code": _source_hash()} if rung.adjusted else None
    return run_key(variant, seed, benchmark_signature(benchmark), settings, extra)


def run_model_rung(rung: ModelRung | str, benchmark, seed: int, settings: RunSettings) -> dict[str, Any]:
    """Train one model rung for one seed on one benchmark and measure it
    (:func:`pcmci_edu.experiments.evaluate_model`: every split, the per-confounder shifts
    included); returns its row, with ``variant`` = the rung's name."""
    from pcmci_edu.experiments import build_model, torch_threads
    from pcmci_edu.train import TrainConfig, fit

    rung = model_rung(rung) if isinstance(rung, str) else rung
    variant: Variant = get_variant(rung.variant)
    train_set = benchmark[variant.train_split]
    with torch_threads(settings.threads):
        model = build_model(variant, benchmark, settings, seed, train_set)
        if rung.adjusted:
            surrogate = Surrogate.fit(train_set, len(train_set.truth.context_names), seed)
            model = SurrogateLogitAdjusted.for_training_split(model, train_set, surrogate)
        started = time.perf_counter()
        fit(model, train_set, {}, TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size,
                                              lr=settings.lr, weight_decay=settings.weight_decay, seed=seed,
                                              device=settings.device, progress=False))
        seconds = time.perf_counter() - started
        model.eval()
        row = evaluate_model(model, benchmark)
    return {"variant": rung.name, "label": rung.title, "seed": int(seed), "train_seconds": seconds, **row}


def _train_on(benchmark, rung: str, seed: int, settings: RunSettings) -> dict[str, Any]:
    """:func:`run_model_rung` with the benchmark first (the form worker processes call)."""
    return run_model_rung(rung, benchmark, seed, settings)


ADJUSTED_RUNGS: tuple[str, ...] = tuple(rung.name for rung in MODEL_RUNGS if rung.adjusted)
"""The model rungs that no registered variant trains (the surrogate logit adjustment)."""


def run_adjusted_draws(rungs: Sequence[str], draws: Sequence[int], seeds: Sequence[int], *, profile: str,
                       settings: RunSettings, cache: RunCache | None = None, preset: str = "breakfast",
                       progress: bool = True) -> pd.DataFrame:
    """Every adjusted rung x benchmark draw x model seed on the benchmark :func:`run_draws` uses
    (``make_benchmark(preset, profile=profile, seed=draw)``, no overrides), one row per run in the
    form of :func:`run_draws` (``variant`` = rung, ``benchmark_seed``, ``seed``,
    ``benchmark_signature``, ``cached``). Runs in ``cache`` are read; the others train in
    ``settings.workers`` processes and are stored."""
    from pcmci_edu.data import make_benchmark
    from pcmci_edu.experiments.parallel import run_in_workers

    frames = []
    for draw in tqdm(list(draws), desc="benchmark draws (adjusted rungs)", disable=not progress):
        benchmark = make_benchmark(preset, profile=profile, seed=int(draw))
        signature = benchmark_signature(benchmark)
        jobs = [(rung, int(seed), settings) for rung in rungs for seed in seeds]
        keys = [rung_key(model_rung(rung), seed, benchmark, settings) for rung, seed, _ in jobs]
        found = [cache.get(key) if cache is not None else None for key in keys]
        missing = [i for i, row in enumerate(found) if row is None]
        rows = {i: {**found[i], "cached": True} for i in range(len(jobs)) if found[i] is not None}

        def store(index: int, row: dict[str, Any]) -> None:
            if cache is not None:
                cache.put(keys[index], row)
            rows[index] = {**row, "cached": False}

        if settings.workers > 1 and len(missing) > 1:
            for position, row in run_in_workers(_train_on, [jobs[i] for i in missing], benchmark,
                                                signature, settings.workers):
                store(missing[position], row)
        else:
            for index in missing:
                store(index, _train_on(benchmark, *jobs[index]))
        frame = pd.DataFrame([rows[i] for i in range(len(jobs))])
        frame["benchmark_seed"], frame["benchmark_signature"] = int(draw), signature
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)

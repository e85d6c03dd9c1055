"""Training runs: how big a run is, one variant x one seed -> one row, and grids of them.

:class:`RunSettings` fixes a profile's model size and schedule, :func:`run_variant` trains and
measures one variant for one seed (:func:`pcmci_edu.experiments.evaluation.evaluate_model`), and
:func:`run_grid` runs variants x seeds with a progress bar, reading finished runs from the
:class:`~pcmci_edu.experiments.cache.RunCache`; the seeds of a variant that are not cached can train
together as batched ensembles (:func:`plan_groups`, :mod:`pcmci_edu.ensemble`), one row and one
set of weights per run as when trained alone. :func:`run_draws` runs such a grid on each of
several benchmark draws (:func:`draws_for_profile`, with :func:`seeds_per_draw` model seeds each),
the draw being the unit of replication. :func:`trained_model` gives a trained model back
for the figures of chapters 4-6, :func:`few_shot` the few-shot runs of chapter 3.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from pcmci_edu.cost import head_cost
from pcmci_edu.profile import pick, resolve_profile
from pcmci_edu.experiments.cache import RunCache, benchmark_signature, run_key
from pcmci_edu.experiments.evaluation import evaluate_model
from pcmci_edu.experiments.parallel import available_cores, run_in_workers
from pcmci_edu.experiments.variants import Variant, get_variant


@dataclass(frozen=True)
class RunSettings:
    """How big one run is: model width and depth, and the training schedule.

    ``model`` holds extra :class:`pcmci_edu.model.ModelConfig` fields shared by every variant
    (width, depth); ``device`` ``None`` picks CUDA when present. ``threads``: CPU threads torch
    uses during a run (``None`` leaves torch's default). The small models of the smoke and book
    profiles gain nothing from intra-op parallelism, and on a busy machine two threads per
    process can be many times slower than one, so these profiles use one. ``workers``: how many
    runs of a grid train at once, each in its own process
    (:mod:`pcmci_edu.experiments.parallel`); the book profile uses the machine's cores, up to two.
    ``ensemble_size``: how many runs of one variant (its seeds) a grid trains together as one
    batched model (:func:`pcmci_edu.ensemble.fit_ensemble`); each still gets its own row and
    weights, equal within float tolerance to the run trained alone, so the field is not part of a
    run's identity (its cache key). 1 trains one run at a time, every profile's default: on the
    2-core CPU the book's runs are bound by their matrix products, and batching PCMCi's runs cost
    more CPU time than it saved (results/benchmark_throughput.txt).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    model: tuple[tuple[str, Any], ...] = ()
    device: str | None = None
    threads: int | None = None
    workers: int = 1
    ensemble_size: int = 1

    @classmethod
    def for_profile(cls, profile: str | None = None) -> "RunSettings":
        """The settings a profile uses (smoke: seconds per run; book: ~10 s on a CPU)."""
        profile = resolve_profile(profile)
        return cls(
            epochs=pick(profile, smoke=1, book=8, full=30),
            batch_size=pick(profile, smoke=16, book=32, full=32),
            lr=1e-3,
            model=pick(profile, smoke=(("width", 32), ("layers", 1), ("heads", 2)),
                       book=(("width", 64), ("layers", 1), ("heads", 4)),
                       full=(("width", 256), ("layers", 2), ("heads", 8))),
            threads=pick(profile, smoke=1, book=1, full=None),
            workers=pick(profile, smoke=1, book=min(2, available_cores()), full=1),
            ensemble_size=1,   # measured (results/benchmark_throughput.txt): +28% runs/CPU-s for the base, -12% for PCMCi
        )

    def key(self) -> dict[str, Any]:
        """What identifies these settings in a cache key (the device does not)."""
        data = asdict(self)
        data.pop("device")
        data.pop("threads")
        data.pop("workers")
        data.pop("ensemble_size")
        data["model"] = [list(item) for item in self.model]
        return data


def seeds_for_profile(profile: str | None = None) -> list[int]:
    """The training seeds a profile averages over (at least 3 outside smoke).

    >>> seeds_for_profile("book")
    [0, 1, 2]
    >>> seeds_for_profile("smoke")
    [0]
    """
    return list(range(pick(resolve_profile(profile), smoke=1, book=3, full=5)))


def draws_for_profile(profile: str | None = None) -> list[int]:
    """The benchmark draws (benchmark seeds) a profile replicates over: the unit of replication.

    Five draws in the book and full profiles; the smoke profile has two, only so that the
    per-draw analysis code runs (two draws support no conclusion).

    >>> draws_for_profile("book")
    [0, 1, 2, 3, 4]
    >>> draws_for_profile("smoke")
    [0, 1]
    """
    return list(range(pick(resolve_profile(profile), smoke=2, book=5, full=5)))


def seeds_per_draw(profile: str | None = None) -> list[int]:
    """The model seeds trained on each benchmark draw (nested in the draw, averaged within it).

    >>> seeds_per_draw("book")
    [0, 1]
    >>> seeds_per_draw("smoke"), seeds_per_draw("full")
    ([0], [0, 1, 2])
    """
    return list(range(pick(resolve_profile(profile), smoke=1, book=2, full=3)))


def build_model(variant: str | Variant, benchmark: Mapping[str, Any], settings: RunSettings,
                seed: int = 0, train_set=None) -> torch.nn.Module:
    """The model of a variant, built for its training split (not trained).

    :meth:`pcmci_edu.model.PCMCi.from_dataset` builds what the variant needs from the training
    split (ICI's relation graphs, ICH's prototype dictionary, cross-sample IVC's memory).
    """
    from pcmci_edu.model import PCMCi

    variant = get_variant(variant)
    train_set = benchmark[variant.train_split] if train_set is None else train_set
    fields = {**dict(settings.model), **variant.option_dict}
    return PCMCi.from_dataset(train_set, interventions=variant.interventions, seed=seed, **fields)


@contextmanager
def torch_threads(threads: int | None):
    """Run a block with ``torch.set_num_threads(threads)`` (``None``: unchanged), then restore."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train_config(settings: RunSettings, seed: int, progress: bool):
    from pcmci_edu.train import TrainConfig

    return TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                       weight_decay=settings.weight_decay, seed=seed, device=settings.device,
                       progress=progress)


def run_variant(variant: str | Variant, benchmark: Mapping[str, Any], seed: int = 0,
                settings: RunSettings | None = None, *, train_set=None,
                return_model: bool = False, progress: bool = True):
    """Train one variant for one seed and measure it: returns a row (and the model if asked).

    ``train_set`` overrides the variant's training split (few-shot training passes
    ``benchmark.few_shot(k, seed)``). The row holds the measures of :func:`evaluate_model`, the
    parameter count and FLOPs per video (:func:`pcmci_edu.cost.head_cost`), the training wall time
    and the mean time per step.
    """
    from pcmci_edu.train import fit

    variant = get_variant(variant)
    settings = settings or RunSettings.for_profile()
    train_set = benchmark[variant.train_split] if train_set is None else train_set
    with torch_threads(settings.threads):
        model = build_model(variant, benchmark, settings, seed, train_set)
        started = time.perf_counter()
        fit(model, train_set, {}, _train_config(settings, seed, progress))
        row = _measure(variant, benchmark, model, seed, settings, len(train_set), time.perf_counter() - started)
    return (row, model) if return_model else row


def _measure(variant: Variant, benchmark: Mapping[str, Any], model: torch.nn.Module, seed: int,
             settings: RunSettings, train_videos: int, train_seconds: float) -> dict[str, Any]:
    """The row of a trained run: :func:`evaluate_model`'s measures, the cost, the training time."""
    model.eval()
    cost = head_cost(model, benchmark["test"][0]["frames"].unsqueeze(0))
    steps = settings.epochs * math.ceil(train_videos / settings.batch_size)
    return {
        "variant": variant.name, "label": variant.label, "seed": int(seed),
        "train_videos": train_videos,
        **evaluate_model(model, benchmark),
        "parameters": cost.parameters,
        "flops": cost.flops,
        "train_seconds": train_seconds,
        "step_seconds": train_seconds / max(steps, 1),
    }


def benchmark_seed(benchmark: Mapping[str, Any]) -> int | None:
    """The seed of the benchmark's draw (``benchmark.config.seed``), ``None`` when it has none."""
    seed = getattr(getattr(benchmark, "config", None), "seed", None)
    return None if seed is None else int(seed)


def run_grid(variants: Iterable[str | Variant], seeds: Iterable[int], benchmark: Mapping[str, Any],
             settings: RunSettings | None = None, cache: RunCache | str | Path | None = None,
             *, progress: bool = True) -> pd.DataFrame:
    """Train and measure every variant for every seed; one row per run, cached.

    Runs already in the cache (same variant, seed, benchmark, settings and code) are read, not
    trained. The returned frame has a ``cached`` column saying which, and a ``benchmark_seed``
    column (:func:`benchmark_seed`): with ``seed`` it pairs runs for the comparisons of
    :mod:`pcmci_edu.experiments.statistics`.
    """
    settings = settings or RunSettings.for_profile()
    cache = cache if isinstance(cache, RunCache) or cache is None else RunCache(cache)
    signature = benchmark_signature(benchmark)
    jobs = [(get_variant(v), int(s), settings, None) for v in variants for s in seeds]
    keys = [run_key(variant, seed, signature, settings) for variant, seed, _, _ in jobs]
    found = [cache.get(key) if cache is not None else None for key in keys]

    def store(index: int, row: dict, weights: dict) -> None:
        if cache is not None:
            cache.put(keys[index], row, weights)

    trained = _train_missing(jobs, found, benchmark, signature, settings.workers, store, "runs", progress,
                             settings.ensemble_size)
    return pd.DataFrame([{**(found[i] or trained[i]), "benchmark_seed": benchmark_seed(benchmark),
                          "cached": found[i] is not None} for i in range(len(jobs))])


def run_draws(variants: Iterable[str | Variant], draws: Iterable[int], seeds: Iterable[int],
              make_benchmark_fn: Callable[[int], Mapping[str, Any]] | None = None, *,
              preset: str = "breakfast", profile: str | None = None,
              overrides: Mapping[str, Any] | None = None, settings: RunSettings | None = None,
              cache: RunCache | str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Train every variant x benchmark draw x model seed; one row per run, cached.

    Each draw's benchmark is generated once, by ``make_benchmark_fn(draw)`` or else
    ``make_benchmark(preset, profile=profile, seed=draw, **overrides)``, and its runs go through
    :func:`run_grid` (so they share its cache). Every row carries ``variant``,
    ``benchmark_seed`` (the draw), ``seed`` (the model seed, nested in the draw) and
    ``benchmark_signature`` (:func:`~pcmci_edu.experiments.cache.benchmark_signature`, for the
    provenance of a results file).
    """
    variants, seeds = list(variants), [int(s) for s in seeds]
    settings = settings or RunSettings.for_profile(profile)
    cache = cache if isinstance(cache, RunCache) or cache is None else RunCache(cache)
    if make_benchmark_fn is None:
        from pcmci_edu.data import make_benchmark

        def make_benchmark_fn(draw: int) -> Mapping[str, Any]:
            return make_benchmark(preset, profile=resolve_profile(profile), seed=draw, **dict(overrides or {}))
    frames = []
    draws = [int(d) for d in draws]
    bar = tqdm(draws, desc="benchmark draws", disable=not progress)
    for draw in bar:
        bar.set_postfix_str(f"draw {draw}")
        benchmark = make_benchmark_fn(draw)
        own = benchmark_seed(benchmark)
        if own is not None and own != draw:
            raise ValueError(f"make_benchmark_fn({draw}) returned the benchmark of seed {own}: "
                             "a draw's benchmark must be generated with the draw as its seed")
        rows = run_grid(variants, seeds, benchmark, settings, cache, progress=progress)
        rows["benchmark_seed"] = draw
        rows["benchmark_signature"] = benchmark_signature(benchmark)
        frames.append(rows)
        del benchmark
    bar.close()
    return pd.concat(frames, ignore_index=True)


def _train_job(benchmark: Mapping[str, Any], variant: Variant, seed: int, settings: RunSettings,
               shots: int | None) -> tuple[dict, dict[str, torch.Tensor]]:
    """One run of a grid (on ``benchmark.few_shot(shots, seed)`` when ``shots`` is given): its
    row and trained weights. Module-level, so that worker processes can run it."""
    train_set = None if shots is None else benchmark.few_shot(shots, seed)
    row, model = run_variant(variant, benchmark, seed, settings, train_set=train_set,
                             return_model=True, progress=False)
    if shots is not None:
        row["shots"] = shots
    return row, {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}


def _train_group(benchmark: Mapping[str, Any], jobs: Sequence[tuple]) -> list[tuple[dict, dict[str, torch.Tensor]]]:
    """Runs of one variant and settings (seeds differ) trained as one batched ensemble
    (:func:`pcmci_edu.ensemble.fit_ensemble`); one ``(row, weights)`` per job, as
    :func:`_train_job` gives. ``train_seconds`` is the ensemble's time shared equally among its
    runs. Runs that cannot share a batch (training splits of different sizes) train one by one."""
    from pcmci_edu.ensemble import can_share_a_batch, fit_ensemble

    if len(jobs) == 1:
        return [_train_job(benchmark, *jobs[0])]
    variant, _, settings, shots = jobs[0]
    with torch_threads(settings.threads):
        train_sets = [benchmark[variant.train_split] if shots is None else benchmark.few_shot(shots, seed)
                      for _, seed, _, _ in jobs]
        models = [build_model(variant, benchmark, settings, seed, train_set)
                  for (_, seed, _, _), train_set in zip(jobs, train_sets)]
        configs = [_train_config(settings, seed, progress=False) for _, seed, _, _ in jobs]
        if can_share_a_batch(models, train_sets, configs) is not None:
            return [_train_job(benchmark, *job) for job in jobs]
        started = time.perf_counter()
        fit_ensemble(models, train_sets, configs, progress=False)
        seconds = (time.perf_counter() - started) / len(jobs)
        results = []
        for (_, seed, _, _), model, train_set in zip(jobs, models, train_sets):
            row = _measure(variant, benchmark, model, seed, settings, len(train_set), seconds)
            if shots is not None:
                row["shots"] = shots
            results.append((row, {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}))
    return results


def plan_groups(jobs: Sequence[tuple], indices: Sequence[int], ensemble_size: int, workers: int) -> list[list[int]]:
    """The jobs (by index) in groups to train together: same variant, settings and shots; at most
    ``ensemble_size`` each; and, when there are fewer groups than ``workers``, the largest split
    until every worker has one (two processes on two cores beat one twice the size).

    >>> from pcmci_edu.experiments.variants import get_variant
    >>> jobs = [(get_variant("base"), seed, RunSettings(), None) for seed in range(5)]
    >>> plan_groups(jobs, range(5), ensemble_size=8, workers=2)
    [[0, 1, 2], [3, 4]]
    """
    by_kind: dict[tuple, list[int]] = {}
    for index in indices:
        variant, _, settings, shots = jobs[index]
        by_kind.setdefault((variant.name, repr(variant), repr(settings), shots), []).append(index)
    size = max(1, ensemble_size)
    groups = [members[start:start + size] for members in by_kind.values() for start in range(0, len(members), size)]
    while len(groups) < workers and any(len(group) > 1 for group in groups):
        largest = max(groups, key=len)
        position = groups.index(largest)
        half = math.ceil(len(largest) / 2)
        groups[position:position + 1] = [largest[:half], largest[half:]]
    return groups


def _train_missing(jobs: Sequence[tuple], found: Sequence[dict | None], benchmark: Mapping[str, Any],
                   signature: str, workers: int, store, description: str, progress: bool,
                   ensemble_size: int = 1) -> dict[int, dict]:
    """Train the jobs without a cached row, in groups of up to ``ensemble_size`` runs trained as one
    batched model (:func:`plan_groups`), in ``workers`` processes when there are several;
    ``store(index, row, weights)`` as each finishes. Returns the new rows by job index."""
    missing = [index for index, row in enumerate(found) if row is None]
    groups = plan_groups(jobs, missing, ensemble_size, workers)
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(missing), desc=description, disable=not progress)
    rows: dict[int, dict] = {}
    batches = [[jobs[i] for i in group] for group in groups]
    if workers > 1 and len(groups) > 1:
        bar.set_postfix_str(f"{min(workers, len(groups))} processes, up to {max(map(len, groups))} runs each")
        finished = ((groups[g], results) for g, results in
                    run_in_workers(_train_group, [(batch,) for batch in batches], benchmark, signature, workers))
    else:
        finished = ((group, _train_group(benchmark, batch)) for group, batch in zip(groups, batches))
    for group, results in finished:
        for index, (row, weights) in zip(group, results):
            store(index, row, weights)
            rows[index] = row
        bar.set_postfix_str(f"{jobs[group[0]][0].name} seeds {', '.join(str(jobs[i][1]) for i in group)}")
        bar.update(len(group))
    bar.close()
    return rows


def trained_model(variant: str | Variant, benchmark: Mapping[str, Any], seed: int = 0,
                  settings: RunSettings | None = None,
                  cache: RunCache | str | Path | None = None) -> tuple[torch.nn.Module, dict]:
    """A trained model of a variant and its row: from the cache when there, else trained now."""
    variant = get_variant(variant)
    settings = settings or RunSettings.for_profile()
    cache = cache if isinstance(cache, RunCache) or cache is None else RunCache(cache)
    key = run_key(variant, seed, benchmark_signature(benchmark), settings)
    if cache is not None and cache.get(key) is not None and cache.model_path(key).is_file():
        model = build_model(variant, benchmark, settings, seed)
        model.load_state_dict(torch.load(cache.model_path(key), map_location="cpu"))
        model.eval()
        return model, cache.get(key)
    row, model = run_variant(variant, benchmark, seed, settings, return_model=True)
    if cache is not None:
        cache.put(key, row, model)
    return model, row


def few_shot(benchmark, variants: Sequence[str | Variant], shots: Sequence[int], seeds: Sequence[int],
             settings: RunSettings | None = None, cache: RunCache | str | Path | None = None,
             *, min_steps: int = 100, progress: bool = True) -> pd.DataFrame:
    """Train variants on ``benchmark.few_shot(k, seed)`` for each k in ``shots``; one row per run.

    A few videos make few steps per epoch, so the epochs are raised until a run makes at least
    ``min_steps`` optimiser steps.
    """
    settings = settings or RunSettings.for_profile()
    cache = cache if isinstance(cache, RunCache) or cache is None else RunCache(cache)
    signature = benchmark_signature(benchmark)
    jobs, keys = [], []
    for variant, k, seed in [(get_variant(v), k, s) for v in variants for k in shots for s in seeds]:
        steps_per_epoch = math.ceil(len(benchmark.few_shot(k, seed)) / settings.batch_size)
        run_settings = replace(settings, epochs=max(settings.epochs, math.ceil(min_steps / steps_per_epoch)))
        jobs.append((variant, seed, run_settings, k))
        keys.append(run_key(variant, seed, signature, run_settings, extra={"shots": k}))
    found = [cache.get(key) if cache is not None else None for key in keys]

    def store(index: int, row: dict, weights: dict) -> None:
        if cache is not None:
            cache.put(keys[index], row)                  # few-shot runs keep their rows, not weights

    trained = _train_missing(jobs, found, benchmark, signature, settings.workers, store, "few-shot runs",
                             progress, settings.ensemble_size)
    return pd.DataFrame([{**(found[i] or trained[i]), "benchmark_seed": benchmark_seed(benchmark)}
                         for i in range(len(jobs))])

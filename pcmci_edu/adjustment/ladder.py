"""The ladder runner: every rung, over confounding levels x benchmark draws x model seeds.

:class:`LadderDesign` fixes the grid a profile runs; :func:`run_ladder` returns one row per
(confounding level, benchmark draw, model seed, rung) with the activity accuracy on ``test``
and ``test_shift`` and the shift gap (and, for the trained models, both mAP conventions).
The linear rungs (:mod:`pcmci_edu.adjustment.adjustments`) run here; the trained-model rungs
(:mod:`pcmci_edu.adjustment.models`) are read from the experiments run cache or trained; both
run in two worker processes of one thread each outside the smoke profile.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from pcmci_edu.adjustment.adjustments import linear_rung
from pcmci_edu.adjustment.confounders import Surrogate, surrogate_agreement, true_confounder
from pcmci_edu.adjustment.models import MODEL_RUNGS, ModelRung, ladder_settings, rung_key, run_model_rung
from pcmci_edu.adjustment.positivity import positivity_row
from pcmci_edu.profile import pick, resolve_profile

PRESET = "breakfast"
LINEAR_RUNGS: tuple[tuple[str, str | None], ...] = (
    ("erm", None), ("oracle", None), ("parts_removed", None),
    *((adjustment, source) for source in ("true", "surrogate")
      for adjustment in ("logit_adjustment", "product_of_experts", "backdoor_sum", "reweighting")),
)
"""(adjustment, confounder source) of every linear rung."""
PCMCI_FAMILY: frozenset[str] = frozenset({"pcmci", "pcmci_mediator_only", "pcmci_surrogate_adjusted"})
"""Model rungs that train PCMCi (about three times a base run): only at ``LadderDesign.pcmci_levels``."""
SPLITS_MEASURED = ("train", "train_oracle", "test", "test_shift")


def linear_rung_name(adjustment: str, source: str | None) -> str:
    """The rung name of a linear rung, e.g. ``linear_logit_adjustment_true``."""
    return f"linear_{adjustment}" + (f"_{source}" if source else "")


RUNG_TITLES: dict[str, str] = {
    **{linear_rung_name(a, s): "linear: " + ("ERM" if a == "erm" else a.replace("_", " ")) + (f" ({s} c)" if s else "")
       for a, s in LINEAR_RUNGS},
    **{rung.name: rung.title for rung in MODEL_RUNGS},
}
"""A readable title per rung."""


@dataclass(frozen=True)
class LadderDesign:
    """The grid: confounding levels (``BenchmarkConfig.confounding``), benchmark draws
    (benchmark seeds) of the trained rungs, model seeds, the levels at which the PCMCi rungs are
    trained, and the (more, because cheap) benchmark draws of the linear rungs."""

    profile: str
    levels: tuple[float, ...]
    draws: tuple[int, ...]
    seeds: tuple[int, ...]
    pcmci_levels: tuple[float, ...]
    linear_draws: tuple[int, ...]

    @classmethod
    def for_profile(cls, profile: str | None = None) -> "LadderDesign":
        """smoke: 2 levels x 1 draw x 1 seed; book: 3 levels x 2 draws x 3 seeds, the PCMCi
        rungs at 0.9 only (the default, most confounded level) and the linear rungs over 4 draws;
        full: 3 x 3 x 5, PCMCi everywhere, 10 linear draws. The budget choices are ours."""
        profile = resolve_profile(profile)
        levels = pick(profile, smoke=(0.5, 0.9), book=(0.5, 0.7, 0.9), full=(0.5, 0.7, 0.9))
        return cls(profile, levels, pick(profile, smoke=(0,), book=(0, 1), full=(0, 1, 2)),
                   pick(profile, smoke=(0,), book=(0, 1, 2), full=(0, 1, 2, 3, 4)),
                   pick(profile, smoke=(0.9,), book=(0.9,), full=levels),
                   tuple(range(pick(profile, smoke=1, book=4, full=10))))

    def model_jobs(self) -> list[tuple[float, int, int, str]]:
        """(level, draw, seed, model rung) of every trained run."""
        return [(level, draw, seed, rung.name) for level in self.levels for draw in self.draws
                for seed in self.seeds for rung in MODEL_RUNGS
                if rung.name not in PCMCI_FAMILY or level in self.pcmci_levels]


def ladder_benchmark(profile: str, level: float, draw: int):
    """The ladder's benchmark: the Breakfast preset of the profile, default strengths, with
    ``confounding=level`` and ``seed=draw`` (level 0.9, draw 0 is chapters 3-7's benchmark)."""
    from pcmci_edu.data import make_benchmark

    return make_benchmark(PRESET, profile=profile, seed=draw, confounding=level)


def _measured(benchmark) -> dict[str, Any]:
    return {name: benchmark[name] for name in SPLITS_MEASURED}


def _train_model_job(profile: str, level: float, draw: int, seed: int, rung: str) -> dict[str, Any]:
    torch.set_num_threads(1)
    benchmark = ladder_benchmark(profile, level, draw)
    return run_model_rung(rung, _measured(benchmark), seed, ladder_settings(profile))


def linear_cell(profile: str, level: float, draw: int,
                surrogate_seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every linear rung on one benchmark (one level, one draw): its rows, and one row about the
    benchmark: the surrogate's agreement with the truth and the positivity of the training split.

    The linear rungs are convex fits that no seed changes; only the surrogate's k-means start
    (``surrogate_seed``, recorded as the row's ``seed``) could, so each draw gets one start and
    comparisons of linear rungs pair on draws."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small problems: more BLAS threads only contend on a shared CPU
        benchmark = ladder_benchmark(profile, level, draw)
        train = benchmark["train"]
        surrogate = Surrogate.fit(train, len(train.truth.context_names), surrogate_seed)
        confounders = {"true": {name: true_confounder(benchmark[name]) for name in ("train", "test", "test_shift")},
                       "surrogate": {name: surrogate.assign(benchmark[name])
                                     for name in ("train", "test", "test_shift")}}
        cell = {"confounding": level, "benchmark_seed": draw, "seed": surrogate_seed}
        rows = [{**cell, "rung": linear_rung_name(adjustment, source),
                 **linear_rung(benchmark, adjustment, confounders[source] if source else None)}
                for adjustment, source in LINEAR_RUNGS]
    return rows, {**cell, **surrogate_agreement(confounders["surrogate"]["train"], train), **positivity_row(train)}


def run_ladder(design: LadderDesign, cache=None, processes: int | None = None,
               progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All rows of the ladder (linear and trained rungs), and one row per benchmark of the linear
    rungs (level, draw): the surrogate's agreement with the truth (:func:`surrogate_agreement`)
    and the training split's positivity (:func:`pcmci_edu.adjustment.positivity.positivity_row`).

    Trained runs already in ``cache`` (a :class:`pcmci_edu.experiments.RunCache`) are read; the
    others, and the linear cells, run in ``processes`` worker processes of one thread each
    (default: 1 in the smoke profile, where starting workers costs more than the runs, else 2),
    and finished trained runs are stored in the cache."""
    processes = processes or pick(design.profile, smoke=1, book=2, full=2)
    settings = ladder_settings(design.profile)
    benchmarks = {(level, draw): ladder_benchmark(design.profile, level, draw)
                  for level in design.levels for draw in design.draws}
    rungs = {rung.name: rung for rung in MODEL_RUNGS}
    model_rows, missing, keys = [], [], {}
    for job in design.model_jobs():
        level, draw, seed, rung = job
        keys[job] = rung_key(rungs[rung], seed, benchmarks[(level, draw)], settings)
        cached = cache.get(keys[job]) if cache is not None else None
        if cached is None:
            missing.append(job)
        else:
            model_rows.append({**cached, "confounding": level, "benchmark_seed": draw, "cached": True})
    missing.sort(key=lambda job: job[3] not in PCMCI_FAMILY)  # the longest runs first
    cells = [(level, draw) for level in design.levels for draw in design.linear_draws]
    linear_rows, per_benchmark = [], []
    bar = tqdm(total=len(missing) + len(cells), desc="ladder runs", disable=not progress)

    def finish_model(job, row) -> None:
        if cache is not None:
            cache.put(keys[job], row)
        model_rows.append({**row, "confounding": job[0], "benchmark_seed": job[1], "cached": False})
        bar.update(1)

    def finish_linear(result) -> None:
        linear_rows.extend(result[0])
        per_benchmark.append(result[1])
        bar.update(1)

    if processes > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = {pool.submit(_train_model_job, design.profile, *job): ("model", job) for job in missing}
            futures.update({pool.submit(linear_cell, design.profile, *cell): ("linear", cell) for cell in cells})
            for future in as_completed(futures):
                kind, job = futures[future]
                finish_model(job, future.result()) if kind == "model" else finish_linear(future.result())
    else:
        for job in missing:
            finish_model(job, run_model_rung(job[3], _measured(benchmarks[job[:2]]), job[2], settings))
        for cell in cells:
            finish_linear(linear_cell(design.profile, *cell))
    bar.close()
    linear, models = pd.DataFrame(linear_rows), pd.DataFrame(model_rows)
    linear["family"], models["family"] = "linear", "model"
    rows = pd.concat([linear, models], ignore_index=True)
    rows["title"] = rows["rung"].map(RUNG_TITLES)
    order = {name: i for i, name in enumerate(RUNG_TITLES)}
    rows = rows.sort_values(["confounding", "benchmark_seed", "seed", "rung"],
                            key=lambda c: c.map(order) if c.name == "rung" else c, ignore_index=True)
    return rows, pd.DataFrame(per_benchmark)

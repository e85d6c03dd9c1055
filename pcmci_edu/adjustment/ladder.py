"""The ladder runner: the linear rungs over confounding levels x benchmark draws.

:class:`LadderDesign` fixes the grid a profile runs. The trained-model rungs run at the default
confounding on the shared design of chapters 3-7 (:func:`pcmci_edu.experiments.run_draws` for the
registered variants, :func:`pcmci_edu.adjustment.models.run_adjusted_draws` for the adjusted
ones), so their base, control, oracles and PCMCi come from the run cache. :func:`linear_ladder`
runs the linear rungs (:mod:`pcmci_edu.adjustment.adjustments`, cheap convex fits) on every
draw at every confounding level, in worker processes of one thread each outside the smoke profile.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from pcmci_edu.adjustment.adjustments import MEASURED_SPLITS, linear_rung
from pcmci_edu.adjustment.confounders import Surrogate, surrogate_agreement, true_confounder
from pcmci_edu.adjustment.models import MODEL_RUNGS
from pcmci_edu.adjustment.positivity import positivity_row
from pcmci_edu.profile import pick, resolve_profile

PRESET = "breakfast"
DEFAULT_CONFOUNDING = 0.9
"""The benchmark's default confounding (chapters 3-7 and the trained rungs run at it)."""
LINEAR_RUNGS: tuple[tuple[str, str | None], ...] = (
    ("erm", None), ("oracle", None), ("parts_removed", None),
    *((adjustment, source) for source in ("true", "surrogate")
      for adjustment in ("logit_adjustment", "product_of_experts", "backdoor_sum", "reweighting")),
)
"""(adjustment, confounder source) of every linear rung."""


def linear_rung_name(adjustment: str, source: str | None) -> str:
    """The rung name of a linear rung, e.g. ``linear_logit_adjustment_true``."""
    return f"linear_{adjustment}" + (f"_{source}" if source else "")


RUNG_TITLES: dict[str, str] = {
    **{linear_rung_name(a, s): "linear: " + ("ERM" if a == "erm" else a.replace("_", " ")) + (f" ({s} c)" if s else "")
       for a, s in LINEAR_RUNGS},
    **{rung.name: rung.title for rung in MODEL_RUNGS},
    "oracle_context": "Oracle, context broken",
}
"""A readable title per rung."""


@dataclass(frozen=True)
class LadderDesign:
    """The linear rungs' grid: confounding levels and benchmark draws (one surrogate start per
    draw). The draws are the book's (:func:`pcmci_edu.experiments.draws_for_profile`); the
    levels are ours: smoke 0.5 and 0.9, else 0.5, 0.7 and 0.9."""

    profile: str
    levels: tuple[float, ...]
    draws: tuple[int, ...]

    @classmethod
    def for_profile(cls, profile: str | None = None) -> "LadderDesign":
        from pcmci_edu.experiments import draws_for_profile

        profile = resolve_profile(profile)
        return cls(profile, pick(profile, smoke=(0.5, 0.9), book=(0.5, 0.7, 0.9), full=(0.5, 0.7, 0.9)),
                   tuple(draws_for_profile(profile)))


def ladder_benchmark(profile: str, level: float, draw: int):
    """The ladder's benchmark: the Breakfast preset of the profile with ``seed=draw``, default
    strengths, and ``confounding=level`` unless it is the default (then the very benchmark of
    :func:`pcmci_edu.experiments.run_draws`)."""
    from pcmci_edu.data import make_benchmark

    overrides = {} if level == DEFAULT_CONFOUNDING else {"confounding": level}
    return make_benchmark(PRESET, profile=profile, seed=draw, **overrides)


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
        names = ("train", *(name for name in MEASURED_SPLITS if name in benchmark))
        confounders = {"true": {name: true_confounder(benchmark[name]) for name in names},
                       "surrogate": {name: surrogate.assign(benchmark[name]) for name in names}}
        cell = {"confounding": level, "benchmark_seed": draw, "seed": surrogate_seed}
        rows = [{**cell, "variant": linear_rung_name(adjustment, source),
                 **linear_rung(benchmark, adjustment, confounders[source] if source else None)}
                for adjustment, source in LINEAR_RUNGS]
    return rows, {**cell, **surrogate_agreement(confounders["surrogate"]["train"], train), **positivity_row(train)}


def linear_ladder(design: LadderDesign, processes: int | None = None,
                  progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every linear rung at every (level, draw) of ``design``: one row per rung and benchmark
    (``variant`` = the rung, ``confounding``, ``benchmark_seed``, ``seed`` = the surrogate's
    start, the accuracies of :func:`pcmci_edu.adjustment.adjustments.linear_rung`), and one row
    per benchmark (surrogate agreement, positivity). ``processes`` worker processes of one
    thread each (default: 1 in the smoke profile, where starting workers costs more than the
    fits, else 2)."""
    processes = processes or pick(design.profile, smoke=1, book=2, full=2)
    cells = [(level, draw) for level in design.levels for draw in design.draws]
    rows, per_benchmark = [], []
    bar = tqdm(total=len(cells), desc="linear rungs (level x draw)", disable=not progress)
    if processes > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = [pool.submit(linear_cell, design.profile, *cell) for cell in cells]
            results = []
            for future in as_completed(futures):
                results.append(future.result())
                bar.update(1)
    else:
        results = []
        for cell in cells:
            results.append(linear_cell(design.profile, *cell))
            bar.update(1)
    bar.close()
    for cell_rows, benchmark_row in results:
        rows.extend(cell_rows)
        per_benchmark.append(benchmark_row)
    order = {name: i for i, name in enumerate(RUNG_TITLES)}
    rows = pd.DataFrame(rows).sort_values(["confounding", "benchmark_seed", "variant"],
                                          key=lambda c: c.map(order) if c.name == "variant" else c,
                                          ignore_index=True)
    return rows, pd.DataFrame(per_benchmark).sort_values(["confounding", "benchmark_seed"], ignore_index=True)

"""Runs of a grid trained in worker processes (RunSettings.workers > 1) give exactly the rows
and weights of the same runs trained in the calling process, and land in the run cache."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch

from pcmci_edu import experiments as ex
from pcmci_edu.data import make_benchmark

TIMES = ["train_seconds", "step_seconds"]


@pytest.fixture(scope="module")
def benchmark():
    return make_benchmark("breakfast", profile="smoke", seed=0)


def test_workers_train_the_same_runs_and_cache_them(benchmark, tmp_path):
    settings = ex.RunSettings.for_profile("smoke")
    assert settings.workers == 1 and ex.RunSettings.for_profile("book").workers in (1, 2)
    assert replace(settings, workers=2).key() == settings.key()          # not part of a run's identity
    variants, seeds = ["base", "ich"], [0, 1]
    alone = ex.run_grid(variants, seeds, benchmark, settings, tmp_path / "alone", progress=False)
    parallel = ex.run_grid(variants, seeds, benchmark, replace(settings, workers=2), tmp_path / "parallel",
                           progress=False)
    pd.testing.assert_frame_equal(alone.drop(columns=TIMES), parallel.drop(columns=TIMES))
    assert not parallel["cached"].any()
    for name in ("alone", "parallel"):
        cache = ex.RunCache(tmp_path / name)
        assert len(cache.rows) == 4
        for key in cache.rows:
            assert cache.model_path(key).is_file()
    first = ex.RunCache(tmp_path / "alone")
    for key in first.rows:
        weights = torch.load(first.model_path(key), weights_only=True)
        other = torch.load(tmp_path / "parallel" / "models" / f"{key}.pt", weights_only=True)
        assert all(torch.equal(weights[name], other[name]) for name in weights)
    again = ex.run_grid(variants, seeds, benchmark, replace(settings, workers=2), tmp_path / "parallel",
                        progress=False)
    assert again["cached"].all()


def test_few_shot_runs_in_workers_match(benchmark):
    settings = ex.RunSettings.for_profile("smoke")
    alone = ex.few_shot(benchmark, ["base"], [1], [0, 1], settings, progress=False, min_steps=4)
    parallel = ex.few_shot(benchmark, ["base"], [1], [0, 1], replace(settings, workers=2), progress=False,
                           min_steps=4)
    pd.testing.assert_frame_equal(alone.drop(columns=TIMES), parallel.drop(columns=TIMES))
    assert list(parallel["shots"]) == [1, 1]

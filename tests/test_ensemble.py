"""Runs trained together as one batched ensemble (pcmci_edu.ensemble, issue 21) equal the same
runs trained alone with pcmci_edu.train.fit: weights and metrics within float tolerance, for the
base and for full PCMCi, with dropout on, members of different seeds and benchmark draws; and
run_grid, training seeds as ensembles, stores the rows and keys it stores training them alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pcmci_edu import experiments as ex
from pcmci_edu.data import make_benchmark
from pcmci_edu.ensemble import can_share_a_batch, clip_member_gradients, fit_ensemble
from pcmci_edu.experiments.evaluation import evaluate_model
from pcmci_edu.model import PCMCi
from pcmci_edu.train import TrainConfig, fit

TIMES = ["train_seconds", "step_seconds"]
WEIGHT_TOLERANCE = 1e-3    # AdamW divides by the gradient's running norm: last-bit differences in a
METRIC_TOLERANCE = 1e-4    # near-zero gradient move a weight by up to ~lr; the metrics barely move


@pytest.fixture(scope="module")
def draws():
    return [make_benchmark("breakfast", profile="smoke", seed=seed) for seed in (0, 1)]


@pytest.mark.parametrize("interventions", [(), ("ich", "ici", "ivc")], ids=["base", "PCMCi"])
def test_ensemble_members_equal_the_runs_trained_alone(draws, interventions):
    members = [(draws[0], 0), (draws[0], 1), (draws[1], 2)]        # two seeds of one draw, another draw
    configs = [TrainConfig(epochs=2, batch_size=16, seed=seed, progress=False, device="cpu") for _, seed in members]

    def build():
        return [PCMCi.from_dataset(benchmark["train"], interventions=interventions, seed=seed, width=32, heads=2)
                for benchmark, seed in members]

    alone, together = build(), build()
    assert alone[0].config.dropout > 0                               # dropout on: each member's own masks
    for model, (benchmark, _), config in zip(alone, members, configs):
        fit(model, benchmark["train"], {}, config)
    histories = fit_ensemble(together, [benchmark["train"] for benchmark, _ in members], configs, progress=False)
    weight_gap = metric_gap = 0.0
    for model_alone, model_together, (benchmark, _) in zip(alone, together, members):
        for (name, weight), other in zip(model_alone.state_dict().items(), model_together.state_dict().values()):
            weight_gap = max(weight_gap, float((weight - other).abs().max()))
        measured, measured_together = evaluate_model(model_alone, benchmark), evaluate_model(model_together, benchmark)
        metric_gap = max([metric_gap] + [abs(measured[key] - measured_together[key]) for key in measured
                                         if measured[key] == measured[key]])
    print(f"{interventions or 'base'}: largest weight difference {weight_gap:.2e}, metric {metric_gap:.2e}")
    assert weight_gap < WEIGHT_TOLERANCE and metric_gap < METRIC_TOLERANCE
    assert [len(history) for history in histories] == [2, 2, 2]
    assert len({history.final["train_loss"] for history in histories}) == 3   # three different runs


def test_runs_that_differ_beyond_the_seed_are_refused(draws):
    train = draws[0]["train"]
    models = [PCMCi.from_dataset(train, interventions=(), width=32, heads=2),
              PCMCi.from_dataset(train, interventions=(), width=16, heads=2)]
    configs = [TrainConfig(epochs=1, progress=False)] * 2
    assert "differ" in can_share_a_batch(models, [train, train], configs)
    with pytest.raises(ValueError, match="cannot be trained as one ensemble"):
        fit_ensemble(models, [train, train], configs)


def test_each_member_is_clipped_on_its_own_norm():
    gradients = torch.tensor([[3.0, 4.0], [0.3, 0.4]])                 # norms 5 and 0.5
    parameter = torch.nn.Parameter(torch.zeros(2, 2))
    parameter.grad = gradients.clone()
    clip_member_gradients([parameter], max_norm=1.0)
    torch.testing.assert_close(parameter.grad, torch.tensor([[0.6, 0.8], [0.3, 0.4]]), rtol=1e-5, atol=1e-6)


def test_run_grid_trains_seeds_together_with_the_rows_and_keys_of_runs_alone(draws, tmp_path):
    settings = ex.RunSettings.for_profile("smoke")
    assert replace(settings, ensemble_size=4).key() == settings.key()   # not part of a run's identity
    alone = ex.run_grid(["base", "ich"], [0, 1, 2], draws[0], settings, tmp_path / "alone", progress=False)
    together = ex.run_grid(["base", "ich"], [0, 1, 2], draws[0], replace(settings, ensemble_size=3),
                           tmp_path / "together", progress=False)
    assert list(together.columns) == list(alone.columns)
    assert together[["variant", "seed"]].equals(alone[["variant", "seed"]])
    numbers = [name for name in alone.columns if alone[name].dtype.kind == "f" and name not in TIMES]
    gap = (alone[numbers] - together[numbers]).abs().max().max()
    print(f"run_grid: largest difference of a measure, ensembles of 3 vs alone: {gap:.2e}")
    assert gap < METRIC_TOLERANCE
    rows_alone, rows_together = ex.RunCache(tmp_path / "alone").rows, ex.RunCache(tmp_path / "together").rows
    assert sorted(rows_alone) == sorted(rows_together)
    assert all(ex.RunCache(tmp_path / "together").model_path(key).is_file() for key in rows_together)


class _Videos:
    """A few random videos in the form pcmci_edu.train reads (``__getitem__`` items)."""

    def __init__(self, frames: torch.Tensor, activities: torch.Tensor, actions: torch.Tensor) -> None:
        self.frames, self.activities, self.actions = frames, activities, actions

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        return {"frames": self.frames[index], "activity": self.activities[index], "actions": self.actions[index]}


@pytest.mark.slow      # about a minute of CPU: 11 configurations
def test_every_reference_configuration_trains_as_an_ensemble_as_alone():
    """The 11 configurations of tests/reference (dictionary ICH, cross-sample IVC, attention pooling,
    the frame adapter, the orders...), two seeds each, on a few random videos."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).with_name("reference")))
    from make_model_reference import CONFIGURATIONS, build

    generator = torch.Generator().manual_seed(0)
    for name in sorted(CONFIGURATIONS):
        template, data = build(name)
        videos = _Videos(torch.randn(10, *data["frames"].shape[1:], generator=generator),
                         torch.tensor([0, 1, 2, -1, 0, 1, 2, 0, -1, 1]),
                         (torch.rand(10, data["actions"].shape[1], generator=generator) > 0.5).float())

        def members():
            return [_reseeded(template, seed) for seed in (3, 4)]

        configs = [TrainConfig(epochs=2, batch_size=4, seed=seed, progress=False, device="cpu") for seed in (3, 4)]
        alone, together = members(), members()
        for model, config in zip(alone, configs):
            fit(model, videos, {}, config)
        fit_ensemble(together, [videos, videos], configs, progress=False)
        for model_alone, model_together in zip(alone, together):
            for key, weight in model_alone.state_dict().items():
                torch.testing.assert_close(model_together.state_dict()[key], weight, rtol=1e-3, atol=WEIGHT_TOLERANCE,
                                           msg=lambda text: f"{name} {key}: {text}")


def _reseeded(model: PCMCi, seed: int) -> PCMCi:
    """The model of the same configuration and inputs, initialised from another seed."""
    import copy

    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for parameter in fresh.parameters():
            if parameter.requires_grad:
                parameter.data.add_(0.01 * torch.randn_like(parameter))
    return fresh

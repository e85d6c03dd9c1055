"""ICH's Sinkhorn reports how well it converged (issue 13, item 6): the model's details carry
the iteration count and each video's marginal error, ICH warns once per model when the error
is above the tolerance, and the default settings converge on the benchmark."""

from __future__ import annotations

import warnings

import pytest
import torch

from pcmci_edu.data import make_benchmark
from pcmci_edu.experiments import torch_threads
from pcmci_edu.interventions.ich import MARGINAL_TOLERANCE, solve_entropic_transport, transport_cost
from pcmci_edu.model import ModelConfig, PCMCi
from pcmci_edu.train import TrainConfig, fit


@pytest.fixture(scope="module")
def benchmark():
    return make_benchmark("breakfast", profile="book", seed=0)


def test_marginal_error_measures_the_misplaced_mass():
    cost = transport_cost(torch.rand(3, 6, 5) * 2 - 1)
    converged = solve_entropic_transport(cost, epsilon=0.1, max_iter=1000, tol=1e-9)
    assert converged.marginal_error.shape == (3,) and float(converged.marginal_error.max()) < 1e-5
    stopped = solve_entropic_transport(cost, epsilon=1e-3, max_iter=1)
    plan = stopped.plan
    expected = (plan.sum(-1) - 1 / 6).abs().sum(-1) + (plan.sum(-2) - 1 / 5).abs().sum(-1)
    assert stopped.iterations == 1
    assert torch.allclose(stopped.marginal_error, expected) and float(stopped.marginal_error.max()) > 1e-3


def test_ich_warns_once_per_model_and_reports_in_the_details(benchmark):
    train = benchmark["train"]
    frames = torch.as_tensor(train.all_frames()[:64])
    model = PCMCi.from_dataset(train, ich_epsilon=1e-3)           # far too small for these costs
    with pytest.warns(RuntimeWarning, match="Sinkhorn stopped after 50 iterations") as caught, torch_threads(1):
        details = model(frames, return_details=True).details
        model(frames)
    assert len([warning for warning in caught if "Sinkhorn" in str(warning.message)]) == 1
    assert details["ot_iterations"] == model.config.ich_max_iter
    assert float(details["ot_marginal_error"].max()) > MARGINAL_TOLERANCE


def test_default_settings_converge_on_the_benchmark(benchmark):
    train = benchmark["train"]
    assert (ModelConfig.ich_epsilon, ModelConfig.ich_max_iter) == (0.05, 50)
    model = PCMCi.from_dataset(train)
    with warnings.catch_warnings(), torch_threads(1):          # one thread: a small model, maybe a busy CPU
        warnings.simplefilter("error", RuntimeWarning)          # no convergence warning while training
        fit(model, train, {}, TrainConfig(epochs=1, batch_size=32, progress=False))
        model.eval()
        for split in ("train", "test_shift"):
            with torch.no_grad():
                frames = torch.as_tensor(benchmark[split].all_frames()).to(next(model.parameters()).device)
                details = model(frames, return_details=True).details   # fit leaves it on its device (CUDA if any)
            assert float(details["ot_marginal_error"].max()) < MARGINAL_TOLERANCE / 100, split
            assert details["ot_iterations"] < model.config.ich_max_iter, split

"""Issue 13, item 1: ``pcmci-edu train`` is reproducible, and an interrupted run resumed to the end
equals the uninterrupted one, with more frames stored (8) than the model sees (4), so that the
training frames are drawn at random every epoch."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pcmci_edu import cli
from pcmci_edu.data import FeatureStore
from pcmci_edu.data.features import frame_loader
from pcmci_edu.train import CHECKPOINT_NAME


def _trained(run: Path) -> tuple[dict, list[dict]]:
    """The weights of ``<run>/model.pt`` and its history without the wall-clock column."""
    state = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    history = [{key: value for key, value in row.items() if key != "seconds"} for row in state["history"]]
    return state["state_dict"], history


def _assert_same_run(first: Path, second: Path) -> None:
    weights, history = _trained(first)
    other_weights, other_history = _trained(second)
    assert history == other_history
    assert weights.keys() == other_weights.keys()
    for name, tensor in weights.items():
        assert torch.equal(tensor, other_weights[name]), name


def test_random_frame_sampling_draws_from_the_generator_it_is_given(tmp_path):
    store = FeatureStore(tmp_path)
    store.write("v", np.arange(64, dtype=np.float32).reshape(64, 1))
    load = frame_loader(store, ["v"], 8, "random", seed=3)
    assert np.array_equal(load(0, np.random.default_rng(5)), load(0, np.random.default_rng(5)))
    draws = {tuple(load(0, np.random.default_rng(seed))[:, 0]) for seed in range(5)}
    assert len(draws) == 5  # other generators, other frames
    assert np.array_equal(frame_loader(store, ["v"], 8, "random", seed=3)(0), load(0))  # seeded default


def _train_in_a_new_process(arguments: list[str], out: Path) -> None:
    """``pcmci-edu train`` as a user runs it: a process of its own (a run inside the test process
    would share its memory layout with the runs before it, which may change the last bit of a sum)."""
    done = subprocess.run([sys.executable, "-m", "pcmci_edu.cli", "train", *arguments, "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_two_identical_runs_are_bit_identical(breakfast_with_features, tiny_run, tmp_path):
    for run in ("first", "second"):
        _train_in_a_new_process([*tiny_run, "--epochs", "3"], tmp_path / run)
    _assert_same_run(tmp_path / "first", tmp_path / "second")
    assert cli.main(["train", *tiny_run, "--out", str(tmp_path / "seed1"), "--epochs", "3",
                     "--set", "train.seed=1"]) == 0
    assert _trained(tmp_path / "seed1")[1] != _trained(tmp_path / "first")[1]  # the seed matters


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_run_resumed_to_the_end_equals_the_uninterrupted_one(breakfast_with_features, tiny_run,
                                                                           tmp_path, sent):
    epochs = 12
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    arguments = [*tiny_run, "--epochs", str(epochs)]
    process = subprocess.Popen([sys.executable, "-m", "pcmci_edu.cli", "train", *arguments, "--out", str(interrupted)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint = interrupted / "checkpoints" / CHECKPOINT_NAME
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(sent)
    error = process.communicate(timeout=120)[1]
    assert process.returncode != 0, "the run ended before it could be interrupted"
    if sent == signal.SIGINT:
        assert process.returncode == 130 and "Traceback" not in error, error
        assert "interrupted: run the same command again" in error, error
    stopped_at = torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"]
    assert 1 <= stopped_at < epochs and not (interrupted / "model.pt").exists()

    _train_in_a_new_process(arguments, interrupted)  # the same command again: resumes
    _train_in_a_new_process(arguments, whole)
    _assert_same_run(whole, interrupted)

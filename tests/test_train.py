"""The trainer: history and logs, checkpoints and resumption, evaluation, two-process DDP."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pcmci_edu.model import PCMCi
from pcmci_edu.train import TrainConfig, evaluate, fit, predict
from tests.test_model_fakes import FakeVideoDataset

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def splits() -> dict[str, FakeVideoDataset]:
    return {"train": FakeVideoDataset(num_videos=40, seed=0),
            "test": FakeVideoDataset(num_videos=20, seed=1, split="test")}


def small_model(dataset, interventions=("ich", "ici", "ivc"), seed=0) -> PCMCi:
    return PCMCi.from_dataset(dataset, width=16, heads=2, interventions=interventions, seed=seed)


def quiet(**fields) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "batch_size": 8, "progress": False, "device": "cpu", **fields})


def test_fit_returns_history_and_writes_logs(splits, tmp_path):
    model = small_model(splits["train"])
    csv_path, json_path = tmp_path / "log.csv", tmp_path / "log.json"
    history = fit(model, splits["train"], {"test": splits["test"]}, quiet(log_path=str(csv_path)))
    assert len(history) == 3 and [row["epoch"] for row in history.rows] == [1, 2, 3]
    assert history.final["step"] == 3 * 5
    assert {"test/accuracy", "test/mAP_all_classes", "test/mAP_present_classes"} <= set(history.final)
    assert history.column("train_loss")[-1] < history.column("train_loss")[0]
    frame = history.to_frame()
    assert list(frame["epoch"]) == [1, 2, 3]
    written = csv_path.read_text().splitlines()
    assert written[0].startswith("epoch,step,lr,train_loss") and len(written) == 4
    history.write(json_path)
    assert json.loads(json_path.read_text())[-1]["epoch"] == 3
    assert not model.training


def test_schedule_warms_up_then_decays(splits):
    model = small_model(splits["train"], interventions=())
    history = fit(model, splits["train"], {}, quiet(epochs=4, warmup_fraction=0.25, lr=1e-2))
    lrs = history.column("lr")
    assert lrs[0] == pytest.approx(1e-2, rel=1e-6)          # warmup (5 steps) ends with the first epoch
    assert lrs[1] > lrs[2] > lrs[3] == pytest.approx(0.0, abs=1e-12)


def test_label_learning_rate_multiplier_is_honoured(splits):
    """Frozen label embeddings stay at the text features; slowed ones move less than normal ones."""
    start = torch.cat([splits["train"].activity_text_features, splits["train"].action_text_features])
    moved = {}
    for multiplier in (0.0, 0.1, 1.0):
        model = PCMCi.from_dataset(splits["train"], width=16, heads=2, interventions=(),
                                   label_lr_multiplier=multiplier)
        fit(model, splits["train"], {}, quiet(epochs=2, lr=1e-2))
        moved[multiplier] = float((model.label_embeddings.detach() - start).abs().max())
    assert moved[0.0] == 0.0
    assert 0 < moved[0.1] < moved[1.0]


def test_resumed_run_equals_uninterrupted_run(splits, tmp_path):
    config = dict(epochs=4, seed=7)
    reference = small_model(splits["train"])
    full_history = fit(reference, splits["train"], {"test": splits["test"]},
                       quiet(checkpoint_dir=str(tmp_path / "a"), **config))

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, row):
        if epoch == 2:
            raise Interrupt

    interrupted = small_model(splits["train"])
    with pytest.raises(Interrupt):
        fit(interrupted, splits["train"], {"test": splits["test"]},
            quiet(checkpoint_dir=str(tmp_path / "b"), **config), on_epoch_end=stop_after_two)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["last.pt"]    # atomic: no temporary files
    resumed = small_model(splits["train"])
    resumed_history = fit(resumed, splits["train"], {"test": splits["test"]},
                          quiet(checkpoint_dir=str(tmp_path / "b"), **config))
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert len(resumed_history) == 4
    for key in ("train_loss", "test/accuracy", "test/mAP_all_classes"):
        assert resumed_history.column(key) == full_history.column(key)


def test_resume_refuses_a_different_schedule(splits, tmp_path):
    fit(small_model(splits["train"], interventions=()), splits["train"], {},
        quiet(epochs=1, checkpoint_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="was written with"):
        fit(small_model(splits["train"], interventions=()), splits["train"], {},
            quiet(epochs=2, lr=5e-3, checkpoint_dir=str(tmp_path)))


def test_predict_and_evaluate(splits):
    model = small_model(splits["train"], interventions=())
    activity, action = predict(model, splits["test"], batch_size=7)
    assert activity.shape == (20, 3) and action.shape == (20, 6) and action.dtype == np.float32
    results = evaluate(model, splits["test"])
    assert set(results) == {"accuracy", "mAP_all_classes", "mAP_present_classes"}
    assert results["accuracy"] == pytest.approx(float((activity.argmax(1) == splits["test"].activities).mean()))
    no_activities = FakeVideoDataset(num_videos=10, with_activities=False)
    results = evaluate(small_model(no_activities, interventions=()), no_activities)
    assert math.isnan(results["accuracy"]) and 0 < results["mAP_all_classes"] <= 1


def test_trainconfig_rejects_bad_values():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=".csv or .json"):
        TrainConfig(log_path="log.txt")


def test_smoke_benchmark_trains_above_chance():
    """The full model learns the smoke benchmark (100 noisy training videos) in seconds: on test
    it scores well above chance (10 activities; random scores reach the positive rate in mAP)
    and above its zero-shot start. The noise is the pre-headroom default (4.0): this tests that
    training learns; at the book's default (7.0, chosen for headroom) 100 videos of 8 frames and
    10 epochs reached 22% test accuracy, too close to chance for this check."""
    from pcmci_edu.data import make_benchmark

    benchmark = make_benchmark("breakfast", profile="smoke", seed=0, noise=4.0)
    train, test = benchmark["train"], benchmark["test"]
    model = PCMCi.from_dataset(train, width=32, heads=2)
    zero_shot = evaluate(model, test)
    history = fit(model, train, {"test": test},
                  TrainConfig(epochs=10, lr=3e-3, batch_size=16, progress=False, device="cpu"))
    chance_accuracy = 1 / len(train.activity_names)
    positive_rate = float(np.asarray(test.actions).mean())        # mAP of random scores
    assert history.final["test/accuracy"] > 3 * chance_accuracy
    assert history.final["test/accuracy"] > zero_shot["accuracy"] + 0.05
    assert history.final["test/mAP_present_classes"] > positive_rate + 0.15


DDP_SCRIPT = """
import sys, torch
sys.path.insert(0, {root!r})
from pcmci_edu.model import PCMCi
from pcmci_edu.train import TrainConfig, fit
from tests.test_model_fakes import FakeVideoDataset
torch.set_num_threads(1)
train = FakeVideoDataset(num_videos=32)
model = PCMCi.from_dataset(train, width=16, heads=2)
history = fit(model, train, {{}}, TrainConfig(epochs=2, batch_size=8, progress=False, device="cpu",
              checkpoint_dir={checkpoints!r}, log_path={log!r}))
rank = torch.distributed.get_rank()
torch.save({{"state": model.state_dict(), "loss": history.column("train_loss")}}, {out!r} + f"/rank{{rank}}.pt")
torch.distributed.destroy_process_group()
"""


def test_two_process_ddp_with_gloo_agrees(tmp_path):
    """torchrun launches two CPU processes (gloo); their models stay identical, rank 0 alone logs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "ddp_fit.py"
    script.write_text(DDP_SCRIPT.format(root=str(REPO_ROOT), checkpoints=str(tmp_path / "ckpt"),
                                        log=str(tmp_path / "log.csv"), out=str(tmp_path)))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
               f"--master_addr=127.0.0.1", f"--master_port={port}", str(script)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for name, value in first["state"].items():
        assert torch.equal(value, second["state"][name]), name
    assert first["loss"] == second["loss"]                       # the logged loss is averaged over ranks
    assert (tmp_path / "ckpt" / "last.pt").exists() and len((tmp_path / "log.csv").read_text().splitlines()) == 3
    untrained = PCMCi.from_dataset(FakeVideoDataset(num_videos=32), width=16, heads=2)
    assert not torch.equal(untrained.state_dict()["video_encoder.position"], first["state"]["video_encoder.position"])


def test_mixed_precision_only_on_cuda():
    from contextlib import nullcontext

    from pcmci_edu.train import mixed_precision

    autocast, scaler = mixed_precision(TrainConfig(amp=True), torch.device("cpu"))
    assert autocast is nullcontext and scaler.scale(torch.tensor(2.0)) == 2.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda_with_amp(splits):
    """On a GPU: autocast training steps keep the OT plan in float32 and the gradients finite."""
    model = small_model(splits["train"])
    history = fit(model, splits["train"], {"test": splits["test"]},
                  TrainConfig(epochs=2, batch_size=8, progress=False, device="cuda", amp=True))
    assert next(model.parameters()).device.type == "cuda"
    assert math.isfinite(history.final["train_loss"])
    frames = torch.stack([splits["test"][i]["frames"] for i in range(4)]).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        details = model(frames, return_details=True).details
    assert details["ot_plan"].dtype == torch.float32 and details["ot_plan"].is_cuda

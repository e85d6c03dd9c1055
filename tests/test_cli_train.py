"""Issue 23, the train side: a researcher's `pcmci-edu train` cannot silently go wrong.

Each test runs the installed command (``cli.main`` or a process of its own) on the offline
Breakfast miniature of ``tests/conftest.py`` (6 training videos, 8 stored frames of 16-d random
features, a tiny model on the CPU, 1-2 epochs)."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pcmci_edu import cli
from pcmci_edu.cli.train import LOG_FILE, SEEDS_SUMMARY_FILE
from pcmci_edu.data import AnnotationError, Charades
from pcmci_edu.data.miniature import make_miniature
from pcmci_edu.files import folder_lock
from pcmci_edu.model import PCMCi
from pcmci_edu.train import CHECKPOINT_NAME, TrainConfig, TrainingDiverged, fit


def _fails_clearly(arguments: list[str], capsys, *expected: str) -> str:
    """``cli.main`` exits non-zero with one ``error:`` line holding each expected text."""
    code = cli.main(arguments)
    captured = capsys.readouterr()
    assert code not in (0, None), captured.err
    # what stays on screen: a closed progress bar is overwritten by the line after its last carriage return
    lines = [line.split("\r")[-1] for line in captured.err.split("\n") if line.split("\r")[-1].strip()]
    assert "Traceback" not in captured.err and len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as stream:
        return [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(stream)]


# ------------------------------------------------------------------ 1: divergence is an error, not a NaN model

def test_a_diverging_run_stops_with_an_error_and_writes_no_model(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    _fails_clearly(["train", *tiny_run, "--out", str(run), "--epochs", "2", "--set", "train.lr=1e12",
                    "--set", "dataset.val_fraction=0"], capsys, "training diverged in epoch 1 of 2",
                   "became NaN or infinite", "train.lr")
    assert not (run / "model.pt").exists()
    assert "training diverged" in (run / LOG_FILE).read_text()


def test_divergence_keeps_the_checkpoint_of_the_last_finite_epoch(breakfast_with_features, tmp_path):
    config = cli.load_run_config("breakfast", ["dataset.num_frames=4", "model.width=32", "model.heads=2",
                                               "model.layers=1"])
    train_set, _ = cli.training_splits(config, breakfast_with_features)
    model = PCMCi.from_dataset(train_set, **config["model"])

    def poison_after_the_first_epoch(epoch: int, row: dict) -> None:
        if epoch == 1:
            with torch.no_grad():
                next(model.parameters()).fill_(math.nan)

    settings = TrainConfig(epochs=3, batch_size=2, device="cpu", progress=False, checkpoint_dir=str(tmp_path))
    with pytest.raises(TrainingDiverged, match="in epoch 2 of 3: the training loss .* checkpoint of epoch 1 is kept"):
        fit(model, train_set, {}, settings, on_epoch_end=poison_after_the_first_epoch)
    state = torch.load(tmp_path / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and all(torch.isfinite(value).all() for value in state["model"].values())


# ------------------------------------------------------------------ 2: grad_clip = 0 means no clipping

def test_grad_clip_zero_disables_clipping_and_the_model_learns(tiny_run, tmp_path):
    assert TrainConfig(grad_clip=0).grad_clip is None and TrainConfig(grad_clip=0.0) == TrainConfig(grad_clip=None)
    for name, clip in (("zero", "0"), ("huge", "1e9")):
        assert cli.main(["train", *tiny_run, "--out", str(tmp_path / name), "--epochs", "2",
                         "--set", f"train.grad_clip={clip}", "--set", "train.lr=1e-2"]) == 0
    zero, huge = _history(tmp_path / "zero"), _history(tmp_path / "huge")
    assert [row["train_loss"] for row in zero] == [row["train_loss"] for row in huge]  # no clipping at all
    assert zero[0]["train_loss"] != zero[1]["train_loss"]  # it learns (a zero norm froze the loss)


# ------------------------------------------------------------------ 3: more frames than the store holds

def test_more_frames_than_the_store_holds_is_refused_naming_both_numbers(tiny_run, tmp_path, capsys):
    _fails_clearly(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1",
                    "--set", "dataset.num_frames=32"], capsys,
                   "the store holds 8 frame(s) of this video, the run asks for 32", "--set dataset.num_frames=8")


# ------------------------------------------------------------------ 4: a video listed twice, or in both splits

def test_a_video_listed_twice_or_in_both_splits_is_refused(breakfast_with_features, tiny_run, tmp_path, capsys):
    folder = breakfast_with_features / "breakfast" / "malmm"
    train_text, test_text = (folder / "train.json").read_text(), (folder / "val.json").read_text()
    train, test = json.loads(train_text), json.loads(test_text)
    first_test = next(iter(test))
    (folder / "train.json").write_text(json.dumps({**train, first_test: test[first_test]}))
    _fails_clearly(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1"], capsys,
                   "train.json, video", f"is also in the test split ({folder / 'val.json'}, video {first_test!r})")
    name, entry = next(iter(train.items()))
    (folder / "train.json").write_text(train_text.rstrip().rstrip("}") + f', "{name}": {json.dumps(entry)}}}')
    _fails_clearly(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1"], capsys,
                   f"{folder / 'train.json'}: key {name!r} appears twice")


def test_charades_refuses_a_repeated_id_and_a_video_in_train_and_test(tmp_path):
    mini = make_miniature(tmp_path / "mini", "charades", num_train=4, num_test=2)
    root = tmp_path / "data"
    assert cli.main(["prepare", "charades", "--root", str(root), "--from-dir", str(mini.mirror), "--no-verify",
                     "--accept-licence"]) == 0
    folder = next(root.rglob("Charades_v1_train.csv")).parent
    train_path, test_path = folder / "Charades_v1_train.csv", folder / "Charades_v1_test.csv"
    train_lines, test_lines = train_path.read_text().splitlines(), test_path.read_text().splitlines()
    repeated = train_lines[1].split(",")[0]
    train_path.write_text("\n".join([*train_lines, train_lines[1]]) + "\n")
    with pytest.raises(AnnotationError, match=rf"Charades_v1_train\.csv, line {len(train_lines) + 1}: video "
                                              rf"'{repeated}' is listed twice \(first at .*line 2\)"):
        Charades(folder, "train")
    train_path.write_text("\n".join(train_lines) + "\n")
    test_path.write_text("\n".join([*test_lines, train_lines[2]]) + "\n")
    for split in ("train", "test"):
        with pytest.raises(AnnotationError, match=rf"video '{train_lines[2].split(',')[0]}' is also in the "
                                                  rf"(test|train) split"):
            Charades(folder, split)


# ------------------------------------------------------------------ 5: one train per run folder

def test_a_second_train_into_the_same_folder_is_refused(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    with folder_lock(run, "held by the test (process {holder})"):  # what a first `train` holds while it runs
        _fails_clearly(["train", *tiny_run, "--out", str(run), "--epochs", "1"], capsys,
                       f"{run}: another `pcmci-edu train` (process ", "is writing this run folder")
    assert not (run / "model.pt").exists()
    assert cli.main(["train", *tiny_run, "--out", str(run), "--epochs", "1"]) == 0  # released: it runs


# ------------------------------------------------------------------ 6: a finished run trained further

def test_a_finished_run_is_extended_only_with_extend(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", *tiny_run, "--out", str(run), "--epochs", "1"]) == 0
    assert cli.main(["train", *tiny_run, "--out", str(run), "--epochs", "1"]) == 0
    assert "already trained for 1 epochs; nothing to do" in capsys.readouterr().out
    error = _fails_clearly(["train", *tiny_run, "--out", str(run), "--epochs", "2"], capsys,
                           "holds a run of train.epochs=1 (1 done)", "add --extend", "--out")
    assert "resume=False" not in error and "checkpoint_dir" not in error  # the command's words, not the API's
    _fails_clearly(["train", *tiny_run, "--out", str(run), "--epochs", "1", "--set", "train.lr=0.5"], capsys,
                   "trained with train.lr=0.0001", "asks for train.lr=0.5")
    assert cli.main(["train", *tiny_run, "--out", str(run), "--epochs", "2", "--extend"]) == 0
    assert "extending: resuming from epoch 2" in capsys.readouterr().out
    assert [row["epoch"] for row in _history(run)] == [1, 2]
    assert len(torch.load(run / "model.pt", map_location="cpu", weights_only=True)["history"]) == 2


# ------------------------------------------------------------------ 7: seeds

def test_the_validation_videos_do_not_follow_the_training_seed(breakfast_with_features):
    held_out = {}
    for seed in (0, 1):
        config = cli.load_run_config("breakfast", [f"train.seed={seed}", f"model.seed={seed}",
                                                   "dataset.val_fraction=0.34"])
        held_out[seed] = cli.training_splits(config, breakfast_with_features)[1].video_ids
    assert held_out[0] == held_out[1]
    other = cli.load_run_config("breakfast", ["dataset.split_seed=5", "dataset.val_fraction=0.34"])
    assert cli.training_splits(other, breakfast_with_features)[1].video_ids != held_out[0]


def test_seed_sets_the_model_and_training_seeds(tiny_run, tmp_path):
    assert cli.main(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1", "--seed", "3"]) == 0
    record = torch.load(tmp_path / "run" / "model.pt", map_location="cpu", weights_only=True)
    assert record["run_config"]["model"]["seed"] == record["run_config"]["train"]["seed"] == 3
    assert record["model_config"]["seed"] == 3


def test_several_seeds_are_trained_and_summarised(tiny_run, tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli.main(["train", *tiny_run, "--out", str(out), "--epochs", "1", "--seeds", "0", "1",
                     "--set", "dataset.val_fraction=0.34"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / SEEDS_SUMMARY_FILE).read_text())
    assert summary["seeds"] == [0, 1] and (out / "seed_0" / "model.pt").is_file() and (out / "seed_1" / "model.pt").is_file()
    finals = [_history(out / f"seed_{seed}")[-1] for seed in (0, 1)]
    for name in ("train_loss", "val/accuracy", "val/mAP_all_classes"):
        values = [row[name] for row in finals]
        metric = summary["metrics"][name]
        assert metric["values"] == pytest.approx(values) and metric["mean"] == pytest.approx(np.mean(values))
        low, high = metric["ci95"]
        assert low <= metric["mean"] <= high and name in printed
    assert "95% interval" in printed
    _fails_clearly(["train", *tiny_run, "--out", str(out), "--seeds", "2"], capsys, "two or more different seeds")


# ------------------------------------------------------------------ 8: resume, SIGTERM, temporaries, the run's log

@pytest.mark.slow
def test_sigterm_says_what_was_saved_and_the_run_resumes_without_stray_files(tiny_run, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "pcmci_edu.cli", "train", *tiny_run, "--out", str(run), "--epochs", "4"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint = run / "checkpoints" / CHECKPOINT_NAME
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    error = process.communicate(timeout=120)[1]
    assert process.returncode == 143 and "Traceback" not in error, error
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"]
    assert f"stopped by SIGTERM: run the same command again to resume from epoch {saved + 1}" in error, error
    assert f"holds epoch {saved} of 4" in error
    assert not [path for path in run.rglob("*") if path.name.endswith(".tmp")]
    (run / "checkpoints" / ".last.pt.killed.tmp").write_bytes(b"half a checkpoint")  # as SIGKILL would leave it
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)  # the same command: resumes
    assert done.returncode == 0, done.stderr
    assert f"resuming from epoch {saved + 1} of 4" in done.stdout
    assert not (run / "checkpoints" / ".last.pt.killed.tmp").exists()
    log = (run / LOG_FILE).read_text()
    assert "\r" not in log and "stopped: stopped by SIGTERM" in log and "epoch 1/4  train_loss" in log
    assert "epoch 4/4  train_loss" in log and f"resuming from epoch {saved + 1} of 4" in log


# ------------------------------------------------------------------ 9: bad inputs, one line each

@pytest.mark.parametrize("setting, expected", [
    ("train.lr=0", "[train] lr must be > 0, got 0.0"),
    ("train.lr=nan", "[train] lr must be a finite number"),
    ("train.warmup_fraction=1", "[train] warmup_fraction must be in [0, 1)"),
    ("train.seed=-1", "[train] seed = -1: expected a seed"),
    ("model.layers=-1", "[model] layers = -1: expected an integer >= 0"),
    ("model.dropout=1.5", "[model] dropout = 1.5: expected a probability in [0, 1)"),
    ("model.ich_epsilon=0", "[model] ich_epsilon = 0.0: expected a number > 0"),
    ("dataset.val_fraction=0.99", "[dataset] val_fraction = 0.99 holds out 6 of the 6 training videos"),
    ("dataset.subset=\"split9\"", "[dataset] subset = 'split9': expected person, split1"),
    ("dataset.test_split=\"x\"", "[dataset] test_split = 'x': expected train or test"),
    ("dataset.split_seed=1.5", "[dataset] split_seed: expected an integer, got 1.5"),
    ("train.extend=true", "[train] extend is set by the command"),
])
def test_bad_values_name_the_field_and_what_it_expects(tiny_run, tmp_path, capsys, setting, expected):
    error = _fails_clearly(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1", "--set", setting],
                           capsys, expected)
    assert "TrainConfig" not in error and "ModelConfig" not in error


def test_bad_files_and_options_are_named_in_one_line(breakfast_with_features, tiny_run, tmp_path, capsys):
    out = ["--out", str(tmp_path / "run"), "--epochs", "1"]
    _fails_clearly(["train", *tiny_run, *out, "--device", "gpu"], capsys, "--device gpu: expected cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        _fails_clearly(["train", *tiny_run, *out, "--device", "cuda"], capsys, "--device cuda: no CUDA GPU is visible")
    store = cli._store_dir(cli.load_run_config("breakfast"), breakfast_with_features)
    text = store / "text_features.npz"
    kept = text.read_bytes()
    text.write_bytes(b"not an npz")
    _fails_clearly(["train", *tiny_run, *out], capsys, f"{text}: not a readable .npz file of label text features")
    text.unlink()
    _fails_clearly(["train", *tiny_run, *out], capsys, f"{text}: no label text features", "pcmci-edu extract breakfast")
    text.write_bytes(kept)
    video = sorted(store.glob("*.npy"))[0]
    video.write_bytes(b"garbage")
    _fails_clearly(["train", *tiny_run, *out], capsys, f"{video}: not a readable .npy array", "extract this video again")
    (tmp_path / "file").write_text("a file")
    _fails_clearly(["train", *tiny_run, "--out", str(tmp_path / "file")], capsys, "--out is a file, not a folder")


def test_a_full_disk_names_the_file_being_written(tiny_run, tmp_path, capsys, monkeypatch):
    import errno

    from pcmci_edu import files

    def full(*arguments):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    _fails_clearly(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1"], capsys,
                   f"{tmp_path / 'run' / 'checkpoints' / CHECKPOINT_NAME}: No space left on device",
                   "the disk is full")
    assert not [path for path in (tmp_path / "run").rglob("*") if path.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_failing_torchrun_rank_is_named(breakfast_with_features, tiny_run, tmp_path):
    import shutil

    torchrun = Path(sys.executable).parent / "torchrun"
    if shutil.which("torchrun", path=str(torchrun.parent)) is None:
        pytest.skip("torchrun is not installed beside this Python")
    wrapper = tmp_path / "rank_one_fails.py"  # rank 1 finds a broken feature file; rank 0 does not
    wrapper.write_text("import os, sys\nfrom pcmci_edu import cli\nfrom pcmci_edu.data import features\n"
                       "if os.environ['RANK'] == '1':\n"
                       "    def broken(self, video_id):\n"
                       "        raise features.FeatureError(f'{self.path(video_id)}: broken on rank 1')\n"
                       "    features.FeatureStore.read_all_frames = broken\n"
                       "sys.exit(cli.main(sys.argv[1:]))\n")
    done = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", str(wrapper), "train", *tiny_run,
                           "--out", str(tmp_path / "run"), "--epochs", "1"], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(Path(cli.__file__).parents[2])})
    assert done.returncode != 0
    assert "error (torchrun rank 1 of 2): " in done.stderr and "broken on rank 1" in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "run" / "model.pt").exists()


def test_tensorboard_is_optional_and_the_readme_and_the_run_say_how_to_get_it(tiny_run, tmp_path, capsys, monkeypatch):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "`pip install tensorboard`, then `tensorboard --logdir runs`" in readme
    monkeypatch.setattr("pcmci_edu.cli.train._has_tensorboard", lambda: False)
    assert cli.main(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1"]) == 0
    assert "TensorBoard scalars are not written: `pip install tensorboard`" in capsys.readouterr().out

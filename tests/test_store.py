"""Issue 13, items 2 and 7: a feature store holds features of one extraction setting, records its
runs, is written by one ``extract`` at a time, and its files (and a run's) honour the umask and
are replaced atomically under unique temporary names."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from pcmci_edu import cli
from pcmci_edu.data import FeatureStore
from pcmci_edu.data.download import make_miniature
from pcmci_edu.extract import FAILED_LOG, ExtractionConfig, extract_videos
from pcmci_edu.files import atomic_json
from pcmci_edu.train import History

EXTRACT_OPTIONS = ["--model-name", "ViT-S-32-alt", "--pretrained", "none", "--image-size", "64", "--num-workers", "0"]


@pytest.fixture
def charades_videos(tmp_path: Path) -> tuple[Path, Path]:
    """A data root with a Charades miniature's annotations and videos (4 + 2), and its store folder."""
    mini = make_miniature(tmp_path / "mini", "charades", num_train=4, num_test=2)
    root = tmp_path / "data"
    assert cli.main(["prepare", "charades", "--root", str(root), "--include", "annotations", "videos",
                     "--from-dir", str(mini.mirror), "--no-verify", "--accept-licence"]) == 0
    small = ["extract.model_name=ViT-S-32-alt", "extract.pretrained=none"]  # EXTRACT_OPTIONS' store
    return root, cli._store_dir(cli.load_run_config(cli.default_config_path("charades"), small), root)


def _extract(root: Path, *options: str) -> list[str]:
    return ["extract", "charades", "--root", str(root), *EXTRACT_OPTIONS, *options]


# ------------------------------------------------------------------ item 2: one setting per store

def test_an_interrupted_extract_fixes_the_store_settings(charades_videos, monkeypatch, capsys):
    root, store_dir = charades_videos
    real_write, calls = FeatureStore.write, []

    def interrupted_after_two(self, video_id, array):
        calls.append(video_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(self, video_id, array)

    monkeypatch.setattr(FeatureStore, "write", interrupted_after_two)
    assert cli.main(_extract(root, "--num-frames", "4")) == 130
    monkeypatch.setattr(FeatureStore, "write", real_write)
    assert len(FeatureStore(store_dir).video_ids()) == 2
    capsys.readouterr()

    assert cli.main(_extract(root, "--num-frames", "2")) == 1  # other settings: refused, nothing written
    error = capsys.readouterr().err
    assert "num_frames=4" in error and "num_frames=2" in error and "--out" in error, error
    assert len(FeatureStore(store_dir).video_ids()) == 2

    assert cli.main(_extract(root, "--num-frames", "4")) == 0
    store = FeatureStore(store_dir)
    assert {store.read_all_frames(video).shape[0] for video in store.video_ids()} == {4}
    assert len(store.video_ids()) == 6
    record = json.loads((store_dir / "extraction.json").read_text())
    assert record["settings"]["num_frames"] == 4 and record["settings"]["model_name"] == "ViT-S-32-alt"
    first, second = record["runs"]
    assert first["finished"] is None and first["settings"] == record["settings"]  # the interrupted run
    assert second["finished"] and second["written"] == 4 and second["already_done"] == 2 and second["failed"] == {}


def test_a_store_of_unknown_settings_is_not_extended(charades_videos, capsys):
    root, store_dir = charades_videos
    FeatureStore(store_dir).write("someone_else", np.ones((3, 8)))
    assert cli.main(_extract(root, "--num-frames", "2")) == 1
    assert "1 feature file(s) but no extraction.json" in capsys.readouterr().err


def test_zero_videos_exit_non_zero_and_record_nothing(charades_videos, tmp_path, capsys):
    root, store_dir = charades_videos
    empty = tmp_path / "no_videos"
    empty.mkdir()
    assert cli.main(_extract(root, "--num-frames", "4", "--videos", str(empty))) == 1
    error = capsys.readouterr().err
    assert f"{empty}: none of the 6 annotated charades videos is here" in error, error
    assert not (store_dir / "extraction.json").exists() and not list(store_dir.glob("*.np*"))
    assert cli.main(_extract(root, "--num-frames", "2")) == 0  # the right run is not blocked
    assert json.loads((store_dir / "extraction.json").read_text())["settings"]["num_frames"] == 2


# ------------------------------------------------------------------ item 7: one extract at a time

def test_a_second_extract_on_a_locked_store_stops_at_once(charades_videos, capsys):
    root, store_dir = charades_videos
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pcmci_edu.data import FeatureStore\n"
         f"with FeatureStore({str(store_dir)!r}).lock():\n    print('held', flush=True)\n    time.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(_extract(root, "--num-frames", "2")) == 1
        error = capsys.readouterr().err
        assert f"{store_dir}: another `pcmci-edu extract` (process {holder.pid})" in error, error
        assert not FeatureStore(store_dir).video_ids()
    finally:
        holder.kill()
        holder.wait()
    assert cli.main(_extract(root, "--num-frames", "2")) == 0  # the lock dies with its process


def test_failed_videos_are_listed_once_however_often_extract_runs(tmp_path):
    store = FeatureStore(tmp_path / "store")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    config = ExtractionConfig(num_frames=2, num_workers=0, device="cpu")
    for _ in range(3):
        report = extract_videos({"broken": broken}, store, config, model=object(), preprocess=None, progress=False)
        assert list(report.failed) == ["broken"]
    lines = (store.root / FAILED_LOG).read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("broken\t")


# ------------------------------------------------------------------ item 7: modes and temporary names

@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_honour_the_umask(tmp_path, umask_022):
    store = FeatureStore(tmp_path / "store")
    store.write("v", np.ones((2, 3)))
    store.write_text_features(np.ones((2, 3)))
    History([{"epoch": 1, "train_loss": 0.5}]).write(tmp_path / "history.csv")
    atomic_json(tmp_path / "results.json", {"a": 1})
    for path in (store.path("v"), store.root / "text_features.npz", tmp_path / "history.csv", tmp_path / "results.json"):
        assert _mode(path) == 0o644, path
    os.umask(0o002)
    store.write("w", np.ones((2, 3)))
    assert _mode(store.path("w")) == 0o664


def test_a_training_run_writes_files_others_can_read(breakfast_with_features, tiny_run, tmp_path, umask_022):
    run = tmp_path / "run"
    assert cli.main(["train", *tiny_run, "--out", str(run), "--epochs", "1"]) == 0
    assert cli.main(["evaluate", *tiny_run, "--out", str(run)]) == 0
    for path in (run / "model.pt", run / "checkpoints" / "last.pt", run / "history.csv", run / "results.json"):
        assert _mode(path) == 0o644, path


def test_atomic_writes_use_unique_temporary_names(tmp_path, monkeypatch):
    sources, real_replace = [], os.replace

    def spy(source, target):
        sources.append(str(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    for _ in range(2):
        atomic_json(tmp_path / "results.json", {"a": 1})
        FeatureStore(tmp_path).write("v", np.ones((2, 3)))
        History([{"epoch": 1}]).write(tmp_path / "history.csv")
    assert len(set(sources)) == len(sources) == 6
    monkeypatch.setattr(os, "replace", real_replace)

    errors = []

    def write_often(number: int) -> None:
        try:
            for step in range(30):
                atomic_json(tmp_path / "shared.json", {"writer": number, "step": step})
        except Exception as error:  # pragma: no cover - the failure this test guards against
            errors.append(error)

    threads = [threading.Thread(target=write_often, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and json.loads((tmp_path / "shared.json").read_text())["step"] == 29
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


# ------------------------------------------------------------------ issue 23: a failed load is not an interrupted run

def test_weights_that_do_not_load_leave_the_store_as_it_was(charades_videos, tmp_path, monkeypatch, capsys):
    root, store_dir = charades_videos
    bad = tmp_path / "ViT-S-32-alt-weights.bin"
    bad.write_bytes(b"not a checkpoint")
    fresh = tmp_path / "fresh"
    assert cli.main(_extract(root, "--num-frames", "2", "--pretrained", str(bad), "--out", str(fresh))) == 1
    error = capsys.readouterr().err
    assert f"--pretrained {bad}: not loadable as ViT-S-32-alt weights" in error and "Traceback" not in error
    assert not (fresh / "extraction.json").exists()  # no run recorded, so none left "interrupted"

    assert cli.main(_extract(root, "--num-frames", "2")) == 0
    captured = capsys.readouterr()
    assert "loading open_clip ViT-S-32-alt (random weights)" in captured.out
    assert "label texts" in captured.err  # the text encoding's progress bar
    record_path = store_dir / "extraction.json"
    before = record_path.read_bytes()
    (store_dir / f"{FeatureStore(store_dir).video_ids()[0]}.npy").unlink()  # one video to do again

    def no_weights(*arguments, **keywords):
        raise RuntimeError("could not load the weights (simulated: no network)")

    monkeypatch.setattr("pcmci_edu.extract.load_clip", no_weights)
    assert cli.main(_extract(root, "--num-frames", "2")) == 1
    assert "could not load the weights" in capsys.readouterr().err
    assert record_path.read_bytes() == before  # the finished runs only; no unfinished one added
    assert all(run["finished"] for run in json.loads(before)["runs"])

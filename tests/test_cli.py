"""``pcmci-edu``: the configs, and prepare -> extract -> train -> evaluate end to end on a miniature."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest

from pcmci_edu import cli
from pcmci_edu.data.download import make_miniature
from pcmci_edu.extract import ExtractionConfig
from pcmci_edu.model import ModelConfig
from pcmci_edu.train import TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(cli.CONFIGS_DIR.glob("*.toml"))

# the pipeline check's sizes: a small random-weight CLIP, few frames, a tiny model, two epochs
EXTRACT_OPTIONS = ["--model-name", "ViT-S-32-alt", "--pretrained", "none", "--num-frames", "4",
                   "--image-size", "64", "--num-workers", "0"]
RUN_OPTIONS = ["--set", "dataset.num_frames=4", "--set", "model.width=32", "--set", "model.heads=2",
               "--set", "model.layers=1", "--set", "train.batch_size=2", "--device", "cpu"]
# the store EXTRACT_OPTIONS write: named after the model actually used (not the config's ViT-B-16/openai)
ON_THE_SMALL_STORE = ["--set", "dataset.features=features/clip_vit_s32_alt_random"]


def test_every_dataset_has_a_config():
    assert [path.stem for path in CONFIGS] == ["breakfast", "charades", "coin"] == cli.shipped_configs()
    assert cli.load_run_config("coin") == cli.load_run_config(cli.CONFIGS_DIR / "coin.toml")


def _options(parser) -> list:
    return [action for action in parser._actions if action.option_strings and action.dest not in ("help", "version")]


def test_every_command_and_option_explains_itself(capsys):
    parser = cli.build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    summaries = {choice.dest: choice.help for choice in commands._choices_actions}
    assert set(summaries) == set(commands.choices) == {"info", "prepare", "extract", "train", "evaluate", "results"}
    for name, subparser in commands.choices.items():
        assert summaries[name] and "\n" not in summaries[name], f"{name}: no one-line description"
        for action in _options(subparser):
            assert action.help and re.search(r"\b(default|required)\b", action.help), (
                f"pcmci-edu {name} {action.option_strings[0]}: the help must say its default (or that it is required)")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top and "::" not in top, "the top-level help is plain text, not reST"
    assert "train --config breakfast" in top


def test_train_requires_a_config_and_takes_a_shipped_name(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--root", "data", "--out", "run"])
    assert "--config" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train", "--config", "breakfast", "--help"])
    assert stopped.value.code == 0 and "(required)" in capsys.readouterr().out


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_configs_name_real_fields_and_say_where_each_value_comes_from(path: Path):
    config = cli.load_run_config(path)
    assert config["dataset"]["name"] == path.stem
    for section, fields in (("model", ModelConfig), ("train", TrainConfig), ("extract", ExtractionConfig)):
        known = {field.name for field in dataclasses.fields(fields)}
        assert set(config[section]) <= known, f"{path.name} [{section}]: {set(config[section]) - known}"
    ModelConfig(feature_dim=512, num_frames=config["dataset"]["num_frames"], **config["model"])
    TrainConfig(**config["train"])
    ExtractionConfig(**config["extract"])
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if re.match(r"^\w+ = ", line) and not line.startswith("name = "):
            assert re.search(r"# \[(paper|proto|ours)\]", line), f"{path.name}:{number} has no source tag: {line}"
    assert config["model"]["interventions"] == ["ich", "ici", "ivc"]  # the poster's order


def test_overrides_and_their_errors(tmp_path: Path):
    path = "breakfast"
    config = cli.load_run_config(path, ["train.epochs=3", "model.interventions=[]", "extract.pretrained=none"])
    assert config["train"]["epochs"] == 3 and config["model"]["interventions"] == []
    assert config["extract"]["pretrained"] == "none"
    with pytest.raises(ValueError, match="expected section.key=value"):
        cli.load_run_config(path, ["epochs=3"])
    broken = tmp_path / "broken.toml"
    broken.write_text("[dataset]\nname = breakfast\n")
    with pytest.raises(ValueError, match="broken.toml: not valid TOML"):
        cli.load_run_config(broken)


def test_info_still_works(capsys):
    assert cli.main(["info"]) == 0
    assert "torch" in capsys.readouterr().out


def test_prepare_without_the_licence_flag_stops_and_says_why(tmp_path: Path, capsys):
    assert cli.main(["prepare", "charades", "--root", str(tmp_path)]) == 2
    assert "--accept-licence" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["breakfast", "charades"])
def test_prepare_extract_train_evaluate_end_to_end(dataset: str, tmp_path: Path, capsys):
    mini = make_miniature(tmp_path / "mini", dataset, num_train=4, num_test=2)
    root, run = tmp_path / "data", tmp_path / "run"
    assert cli.main(["prepare", dataset, "--root", str(root), "--include", "annotations", "videos",
                     "--from-dir", str(mini.mirror), "--no-verify", "--accept-licence"]) == 0
    printed = capsys.readouterr().out
    assert "NOT verified (--no-verify)" in printed
    if dataset == "breakfast":  # Breakfast's videos are fetched by hand; the miniature holds them
        assert "To fetch by hand" in printed and "serre-lab" in printed
        videos = ["--videos", str(mini.videos)]
    else:  # Charades' videos come with prepare, into <root>/charades/videos
        assert "To fetch by hand" not in printed and len(list((root / "charades" / "videos").iterdir())) == 6
        videos = []

    extract = ["extract", dataset, "--root", str(root), *videos, *EXTRACT_OPTIONS]
    assert cli.main(extract) == 0
    printed = capsys.readouterr().out
    assert "written 6, already done 0, failed 0" in printed
    assert "loading open_clip ViT-S-32-alt (random weights) on cpu" in printed  # loading says what it does
    assert f"-> {root / dataset / 'features' / 'clip_vit_s32_alt_random'}" in printed  # named after the model
    assert "train and evaluate on this store with --set dataset.features=features/clip_vit_s32_alt_random" in printed
    assert cli.main(extract) == 0  # resumable: nothing left to do
    assert "written 0, already done 6, failed 0" in capsys.readouterr().out

    config, held_out = dataset, ["--set", "dataset.val_fraction=0.5", *ON_THE_SMALL_STORE]  # a shipped config
    assert cli.main(["train", "--config", config, "--root", str(root), "--out", str(tmp_path / "nowhere"),
                     *RUN_OPTIONS]) == 1  # the config's own store does not exist: the message names the one that does
    assert "clip_vit_s32_alt_random (ViT-S-32-alt, none)" in capsys.readouterr().err
    assert cli.main(["train", "--config", config, "--root", str(root), "--out", str(run), "--epochs", "2",
                     *RUN_OPTIONS, *held_out]) == 0
    assert (run / "model.pt").is_file() and (run / "checkpoints" / "last.pt").is_file()
    printed = capsys.readouterr()
    assert "training on 2 videos, 2 held out for validation" in printed.out
    assert re.search(r"^epoch 2/2  train_loss \d+\.\d{4}  val/", printed.out + printed.err, re.MULTILINE)
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 3 and {"train_loss", "val/mAP_all_classes", "val/mAP_present_classes"} <= set(
        history[0].split(","))
    assert cli.main(["evaluate", "--config", config, "--root", str(root), "--out", str(run),
                     "--label", "pipeline check", *RUN_OPTIONS, *held_out]) == 0
    table = capsys.readouterr().out
    assert f"{dataset} test, 2 videos" in table and re.search(r"action mAP, all classes +\d+\.\d\d %", table)
    results = json.loads((run / "results.json").read_text())
    assert results["dataset"] == dataset and results["num_videos"] == 2 and results["label"] == "pipeline check"
    assert set(results["metrics"]) == {"accuracy", "mAP_all_classes", "mAP_present_classes"}
    for name in ("mAP_all_classes", "mAP_present_classes"):
        assert 0.0 <= results["metrics"][name] <= 1.0
    if dataset == "charades":
        assert results["metrics"]["accuracy"] is None  # no activity labels: not a number
    else:
        assert 0.0 <= results["metrics"]["accuracy"] <= 1.0
    assert results["config"]["train"]["epochs"] == 2 and results["config"]["model"]["width"] == 32
    assert results["model_config"]["interventions"] == ["ich", "ici", "ivc"]
    # Provenance from the store's extraction.json (the config says ViT-B-16/openai; the store was made otherwise).
    assert results["extractor"]["model_name"] == "ViT-S-32-alt" and results["extractor"]["pretrained"] == "none"
    assert results["extractor"]["num_frames"] == 4 and "extract" not in results["config"]
    assert results["features"]["extraction"]["config"]["image_size"] == 64
    assert results["code_version"]["pcmci_edu"] and "git_commit" in results["code_version"]
    assert results["hardware"]["device"] and results["hardware"]["world_size"] == 1
    assert not math.isnan(results["metrics"]["mAP_all_classes"])


@pytest.mark.slow
def test_train_runs_data_parallel_under_torchrun(tmp_path: Path):
    """Two CPU processes (gloo) stand in for two GPUs: rank 0 writes the model, evaluate reads it."""
    import shutil
    import subprocess
    import sys

    import numpy as np

    from pcmci_edu.data import Breakfast, FeatureStore

    if shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("torchrun is not installed beside this Python")
    mini = make_miniature(tmp_path / "mini", "breakfast", num_train=4, num_test=2)
    root, run = tmp_path / "data", tmp_path / "run"
    assert cli.main(["prepare", "breakfast", "--root", str(root), "--from-dir", str(mini.mirror),
                     "--no-verify", "--accept-licence"]) == 0
    store = FeatureStore(cli._store_dir(cli.load_run_config("breakfast"), root))
    rng = np.random.default_rng(0)
    for video_id in mini.video_ids["train"] + mini.video_ids["test"]:
        store.write(video_id, rng.normal(size=(8, 16)))  # training needs features, not how they were made
    train = Breakfast(root / "breakfast", "train")
    store.write_text_features(rng.normal(size=(len(train.action_names), 16)),
                              rng.normal(size=(len(train.activity_names), 16)))
    config = "breakfast"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node=2",
         "-m", "pcmci_edu.cli", "train", "--config", config, "--root", str(root), "--out", str(run),
         "--epochs", "2", *RUN_OPTIONS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 3  # header + two epochs, written once (rank 0)
    assert cli.main(["evaluate", "--config", config, "--root", str(root), "--out", str(run), *RUN_OPTIONS]) == 0
    assert json.loads((run / "results.json").read_text())["config"]["train"]["epochs"] == 2


def test_results_files_are_read_back_and_bad_ones_named(tmp_path: Path):
    good = {"dataset": "charades", "split": "test", "num_videos": 1863, "label": "",
            "metrics": {"accuracy": None, "mAP_all_classes": 0.4, "mAP_present_classes": 0.5},
            "hardware": {"device": "cuda: NVIDIA H200"}, "code_version": {"git_commit": "0123456789abcdef"}}
    (tmp_path / "charades").mkdir()
    (tmp_path / "charades" / "results.json").write_text(json.dumps(good))
    rows = cli.results_rows(cli.read_results(tmp_path))
    assert rows[0]["mAP_present_classes"] == 50.0 and rows[0]["accuracy"] is None
    assert rows[0]["commit"] == "0123456789"
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{\"dataset\": \"coin\"}")
    with pytest.raises(ValueError, match="broken/results.json: expected the 'dataset' and 'metrics'"):
        cli.read_results(tmp_path)
    assert set(cli.PAPER_MAIN_TABLE["PCMCi"]) >= {"breakfast/mAP", "coin/mAP", "charades/mAP"}


def test_videos_without_features_are_left_out_and_counted(tmp_path: Path, capsys):
    """COIN: a video no longer online (no file) and a corrupt one; the rest still trains and evaluates."""
    mini = make_miniature(tmp_path / "mini", "coin", num_train=4, num_test=3)
    root, run = tmp_path / "data", tmp_path / "run"
    offline, corrupt = mini.video_ids["train"][0], mini.video_ids["test"][0]
    (mini.videos / f"{offline}.mp4").unlink()
    (mini.videos / f"{corrupt}.mp4").write_bytes(b"\x00" * 1000)
    assert cli.main(["prepare", "coin", "--root", str(root), "--include", "annotations", "videos",
                     "--from-dir", str(mini.mirror), "--no-verify", "--accept-licence"]) == 0
    assert "videos_to_fetch.txt" in capsys.readouterr().out
    assert cli.main(["extract", "coin", "--root", str(root), "--videos", str(mini.videos), *EXTRACT_OPTIONS]) == 0
    printed = capsys.readouterr().out
    assert "1 of 7 annotated videos have no file" in printed and f"failed {corrupt}" in printed
    assert "coin train: 3 of 4 protocol videos have features (75.0%)" in printed
    store = root / "coin" / "features" / "clip_vit_s32_alt_random"
    assert (store / "missing_train.txt").read_text() == f"{offline}\n"
    config = "coin"
    # 75% coverage is below the default dataset.min_coverage: train refuses until it is lowered explicitly
    assert cli.main(["train", "--config", config, "--root", str(root), "--out", str(run), *RUN_OPTIONS,
                     *ON_THE_SMALL_STORE]) == 1
    assert re.search(r"only 3 of 4 .*missing_train\.txt.*--set dataset\.min_coverage=0\.75", capsys.readouterr().err)
    lowered = [*RUN_OPTIONS, *ON_THE_SMALL_STORE, "--set", "dataset.min_coverage=0.5"]
    assert cli.main(["train", "--config", config, "--root", str(root), "--out", str(run), "--epochs", "1",
                     *lowered]) == 0
    printed = capsys.readouterr().out
    assert "coin train: 1 of 4 annotated videos have no features" in printed
    assert f"see {store / 'missing_train.txt'} and {store / 'failed_videos.tsv'}" in printed  # both exist here
    assert cli.main(["evaluate", "--config", config, "--root", str(root), "--out", str(run), *lowered]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["num_videos"] == 2 and results["videos_without_features"] == 1

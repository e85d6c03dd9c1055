"""Issue 13, items 3 and 5: configuration values are checked where they are read, and every
``pcmci-edu`` error is one clear message and a non-zero exit, without a Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pcmci_edu import cli
from pcmci_edu.train import TrainConfig


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text('[dataset]\nname = "breakfast"\n' + text)
    return path


# ------------------------------------------------------------------ item 3: configuration values

@pytest.mark.parametrize("section, key, closest", [("train", "epoch", "epochs"), ("dataset", "num_frame", "num_frames"),
                                                   ("model", "widht", "width"), ("extract", "sampeling", "sampling")])
def test_a_misspelled_key_names_the_file_the_section_and_the_closest_key(tmp_path, section, key, closest):
    body = f"[{section}]\n{key} = 3\n" if section != "dataset" else f"{key} = 3\n"
    path = _config(tmp_path, body)
    with pytest.raises(ValueError, match=rf"run\.toml: \[{section}\] has no key '{key}' \(did you mean '{closest}'\?\)"):
        cli.load_run_config(path)
    with pytest.raises(ValueError, match=rf"--set {section}\.{key}=3 \(on .*run\.toml\): \[{section}\] has no key "
                                         rf"'{key}' \(did you mean '{closest}'\?\)"):
        cli.load_run_config(_config(tmp_path, ""), [f"{section}.{key}=3"])


def test_booleans_are_true_or_false_in_toml_and_also_1_or_0_on_set(tmp_path):
    with pytest.raises(ValueError, match=r"run\.toml: \[train\] amp: expected true or false, got 1"):
        cli.load_run_config(_config(tmp_path, "[train]\namp = 1\n"))
    with pytest.raises(ValueError, match=r"run\.toml: \[train\] amp: expected true or false, got 'yes'"):
        cli.load_run_config(_config(tmp_path, '[train]\namp = "yes"\n'))
    path = _config(tmp_path, "[train]\namp = true\n")
    assert cli.load_run_config(path, ["train.amp=0"])["train"]["amp"] is False
    assert cli.load_run_config(path, ["train.amp=1"])["train"]["amp"] is True
    assert cli.load_run_config(path, ["train.amp=false"])["train"]["amp"] is False
    with pytest.raises(ValueError, match=r"--set train\.amp=yes .*: \[train\] amp: expected true, false, 1 or 0, got 'yes'"):
        cli.load_run_config(path, ["train.amp=yes"])


@pytest.mark.parametrize("value, shown", [('"3"', "'3' \\(a string\\)"), ("2.5", "2.5")])
def test_a_string_or_float_where_an_integer_is_expected_names_the_key(tmp_path, value, shown):
    with pytest.raises(ValueError, match=rf"run\.toml: \[train\] epochs: expected an integer, got {shown}"):
        cli.load_run_config(_config(tmp_path, f"[train]\nepochs = {value}\n"))
    with pytest.raises(ValueError, match=rf"--set train\.epochs={value} .*: \[train\] epochs: expected an integer"):
        cli.load_run_config(_config(tmp_path, ""), [f"train.epochs={value}"])
    with pytest.raises(ValueError, match=r"\[model\] width: expected an integer, got 'wide'"):
        cli.load_run_config(_config(tmp_path, ""), ["model.width=wide"])
    with pytest.raises(ValueError, match=r"\[model\] interventions: expected a list of strings, got 'ich'"):
        cli.load_run_config(_config(tmp_path, ""), ["model.interventions=ich"])
    assert cli.load_run_config(_config(tmp_path, "[train]\nlr = 1\n"))["train"]["lr"] == 1.0  # an int is a float


@pytest.mark.parametrize("name", ["grad_clip", "weight_decay"])
def test_grad_clip_and_weight_decay_are_not_negative(tmp_path, name):
    with pytest.raises(ValueError, match=rf"TrainConfig\.{name} must be >= 0, got -0\.5"):
        TrainConfig(**{name: -0.5})
    with pytest.raises(ValueError, match=rf"run\.toml: \[train\] {name} must be >= 0, got -0\.5"):
        cli.load_run_config(_config(tmp_path, f"[train]\n{name} = -0.5\n"))
    assert TrainConfig(**{name: 0.0})


def test_model_values_are_checked_when_the_config_is_read(tmp_path):
    with pytest.raises(ValueError, match=r"run\.toml: \[model\] width=33 must be divisible by heads=8"):
        cli.load_run_config(_config(tmp_path, "[model]\nwidth = 33\nheads = 8\n"))
    with pytest.raises(ValueError, match=r"\[model\] unknown interventions \['icx'\]"):
        cli.load_run_config(_config(tmp_path, ""), ["model.interventions=['icx']"])


def test_the_shipped_configs_pass_the_checks():
    for dataset in ("breakfast", "charades", "coin"):
        assert cli.load_run_config(cli.default_config_path(dataset))["dataset"]["name"] == dataset


# ------------------------------------------------------------------ item 5: one message, no traceback

def _fails_clearly(arguments: list[str], capsys, *expected: str) -> str:
    """``cli.main`` exits non-zero with one ``error:`` message holding each expected text."""
    code = cli.main(arguments)
    error = capsys.readouterr().err
    assert code not in (0, None), error
    assert "Traceback" not in error and error.startswith("error: "), error
    for text in expected:
        assert text in error, error
    return error


def test_a_missing_config_file_is_a_message_and_exit_code_not_a_traceback(tmp_path):
    command = [sys.executable, "-m", "pcmci_edu.cli", "train", "--config", str(tmp_path / "nowhere.toml"),
               "--root", str(tmp_path), "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {tmp_path / 'nowhere.toml'}: no such config file")
    assert len(done.stderr.strip().splitlines()) == 1
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, timeout=300)
    assert debug.returncode == 1 and "Traceback" in debug.stderr  # --debug shows where it came from


def test_a_string_number_on_set(tmp_path, capsys):
    _fails_clearly(["train", "--config", str(cli.default_config_path("breakfast")), "--root", str(tmp_path),
                    "--out", str(tmp_path / "run"), "--set", 'train.epochs="3"'], capsys,
                   "[train] epochs: expected an integer, got '3' (a string)")


def test_feature_width_differing_between_videos_names_the_file(breakfast_with_features, tiny_run, tmp_path, capsys):
    from pcmci_edu.data import FeatureStore

    config = cli.load_run_config(cli.default_config_path("breakfast"))
    store_dir = cli._store_dir(config, breakfast_with_features)
    odd = store_dir / f"{cli.open_split(config, breakfast_with_features, 'train', with_features=False).video_ids[-1]}.npy"
    FeatureStore(store_dir).write(odd.stem, __import__("numpy").ones((8, 32)))
    _fails_clearly(["train", *tiny_run, "--out", str(tmp_path / "run"), "--epochs", "1"], capsys,
                   f"{odd}: 32-d features, but", "-d; the store mixes")


def test_a_truncated_model_and_a_training_checkpoint(breakfast_with_features, tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", *tiny_run, "--out", str(run), "--epochs", "1"]) == 0
    capsys.readouterr()
    last = run / "checkpoints" / "last.pt"
    _fails_clearly(["evaluate", *tiny_run, "--out", str(run), "--checkpoint", str(last)], capsys,
                   f"{last}: the resume checkpoint of `pcmci-edu train`, not a trained model", f"{run / 'model.pt'}")
    model = run / "model.pt"
    model.write_bytes(model.read_bytes()[:1000])
    _fails_clearly(["evaluate", *tiny_run, "--out", str(run)], capsys,
                   f"{model}: not a readable model file of `pcmci-edu train`", "train again or pass another --checkpoint")
    (tmp_path / "other.pt").write_bytes(__import__("pickle").dumps({"something": 1}, protocol=2))
    _fails_clearly(["evaluate", *tiny_run, "--out", str(run), "--checkpoint", str(tmp_path / "other.pt")], capsys,
                   "other.pt: not a readable model file of `pcmci-edu train`")


def test_a_root_that_is_a_file(tmp_path, capsys):
    root = tmp_path / "data"
    root.write_text("not a folder")
    _fails_clearly(["train", "--config", str(cli.default_config_path("breakfast")), "--root", str(root),
                    "--out", str(tmp_path / "run")], capsys, f"{root}: --root is not a folder")
    _fails_clearly(["extract", "breakfast", "--root", str(root)], capsys, f"{root}: --root is not a folder")


def test_a_read_only_folder(breakfast_with_features, tiny_run, tmp_path, capsys, monkeypatch):
    run = tmp_path / "read_only"
    run.mkdir()
    run.chmod(0o555)
    if os.access(run, os.W_OK):  # the superuser writes anyway: make the refusal happen as it would
        real = Path.mkdir

        def refuse(self, *arguments, **keywords):
            if str(self).startswith(str(run)):
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *arguments, **keywords)

        monkeypatch.setattr(Path, "mkdir", refuse)
    _fails_clearly(["train", *tiny_run, "--out", str(run / "out"), "--epochs", "1"], capsys,
                   "error: ", "Permission denied", "choose a writable folder")


def test_a_keyboard_interrupt_is_a_message_and_exit_130(monkeypatch, capsys):
    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.prepare, "_info", interrupted)
    assert cli.main(["info"]) == 130
    assert capsys.readouterr().err.startswith("interrupted")


# ------------------------------------------------------------------ issue 23: bad inputs of extract --from-features, evaluate, results

def test_bad_inputs_of_the_feature_evaluate_and_results_commands(tmp_path, capsys):
    """Each bad input: exit 1, one ``error:`` line naming the file, field or option and what was expected."""
    import json

    import numpy as np
    import torch

    from pcmci_edu.data.download import make_miniature

    mini = make_miniature(tmp_path / "mini", "charades", num_train=2, num_test=1)
    root = tmp_path / "data"
    assert cli.main(["prepare", "charades", "--root", str(root), "--from-dir", str(mini.mirror), "--no-verify",
                     "--accept-licence"]) == 0
    capsys.readouterr()
    videos = mini.video_ids["train"] + mini.video_ids["test"]
    published = tmp_path / "published"
    (published / "vid_clip").mkdir(parents=True)
    for video_id in videos:
        np.savez(published / "vid_clip" / f"{video_id}.npz", features=np.ones((4, 256), dtype=np.float32))

    def layout(text: str) -> str:
        path = tmp_path / f"layout_{abs(hash(text))}.toml"
        path.write_text('name = "small"\nfile = "vid_clip/{video_id}.npz"\nkey = "features"\naxes = "TD"\n' + text)
        return str(path)

    good = layout('feature_dim = 256\nrate_hz = 0.5\ntext_models = ["ViT-S-32-alt"]\n')
    imports = ["extract", "charades", "--root", str(root), "--from-features", str(published), "--model-name",
               "ViT-S-32-alt", "--pretrained", "none", "--out", str(tmp_path / "store")]
    runs = tmp_path / "runs"
    (runs / "a").mkdir(parents=True)
    model = tmp_path / "run" / "model.pt"
    model.parent.mkdir()
    cases = [
        ([*imports, "--layout", layout('feature_dim = "256"\nrate_hz = 0.5\n')], "feature_dim = '256': expected an integer"),
        ([*imports, "--layout", layout('feature_dim = 256\nrate_hz = 0.5\ntext_models = "ViT-S-32-alt"\n')],
         "text_models = 'ViT-S-32-alt': expected a list of strings"),
        ([*imports, "--layout", layout("feature_dim = 256\n")], "missing layout field(s) ['rate_hz'] (required: name,"),
        ([*imports, "--layout", layout('feature_dim = 256\nrate_hz = 0.5\naxes = "XY"\n')], "toml: not valid TOML: Cannot overwrite a value (at line 7"),
        ([*imports, "--layout", "nosuch"], "unknown feature layout 'nosuch'"),
        ([*imports, "--layout", good, "--from-features", str(tmp_path / "nowhere")], "nowhere: no such folder"),
        ([*imports, "--layout", good, "--num-frames", "0"], "--num-frames 0: expected a positive integer"),
        ([*imports, "--layout", good, "--pretrained", str(tmp_path / "nope.bin")], "nope.bin: no such checkpoint file"),
        ([*imports, "--layout", good, "--set", "dataset.features=features/{modle}"],
         "[dataset] features = 'features/{modle}': unknown placeholder {modle}; only {model} and {weights}"),
        (["results", str(tmp_path / "no_runs")], "no_runs: no such folder of runs"),
        (["results", str(runs)], f"{runs}: no results.json of a run"),
        (["evaluate", "--root", str(root), "--out", str(model.parent)], f"{model}: no trained model"),
    ]
    def fails(arguments: list[str], *expected: str) -> str:
        """Exit 1, no traceback, and the last line (after any progress bar) one ``error:`` message."""
        assert cli.main(arguments) == 1
        error = capsys.readouterr().err
        last = error.strip().splitlines()[-1].split("\r")[-1]
        assert "Traceback" not in error and last.startswith("error: "), error
        for text in expected:
            assert text in last, last
        return last

    seen = []
    for arguments, expected in cases:
        seen.append((" ".join(arguments[-2:]), fails(arguments, expected)))
    # files with bad contents
    bad_file = published / "vid_clip" / f"{videos[0]}.npz"
    np.savez(bad_file, features=np.ones((4, 256), dtype=np.int32))
    seen.append(("int32 array", fails([*imports, "--layout", good], f"{bad_file}: array of dtype int32")))
    np.savez(bad_file, features=np.ones((4, 256), dtype=np.complex64))
    seen.append(("complex array", fails([*imports, "--layout", good], f"{bad_file}: array of dtype complex64",
                                        "floating-point")))
    results_file = runs / "a" / "results.json"
    for text, expected in (('{"dataset": "coin", "metrics": {"accuracy": "high"}}',
                            "a/results.json: metrics.accuracy = 'high'; expected a fraction"),
                           ('{"dataset": "coin", "metrics": {"accuracy": 1.7}}', "metrics.accuracy = 1.7"),
                           ("{not json", "a/results.json: not valid JSON")):
        results_file.write_text(text)
        seen.append((f"results.json {text}", fails(["results", str(runs)], expected)))
    evaluate = ["evaluate", "--root", str(root), "--out", str(model.parent)]
    torch.save({"model_config": {}, "state_dict": {}, "run_config": {"model": {}}}, model)
    seen.append(("run_config without [dataset]", fails(evaluate, "its run_config is not a run configuration")))
    torch.save({"model_config": {}, "state_dict": {}, "run_config": {"dataset": {"name": "charades"}}}, model)
    seen.append(("--set model.width=abc", fails([*evaluate, "--set", "model.width=abc"],
                                                "--set model.width=abc: [model] width: expected an integer, got 'abc'")))
    seen.append(("--set nonsense", fails([*evaluate, "--set", "nonsense"], "--set 'nonsense': expected section.key=value")))
    for what, message in seen:  # shown with -s: the list of bad inputs and their messages
        print(f"{what}\t{message}")
    assert all(json.dumps(message).count("\\n") == 0 for _, message in seen)  # one line each

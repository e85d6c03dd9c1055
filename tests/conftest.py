"""Shared fixtures: the real annotation files, when PCMCI_DATA_ROOT points at them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder of real annotation files (``$PCMCI_DATA_ROOT``); skip when absent."""
    value = os.environ.get("PCMCI_DATA_ROOT", "")
    if not value:
        pytest.skip("PCMCI_DATA_ROOT is not set: real annotation files are not available")
    root = Path(value)
    if not root.is_dir():
        pytest.skip(f"PCMCI_DATA_ROOT={value} is not a folder")
    return root


@pytest.fixture
def breakfast_with_features(tmp_path: Path) -> Path:
    """A data root: a Breakfast miniature's annotations (6 training, 2 test videos) and a feature
    store at the config's place with random features, 8 stored frames x 16 per video (runs use 4)."""
    import numpy as np

    from pcmci_edu import cli
    from pcmci_edu.data import Breakfast, FeatureStore
    from pcmci_edu.data.download import make_miniature

    mini = make_miniature(tmp_path / "mini", "breakfast", num_train=6, num_test=2)
    root = tmp_path / "data"
    assert cli.main(["prepare", "breakfast", "--root", str(root), "--from-dir", str(mini.mirror),
                     "--no-verify", "--accept-licence"]) == 0
    store = FeatureStore(cli._store_dir(cli.load_run_config(cli.default_config_path("breakfast")), root))
    rng = np.random.default_rng(0)
    for video_id in mini.video_ids["train"] + mini.video_ids["test"]:
        store.write(video_id, rng.normal(size=(8, 16)))
    train = Breakfast(root / "breakfast", "train")
    store.write_text_features(rng.normal(size=(len(train.action_names), 16)),
                              rng.normal(size=(len(train.activity_names), 16)))
    return root


@pytest.fixture
def tiny_run(breakfast_with_features: Path) -> list[str]:
    """``train``/``evaluate`` options for :func:`breakfast_with_features`: its config and root, a
    tiny model on the CPU that sees 4 of the 8 stored frames."""
    from pcmci_edu import cli

    return ["--config", str(cli.default_config_path("breakfast")), "--root", str(breakfast_with_features),
            "--set", "dataset.num_frames=4", "--set", "model.width=32", "--set", "model.heads=2",
            "--set", "model.layers=1", "--set", "train.batch_size=2", "--device", "cpu"]

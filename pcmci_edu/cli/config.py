"""The run configuration: a shipped ``pcmci_edu/configs/<dataset>.toml`` or your own file.

``--config`` takes a shipped configuration's name or a path; ``--set section.key=value``
overrides one value. Every value is checked (type by :mod:`pcmci_edu.config_check`, range by
the settings classes it feeds) before any data is read, and an error names the file or the
``--set`` and the field. Every sub-command but ``info`` and ``prepare`` starts here.
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from pcmci_edu.config_check import ConfigError, check_value


CONFIG_SECTIONS = ("dataset", "extract", "model", "train")


def _load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path}: no such config file (or give a shipped one by name: "
                                f"{', '.join(shipped_configs())})") from error
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error


def _parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML literal (number, bool, list, quoted string), else the text."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
"""The run configurations that ship with the package, one per real dataset."""


def shipped_configs() -> list[str]:
    """The names ``--config`` accepts instead of a path.

    >>> shipped_configs()
    ['breakfast', 'charades', 'coin']
    """
    return sorted(path.stem for path in CONFIGS_DIR.glob("*.toml"))


def resolve_config(config: str | Path) -> Path:
    """A ``--config`` value as a file: a shipped configuration's name, or a path to a .toml file.

    >>> resolve_config("breakfast") == CONFIGS_DIR / "breakfast.toml"
    True
    >>> resolve_config("my_runs/coin.toml").as_posix()
    'my_runs/coin.toml'
    """
    if str(config) in shipped_configs():
        return CONFIGS_DIR / f"{config}.toml"
    return Path(config)


def load_run_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Read a run configuration (a shipped name or a path) and apply ``section.key=value`` overrides.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = path.write_text('[dataset]\\nname = "coin"\\n[train]\\nepochs = 30\\n')
    >>> load_run_config(path, ["train.epochs=2", "model.interventions=[]"])["train"]
    {'epochs': 2}
    """
    path = resolve_config(path)
    config = _load_toml(path)
    unknown = set(config) - set(CONFIG_SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; expected {list(CONFIG_SECTIONS)}")
    for section in CONFIG_SECTIONS:
        config.setdefault(section, {})
        if not isinstance(config[section], dict):
            raise ValueError(f"{path}: {section} = ... must be a [{section}] table")
        for name, value in config[section].items():
            try:
                config[section][name] = check_value(section, name, value)
            except ConfigError as error:
                raise ConfigError(f"{path}: {error}") from None
    for override in overrides or []:
        key, separator, value = override.partition("=")
        section, dot, name = key.strip().partition(".")
        if not separator or not dot or section not in CONFIG_SECTIONS or not name:
            raise ValueError(f"--set {override!r}: expected section.key=value with section one of "
                             f"{list(CONFIG_SECTIONS)}, e.g. train.epochs=10")
        try:
            config[section][name] = check_value(section, name, _parse_value(value.strip()), from_set=True)
        except ConfigError as error:
            raise ConfigError(f"--set {override} (on {path}): {error}") from None
    if "name" not in config["dataset"]:
        raise ValueError(f"{path}: [dataset] needs a name (breakfast, coin or charades)")
    _check_ranges(config, path)
    return config


DATASET_RANGES: dict[str, tuple[str, Any]] = {
    "num_frames": ("an integer >= 1", lambda value: value >= 1),
    "val_fraction": ("a number in [0, 1)", lambda value: 0 <= value < 1),
    "min_coverage": ("a number in [0, 1]", lambda value: 0 <= value <= 1),
    "split_seed": ("a seed, an integer >= 0", lambda value: value >= 0),
    "name": ("one of breakfast, coin, charades", lambda value: value in ("breakfast", "coin", "charades")),
    "train_split": ("train or test", lambda value: value in ("train", "test")),
    "test_split": ("train or test", lambda value: value in ("train", "test")),
    "subset": ("person, split1, split2, split3 or split4 (Breakfast's splits)",
               lambda value: value in ("person", "split1", "split2", "split3", "split4")),
}
"""What each checked ``[dataset]`` value must be (its type is checked by :mod:`pcmci_edu.config_check`)."""


MODEL_RANGES: dict[str, tuple[str, Any]] = {
    "layers": ("an integer >= 0", lambda value: value >= 0),
    "dropout": ("a probability in [0, 1)", lambda value: 0 <= value < 1),
    "ich_epsilon": ("a number > 0", lambda value: 0 < value < math.inf),
    "logit_scale_init": ("a number > 0", lambda value: 0 < value < math.inf),
    "fusion_noise_std": ("a number >= 0", lambda value: 0 <= value < math.inf),
}
"""``[model]`` ranges that :class:`~pcmci_edu.model.ModelConfig` does not check itself (torch would
stop later with a message of its own)."""


def _check_ranges(config: dict, path: Path) -> None:
    """The checks of TrainConfig, ExtractionConfig and ModelConfig, reported with the file and
    section before any data is read (the model's sizes from the data: a stand-in width here)."""
    from pcmci_edu.extract import ExtractionConfig
    from pcmci_edu.model import ModelConfig
    from pcmci_edu.train import TrainConfig

    def model(**values) -> ModelConfig:
        return ModelConfig(feature_dim=values.get("text_dim") or 512,
                           num_frames=config["dataset"].get("num_frames", 32), **values)

    for section, ranges in (("dataset", DATASET_RANGES), ("model", MODEL_RANGES)):
        for name, (expected, holds) in ranges.items():
            if name in config[section] and not holds(config[section][name]):
                raise ConfigError(f"{path}: [{section}] {name} = {config[section][name]!r}: expected {expected}")
    if "subset" in config["dataset"] and config["dataset"]["name"] != "breakfast":
        raise ConfigError(f"{path}: [dataset] subset: only Breakfast has subsets (this config is for "
                          f"{config['dataset']['name']}); remove it")
    for section in ("train", "model"):
        if config[section].get("seed", 0) < 0:
            raise ConfigError(f"{path}: [{section}] seed = {config[section]['seed']}: expected a seed, an integer >= 0")
    for section, fields in (("train", TrainConfig), ("extract", ExtractionConfig), ("model", model)):
        try:
            fields(**config[section])
        except (ValueError, TypeError) as error:
            message = re.sub(r"\b(TrainConfig|ExtractionConfig|ModelConfig)\.", "", str(error))
            raise ConfigError(f"{path}: [{section}] {message}") from None


def default_config_path(dataset: str) -> Path:
    """The run configuration shipped for ``dataset`` (``pcmci_edu/configs/<dataset>.toml``).

    >>> default_config_path("coin").name
    'coin.toml'
    """
    if dataset not in shipped_configs():
        raise FileNotFoundError(f"no shipped run configuration for {dataset!r}; shipped: "
                                f"{', '.join(shipped_configs())}")
    return CONFIGS_DIR / f"{dataset}.toml"


def check_device(device: str | None) -> None:
    """Refuse a ``--device`` that torch cannot use here, before any data is read.

    >>> check_device("cpu")
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: --device gpu: expected cpu, cuda or cuda:N (N a GPU number)
    """
    if device is None or device == "auto":
        return
    import torch

    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {device}: expected cpu, cuda or cuda:N (N a GPU number)") from None
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device}: expected cpu, cuda or cuda:N (N a GPU number)")
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"--device {device}: no CUDA GPU is visible to torch here; use --device cpu")
        if chosen.index is not None and chosen.index >= count:
            raise ValueError(f"--device {device}: torch sees {count} GPU(s), numbered 0 to {count - 1}")


def _run_config(arguments: argparse.Namespace) -> dict:
    if arguments.config is None:
        arguments.config = default_config_path(arguments.dataset)
    return load_run_config(arguments.config, arguments.set)

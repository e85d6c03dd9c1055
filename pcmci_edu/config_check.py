"""Checks of a run configuration (``pcmci_edu/configs/<dataset>.toml`` and ``--set``) before anything runs.

Every key of ``[model]``, ``[train]`` and ``[extract]`` must be a field of
:class:`~pcmci_edu.model.ModelConfig`, :class:`~pcmci_edu.train.TrainConfig` or
:class:`~pcmci_edu.extract.ExtractionConfig` (less the ones the command sets itself), every key
of ``[dataset]`` one of :data:`DATASET_FIELDS`; a misspelled key names the closest valid one.
Values must have the field's type: booleans are ``true``/``false`` (and ``1``/``0`` on ``--set``),
an integer field takes no string or fraction, a float field takes an integer.

>>> check_value("train", "amp", 1, from_set=True)
True
>>> check_key("train", "epoch")
Traceback (most recent call last):
...
pcmci_edu.config_check.ConfigError: [train] has no key 'epoch' (did you mean 'epochs'?)
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any

DATASET_FIELDS: dict[str, Any] = {
    "name": str, "subset": str, "features": str, "num_frames": int, "train_split": str, "test_split": str,
    "val_fraction": float, "min_coverage": float, "split_seed": int,
}
"""The keys of ``[dataset]`` that the commands read (``pcmci_edu.cli``), with their types."""

SET_BY_THE_COMMAND: dict[str, tuple[str, ...]] = {
    "model": ("feature_dim", "num_frames"),  # from the feature store and [dataset] num_frames
    "train": ("device", "checkpoint_dir", "log_path", "log_epochs", "tensorboard_dir", "extend"),  # options
}


class ConfigError(ValueError):
    """A configuration key or value that the run cannot use."""


def section_fields(section: str) -> dict[str, Any]:
    """The valid keys of one section with their types."""
    if section == "dataset":
        return DATASET_FIELDS
    if section == "model":
        from pcmci_edu.model import ModelConfig as fields_of
    elif section == "train":
        from pcmci_edu.train import TrainConfig as fields_of
    elif section == "extract":
        from pcmci_edu.extract import ExtractionConfig as fields_of
    else:
        raise ConfigError(f"unknown section [{section}]")
    hints = typing.get_type_hints(fields_of)
    return {field.name: hints[field.name] for field in dataclasses.fields(fields_of)
            if field.name not in SET_BY_THE_COMMAND.get(section, ())}


def check_key(section: str, key: str) -> None:
    """Raise a :class:`ConfigError` naming the closest valid key when ``key`` is not one."""
    if key in SET_BY_THE_COMMAND.get(section, ()):
        raise ConfigError(f"[{section}] {key} is set by the command (from the data or its options), "
                          "not by the configuration")
    valid = section_fields(section)
    if key not in valid:
        closest = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
        hint = f"did you mean {closest[0]!r}?" if closest else f"valid keys: {', '.join(valid)}"
        raise ConfigError(f"[{section}] has no key {key!r} ({hint})")


def check_value(section: str, key: str, value: Any, from_set: bool = False) -> Any:
    """``value`` as the field's type (an int as a float, 1/0 as a boolean on ``--set``), else a
    :class:`ConfigError` naming the key, what it expects and what it got."""
    check_key(section, key)
    expected = section_fields(section)[key]
    converted = _convert(value, expected, from_set)
    if converted is _INVALID:
        shown = f"{value!r} (a string)" if isinstance(value, str) and expected is not str else repr(value)
        raise ConfigError(f"[{section}] {key}: expected {_describe(expected, from_set)}, got {shown}")
    return converted


_INVALID = object()


def _convert(value: Any, expected: Any, from_set: bool) -> Any:
    origin, arguments = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        for option in arguments:
            if option is not type(None):
                converted = _convert(value, option, from_set)
                if converted is not _INVALID:
                    return converted
        return _INVALID
    if expected is bool:
        if isinstance(value, bool):
            return value
        return bool(value) if from_set and type(value) is int and value in (0, 1) else _INVALID
    if expected is int:
        return value if type(value) is int else _INVALID
    if expected is float:
        return float(value) if type(value) in (int, float) else _INVALID
    if expected is str:
        return value if isinstance(value, str) else _INVALID
    if origin in (tuple, list):
        return value if isinstance(value, list) and all(isinstance(item, str) for item in value) else _INVALID
    return value


def _describe(expected: Any, from_set: bool) -> str:
    origin, arguments = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option, from_set) for option in arguments if option is not type(None))
    if expected is bool:
        return "true, false, 1 or 0" if from_set else "true or false"
    names = {int: "an integer", float: "a number", str: "a string"}
    if expected in names:
        return names[expected]
    if origin in (tuple, list):
        return "a list of strings"
    return str(expected)

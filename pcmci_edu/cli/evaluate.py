"""``pcmci-edu evaluate``: a trained model on the test split, with its provenance.

Evaluates a run with **its own record**: ``model.pt`` holds the run configuration training used
(every ``--set`` included) and the feature store's ``extraction.json`` as it was then. Evaluate
rebuilds the model from them (:func:`load_trained_model`), reads the same store, and refuses a
store whose record differs from training's (features extracted again, with another model, or
another store), naming both. ``--set`` changes only what evaluation itself may choose
(:data:`EVALUATION_KEYS`); any other ``--set`` or ``--config`` value that differs from the run's is
ignored and said so. It measures activity accuracy and both action-mAP conventions on the test
split, prints them (:func:`results_table`) and writes them to ``results.json`` with the provenance
(:mod:`pcmci_edu.cli.provenance`) and the all-classes mAP's ceiling on that split.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

from pcmci_edu.cli.datasets import _store_dir, open_split, training_splits
from pcmci_edu.cli.provenance import _json_safe, _read_extraction_record, code_version, extractor_provenance, hardware
from pcmci_edu.cli.results import RESULTS_FILE, all_classes_ceiling
from pcmci_edu.cli.train import MODEL_FILE
from pcmci_edu.files import atomic_json


def load_trained_model(checkpoint_path: str | Path, train_set):
    """Rebuild a model saved by ``pcmci-edu train`` (relations etc. from ``train_set``); returns
    ``(model, state)`` with ``state`` the model file's contents (run configuration, store record)."""
    from pcmci_edu.model import ModelConfig, PCMCi

    state = _read_state(Path(checkpoint_path))
    model = PCMCi.from_dataset(train_set, ModelConfig(**state["model_config"]))
    model.load_state_dict(state["state_dict"])
    return model.eval(), state


METRIC_NAMES = {"accuracy": "activity accuracy (top-1)", "mAP_all_classes": "action mAP, all classes",
                "mAP_present_classes": "action mAP, classes present"}


def results_table(results: dict) -> str:
    """The metrics of a results record as a short plain-text table (percent).

    >>> print(results_table({"dataset": "coin", "split": "test", "num_videos": 2, "metrics": {
    ...     "accuracy": 0.5, "mAP_all_classes": 0.25, "mAP_present_classes": None}}))
    coin test, 2 videos
      activity accuracy (top-1)    50.00 %
      action mAP, all classes      25.00 %
      action mAP, classes present        -
    """
    lines = [f"{results['dataset']} {results['split']}, {results['num_videos']} videos"]
    for name, title in METRIC_NAMES.items():
        value = results["metrics"].get(name)
        shown = "-" if value is None or math.isnan(value) else f"{100 * value:6.2f} %"
        lines.append(f"  {title:<27}{shown:>10}")
    return "\n".join(lines)


EVALUATION_KEYS = ("dataset.test_split", "dataset.min_coverage")
"""The configuration values ``evaluate --set`` may change: what is scored, not what was trained."""


def _read_state(checkpoint_path: Path) -> dict:
    """The contents of a ``model.pt`` written by ``train`` (checked), else a one-line error."""
    import torch

    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"{checkpoint_path}: no trained model; run `pcmci-edu train` first")
    try:
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, not a torch file, or not ours: torch raises several kinds
        raise ValueError(f"{checkpoint_path}: not a readable model file of `pcmci-edu train` "
                         f"({str(error).splitlines()[0] if str(error) else type(error).__name__}); "
                         "train again or pass another --checkpoint") from None
    if isinstance(state, dict) and "train_config" in state and "model" in state:
        raise ValueError(f"{checkpoint_path}: the resume checkpoint of `pcmci-edu train`, not a trained model; "
                         f"evaluate {checkpoint_path.parent.parent / MODEL_FILE}, written when training ends")
    if not isinstance(state, dict) or not {"model_config", "state_dict", "run_config"} <= set(state):
        raise ValueError(f"{checkpoint_path}: not a readable model file of `pcmci-edu train` (no model_config, "
                         "state_dict and run_config); train again or pass another --checkpoint")
    if not isinstance(state["run_config"], dict) or "dataset" not in state["run_config"]:
        raise ValueError(f"{checkpoint_path}: its run_config is not a run configuration (no [dataset]); "
                         "train again or pass another --checkpoint")
    return state


def _flatten(config: dict) -> dict[str, object]:
    return {f"{section}.{name}": value for section, values in config.items() if isinstance(values, dict)
            for name, value in values.items()}


def evaluation_config(recorded: dict, arguments: argparse.Namespace) -> tuple[dict, list[str]]:
    """The run's recorded configuration with the ``--set`` of :data:`EVALUATION_KEYS` applied, and
    one note per value of ``--config``/``--set`` that differs from the run's and was ignored.

    Repeating training's ``--config`` and ``--set`` gives no note; a ``--set`` of training left out
    (``dataset.features=...``) or one that differs is named with both values. ``[train]`` values
    other than ``seed`` (which draws the validation split) only shaped the weights: not compared.
    """
    from pcmci_edu.cli.config import _parse_value, load_run_config
    from pcmci_edu.config_check import ConfigError, check_value

    config = {section: dict(values) for section, values in recorded.items()}
    trained = _flatten(recorded)
    given, training_sets = {}, []
    for override in arguments.set:
        key, separator, text = override.partition("=")
        key = key.strip()
        section, dot, name = key.partition(".")
        if not separator or not dot or not name:
            raise ValueError(f"--set {override!r}: expected section.key=value, e.g. dataset.min_coverage=0.8")
        try:
            value = check_value(section, name, _parse_value(text.strip()), from_set=True)
        except ConfigError as error:
            raise ConfigError(f"--set {override}: {error}") from None
        if key in EVALUATION_KEYS:
            config.setdefault(section, {})[name] = value
        else:
            given[key] = value
            training_sets.append(override)
    origin = {key: "--set" for key in given}
    if arguments.config is not None:
        from_file = _flatten(load_run_config(arguments.config, training_sets))
        origin = {key: origin.get(key, f"--config {Path(str(arguments.config)).name}") for key in from_file}
        given = from_file
    notes = [f"{origin[key]} {key}={value!r} ignored: the run was trained with {key}={trained.get(key)!r} "
             f"(evaluate uses the run's record in the model file; only {', '.join(EVALUATION_KEYS)} may change)"
             for key, value in given.items() if key not in EVALUATION_KEYS and trained.get(key) != value
             and (not key.startswith("train.") or key == "train.seed")]  # the rest of [train] made the weights
    return config, notes


def feature_identity(record: dict | None) -> dict | None:
    """What defines a store's features in its ``extraction.json``: settings, source, frame and text
    models, normalisation and layout; not what grows as videos are added (counts, runs, dates)."""
    if record is None:
        return None
    settings = record.get("settings") or {name: (record.get("config") or {}).get(name)
                                          for name in ("model_name", "pretrained", "num_frames", "sampling",
                                                       "image_size", "text_template")}
    return {"settings": settings, "source": record.get("source"), "frames": record.get("frames"),
            "texts": record.get("texts"), "normalization": record.get("normalization"),
            "layout": ((record.get("import") or {}).get("layout") or {}).get("name")}


def describe_features(record: dict | None) -> str:
    """One phrase for a store's record: its frames' model, its texts' tower, its source and date."""
    if record is None:
        return "features without an extraction.json (how they were made is unknown)"
    settings = (feature_identity(record) or {})["settings"]
    frames = (record.get("frames") or {}).get("model") or f"{settings.get('model_name')}/{settings.get('pretrained')}"
    return (f"frames of {frames}, texts of {settings.get('model_name')}/{settings.get('pretrained')}, "
            f"{settings.get('num_frames')} frames per video, from {record.get('source')} "
            f"(extracted {record.get('created')})")


def check_same_features(store_dir: Path, trained_on: dict | None, now: dict | None, checkpoint: Path) -> None:
    """Refuse a store whose record differs from the one ``model.pt`` was trained with, naming both."""
    if feature_identity(trained_on) == feature_identity(now):
        return
    raise ValueError(
        f"{store_dir}: holds {describe_features(now)}; {checkpoint} was trained on {describe_features(trained_on)}. "
        "A model scores only the features it was trained on: restore that store (or point evaluate at it with "
        "--root), or train again on this one")


def _evaluate(arguments: argparse.Namespace) -> int:
    from pcmci_edu.model import ModelConfig, PCMCi
    from pcmci_edu.train import evaluate

    out = Path(arguments.out)
    checkpoint = Path(arguments.checkpoint) if arguments.checkpoint else out / MODEL_FILE
    state = _read_state(checkpoint)
    config, notes = evaluation_config(state["run_config"], arguments)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    store_dir = _store_dir(config, arguments.root)
    extraction = _read_extraction_record(store_dir) if store_dir.is_dir() else None
    if store_dir.is_dir():
        check_same_features(store_dir, state.get("features"), extraction, checkpoint)
    train_set, _ = training_splits(config, arguments.root)
    test_split = config["dataset"]["test_split"]
    test_set = open_split(config, arguments.root, test_split)
    model = PCMCi.from_dataset(train_set, ModelConfig(**state["model_config"]))
    model.load_state_dict(state["state_dict"])
    model.eval()
    if arguments.device:
        model.to(arguments.device)
    if extraction is None:
        print(f"warning: {store_dir} has no extraction.json, so results.json cannot say which model made "
              "the features", file=sys.stderr)
    metrics = evaluate(model, test_set)
    recorded_config = {section: values for section, values in config.items() if section != "extract"}
    present, classes = all_classes_ceiling(test_set.actions)
    results = {
        "dataset": config["dataset"]["name"], "split": test_split, "num_videos": len(test_set),
        "videos_without_features": len(test_set.videos_without_features),
        "label": arguments.label,
        "metrics": {name: metrics[name] for name in METRIC_NAMES},
        # an all-classes mean counts a class without a positive test video as AP 0: it is at most present/K
        "action_classes": classes, "action_classes_present": present,
        "mAP_all_classes_ceiling": present / classes,
        # The features' provenance is the store's own record, not the config's [extract] section.
        "extractor": extractor_provenance(extraction),
        "features": {"store": str(store_dir), "extraction": extraction},
        "config": recorded_config, "config_from": f"{checkpoint} (the run's record)",
        "ignored_options": notes, "model_config": state["model_config"],
        "checkpoint": str(checkpoint), "trained_with": state.get("code_version"),
        "code_version": code_version(), "hardware": hardware(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    output = Path(arguments.output) if arguments.output else out / RESULTS_FILE
    atomic_json(output, _json_safe(results))
    print(results_table(_json_safe(results)))
    print(f"-> {output}")
    return 0

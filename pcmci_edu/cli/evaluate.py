"""``pcmci-edu evaluate``: a trained model on the test split, with its provenance.

Rebuilds the model saved by ``train`` (:func:`load_trained_model`), measures activity accuracy
and both action-mAP conventions on the configuration's test split, prints them
(:func:`results_table`) and writes them to ``results.json`` with what made the features, the
model and the numbers (:mod:`pcmci_edu.cli.provenance`).
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

from pcmci_edu.cli.config import _run_config
from pcmci_edu.cli.datasets import _store_dir, open_split, training_splits
from pcmci_edu.cli.provenance import _json_safe, _read_extraction_record, code_version, extractor_provenance, hardware
from pcmci_edu.cli.results import RESULTS_FILE
from pcmci_edu.cli.train import MODEL_FILE
from pcmci_edu.files import atomic_json


def load_trained_model(checkpoint_path: str | Path, train_set):
    """Rebuild a model saved by ``pcmci-edu train`` (relations etc. from ``train_set``)."""
    import torch

    from pcmci_edu.model import ModelConfig, PCMCi

    checkpoint_path = Path(checkpoint_path)
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"{checkpoint_path}: no trained model; run `pcmci-edu train` first")
    try:
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, not a torch file, or not ours: torch raises several kinds
        raise ValueError(f"{checkpoint_path}: not a readable model file of `pcmci-edu train` ({error}); "
                         "train again or pass another --checkpoint") from error
    if isinstance(state, dict) and "train_config" in state and "model" in state:
        raise ValueError(f"{checkpoint_path}: the resume checkpoint of `pcmci-edu train`, not a trained model; "
                         f"evaluate {checkpoint_path.parent.parent / MODEL_FILE}, written when training ends")
    if not isinstance(state, dict) or not {"model_config", "state_dict", "run_config"} <= set(state):
        raise ValueError(f"{checkpoint_path}: not a readable model file of `pcmci-edu train` (no model_config, "
                         "state_dict and run_config); train again or pass another --checkpoint")
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


def _evaluate(arguments: argparse.Namespace) -> int:
    from pcmci_edu.train import evaluate

    config = _run_config(arguments)
    out = Path(arguments.out)
    checkpoint = Path(arguments.checkpoint) if arguments.checkpoint else out / MODEL_FILE
    train_set, _ = training_splits(config, arguments.root)
    test_split = config["dataset"]["test_split"]
    test_set = open_split(config, arguments.root, test_split)
    model, state = load_trained_model(checkpoint, train_set)
    if arguments.device:
        model.to(arguments.device)
    metrics = evaluate(model, test_set)
    store_dir = _store_dir(config, arguments.root)
    extraction = _read_extraction_record(store_dir)
    if extraction is None:
        print(f"warning: {store_dir} has no extraction.json, so results.json cannot say which model made "
              "the features", file=sys.stderr)
    elif state.get("features") is not None and state["features"] != extraction:
        print(f"warning: the features in {store_dir} were extracted again after training "
              f"({extraction.get('created')}, trained on {state['features'].get('created')})", file=sys.stderr)
    recorded_config = {section: values for section, values in state["run_config"].items() if section != "extract"}
    results = {
        "dataset": config["dataset"]["name"], "split": test_split, "num_videos": len(test_set),
        "videos_without_features": len(test_set.videos_without_features),
        "label": arguments.label,
        "metrics": {name: metrics[name] for name in METRIC_NAMES},
        # The features' provenance is the store's own record, not the config's [extract] section.
        "extractor": extractor_provenance(extraction),
        "features": {"store": str(store_dir), "extraction": extraction},
        "config": recorded_config, "model_config": state["model_config"],
        "checkpoint": str(checkpoint), "trained_with": state.get("code_version"),
        "code_version": code_version(), "hardware": hardware(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    output = Path(arguments.output) if arguments.output else out / RESULTS_FILE
    atomic_json(output, _json_safe(results))
    print(results_table(_json_safe(results)))
    print(f"-> {output}")
    return 0

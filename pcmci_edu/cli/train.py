"""``pcmci-edu train``: train PCMCi on a real dataset from a run configuration.

Builds the model from the training split (less its validation videos), fits it with
:func:`pcmci_edu.train.fit` (per-epoch history, resumable checkpoints, several GPUs under
``torchrun``) and writes the trained model with the configuration, code version and the feature
store's record to ``<out>/model.pt``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pcmci_edu.cli.config import _run_config
from pcmci_edu.cli.datasets import _store_dir, training_splits
from pcmci_edu.cli.provenance import _is_main_process, _read_extraction_record, code_version


MODEL_FILE = "model.pt"


HISTORY_FILE = "history.csv"


def _train_config(config: dict, arguments: argparse.Namespace, out: Path):
    from pcmci_edu.train import TrainConfig

    if arguments.epochs is not None:
        config["train"]["epochs"] = arguments.epochs
    if arguments.eval_every is not None:
        config["train"]["eval_every"] = arguments.eval_every
    values = dict(config["train"])
    values.update(device=arguments.device, checkpoint_dir=str(out / "checkpoints"),
                  log_path=str(out / HISTORY_FILE), log_epochs=True,
                  tensorboard_dir=str(out / "tensorboard"))
    return TrainConfig(**values)


def _train(arguments: argparse.Namespace) -> int:
    import torch

    from pcmci_edu.model import PCMCi
    from pcmci_edu.files import atomic_write
    from pcmci_edu.train import fit

    config = _run_config(arguments)
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails now, not after the first epoch
    train_set, validation = training_splits(config, arguments.root)
    model_values = dict(config["model"])
    model = PCMCi.from_dataset(train_set, **model_values)
    train_config = _train_config(config, arguments, out)
    if _is_main_process():
        held_out = f", {len(validation)} held out for validation" if validation is not None else ", no validation split"
        print(f"{config['dataset']['name']}: training on {len(train_set)} videos{held_out}; "
              f"history -> {out / HISTORY_FILE}")
    history = fit(model, train_set, {"val": validation} if validation is not None else {}, train_config)
    if _is_main_process():
        checkpoint = {"model_config": model.config.to_dict(), "state_dict": model.state_dict(),
                      "run_config": config, "code_version": code_version(),
                      "features": _read_extraction_record(_store_dir(config, arguments.root)),
                      "history": history.rows}
        atomic_write(out / MODEL_FILE, lambda stream: torch.save(checkpoint, stream))
        last = history.rows[-1] if history.rows else {}
        print(f"trained {config['dataset']['name']} for {train_config.epochs} epochs "
              f"(final train loss {last.get('train_loss', float('nan')):.4f}) -> {out / MODEL_FILE}")
    return 0

"""``pcmci-edu train``: train PCMCi on a real dataset from a run configuration.

Builds the model from the training split (less its validation videos), fits it with
:func:`pcmci_edu.train.fit` (per-epoch history, resumable checkpoints, several GPUs under
``torchrun``) and writes the trained model with the configuration, code version and the feature
store's record to ``<out>/model.pt``.

The run folder is held by one ``train`` at a time (:func:`pcmci_edu.files.folder_lock`, the lock
of ``extract``'s feature store); it keeps its own log, ``<out>/train.log`` (plain lines: the
settings, each epoch, how the run ended), and a run in it continues only with the same
settings: ``--extend`` trains a run further to a larger ``train.epochs``. Seeds: ``--seed S``
sets the model's initialisation (``[model] seed``) and the training order, dropout and frame
draws (``[train] seed``); the validation videos are drawn by ``[dataset] split_seed``, so runs
of several seeds learn from the same videos. ``--seeds 0 1 2`` trains one run per seed into
``<out>/seed_<k>`` and summarises their final validation metrics (mean and 95% interval) in
``<out>/seeds_summary.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import threading
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

from pcmci_edu.cli.config import _run_config
from pcmci_edu.cli.datasets import _store_dir, training_splits
from pcmci_edu.cli.provenance import _is_main_process, _read_extraction_record, code_version
from pcmci_edu.files import atomic_json, folder_lock, remove_stale_temporaries


MODEL_FILE = "model.pt"


HISTORY_FILE = "history.csv"


LOG_FILE = "train.log"
"""The run folder's own log: plain lines, no progress bars."""


SEEDS_SUMMARY_FILE = "seeds_summary.json"
"""What ``--seeds`` writes beside the runs of its seeds: each metric's mean and 95% interval."""


class RunStopped(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM; the message says what was saved and how to resume."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a cluster's time limit, ``kill``), raised where the run is so that it ends cleanly."""

    exit_code = 143


@contextmanager
def _sigterm_raises():
    """Turn SIGTERM into :class:`_Terminated` for the block, so that a terminated run removes its
    temporaries and says what it saved (the main thread only: signals are delivered there). Not
    under ``torchrun``: a process waiting in a collective for a peer that stopped runs no Python
    until it returns, so it keeps SIGTERM's default (end now) for torchrun to stop it; the next
    run removes what it left."""
    if threading.current_thread() is not threading.main_thread() or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        yield
        return

    def terminate(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _RunLog:
    """``<out>/train.log``: each line printed is also appended there, with the time (UTC)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            with path.open("a", encoding="utf-8"):  # an unwritable or full folder fails now, not after an epoch
                pass

    def write(self, line: str) -> None:
        if self.path is not None:
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            with self.path.open("a", encoding="utf-8") as stream:
                for part in line.replace("\r", "\n").splitlines():
                    stream.write(f"{stamp} {part}\n")

    def say(self, line: str) -> None:
        if self.path is not None:
            print(line, flush=True)
        self.write(line)


def _apply_options(config: dict, arguments: argparse.Namespace) -> dict:
    """``--epochs``, ``--eval-every`` and ``--seed`` over the configuration (checked like ``--set``)."""
    from pcmci_edu.cli.config import _check_ranges
    from pcmci_edu.config_check import ConfigError

    if arguments.epochs is not None:
        config["train"]["epochs"] = arguments.epochs
    if arguments.eval_every is not None:
        config["train"]["eval_every"] = arguments.eval_every
    if getattr(arguments, "seed", None) is not None:
        config["train"]["seed"] = config["model"]["seed"] = arguments.seed
    try:
        _check_ranges(config, Path(str(arguments.config)))
    except ConfigError as error:
        raise ConfigError(f"{error} (from --epochs, --eval-every or --seed)") from None
    return config


def _train_config(config: dict, arguments: argparse.Namespace, out: Path):
    from pcmci_edu.train import TrainConfig

    values = dict(config["train"])
    values.update(device=arguments.device, checkpoint_dir=str(out / "checkpoints"),
                  log_path=str(out / HISTORY_FILE), log_epochs=True,
                  tensorboard_dir=str(out / "tensorboard"), extend=bool(getattr(arguments, "extend", False)))
    return TrainConfig(**values)


def _epochs_done(out: Path, train_config, model) -> int:
    """How many epochs the run in ``out`` has done (0 for a new run); a run of other settings is
    refused in the command's words (``train.lr``, ``--extend``, ``--out``)."""
    import torch

    from pcmci_edu.train import CHECKPOINT_NAME

    path = out / "checkpoints" / CHECKPOINT_NAME
    if not path.exists():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved, done = dict(state["train_config"]), int(state["epoch"])
    except Exception as error:
        raise ValueError(f"{path}: not a readable checkpoint of `pcmci-edu train` ({type(error).__name__}); "
                         f"delete it to start the run again, or train into another --out") from None
    if saved.get("grad_clip") == 0:
        saved["grad_clip"] = None
    wanted = train_config.schedule_fields()
    differ = [name for name in wanted if saved.get(name) != wanted[name] and name != "epochs"]
    if differ:
        raise ValueError(f"{out} holds a run trained with {_settings(saved, differ)}; this command asks for "
                         f"{_settings(wanted, differ)}: give the same values to resume it, or train into another --out")
    if state.get("model_config") not in (None, model.config.to_dict()):
        differ = [name for name, value in model.config.to_dict().items() if state["model_config"].get(name) != value]
        raise ValueError(f"{out} holds a model built with {_settings(state['model_config'], differ, 'model')}; this "
                         f"command builds one with {_settings(model.config.to_dict(), differ, 'model')}: give the "
                         "same values to resume it, or train into another --out")
    if wanted["epochs"] < saved["epochs"]:
        raise ValueError(f"{out} holds a run of train.epochs={saved['epochs']} ({done} done); this command asks for "
                         f"{wanted['epochs']}: a run cannot be shortened (its learning rate follows its length); "
                         "train into another --out")
    if wanted["epochs"] > saved["epochs"] and not train_config.extend:
        raise ValueError(f"{out} holds a run of train.epochs={saved['epochs']} ({done} done); this command asks for "
                         f"{wanted['epochs']}: add --extend to train it further to {wanted['epochs']} epochs, or "
                         "train into another --out")
    return done


def _settings(values: dict, names: list[str], section: str = "train") -> str:
    return ", ".join(f"{section}.{name}={values.get(name)!r}" for name in names)


def _train(arguments: argparse.Namespace) -> int:
    if arguments.seeds:
        return _train_seeds(arguments)
    config = _apply_options(_run_config(arguments), arguments)
    return _train_run(config, arguments, Path(arguments.out))


def _train_run(config: dict, arguments: argparse.Namespace, out: Path) -> int:
    """One run into ``out``, holding its folder; the last row of its history is in ``<out>/model.pt``."""
    main = _is_main_process()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: --out is a file, not a folder (give the run folder, new or of this run)")
    busy = (f"{out}: another `pcmci-edu train` (process {{holder}}) is writing this run folder; wait for it to "
            "finish, or train into another folder with --out")
    with folder_lock(out, busy) if main else nullcontext():
        out.mkdir(parents=True, exist_ok=True)
        if main:  # what a killed run left half-written: no other writer holds the folder now
            from pcmci_edu.train import CHECKPOINT_NAME

            remove_stale_temporaries(out, [MODEL_FILE, HISTORY_FILE])
            remove_stale_temporaries(out / "checkpoints", [CHECKPOINT_NAME])
        log = _RunLog(out / LOG_FILE if main else None)
        try:
            with _sigterm_raises():
                return _fit_and_save(config, arguments, out, log)
        except KeyboardInterrupt as stopped:
            log.write(f"stopped: {stopped}")
            raise
        except Exception as error:
            from pcmci_edu.cli.entry import error_message

            log.write(f"error: {error_message(error)}")
            raise


def _fit_and_save(config: dict, arguments: argparse.Namespace, out: Path, log: _RunLog) -> int:
    import torch

    from pcmci_edu.files import atomic_write
    from pcmci_edu.model import PCMCi
    from pcmci_edu.train import CHECKPOINT_NAME, fit, epoch_line

    name = config["dataset"]["name"]
    train_set, validation = training_splits(config, arguments.root)
    if getattr(train_set, "action_text_features", None) is None:
        from pcmci_edu.extract import TEXT_FEATURES_FILE

        raise FileNotFoundError(f"{_store_dir(config, arguments.root) / TEXT_FEATURES_FILE}: no label text features "
                                f"in the store; run `pcmci-edu extract {name}` (it writes them)")
    model = PCMCi.from_dataset(train_set, **dict(config["model"]))
    train_config = _train_config(config, arguments, out)
    done = _epochs_done(out, train_config, model)
    checkpoint = out / "checkpoints" / CHECKPOINT_NAME
    if done >= train_config.epochs and (out / MODEL_FILE).is_file():
        log.say(f"{out}: already trained for {done} epochs; nothing to do (add --extend with a larger "
                "--epochs to train it further)")
        return 0
    held_out = f", {len(validation)} held out for validation" if validation is not None else ", no validation split"
    log.say(f"{name}: training on {len(train_set)} videos{held_out}; {train_config.epochs} epochs, train.lr="
            f"{train_config.lr}, train.seed={train_config.seed}, model.seed={model.config.seed}, "
            f"dataset.split_seed={config['dataset'].get('split_seed', 0)}; history -> {out / HISTORY_FILE}, "
            f"log -> {out / LOG_FILE}")
    if done and train_config.extend:
        log.say(f"extending: resuming from epoch {done + 1} ({done} done, {checkpoint}); the learning-rate "
                f"schedule is stretched to {train_config.epochs} epochs")
    elif done >= train_config.epochs:
        log.say(f"all {done} epochs are done ({checkpoint}); writing {out / MODEL_FILE} from it")
    elif done:
        log.say(f"resuming from epoch {done + 1} of {train_config.epochs} ({done} done, {checkpoint})")
    if not _has_tensorboard():
        log.say("TensorBoard scalars are not written: `pip install tensorboard` to get them in "
                f"{out / 'tensorboard'} (history.csv has the same numbers)")

    logged = {"epochs": done}

    def after_epoch(epoch: int, row: dict) -> None:
        log.write(epoch_line(row, train_config.epochs))
        logged["epochs"] = epoch

    try:
        history = fit(model, train_set, {"val": validation} if validation is not None else {}, train_config,
                      on_epoch_end=after_epoch)
    except KeyboardInterrupt as stopped:
        saved = _saved_history(checkpoint)
        for row in saved[logged["epochs"]:]:  # saved, but stopped before its line reached the log
            log.write(epoch_line(row, train_config.epochs))
        raise _stopped_message(stopped, len(saved), train_config.epochs, out) from None
    except torch.OutOfMemoryError as error:
        raise RuntimeError(f"{train_config.device or 'the GPU'} ran out of memory in training "
                           f"({str(error).split('.')[0]}): lower train.batch_size (now {train_config.batch_size}) "
                           f"or train.eval_batch_size (now {train_config.eval_batch_size}); the same command "
                           "resumes from the last checkpoint") from error
    except RuntimeError as error:
        failure = _distributed_failure(error)
        if failure is error:
            raise
        raise failure from error
    if log.path is not None:
        record = {"model_config": model.config.to_dict(), "state_dict": model.state_dict(),
                  "run_config": config, "code_version": code_version(),
                  "features": _read_extraction_record(_store_dir(config, arguments.root)),
                  "history": history.rows}
        atomic_write(out / MODEL_FILE, lambda stream: torch.save(record, stream))
        last = history.rows[-1] if history.rows else {}
        log.say(f"trained {name} for {train_config.epochs} epochs "
                f"(final train loss {last.get('train_loss', float('nan')):.4f}) -> {out / MODEL_FILE}")
    return 0


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _saved_history(checkpoint: Path) -> list[dict]:
    """The history rows a checkpoint holds, one per epoch saved (none when there is no checkpoint)."""
    import torch

    try:
        return list(torch.load(checkpoint, map_location="cpu", weights_only=True)["history"])
    except Exception:  # no checkpoint yet (stopped in the first epoch)
        return []


def _stopped_message(stopped: KeyboardInterrupt, saved: int, epochs: int, out: Path) -> RunStopped:
    """What a stopped run saved and how to continue it."""
    from pcmci_edu.train import CHECKPOINT_NAME

    how = "stopped by SIGTERM" if isinstance(stopped, _Terminated) else "interrupted"
    if saved:
        kept = (f"{out / 'checkpoints' / CHECKPOINT_NAME} holds epoch {saved} of {epochs} and {out / HISTORY_FILE} "
                "its history")
        again = f"run the same command again to resume from epoch {saved + 1}"
    else:
        kept, again = "no epoch had finished, so nothing was saved", "run the same command again to start it"
    return RunStopped(f"{how}: {again} ({kept})", 143 if isinstance(stopped, _Terminated) else 130)


def _distributed_failure(error: RuntimeError) -> Exception:
    """Under ``torchrun``, a collective that fails because another process stopped is named as such."""
    import torch.distributed as dist

    from_collective = isinstance(error, getattr(dist, "DistError", ())) or any(
        word in str(error) for word in ("gloo", "NCCL", "Connection closed", "Connection reset"))
    if not (dist.is_available() and dist.is_initialized() and from_collective):
        return error
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RuntimeError(f"rank {dist.get_rank()} of {dist.get_world_size()}: the processes of this torchrun lost "
                        f"each other ({first[:200]}); another process probably stopped first: see its error above, "
                        "fix it and run the same command again (it resumes from the last checkpoint)")


def _train_seeds(arguments: argparse.Namespace) -> int:
    """One run per seed of ``--seeds`` into ``<out>/seed_<k>``, then their summary."""
    seeds = list(arguments.seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {' '.join(map(str, seeds))}: expected two or more different seeds "
                         "(for one run, use --seed)")
    out = Path(arguments.out)
    busy = (f"{out}: another `pcmci-edu train --seeds` (process {{holder}}) is writing these runs; wait for it to "
            "finish, or train into another folder with --out")
    with folder_lock(out, busy) if _is_main_process() else nullcontext():
        finals = {}
        for seed in seeds:
            arguments.seed = seed
            config = _apply_options(_run_config(arguments), arguments)
            run = out / f"seed_{seed}"
            if _is_main_process():
                print(f"seed {seed} -> {run}", flush=True)
            _train_run(config, arguments, run)
            if _is_main_process():
                import torch

                finals[seed] = torch.load(run / MODEL_FILE, map_location="cpu", weights_only=True)["history"][-1]
        if _is_main_process():
            summary = summarise_seeds(finals)
            summary["runs"] = {str(seed): str(out / f"seed_{seed}") for seed in seeds}
            atomic_json(out / SEEDS_SUMMARY_FILE, summary)
            for line in seeds_summary_lines(summary):
                print(line)
            print(f"summary -> {out / SEEDS_SUMMARY_FILE}")
    return 0


def summarise_seeds(finals: dict[int, dict[str, float]]) -> dict:
    """Each metric of the runs' last epoch (training loss, validation metrics) over the seeds: mean,
    sample standard deviation and the 95% Student-t interval of the mean (scipy.stats.t).

    >>> summary = summarise_seeds({0: {"epoch": 2, "train_loss": 1.0}, 1: {"epoch": 2, "train_loss": 3.0}})
    >>> summary["metrics"]["train_loss"]["mean"], round(summary["metrics"]["train_loss"]["ci95"][1], 2)
    (2.0, 14.71)
    """
    import numpy as np
    from scipy import stats

    seeds = sorted(finals)
    names = [name for name in finals[seeds[0]] if name == "train_loss" or "/" in name]
    metrics = {}
    for name in names:
        values = np.array([finals[seed].get(name, math.nan) for seed in seeds], dtype=float)
        if not np.isfinite(values).all():  # e.g. Charades' accuracy (no activities), or not evaluated
            continue
        mean, spread = float(values.mean()), float(values.std(ddof=1))
        half = float(stats.t.ppf(0.975, len(values) - 1) * spread / math.sqrt(len(values)))
        metrics[name] = {"mean": mean, "std": spread, "ci95": [mean - half, mean + half],
                         "values": values.tolist()}
    return {"seeds": seeds, "epoch": finals[seeds[0]].get("epoch"),
            "interval": "95% Student-t interval of the mean over seeds (n - 1 degrees of freedom)",
            "note": "validation metrics of the last epoch; test metrics: `pcmci-edu evaluate --out <out>/seed_<k>`",
            "metrics": metrics}


def seeds_summary_lines(summary: dict) -> list[str]:
    """The summary as a small table: metric, mean, 95% interval, per-seed values."""
    lines = [f"{len(summary['seeds'])} seeds ({', '.join(map(str, summary['seeds']))}), epoch {summary['epoch']}: "
             "mean [95% interval]"]
    width = max((len(name) for name in summary["metrics"]), default=10)
    for name, values in summary["metrics"].items():
        low, high = values["ci95"]
        shown = " ".join(f"{value:.4f}" for value in values["values"])
        lines.append(f"  {name:<{width}}  {values['mean']:.4f} [{low:.4f}, {high:.4f}]  ({shown})")
    return lines

"""Training, evaluation and prediction for :class:`pcmci_edu.model.PCMCi` (and any model
with the same ``forward``/``loss`` interface).

* :func:`fit`: AdamW with linear warmup and a cosine schedule, gradient clipping, mixed
  precision on CUDA only, evaluation of every split given after each epoch, a tqdm progress
  bar, a metrics :class:`History` (optionally written to CSV or JSON), atomic checkpoints
  after every epoch and resumption from them. Under ``torchrun`` it trains with
  DistributedDataParallel (one process per GPU, or gloo on CPU); rank 0 logs and saves.
* :func:`evaluate`: accuracy and both mAP conventions on one split.
* :func:`predict`: activity and action logits for every video of a split.

Determinism: each epoch's shuffling and dropout are seeded from ``(seed, epoch)``; a training
split read with random frame sampling (more frames stored than the model sees) has its frames
drawn again every epoch from a generator seeded by ``seed`` whose state is in the checkpoint.
So two runs with the same settings end with the same weights, and a run interrupted (even
killed) and resumed from its checkpoint ends, on the CPU, with the same weights and metrics as
an uninterrupted one (tests/test_reproducibility.py).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from pcmci_edu.files import atomic_write
from pcmci_edu.metrics import mean_average_precision, top1_accuracy
from pcmci_edu.system import default_device

CHECKPOINT_NAME = "last.pt"


class TrainingDiverged(RuntimeError):
    """The training loss or the weights stopped being finite numbers; the checkpoint of the last
    finite epoch is kept."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    ``batch_size`` is the global batch (split across processes under ``torchrun``).
    ``device``: ``None`` or ``"auto"`` picks CUDA when present. ``amp`` applies on CUDA only
    (bfloat16 where supported, else float16 with loss scaling). ``checkpoint_dir``: where
    ``last.pt`` is written after every epoch and resumed from when ``resume``. ``log_path``:
    ``.csv`` or ``.json`` file for the history. ``eval_every``: evaluate every n epochs (and
    after the last). ``log_epochs``: print one line per epoch (loss, validation metrics) that
    stays in the log, unlike the progress bar. ``tensorboard_dir``: also write the history as
    TensorBoard scalars there, when the ``tensorboard`` package is installed. ``compile``: run the
    training step's forward and loss through :func:`torch.compile` (``mode="reduce-overhead"``
    on CUDA); where it cannot compile, training goes on eagerly with a warning. ``grad_clip``: the
    largest gradient norm; ``0`` or ``None`` disables clipping (a norm of 0 would zero every
    gradient and stop learning), so ``grad_clip = 0`` in a configuration file means no clipping.
    ``extend``: with ``resume``, continue a checkpoint written for fewer ``epochs`` (a finished
    run trained further); the learning-rate schedule is stretched to the new number of epochs
    from the step reached, so the result differs from a run planned that long from the start.

    >>> TrainConfig(epochs=3).warmup_fraction
    0.1
    >>> TrainConfig(grad_clip=0).grad_clip is None
    True
    """

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    grad_clip: float | None = 1.0
    amp: bool = True
    seed: int = 0
    device: str | None = None
    checkpoint_dir: str | None = None
    log_path: str | None = None
    resume: bool = True
    eval_every: int = 1
    eval_batch_size: int = 256
    progress: bool = True
    log_epochs: bool = False
    tensorboard_dir: str | None = None
    compile: bool = False
    extend: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "eval_batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}")
        for name in ("weight_decay", "grad_clip"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"TrainConfig.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.log_path is not None and Path(self.log_path).suffix not in (".csv", ".json"):
            raise ValueError(f"TrainConfig.log_path={self.log_path!r}: expected a .csv or .json file")
        for name in ("lr", "weight_decay", "warmup_fraction", "grad_clip"):
            if getattr(self, name) is not None and not math.isfinite(getattr(self, name)):
                raise ValueError(f"TrainConfig.{name} must be a finite number, got {getattr(self, name)}")
        if self.grad_clip == 0:
            object.__setattr__(self, "grad_clip", None)  # no clipping (a zero norm would stop learning)

    def schedule_fields(self) -> dict[str, Any]:
        """The fields a resumed run must share with the interrupted one."""
        return {name: getattr(self, name) for name in
                ("epochs", "batch_size", "lr", "weight_decay", "warmup_fraction", "grad_clip", "seed")}


@dataclass
class History:
    """One row per epoch: ``epoch``, ``step``, ``lr``, ``train_loss``, ``seconds``, and
    ``<split>/<metric>`` for each evaluated split."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's row (empty before the first epoch)."""
        return self.rows[-1] if self.rows else {}

    def column(self, name: str) -> list[float]:
        """One column over epochs (NaN where an epoch lacks it)."""
        return [row.get(name, math.nan) for row in self.rows]

    def to_frame(self):
        """The history as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def write(self, path: str | os.PathLike) -> None:
        """Write atomically to ``.csv`` or ``.json``."""
        path = Path(path)
        if path.suffix == ".json":
            text = json.dumps(self.rows, indent=1)
        else:
            buffer = io.StringIO()
            names = list(dict.fromkeys(name for row in self.rows for name in row))
            writer = csv.DictWriter(buffer, fieldnames=names, restval="")
            writer.writeheader()
            writer.writerows(self.rows)
            text = buffer.getvalue()
        atomic_write(path, lambda handle: handle.write(text.encode()))


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA when present, else the CPU; else the device named."""
    if device is None or device == "auto":
        return default_device()
    return torch.device(device)


# ---------------------------------------------------------------------------------------
# Data: the splits are small (pre-extracted features), so they are stacked once in memory.
# ---------------------------------------------------------------------------------------

@dataclass
class _Tensors:
    frames: torch.Tensor
    activities: torch.Tensor
    actions: torch.Tensor

    def __len__(self) -> int:
        return len(self.frames)


def _stack(dataset) -> _Tensors:
    """Every video of a split as three tensors: through ``all_frames()`` when the split has it
    (pcmci_edu.data's datasets), else through ``__getitem__``."""
    if len(dataset) == 0:
        raise ValueError(f"{getattr(dataset, 'name', 'dataset')} {getattr(dataset, 'split', '')} is empty")
    if hasattr(dataset, "all_frames"):
        return _Tensors(torch.as_tensor(dataset.all_frames(), dtype=torch.float32),
                        torch.as_tensor(np.asarray(dataset.activities), dtype=torch.long),
                        torch.as_tensor(np.asarray(dataset.actions), dtype=torch.float32))
    items = [dataset[i] for i in tqdm(range(len(dataset)), desc=f"loading {getattr(dataset, 'split', '')}",
                                      disable=len(dataset) < 5000, leave=False)]
    return _Tensors(torch.stack([item["frames"] for item in items]).float(),
                    torch.stack([torch.as_tensor(item["activity"]) for item in items]).long(),
                    torch.stack([torch.as_tensor(item["actions"]) for item in items]).float())


def _batches(indices: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(indices), batch_size):
        yield indices[start:start + batch_size]


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def _epoch_order(size: int, seed: int, epoch: int, rank: int, world: int) -> torch.Tensor:
    """This process's shuffled video indices for one epoch (``DistributedSampler`` under DDP)."""
    if world > 1:
        sampler = torch.utils.data.DistributedSampler(range(size), num_replicas=world, rank=rank,
                                                      shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler))
    generator = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
    return torch.randperm(size, generator=generator)


# ---------------------------------------------------------------------------------------
# Optimiser and schedule
# ---------------------------------------------------------------------------------------

def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the model's ``parameter_groups`` (each group's ``lr_multiplier`` applied)."""
    if hasattr(model, "parameter_groups"):
        groups = model.parameter_groups(config.weight_decay)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad],
                   "weight_decay": config.weight_decay, "lr_multiplier": 1.0}]
    for group in groups:
        group["lr"] = config.lr * group.get("lr_multiplier", 1.0)
    return adamw(groups, config.lr)


def adamw(groups: list[dict[str, Any]], lr: float) -> torch.optim.AdamW:
    """``torch.optim.AdamW``, fused (one kernel for every parameter, and no read-back of its step
    count, which the unfused form reads to the host for every parameter) where torch has a fused
    kernel for the parameters' device; else the default implementation."""
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except RuntimeError:                   # no fused kernel for this device or dtype
        return torch.optim.AdamW(groups, lr=lr)


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """The learning-rate factor: linear warmup to 1, then cosine decay to 0.

    >>> [round(warmup_cosine(s, 10, 2), 3) for s in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------------------------------
# Distributed helpers (torchrun sets WORLD_SIZE, RANK, LOCAL_RANK)
# ---------------------------------------------------------------------------------------

def _distributed_setup(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group when launched by torchrun; returns (rank, world size, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not dist.is_initialized():
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


# ---------------------------------------------------------------------------------------
# fit / evaluate / predict
# ---------------------------------------------------------------------------------------

def training_step(optimizer: torch.optim.Optimizer, scaler, autocast, config: TrainConfig,
                  device: torch.device) -> Callable[..., torch.Tensor]:
    """The training step ``step(trained, model, frames, activities, actions) -> loss`` (detached):
    forward, loss, backward, gradient clipping, optimiser step. Nothing in it reads a value back
    to the host (tests/test_train_step.py profiles it); with ``config.compile`` the forward and
    loss run through :func:`torch.compile` (``mode="reduce-overhead"`` on CUDA), falling back to
    eager, with a warning, where compilation fails."""
    forward_and_loss = _forward_and_loss
    if config.compile:
        forward_and_loss = _compiled(_forward_and_loss, device)

    def step(trained: nn.Module, model: nn.Module, frames: torch.Tensor, activities: torch.Tensor,
             actions: torch.Tensor) -> torch.Tensor:
        nonlocal forward_and_loss
        encoder = getattr(model, "video_encoder", None)      # dropout drawn here, eagerly: a compiled
        masks = encoder.dropout_masks(*frames.shape[:2]) if hasattr(encoder, "dropout_masks") else None  # graph draws its own
        with autocast():
            try:
                loss = forward_and_loss(trained, model, frames, activities, actions, masks)
            except Exception as error:                   # the compiler could not handle this model/device
                if forward_and_loss is _forward_and_loss:
                    raise
                warnings.warn(f"torch.compile failed ({type(error).__name__}: {error}); training eagerly",
                              RuntimeWarning, stacklevel=2)
                forward_and_loss = _forward_and_loss
                loss = forward_and_loss(trained, model, frames, activities, actions, masks)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()

    return step


def _forward_and_loss(trained: nn.Module, model: nn.Module, frames: torch.Tensor, activities: torch.Tensor,
                      actions: torch.Tensor, dropout_masks: list[torch.Tensor] | None) -> torch.Tensor:
    output = trained(frames) if dropout_masks is None else trained(frames, dropout_masks=dropout_masks)
    return model.loss(output, activities, actions)


def _compiled(function: Callable, device: torch.device) -> Callable:
    """``torch.compile(function)`` (``mode="reduce-overhead"``, CUDA graphs, on CUDA), or ``function``
    itself, with a warning, where torch cannot compile (no compiler toolchain, an unsupported platform)."""
    try:
        return torch.compile(function, mode="reduce-overhead" if device.type == "cuda" else None, dynamic=False)
    except Exception as error:  # e.g. torch.compile is unavailable on this platform or Python
        warnings.warn(f"torch.compile is unavailable ({type(error).__name__}: {error}); training eagerly",
                      RuntimeWarning, stacklevel=3)
        return function


def fit(model: nn.Module, train_set, eval_sets: Mapping[str, Any] | None = None,
        config: TrainConfig | None = None,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None) -> History:
    """Train ``model`` on ``train_set``; evaluate ``eval_sets`` (name -> split) after each epoch.

    Returns the :class:`History`. With ``config.checkpoint_dir`` a checkpoint is written
    atomically after every epoch and, with ``config.resume``, training continues from it
    (same configuration required). ``on_epoch_end(epoch, row)`` runs after each epoch's
    checkpoint (the tests interrupt a run from it). Each epoch reseeds torch's global random
    generator from ``(config.seed, epoch)`` (dropout). Under ``torchrun`` every process
    evaluates the whole splits (no collectives; rank 0 logs). The model is left on the
    training device, in eval mode.
    """
    config = config or TrainConfig()
    eval_sets = dict(eval_sets or {})
    device = resolve_device(config.device)
    rank, world, device = _distributed_setup(device)
    if config.batch_size % world:
        raise ValueError(f"TrainConfig.batch_size={config.batch_size} must be divisible by the "
                         f"{world} processes")
    local_batch = config.batch_size // world
    data = _stack(train_set)
    model.to(device)
    trained = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = build_optimizer(model, config)
    steps_per_epoch = math.ceil(math.ceil(len(data) / world) / local_batch)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(config.warmup_fraction * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, warmup_steps))
    autocast, scaler = mixed_precision(config, device)
    step_function = training_step(optimizer, scaler, autocast, config, device)

    history, start_epoch = History(), 0
    frame_generator = np.random.default_rng(config.seed)  # draws the training frames, epoch after epoch
    checkpoint_path = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None
    if checkpoint_path is not None and config.resume and checkpoint_path.exists():
        start_epoch, history = _load_checkpoint(checkpoint_path, model, optimizer, scheduler, scaler, config,
                                                 frame_generator)

    bar = tqdm(total=config.epochs, initial=start_epoch, desc="training",
               disable=not config.progress or rank != 0, leave=False)
    board = _tensorboard_writer(config.tensorboard_dir) if rank == 0 else None
    step = start_epoch * steps_per_epoch
    for epoch in _epochs(start_epoch, config.epochs, bar, board):
        started = time.perf_counter()
        torch.manual_seed(_epoch_seed(config.seed, epoch) + rank)        # dropout noise
        if getattr(train_set, "resamples_frames", False):  # random sampling: other stored frames each epoch
            data.frames = torch.as_tensor(train_set.all_frames(frame_generator), dtype=torch.float32)
        trained.train()
        losses = []
        for batch in _batches(_epoch_order(len(data), config.seed, epoch, rank, world), local_batch):
            loss = step_function(trained, model, data.frames[batch].to(device, non_blocking=True),
                                 data.activities[batch].to(device), data.actions[batch].to(device))
            scheduler.step()
            losses.append(loss)
            step += 1
        row: dict[str, float] = {"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
                                 "train_loss": _mean_over_processes(torch.stack(losses).float().mean(), world),
                                 "seconds": time.perf_counter() - started}
        _stop_if_diverged(model, row, config, checkpoint_path, epoch)
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            for name, split in eval_sets.items():
                for metric, value in evaluate(model, split, config.eval_batch_size).items():
                    row[f"{name}/{metric}"] = value
        history.rows.append(row)
        if rank == 0:
            if checkpoint_path is not None:
                _save_checkpoint(checkpoint_path, model, optimizer, scheduler, scaler, config, epoch + 1, history,
                                 frame_generator)
            if config.log_path is not None:
                history.write(config.log_path)
            if config.log_epochs:
                tqdm.write(epoch_line(row, config.epochs))
            if board is not None:
                for key, value in row.items():
                    if key not in ("epoch", "step"):
                        board.add_scalar(key, value, epoch + 1)
                board.flush()
        bar.update(1)
        bar.set_postfix({key: f"{value:.3f}" for key, value in row.items()
                         if key == "train_loss" or key.endswith("mAP_all_classes")})
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, row)
    model.eval()
    return history


def _epochs(start: int, stop: int, bar, board) -> Iterator[int]:
    """The epochs to run; the progress bar and the TensorBoard writer close when the loop ends, also
    when an error or Ctrl-C leaves it (so that the bar does not stay on the line of the message)."""
    try:
        yield from range(start, stop)
    finally:
        bar.close()
        if board is not None:
            board.close()


def _stop_if_diverged(model: nn.Module, row: Mapping[str, float], config: TrainConfig,
                      checkpoint_path: Path | None, epoch: int) -> None:
    """Raise :class:`TrainingDiverged` when the epoch's mean loss or any weight is not finite.

    Checked once per epoch, after its last step and before its evaluation and checkpoint (one
    host synchronisation; a NaN from any step carries into the mean and into the weights), so
    the checkpoint on disk stays that of the last finite epoch."""
    finite_weights = bool(torch.stack([parameter.detach().isfinite().all() for parameter in model.parameters()]).all())
    if math.isfinite(row["train_loss"]) and finite_weights:
        return
    what = "the training loss" if not math.isfinite(row["train_loss"]) else "the weights"
    if checkpoint_path is not None and checkpoint_path.exists() and epoch > 0:
        kept = f"the checkpoint of epoch {epoch} is kept in {checkpoint_path}"
    else:
        kept = "no epoch finished with finite values, so no checkpoint was written"
    raise TrainingDiverged(f"training diverged in epoch {epoch + 1} of {config.epochs}: {what} became NaN or "
                           f"infinite (train_loss {row['train_loss']}, lr {config.lr}, grad_clip {config.grad_clip}); "
                           f"{kept}. Lower the learning rate (train.lr) or clip gradients (train.grad_clip), then "
                           "train into another run folder")


def epoch_line(row: Mapping[str, float], epochs: int) -> str:
    """One epoch of the history as a line for the log.

    >>> epoch_line({"epoch": 3, "step": 30, "lr": 1e-4, "train_loss": 0.51234, "seconds": 2.0,
    ...             "val/accuracy": 0.5, "val/mAP_all_classes": 0.25}, 50)
    'epoch 3/50  train_loss 0.5123  val/accuracy 0.5000  val/mAP_all_classes 0.2500  (2.0 s)'
    """
    shown = [f"epoch {int(row['epoch'])}/{epochs}", f"train_loss {row['train_loss']:.4f}"]
    shown += [f"{key} {value:.4f}" for key, value in row.items() if "/" in key and not math.isnan(value)]
    return "  ".join(shown) + f"  ({row['seconds']:.1f} s)"


def _tensorboard_writer(folder: str | None):
    """A TensorBoard ``SummaryWriter`` on ``folder``, or ``None`` (no folder, or no ``tensorboard``)."""
    if folder is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: the CSV history has the same numbers
        return None
    return SummaryWriter(folder)


def _mean_over_processes(value: torch.Tensor, world: int) -> float:
    if world > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world
    return float(value)


class _NoScaler:
    """Stand-in for ``torch.amp.GradScaler`` when no loss scaling is needed."""

    def scale(self, loss):
        return loss

    def unscale_(self, optimizer):
        pass

    def step(self, optimizer):
        optimizer.step()

    def update(self):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def mixed_precision(config: TrainConfig, device: torch.device):
    """``(autocast context factory, grad scaler)``: mixed precision on CUDA only."""
    if not (config.amp and device.type == "cuda"):
        return nullcontext, _NoScaler()
    if torch.cuda.is_bf16_supported():
        return (lambda: torch.autocast("cuda", dtype=torch.bfloat16)), _NoScaler()
    return (lambda: torch.autocast("cuda", dtype=torch.float16)), torch.amp.GradScaler("cuda")


def _save_checkpoint(path: Path, model, optimizer, scheduler, scaler, config: TrainConfig, epoch: int,
                     history: History, frame_generator: np.random.Generator) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch,
             "history": history.rows, "train_config": asdict(config),
             "frame_generator": frame_generator.bit_generator.state,
             "model_config": model.config.to_dict() if hasattr(model, "config") else None}
    atomic_write(path, lambda handle: torch.save(state, handle))


def _load_checkpoint(path: Path, model, optimizer, scheduler, scaler, config: TrainConfig,
                     frame_generator: np.random.Generator):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise RuntimeError(f"cannot read the checkpoint {path}: {error}") from error
    wanted = config.schedule_fields()
    saved = {name: state["train_config"].get(name) for name in wanted}
    if saved["grad_clip"] == 0:  # written before grad_clip=0 meant no clipping
        saved["grad_clip"] = None
    if config.extend and saved["epochs"] <= wanted["epochs"]:
        saved["epochs"] = wanted["epochs"]  # a shorter run, continued to this one's epochs
    if saved != wanted:
        raise ValueError(f"the checkpoint {path} was written with {saved}; this run asks for "
                         f"{wanted}: use another checkpoint_dir, resume=False, or extend=True to train a "
                         "checkpoint of fewer epochs further")
    if hasattr(model, "config") and state["model_config"] not in (None, model.config.to_dict()):
        raise ValueError(f"the checkpoint {path} holds a model with configuration {state['model_config']}, "
                         f"not {model.config.to_dict()}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if "frame_generator" in state:  # absent from checkpoints written before the frames were seeded
        frame_generator.bit_generator.state = state["frame_generator"]
    return int(state["epoch"]), History(list(state["history"]))


@torch.no_grad()
def predict(model: nn.Module, dataset, batch_size: int = 256,
            device: str | torch.device | None = None) -> tuple[np.ndarray | None, np.ndarray]:
    """Activity logits ``[V, A]`` (``None`` for a model without activities) and action logits
    ``[V, K]`` for every video of ``dataset``, in its order. Runs on the model's device unless
    ``device`` is given; leaves the model in eval mode."""
    model.eval()
    if device is not None:
        model.to(resolve_device(device))
    device = next(model.parameters()).device
    data = _stack(dataset)
    activity, action = [], []
    for batch in _batches(torch.arange(len(data)), batch_size):
        output = model(data.frames[batch].to(device))
        action.append(output.action_logits.float().cpu())
        if output.activity_logits is not None:
            activity.append(output.activity_logits.float().cpu())
    activity_scores = torch.cat(activity).numpy() if activity else None
    return activity_scores, torch.cat(action).numpy()


def evaluate(model: nn.Module, dataset, batch_size: int = 256) -> dict[str, float]:
    """``accuracy`` (NaN without activities), ``mAP_all_classes`` and ``mAP_present_classes``."""
    activity_scores, action_scores = predict(model, dataset, batch_size)
    targets = np.asarray(dataset.actions)
    results = {"accuracy": math.nan}
    if activity_scores is not None and getattr(dataset, "has_activities", True):
        results["accuracy"] = top1_accuracy(activity_scores, np.asarray(dataset.activities))
    for protocol in ("all_classes", "present_classes"):
        results[f"mAP_{protocol}"] = mean_average_precision(action_scores, targets, protocol=protocol)
    return results

"""Training cost of the base model and of full PCMCi on the book-profile Breakfast benchmark.

    .venv/bin/python benchmarks/benchmark_training.py                 # CPU or the visible GPU
    .venv/bin/python benchmarks/benchmark_training.py --epochs 8      # epochs of the timed full runs

Measures, in one process and on the same batches: the time of one training step (forward,
backward, AdamW) of the base and of PCMCi (ICH -> ICI -> IVC), their ratio and videos per
second, at book scale (the benchmark's 128-d features, ModelConfig's default sizes), with the
book chapters' model settings (width 64) and at paper scale (512-d features, 32 frames, width
512, 2 layers, 8 heads, the benchmark's 10 + 48 labels, random features); on the CPU also the
step's CPU time (``time.thread_time``: less inflated than the wall time when other processes
share the cores); the matrix FLOPs of each step, and of each forward pass by part; on a GPU
the kernels, GPU busy time and scalar reads per step; ICH's Sinkhorn iterations
and marginal error on the batch; the wall time of a complete book-profile training run of
each; the peak memory of each training step (``torch.cuda.max_memory_allocated`` on a GPU,
torch's profiler's allocation trace on the CPU); and the cost table of :mod:`pcmci_edu.cost`.
Writes everything to ``results/benchmark_training.txt``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
from contextlib import redirect_stdout
from pathlib import Path

import torch

from pcmci_edu.cost import (PAPER_FRAME_COUNT, backbone_cost, cost_table, forward_flops_by_part, ici_token_map_flops,
                            model_at_scale, training_step_flops)
from pcmci_edu.data import make_benchmark
from pcmci_edu.experiments import RunSettings
from pcmci_edu.model import PCMCi
from pcmci_edu.train import TrainConfig, build_optimizer, fit, mixed_precision, resolve_device

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "results" / "benchmark_training.txt"
MODELS = {"base": (), "PCMCi": ("ich", "ici", "ivc")}
PAPER_SCALE = {"width": 512, "layers": 2, "heads": 8}      # configs/breakfast.toml's [model]


def step_times(model: PCMCi, frames: torch.Tensor, activities: torch.Tensor, actions: torch.Tensor,
               device: torch.device, steps: int, warmup: int = 5, clock=time.perf_counter) -> list[float]:
    """Seconds per training step (forward, backward, clipping, AdamW) on fixed batches, by
    ``clock`` (wall time by default)."""
    model.to(device).train()
    config = TrainConfig(device=str(device))
    optimizer = build_optimizer(model, config)
    autocast, scaler = mixed_precision(config, device)
    batches = frames.to(device), activities.to(device), actions.to(device)
    seconds = []
    for step in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = clock()
        with autocast():
            output = model(batches[0])
            loss = model.loss(output, batches[1], batches[2])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            seconds.append(clock() - started)
    return seconds


def compare_steps(models: dict[str, PCMCi], batch: tuple, device: torch.device, steps: int,
                  say) -> None:
    """Median step time of each model on the same batch, interleaved in three rounds to share any
    load fairly; wall time, and on the CPU the thread's CPU time too; the PCMCi / base ratios."""
    clocks = {"wall": time.perf_counter}
    if device.type == "cpu":
        clocks["CPU"] = time.thread_time
    medians: dict[str, dict[str, float]] = {}
    for clock_name, clock in clocks.items():
        timings = {name: [] for name in models}
        for _ in range(3):
            for name, model in models.items():
                timings[name] += step_times(model, *batch, device, max(steps // 3, 1), clock=clock)
        medians[clock_name] = {name: statistics.median(values) for name, values in timings.items()}
        for name, value in medians[clock_name].items():
            say(f"{name:>6}: median {value * 1e3:7.1f} ms/step ({clock_name} time), min "
                f"{min(timings[name]) * 1e3:7.1f} ms, {len(batch[0]) / value:7.0f} videos/s   "
                f"({len(timings[name])} steps)")
    say(" ratio PCMCi / base (median step time): "
        + ", ".join(f"{values['PCMCi'] / values['base']:.2f} ({name} time)" for name, values in medians.items()))


def flop_accounting(models: dict[str, PCMCi], batch: tuple, say) -> None:
    """Matrix FLOPs of one training step of each model on the batch (on the CPU), their ratio, each
    model's forward FLOPs by part, and ICI's maps on every frame token (:func:`ici_token_map_flops`)."""
    frames, activities, actions = (tensor.cpu() for tensor in batch)
    steps, parts = {}, {}
    for name, model in models.items():
        device = next(model.parameters()).device
        steps[name] = training_step_flops(model.cpu(), frames, activities, actions)
        parts[name] = forward_flops_by_part(model, frames)
        model.to(device)
    say("Matrix FLOPs (torch's FlopCounterMode, 2 per multiply-add; elementwise work not counted), batch "
        f"{len(frames)}: training step (forward, loss, backward) "
        + ", ".join(f"{name} {value / 1e9:.3f} GFLOP" for name, value in steps.items())
        + f"; ratio PCMCi / base {steps['PCMCi'] / steps['base']:.2f}")
    for name, by_part in parts.items():
        say(f"  forward, {name}: " + ", ".join(f"{part} {value / 1e9:.3f}" for part, value in by_part.items())
            + f" GFLOP (total {sum(by_part.values()) / 1e9:.3f})")
    token_maps = ici_token_map_flops(models["PCMCi"], len(frames))
    say(f"  ICI's K+1 maps on every frame token alone (2 B (K+1) N D^2): {token_maps / 1e9:.3f} GFLOP forward, "
        f"{token_maps / sum(parts['base'].values()):.2f} x the base's whole forward pass")


def kernel_launches(models: dict[str, PCMCi], batch: tuple, device: torch.device, say, steps: int = 5) -> None:
    """On a GPU: kernels launched, the GPU's busy time (the kernels' summed durations) and the
    scalars read by the host (``aten::_local_scalar_dense``: a synchronisation when the scalar is
    on the GPU) per training step, by torch's profiler, to tell a launch-bound step from an
    arithmetic-bound one."""
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    for name, model in models.items():
        step_times(model, *batch, device, steps=2)
        with torch.profiler.profile(activities=activities) as profiler:
            wall = sum(step_times(model, *batch, device, steps=steps, warmup=0))
        events = profiler.events()
        kernels = [event for event in events if event.device_type == torch.autograd.DeviceType.CUDA]
        busy = sum(event.device_time_total for event in kernels) / 1e3          # microseconds -> ms
        syncs = sum(event.name == "aten::_local_scalar_dense" for event in events)
        say(f"{name:>6}: {len(kernels) / steps:5.0f} GPU kernels, GPU busy {busy / steps:5.2f} ms of a "
            f"{wall / steps * 1e3:5.1f} ms step (profiled), {syncs / steps:3.0f} scalars read by the host, per step")


def peak_memory(model: PCMCi, batch, device: torch.device) -> float:
    """Peak tensor memory (MiB) of one training step after a warm-up step: on a GPU
    ``torch.cuda.max_memory_allocated``; on the CPU the running sum of the allocations and
    frees that torch's profiler records, in time order (an approximation)."""
    step_times(model, *batch, device, steps=1, warmup=0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        step_times(model, *batch, device, steps=1, warmup=0)
        return torch.cuda.max_memory_allocated() / 2**20
    with torch.profiler.profile(profile_memory=True) as profiler:
        step_times(model, *batch, device, steps=1, warmup=0)
    level = peak = 0
    for event in sorted(profiler.events(), key=lambda event: event.time_range.start):
        level += event.self_cpu_memory_usage
        peak = max(peak, level)
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the timed complete runs (book: 8)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per model (book scale)")
    parser.add_argument("--paper-steps", type=int, default=9, help="timed steps per model (paper scale)")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (the chapters' smoke/book runs use 1)")
    parser.add_argument("--output", default=str(OUTPUT))
    arguments = parser.parse_args()
    if arguments.threads is not None:
        torch.set_num_threads(arguments.threads)
    device = resolve_device(arguments.device)
    load_before = os.getloadavg()
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    benchmark = make_benchmark("breakfast", profile="book", seed=0)
    train = benchmark["train"]
    say("# Training cost: base vs PCMCi on the book-profile Breakfast benchmark")
    options = [f"--epochs {arguments.epochs}", f"--batch-size {arguments.batch_size}", f"--steps {arguments.steps}",
               f"--paper-steps {arguments.paper_steps}"]
    options += [f"--{name} {getattr(arguments, name)}" for name in ("threads", "device")
                if getattr(arguments, name) is not None]
    if Path(arguments.output).resolve() != OUTPUT.resolve():
        options.append(f"--output {arguments.output}")
    say(f"command: python benchmarks/benchmark_training.py {' '.join(options)}")
    say(f"date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}; torch {torch.__version__}; "
        f"{platform.processor() or platform.machine()}; device: {_describe(device)}; "
        f"torch threads: {torch.get_num_threads()}; CPU cores: {os.cpu_count()}")
    say(f"data: {len(train)} training videos, {train.num_frames} frames x {train.feature_dim} features, "
        f"{len(train.activity_names)} activities, {len(train.action_names)} actions")
    say("model: ModelConfig defaults (width 128, 1 transformer layer, 4 heads); batch "
        f"{arguments.batch_size}")
    say()

    generator = torch.Generator().manual_seed(0)
    indices = torch.randperm(len(train), generator=generator)[:arguments.batch_size].tolist()
    items = [train[i] for i in indices]
    frames = torch.stack([item["frames"] for item in items])
    activities = torch.stack([item["activity"] for item in items])
    actions = torch.stack([item["actions"] for item in items])

    say("## One training step (forward + backward + AdamW), same batch, same process")
    models = {name: PCMCi.from_dataset(train, interventions=order) for name, order in MODELS.items()}
    compare_steps(models, (frames, activities, actions), device, arguments.steps, say)
    flop_accounting(models, (frames, activities, actions), say)
    if device.type == "cuda":
        kernel_launches(models, (frames, activities, actions), device, say)
    with torch.no_grad():
        details = models["PCMCi"].eval()(frames.to(device), return_details=True).details
    say("ICH's Sinkhorn on this batch, after the timed steps: "
        f"{details['ot_iterations']} iterations, marginal error at most "
        f"{float(details['ot_marginal_error'].max()):.1e} (of a mass of 1)")
    say()

    chapter_model = dict(RunSettings.for_profile("book").model)
    say(f"## The book's chapters' runs: the same step with their model settings {chapter_model} "
        "(experiments.RunSettings, book profile); the interventions still work at the features' 128 dimensions")
    chapter_models = {name: PCMCi.from_dataset(train, interventions=order, **chapter_model)
                      for name, order in MODELS.items()}
    compare_steps(chapter_models, (frames, activities, actions), device, arguments.steps, say)
    flop_accounting(chapter_models, (frames, activities, actions), say)
    say()

    say(f"## Paper scale: one training step, batch {arguments.batch_size}, {PAPER_FRAME_COUNT} frames x 512 "
        f"random features, width {PAPER_SCALE['width']}, {PAPER_SCALE['layers']} layers, "
        f"{PAPER_SCALE['heads']} heads, {len(train.activity_names)} + {len(train.action_names)} labels")
    generator = torch.Generator().manual_seed(1)
    paper_frames = torch.randn(arguments.batch_size, PAPER_FRAME_COUNT, 512, generator=generator)
    paper_models = {name: model_at_scale(train, interventions=order, **PAPER_SCALE) for name, order in MODELS.items()}
    compare_steps(paper_models, (paper_frames, activities, actions), device, arguments.paper_steps, say)
    flop_accounting(paper_models, (paper_frames, activities, actions), say)
    if device.type == "cuda":
        kernel_launches(paper_models, (paper_frames, activities, actions), device, say)
    say()

    say(f"## A complete book-profile run: {arguments.epochs} epochs, batch {arguments.batch_size}, "
        "no evaluation during training")
    for name, order in MODELS.items():
        model = PCMCi.from_dataset(train, interventions=order)
        started = time.perf_counter()
        fit(model, train, {}, TrainConfig(epochs=arguments.epochs, batch_size=arguments.batch_size,
                                          device=str(device), progress=False))
        seconds = time.perf_counter() - started
        say(f"{name:>6}: {seconds:6.1f} s  ({arguments.epochs * len(train) / seconds:6.0f} videos/s)")
    say()

    kind = ("torch.cuda.max_memory_allocated" if device.type == "cuda"
            else "tensor allocations traced by torch's profiler, approximate")
    say(f"## Peak tensor memory of one training step, batch {arguments.batch_size} ({kind})")
    for name, order in MODELS.items():
        peak = peak_memory(PCMCi.from_dataset(train, interventions=order), (frames, activities, actions), device)
        say(f"{name:>6}: {peak:8.1f} MiB")
    say()

    say("## Cost per video (pcmci_edu.cost; torch's FlopCounterMode counts 2 FLOPs per multiply-add,")
    say("## matrix products only; the backbone on the meta device with random weights)")
    say(f"Paper scale: D=512 (ViT-B/16 embedding), {PAPER_FRAME_COUNT} frames (our choice: the poster does not "
        "give the frame count), head width 512, 2 layers, 8 heads (configs/breakfast.toml);")
    say("label sets and relation graphs of the Breakfast benchmark (10 activities, 48 actions).")
    heads = {name: model_at_scale(train, interventions=order, **PAPER_SCALE) for name, order in MODELS.items()}
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        table = cost_table(heads, backbone_cost("ViT-B-16", PAPER_FRAME_COUNT))
    say(table.to_string(index=False, float_format=lambda value: f"{value:,.2f}"))
    say()
    say("Book scale (D=128, the benchmark's features; heads only):")
    book_heads = {name: PCMCi.from_dataset(train, interventions=order) for name, order in MODELS.items()}
    say(cost_table(book_heads).head(len(book_heads)).to_string(index=False, float_format=lambda v: f"{v:,.4f}"))
    say()
    load_after = os.getloadavg()
    say(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.1f}' for x in load_after)} on {os.cpu_count()} cores.")
    if device.type == "cpu" and max(load_before[0], load_after[0]) > (os.cpu_count() or 1):
        say("NOTE: other processes shared the CPU cores during this run (load above the core count):")
        say("the times above are inflated; the PCMCi / base ratio is the more portable number.")
    path = Path(arguments.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, path)
    print(f"wrote {path}")


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


if __name__ == "__main__":
    main()

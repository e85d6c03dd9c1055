"""Trained runs per CPU-second: runs one at a time (pcmci_edu.train.fit) against runs trained
together as one batched ensemble (pcmci_edu.ensemble.fit_ensemble), on the book profile's
Breakfast benchmark with the book chapters' run settings (RunSettings.for_profile("book"): width 64,
one layer, 8 epochs, batch 32), for the base model and full PCMCi (chapter 7's model).

    .venv/bin/python benchmarks/benchmark_throughput.py                  # writes results/benchmark_throughput.txt
    .venv/bin/python benchmarks/benchmark_throughput.py --runs 3 --threads 1 --alone-only   # also runs on older code

A run's cost is the process's CPU time (``time.process_time``: every thread of the process),
which other processes on a shared machine inflate less than the wall time; the wall time is
printed beside it. One process, with one torch thread and with two. Each measurement trains
``--runs`` runs of different seeds from scratch, including building the models (as a grid does),
not their evaluation.
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from contextlib import redirect_stdout
from pathlib import Path

import torch

from pcmci_edu.data import make_benchmark
from pcmci_edu.experiments import RunSettings, build_model, torch_threads
from pcmci_edu.experiments.variants import get_variant
from pcmci_edu.train import TrainConfig, fit

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "results" / "benchmark_throughput.txt"
VARIANTS = {"base": "base", "PCMCi": "pcmci"}


def _configs(settings: RunSettings, seeds: list[int]) -> list[TrainConfig]:
    return [TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                        weight_decay=settings.weight_decay, seed=seed, device="cpu", progress=False)
            for seed in seeds]


def measure(variant: str, benchmark, settings: RunSettings, seeds: list[int], batched: bool) -> tuple[float, float]:
    """``(CPU seconds, wall seconds)`` to build and train one run per seed, alone or as one ensemble."""
    variant = get_variant(variant)
    train = benchmark[variant.train_split]
    cpu, wall = time.process_time(), time.perf_counter()
    models = [build_model(variant, benchmark, settings, seed) for seed in seeds]
    configs = _configs(settings, seeds)
    if batched:
        from pcmci_edu.ensemble import fit_ensemble

        fit_ensemble(models, [train] * len(seeds), configs, progress=False)
    else:
        for model, config in zip(models, configs):
            fit(model, train, {}, config)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="runs (seeds) per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads of the process")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--alone-only", action="store_true", help="measure only runs one at a time")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args()
    settings = RunSettings.for_profile("book")
    benchmark = make_benchmark("breakfast", profile="book", seed=0)
    seeds = list(range(args.runs))
    log = io.StringIO()

    def say(text: str = "") -> None:
        print(text, flush=True)
        log.write(text + "\n")

    say(f"Training throughput: {args.runs} runs of each model, book settings ({settings.epochs} epochs, batch "
        f"{settings.batch_size}, model {dict(settings.model)}), {len(benchmark['train'])} training videos")
    say(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads available; CPU seconds are the process's (all its threads)")
    say()
    say(f"{'model':<7} {'threads':>7} {'how':<22} {'CPU s':>8} {'wall s':>8} {'runs/CPU-s':>11} {'x alone':>8}")
    for threads in args.threads:
        for name in args.variants:
            with torch_threads(threads), redirect_stdout(io.StringIO()):
                measure(VARIANTS[name], benchmark, settings, seeds[:1], batched=False)      # warm up
                alone = measure(VARIANTS[name], benchmark, settings, seeds, batched=False)
                together = None if args.alone_only else measure(VARIANTS[name], benchmark, settings, seeds,
                                                                batched=True)
            say(f"{name:<7} {threads:>7} {'one at a time':<22} {alone[0]:>8.1f} {alone[1]:>8.1f} "
                f"{args.runs / alone[0]:>11.3f} {1.0:>8.2f}")
            if together is not None:
                say(f"{name:<7} {threads:>7} {f'one ensemble of {args.runs}':<22} {together[0]:>8.1f} "
                    f"{together[1]:>8.1f} {args.runs / together[0]:>11.3f} {alone[0] / together[0]:>8.2f}")
    if not args.alone_only:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(log.getvalue())
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""Time the embedded benchmark's generation and record the linear-probe diagnostics.

    .venv/bin/python benchmarks/benchmark_generation.py            # timing + probes of the defaults
    .venv/bin/python benchmarks/benchmark_generation.py --grid     # also the strength-selection grid

Writes ``results/benchmark_probes.txt``. The default strengths of each preset were chosen
from the ``--grid`` table by the rule in :data:`pcmci_edu.data.benchmark.SELECTION_RULE`,
before any model was trained.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from pcmci_edu.data.benchmark import (
    PRESETS,
    SELECTION_GRID,
    SPLITS,
    SELECTION_RULE,
    make_benchmark,
    probe_report,
    select_strengths,
)

REPO = Path(__file__).resolve().parents[1]


def time_generation(preset: str = "breakfast", profile: str = "book", repeats: int = 3) -> list[float]:
    """Wall-clock seconds of ``make_benchmark`` (first call included)."""
    seconds = []
    for seed in range(repeats):
        start = time.perf_counter()
        make_benchmark(preset, profile=profile, seed=seed)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", action="store_true", help="also run the strength-selection grid (minutes)")
    parser.add_argument("--output", type=Path, default=REPO / "results" / "benchmark_probes.txt")
    args = parser.parse_args()

    lines = [
        "Embedded benchmark: generation time and linear-probe diagnostics",
        f"command: python benchmarks/benchmark_generation.py{' --grid' if args.grid else ''}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores visible (shared with other jobs: times are upper bounds)",
        "",
    ]
    seconds = time_generation("breakfast", "book")
    timing = (f"breakfast preset, book profile (1357/136/355 videos, N=32, D=128, {len(SPLITS)} splits): "
              f"generation {statistics.median(seconds):.2f} s median of {len(seconds)} "
              f"(runs: {', '.join(f'{s:.2f}' for s in seconds)}); limit 10 s")
    print(timing)
    lines += [timing, ""]

    lines += ["Probes of the default strengths (book profile, seed 0). Columns: accuracy (activity, top-1) and",
              "mAP over all classes, on test, the joint test_shift and each confounder's own shift",
              "(test_shift_context, test_shift_objects, test_shift_codependency); rows: which part of the pooled",
              "frame features a linear probe sees, and the split it was fit on; zero-shot rows score with frozen /",
              "clean label text. novel pairs: the fraction of co-occurring action pairs of test_shift_codependency",
              "(one per video and pair, background left out) that co-occur in no training video.", ""]
    for preset in tqdm(list(PRESETS), desc="probes"):
        bench = make_benchmark(preset, profile="book", seed=0)
        config = bench.config
        lines.append(f"[{preset}] context_strength={config.context_strength} objects_strength={config.objects_strength} "
                     f"noise={config.noise} confounding={config.confounding} companion_rate={config.companion_rate} "
                     f"text_contamination={config.text_contamination}; novel pairs in test_shift_codependency "
                     f"{bench.truth.novel_pairs['test_shift_codependency']:.3f}")
        with pd.option_context("display.width", 250, "display.max_columns", None):
            lines += probe_report(bench).round(3).T.to_string(header=False).splitlines()
        lines.append("")

    if args.grid:
        lines += ["Strength selection grid (book profile, seed 0). Rule:", SELECTION_RULE, ""]
        for preset in PRESETS:
            table, chosen = select_strengths(preset, progress=True)
            config = make_benchmark(preset, profile="book", seed=0).config
            defaults = {name: getattr(config, name) for name in ("context_strength", "objects_strength", "noise")}
            lines.append(f"[{preset}] grid {SELECTION_GRID}; chosen: {chosen}; defaults: {defaults}"
                         + ("" if chosen in (None, defaults) else "  <-- the defaults differ from the rule's choice"))
            with pd.option_context("display.width", 250, "display.max_columns", None):
                lines += table.round(3).to_string(index=False).splitlines()
            lines.append("")

    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.output.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(args.output)
    print(text)


if __name__ == "__main__":
    main()

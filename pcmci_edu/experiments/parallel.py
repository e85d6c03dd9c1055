"""Independent runs on several CPU cores: worker processes with one torch thread each.

The runs of a grid are independent (each seeds its own model, dropout and data order), so a
machine with two cores trains two at a time. :func:`run_in_workers` sends jobs to a pool of
worker processes (``spawn``: a fresh interpreter, safe next to torch's thread pools) that lives as
long as the calling process, so a chapter starts its workers once. The benchmark travels once
per worker: it is pickled to a temporary file that each worker reads on first use. A run in a
worker computes exactly what it computes in the calling process with the same thread count.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
import pickle
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

_pools: dict[int, ProcessPoolExecutor] = {}
_benchmark_files: dict[str, Path] = {}


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                       # not on Linux
        return os.cpu_count() or 1


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C (and a kernel's shutdown interrupt) to the calling process, which
    stops handing out jobs; the pool is closed at exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool(workers: int) -> ProcessPoolExecutor:
    if workers not in _pools:
        _pools[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                              initializer=_ignore_interrupts)
    return _pools[workers]


def _benchmark_file(benchmark: Mapping[str, Any], signature: str) -> Path:
    """The benchmark pickled once per process and signature, in the temporary folder."""
    if signature not in _benchmark_files or not _benchmark_files[signature].is_file():
        handle, name = tempfile.mkstemp(prefix=f"pcmci_edu_benchmark_{signature}_", suffix=".pkl")
        with os.fdopen(handle, "wb") as file:
            pickle.dump(benchmark, file, protocol=pickle.HIGHEST_PROTOCOL)
        _benchmark_files[signature] = Path(name)
    return _benchmark_files[signature]


@functools.lru_cache(maxsize=2)
def _load_benchmark(path: str) -> Any:
    with open(path, "rb") as file:
        return pickle.load(file)


def _call_with_benchmark(function: Callable[..., Any], path: str, arguments: tuple) -> Any:
    return function(_load_benchmark(path), *arguments)


def run_in_workers(function: Callable[..., Any], jobs: Sequence[tuple], benchmark: Mapping[str, Any],
                   signature: str, workers: int) -> Iterator[tuple[int, Any]]:
    """``function(benchmark, *job)`` for every job in ``workers`` processes; yields
    ``(index of the job, result)`` as the jobs finish. ``function`` must be importable (a
    module-level function) and its results picklable; an error in a job is raised here."""
    path = str(_benchmark_file(benchmark, signature))
    pool = _pool(workers)
    futures: dict[Future, int] = {pool.submit(_call_with_benchmark, function, path, tuple(job)): index
                                  for index, job in enumerate(jobs)}
    try:
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        for future in futures:
            future.cancel()


@atexit.register
def _close() -> None:
    for pool in _pools.values():
        pool.shutdown(cancel_futures=True)
    for path in _benchmark_files.values():
        path.unlink(missing_ok=True)

"""The run cache: where finished rows and weights are stored, and the keys that keep them fresh.

Every run of chapters 3-7 is stored under a key made of its variant, seed, the benchmark's
signature (:func:`benchmark_signature`), the training settings and :func:`code_fingerprint`, a
hash of the code that decides a run's numbers: change any of them and the run is trained again,
so a cached row is never stale. :class:`RunCache` keeps the rows in one JSON file and the weights
beside it, every write atomic (:func:`write_json_atomic`), so an interrupted grid loses at most
the run in progress.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pcmci_edu.profile import resolve_profile

if TYPE_CHECKING:  # annotations only: runs.py imports this module
    from pcmci_edu.experiments.runs import RunSettings
    from pcmci_edu.experiments.variants import Variant


FINGERPRINT_PATHS: tuple[str, ...] = ("model.py", "train.py", "ensemble.py", "metrics.py", "interventions",
                                      "data/benchmark", "data/dataset.py", "data/grammars.py",
                                      "data/labels.py", "experiments/runs.py", "experiments/evaluation.py")
"""The modules whose code decides a run's numbers (the model, the trainers, alone and batched, the
benchmark, the metrics, and the harness that trains a variant and measures it)."""

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
"""The folder of the package ``pcmci_edu``: :data:`FINGERPRINT_PATHS` are relative to it."""

HARNESS_VERSION = 4
"""Bumped when what a row holds changes (3: every mAP ranks raw logits, not float32 sigmoids;
4: every confounder's own shifted split measured, ``<metric>_shift_<confounder>``)."""


def _code_without_docstrings(source: str) -> str:
    """The module's syntax tree without docstrings or comments, so prose edits keep the cache."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the code that decides a run's numbers (:data:`FINGERPRINT_PATHS`, docstrings and
    comments ignored) and of :data:`HARNESS_VERSION`: the cache's guard against stale rows.

    Computed once per process, as the modules are imported once: a file edited while a kernel
    runs does not change the code that kernel trains with.
    """
    digest = hashlib.sha256(f"harness {HARNESS_VERSION}".encode())
    for file in fingerprinted_files():
        digest.update(str(file.relative_to(PACKAGE_ROOT)).encode())
        digest.update(_code_without_docstrings(file.read_text()).encode())
    return digest.hexdigest()[:16]


def fingerprinted_files() -> list[Path]:
    """The source files :func:`code_fingerprint` hashes, in order; an error when a path of
    :data:`FINGERPRINT_PATHS` is missing (a moved module must not silently leave the key)."""
    files = []
    for name in FINGERPRINT_PATHS:
        path = PACKAGE_ROOT / name
        if path.is_dir():
            files += sorted(path.rglob("*.py"))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"FINGERPRINT_PATHS names {name!r}, which is not in {PACKAGE_ROOT}")
    return files


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return repr(value)


def benchmark_signature(benchmark: Mapping[str, Any]) -> str:
    """A short hash of the benchmark's configuration (its ``.config``) and split sizes."""
    config = getattr(benchmark, "config", None)
    if config is not None and hasattr(config, "__dataclass_fields__"):
        config = asdict(config)
    sizes = {name: len(split) for name, split in benchmark.items()}
    text = json.dumps(_jsonable({"config": config, "sizes": sizes}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_key(variant: Variant, seed: int, benchmark_sig: str, settings: RunSettings,
            extra: Mapping[str, Any] | None = None) -> str:
    """The cache key of one run."""
    text = json.dumps(_jsonable({"variant": asdict(variant), "seed": seed, "benchmark": benchmark_sig,
                                 "settings": settings.key(), "code": code_fingerprint(),
                                 "extra": extra or {}}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(_jsonable(data), file, indent=1, sort_keys=True)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; results are meant to be read
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> Any:
    """Read a JSON file, with an error naming the file and the position when it is malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON at line {error.lineno}, column {error.colno}: "
                         f"{error.msg}") from None


def default_results_dir() -> Path:
    """Where results go: ``$PCMCI_RESULTS_DIR``, else ``results/`` of a source checkout,
    else ``~/.cache/pcmci_edu/results``."""
    if os.environ.get("PCMCI_RESULTS_DIR"):
        return Path(os.environ["PCMCI_RESULTS_DIR"])
    checkout = PACKAGE_ROOT.parent
    if (checkout / "_toc.yml").is_file():
        return checkout / "results"
    return Path.home() / ".cache" / "pcmci_edu" / "results"


def default_cache_dir(profile: str | None = None) -> Path:
    """The run cache of a profile: ``<results>/local/runs_<profile>`` (not committed)."""
    return default_results_dir() / "local" / f"runs_{resolve_profile(profile)}"


class RunCache:
    """Finished rows in ``rows.json`` and trained weights in ``models/<key>.pt`` under a folder.

    Every write is atomic, so an interrupted grid loses at most the run in progress.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.rows_path = self.folder / "rows.json"
        self.rows: dict[str, dict[str, Any]] = {}
        if self.rows_path.is_file():
            data = read_json(self.rows_path)
            if not isinstance(data, dict):
                raise ValueError(f"{self.rows_path}: expected an object of rows by key, "
                                 f"found {type(data).__name__}")
            self.rows = data

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached row of a key, or ``None``."""
        return self.rows.get(key)

    def put(self, key: str, row: Mapping[str, Any],
            model: torch.nn.Module | Mapping[str, torch.Tensor] | None = None) -> None:
        """Store a row (and the model's weights: the model or its state dict) atomically."""
        if model is not None:
            path = self.model_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(handle)
            torch.save(model.state_dict() if isinstance(model, torch.nn.Module) else dict(model), temporary)
            os.replace(temporary, path)
        self.rows[key] = dict(row)
        write_json_atomic(self.rows_path, self.rows)

    def model_path(self, key: str) -> Path:
        """Where the weights of a run are stored."""
        return self.folder / "models" / f"{key}.pt"

"""The experiment harness behind chapters 3-7: named variants, one run -> one row, cached grids.

A *variant* names one configuration the chapters compare (the base, a capacity control, an
intervention, an order of the three, the oracle). :func:`run_variant` trains a variant for one
seed on a benchmark and returns a *row*: accuracy and both mAP conventions on ``test`` and
``test_shift``, the shift gap, the masking probe, and the cost (parameters, FLOPs, step time).
:func:`run_grid` runs variants x seeds with a progress bar and caches every finished row (and
the trained weights) in a folder, written atomically, so that a rerun or a later chapter
reuses it. :func:`summarize` turns rows into a table of mean and spread over seeds.

The cache key holds the variant, the seed, the benchmark's signature, the training settings and
a fingerprint of the package's model, training and data code: change any of them and the run
is trained again, so a cached row is never stale.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from pcmci_edu.cost import head_cost
from pcmci_edu.profile import pick, resolve_profile

# ----------------------------------------------------------------------------------------------
# Variants
# ----------------------------------------------------------------------------------------------

INTERVENTION_NAMES: dict[str, str] = {"ich": "ICH", "ici": "ICI", "ivc": "IVC"}


@dataclass(frozen=True)
class Variant:
    """One configuration a chapter compares.

    ``interventions`` is the order in which ICH, ICI and IVC are applied (``()`` is the base);
    ``options`` are extra :class:`pcmci_edu.model.ModelConfig` fields (a capacity control, a
    reading of an intervention, frozen text); ``train_split`` names the split it trains on
    (``"train_oracle"`` for the oracle, whose confounders are broken).

    >>> VARIANTS["pcmci"].interventions
    ('ich', 'ici', 'ivc')
    >>> VARIANTS["order_ivc_ich_ici"].label
    'IVC → ICH → ICI'
    """

    name: str
    interventions: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    train_split: str = "train"
    title: str = ""
    description: str = ""

    @property
    def label(self) -> str:
        """A short human name: the title, else the order of the interventions, else "Base"."""
        if self.title:
            return self.title
        if not self.interventions:
            return "Base"
        return " → ".join(INTERVENTION_NAMES[name] for name in self.interventions)

    @property
    def option_dict(self) -> dict[str, Any]:
        """``options`` as a dictionary."""
        return dict(self.options)


def order_name(order: Sequence[str]) -> str:
    """The variant name of an order of the three interventions.

    >>> order_name(("ivc", "ich", "ici"))
    'order_ivc_ich_ici'
    """
    return "order_" + "_".join(order)


PCMCI_ORDER: tuple[str, ...] = ("ich", "ici", "ivc")

# The poster's six orders, in the poster's table order (Order 1 ... Order 5, then PCMCi).
ORDERS: tuple[tuple[str, ...], ...] = (
    ("ivc", "ich", "ici"),
    ("ivc", "ici", "ich"),
    ("ici", "ivc", "ich"),
    ("ici", "ich", "ivc"),
    ("ich", "ivc", "ici"),
    PCMCI_ORDER,
)


def _variants() -> dict[str, Variant]:
    table = [
        Variant("base", (), title="Base",
                description="the VLM recipe: temporal transformer, mean pooling, cosine logits "
                            "against label embeddings initialised from the frozen text"),
        Variant("base_attention_pool", (), (("label_pooling", "attention"),),
                title="Base + attention pooling (control)",
                description="capacity control for per-video ICH: each label pools the frames "
                            "with its own attention, no optimal transport, no back-door"),
        Variant("frozen_text", (), (("label_lr_multiplier", 0.0),), title="Base, frozen text",
                description="the base with the frozen text embeddings as a fixed classifier"),
        Variant("oracle", (), train_split="train_oracle", title="Oracle (unconfounded train)",
                description="the base trained on train_oracle, where the confounders are broken"),
        Variant("ich", ("ich",), title="ICH (per-video tokens)",
                description="ICH with V^P = the video's own frozen frame tokens (default)"),
        Variant("ich_dictionary", ("ich",), (("ich_visual_tokens", "dictionary"),),
                title="ICH (prototype dictionary)",
                description="ICH with V^P = k-means prototypes of training frames, prior p(h)"),
        Variant("ici", ("ici",), title="ICI", description="ICI alone"),
        Variant("ich_ici", ("ich", "ici"), title="ICH + ICI",
                description="the poster's ablation row: text deconfounded, vision not"),
        Variant("ivc", ("ivc",), title="IVC only",
                description="IVC with the in-sample reading of the front-door sum over v'"),
        Variant("ivc_cross_sample", ("ivc",), (("ivc_sampling", "cross_sample"),),
                title="IVC only, cross-sample",
                description="IVC whose sum over v' attends over other training videos"),
        Variant("pcmci", PCMCI_ORDER, title="PCMCi (ICH → ICI → IVC)",
                description="all three, in the poster's order"),
        Variant("pcmci_cross_sample", PCMCI_ORDER, (("ivc_sampling", "cross_sample"),),
                title="PCMCi, cross-sample IVC",
                description="all three, IVC's sum over v' across training videos"),
        Variant("pcmci_textbook", PCMCI_ORDER,
                (("ich_visual_tokens", "dictionary"), ("ivc_sampling", "cross_sample")),
                title="PCMCi, textbook readings",
                description="all three with the textbook readings of both adjustments: ICH "
                            "stratifies over a fixed dictionary of h with its prior, IVC sums over "
                            "other training videos"),
        Variant("pcmci_frozen_text", PCMCI_ORDER, (("label_lr_multiplier", 0.0),),
                title="PCMCi, frozen text",
                description="all three, the label embeddings kept at the frozen text"),
    ]
    for order in ORDERS:
        if order != PCMCI_ORDER:
            table.append(Variant(order_name(order), order,
                                 description="the poster's order study: " +
                                             " → ".join(INTERVENTION_NAMES[o] for o in order)))
    return {variant.name: variant for variant in table}


VARIANTS: dict[str, Variant] = _variants()
"""Every configuration the chapters compare, by name."""

ABLATION: tuple[str, ...] = ("base", "ich_ici", "ivc", "pcmci")
"""The poster's ablation rows: Base, ICH+ICI, IVC only, all (PCMCi)."""

ORDER_VARIANTS: tuple[str, ...] = tuple(
    "pcmci" if order == PCMCI_ORDER else order_name(order) for order in ORDERS)
"""The poster's six orders as variant names, in the poster's table order."""

REFERENCES: tuple[str, ...] = ("oracle", "base_attention_pool")
"""The two references of every comparison: the oracle and the capacity control."""


def get_variant(name: str | Variant) -> Variant:
    """A variant by name (or the variant itself); a clear error for an unknown name."""
    if isinstance(name, Variant):
        return name
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}: expected one of {', '.join(VARIANTS)}") from None


# The poster's Breakfast tables, quoted (Xu et al., CVPR 2026, "Ablation + Order"), in percent.
POSTER_ABLATION = pd.DataFrame(
    {"variant": ["base", "ich_ici", "ivc", "pcmci"],
     "setup": ["Base", "ICH+ICI", "IVC only", "PCMCi"],
     "B-Acc": [91.55, 95.77, 93.24, 97.46], "B-mAP": [80.23, 85.59, 88.31, 90.51]})
"""The poster's ablation on Breakfast (accuracy and mAP in percent), quoted as the paper's numbers."""

POSTER_ORDERS = pd.DataFrame(
    {"variant": list(ORDER_VARIANTS),
     "order": ["IVC → ICH → ICI", "IVC → ICI → ICH", "ICI → IVC → ICH",
               "ICI → ICH → IVC", "ICH → IVC → ICI", "ICH → ICI → IVC"],
     "B-Acc": [92.96, 92.39, 94.08, 95.49, 96.34, 97.46],
     "B-mAP": [81.76, 80.94, 83.13, 87.43, 89.72, 90.51]})
"""The poster's six intervention orders on Breakfast (percent), quoted as the paper's numbers."""


# ----------------------------------------------------------------------------------------------
# Settings per profile
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSettings:
    """How big one run is: model width and depth, and the training schedule.

    ``model`` holds extra :class:`pcmci_edu.model.ModelConfig` fields shared by every variant
    (width, depth); ``device`` ``None`` picks CUDA when present. ``threads``: CPU threads torch
    uses during a run (``None`` leaves torch's default). The small models of the smoke and book
    profiles gain nothing from intra-op parallelism, and on a busy machine two threads per
    process can be many times slower than one, so these profiles use one.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    model: tuple[tuple[str, Any], ...] = ()
    device: str | None = None
    threads: int | None = None

    @classmethod
    def for_profile(cls, profile: str | None = None) -> "RunSettings":
        """The settings a profile uses (smoke: seconds per run; book: ~10 s on a CPU)."""
        profile = resolve_profile(profile)
        return cls(
            epochs=pick(profile, smoke=1, book=8, full=30),
            batch_size=pick(profile, smoke=16, book=32, full=32),
            lr=1e-3,
            model=pick(profile, smoke=(("width", 32), ("layers", 1), ("heads", 2)),
                       book=(("width", 64), ("layers", 1), ("heads", 4)),
                       full=(("width", 256), ("layers", 2), ("heads", 8))),
            threads=pick(profile, smoke=1, book=1, full=None),
        )

    def key(self) -> dict[str, Any]:
        """What identifies these settings in a cache key (the device does not)."""
        data = asdict(self)
        data.pop("device")
        data.pop("threads")
        data["model"] = [list(item) for item in self.model]
        return data


def seeds_for_profile(profile: str | None = None) -> list[int]:
    """The training seeds a profile averages over (at least 3 outside smoke).

    >>> seeds_for_profile("book")
    [0, 1, 2]
    >>> seeds_for_profile("smoke")
    [0]
    """
    return list(range(pick(resolve_profile(profile), smoke=1, book=3, full=5)))


# ----------------------------------------------------------------------------------------------
# Building and training one variant
# ----------------------------------------------------------------------------------------------

def build_model(variant: str | Variant, benchmark: Mapping[str, Any], settings: RunSettings,
                seed: int = 0, train_set=None) -> torch.nn.Module:
    """The model of a variant, built for its training split (not trained).

    :meth:`pcmci_edu.model.PCMCi.from_dataset` builds what the variant needs from the training
    split (ICI's relation graphs, ICH's prototype dictionary, cross-sample IVC's memory).
    """
    from pcmci_edu.model import PCMCi

    variant = get_variant(variant)
    train_set = benchmark[variant.train_split] if train_set is None else train_set
    fields = {**dict(settings.model), **variant.option_dict}
    return PCMCi.from_dataset(train_set, interventions=variant.interventions, seed=seed, **fields)


@contextmanager
def torch_threads(threads: int | None):
    """Run a block with ``torch.set_num_threads(threads)`` (``None``: unchanged), then restore."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train_config(settings: RunSettings, seed: int, progress: bool):
    from pcmci_edu.train import TrainConfig

    return TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                       weight_decay=settings.weight_decay, seed=seed, device=settings.device,
                       progress=progress)


def _probabilities(scores: torch.Tensor | np.ndarray | None, multi_label: bool) -> np.ndarray | None:
    """Scores as probabilities: softmax over activities, sigmoid per action (logits in)."""
    if scores is None:
        return None
    scores = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
    return (torch.sigmoid(scores) if multi_label else torch.softmax(scores, dim=-1)).numpy()


def predict_probabilities(model: torch.nn.Module, dataset) -> tuple[np.ndarray | None, np.ndarray]:
    """Activity probabilities [V, A] (``None`` without activities) and action probabilities [V, K]."""
    from pcmci_edu.train import predict

    activity_scores, action_scores = predict(model, dataset)
    return _probabilities(activity_scores, False), _probabilities(action_scores, True)


def split_measures(activity_probs: np.ndarray | None, action_probs: np.ndarray, dataset) -> dict[str, float]:
    """Accuracy, both mAP conventions and the mean score of the true labels on one split."""
    from pcmci_edu.metrics import mean_average_precision, top1_accuracy

    targets = np.asarray(dataset.actions)
    measures = {
        "mAP_all_classes": mean_average_precision(action_probs, targets, protocol="all_classes"),
        "mAP_present_classes": mean_average_precision(action_probs, targets,
                                                      protocol="present_classes"),
        "true_action_score": float((action_probs * targets).sum() / max(targets.sum(), 1)),
    }
    if activity_probs is not None and getattr(dataset, "has_activities", True):
        labels = np.asarray(dataset.activities)
        measures["accuracy"] = top1_accuracy(torch.as_tensor(activity_probs), torch.as_tensor(labels))
        measures["true_activity_score"] = float(activity_probs[np.arange(len(labels)), labels].mean())
    else:
        measures["accuracy"] = math.nan
        measures["true_activity_score"] = math.nan
    return {name: float(value) for name, value in measures.items()}


SPLIT_SUFFIX: dict[str, str] = {"test": "test", "test_shift": "shift", "test_masked": "masked"}

HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "mAP_all_classes", "mAP_present_classes")


def evaluate_model(model: torch.nn.Module, benchmark: Mapping[str, Any]) -> dict[str, float]:
    """The row's measures of a trained model on ``test``, ``test_shift`` and ``test_masked``.

    Keys: ``<metric>_<split>`` for split suffixes ``test``, ``shift``, ``masked``; the shift gap
    ``gap_<metric>`` = test minus test_shift; the masking probe ``masked_accuracy`` (activity
    accuracy with the action part removed) and ``masked_score_ratio`` (the mean score of the
    true activity, masked over unmasked: a causal model's falls well below 1).
    """
    row: dict[str, float] = {}
    for split, suffix in SPLIT_SUFFIX.items():
        if split not in benchmark:
            continue
        dataset = benchmark[split]
        activity_probs, action_probs = predict_probabilities(model, dataset)
        for name, value in split_measures(activity_probs, action_probs, dataset).items():
            row[f"{name}_{suffix}"] = value
    for metric in HEADLINE_METRICS:
        if f"{metric}_shift" in row:
            row[f"gap_{metric}"] = row[f"{metric}_test"] - row[f"{metric}_shift"]
    if "accuracy_masked" in row:
        row["masked_accuracy"] = row["accuracy_masked"]
        row["masked_true_score"] = row["true_activity_score_masked"]
        row["masked_score_ratio"] = row["true_activity_score_masked"] / row["true_activity_score_test"]
        row["masked_action_score_ratio"] = (row["true_action_score_masked"] /
                                            row["true_action_score_test"])
    return row


def run_variant(variant: str | Variant, benchmark: Mapping[str, Any], seed: int = 0,
                settings: RunSettings | None = None, *, train_set=None,
                return_model: bool = False, progress: bool = True):
    """Train one variant for one seed and measure it: returns a row (and the model if asked).

    ``train_set`` overrides the variant's training split (few-shot training passes
    ``benchmark.few_shot(k, seed)``). The row holds the measures of :func:`evaluate_model`, the
    parameter count and FLOPs per video (:func:`pcmci_edu.cost.head_cost`), the training wall time
    and the mean time per step.
    """
    from pcmci_edu.train import fit

    variant = get_variant(variant)
    settings = settings or RunSettings.for_profile()
    train_set = benchmark[variant.train_split] if train_set is None else train_set
    with torch_threads(settings.threads):
        model = build_model(variant, benchmark, settings, seed, train_set)
        started = time.perf_counter()
        fit(model, train_set, {}, _train_config(settings, seed, progress))
        train_seconds = time.perf_counter() - started
        model.eval()
        cost = head_cost(model, benchmark["test"][0]["frames"].unsqueeze(0))
        steps = settings.epochs * math.ceil(len(train_set) / settings.batch_size)
        row: dict[str, Any] = {
            "variant": variant.name, "label": variant.label, "seed": int(seed),
            "train_videos": len(train_set),
            **evaluate_model(model, benchmark),
            "parameters": cost.parameters,
            "flops": cost.flops,
            "train_seconds": train_seconds,
            "step_seconds": train_seconds / max(steps, 1),
        }
    return (row, model) if return_model else row


# ----------------------------------------------------------------------------------------------
# The cache and the grid
# ----------------------------------------------------------------------------------------------

FINGERPRINT_PATHS: tuple[str, ...] = ("model.py", "train.py", "metrics.py", "interventions",
                                      "data/benchmark.py", "data/dataset.py", "data/grammars.py",
                                      "data/labels.py")
"""The modules whose code decides a run's numbers (the model, the trainer, the benchmark, the metrics)."""

HARNESS_VERSION = 2
"""Bumped when :func:`run_variant` or :func:`evaluate_model` change what a row holds."""


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
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"harness {HARNESS_VERSION}".encode())
    for name in FINGERPRINT_PATHS:
        path = root / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(str(file.relative_to(root)).encode())
                digest.update(_code_without_docstrings(file.read_text()).encode())
    return digest.hexdigest()[:16]


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
    checkout = Path(__file__).resolve().parents[1]
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

    def put(self, key: str, row: Mapping[str, Any], model: torch.nn.Module | None = None) -> None:
        """Store a row (and the model's weights) atomically."""
        if model is not None:
            path = self.model_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(handle)
            torch.save(model.state_dict(), temporary)
            os.replace(temporary, path)
        self.rows[key] = dict(row)
        write_json_atomic(self.rows_path, self.rows)

    def model_path(self, key: str) -> Path:
        """Where the weights of a run are stored."""
        return self.folder / "models" / f"{key}.pt"


def run_grid(variants: Iterable[str | Variant], seeds: Iterable[int], benchmark: Mapping[str, Any],
             settings: RunSettings | None = None, cache: RunCache | str | Path | None = None,
             *, progress: bool = True) -> pd.DataFrame:
    """Train and measure every variant for every seed; one row per run, cached.

    Runs already in the cache (same variant, seed, benchmark, settings and code) are read, not
    trained. The returned frame has a ``cached`` column saying which.
    """
    settings = settings or RunSettings.for_profile()
    cache = cache if isinstance(cache, RunCache) or cache is None else RunCache(cache)
    signature = benchmark_signature(benchmark)
    jobs = [(get_variant(v), int(s)) for v in variants for s in seeds]
    rows = []
    bar = tqdm(jobs, desc="runs", disable=not progress)
    for variant, seed in bar:
        bar.set_postfix_str(f"{variant.name} seed {seed}")
        key = run_key(variant, seed, signature, settings)
        row = cache.get(key) if cache is not None else None
        cached = row is not None
        if row is None:
            row, model = run_variant(variant, benchmark, seed, settings, return_model=True,
                                     progress=False)
            if cache is not None:
                cache.put(key, row, model)
        rows.append({**row, "cached": cached})
    return pd.DataFrame(rows)


def trained_model(variant: str | Variant, benchmark: Mapping[str, Any], seed: int = 0,
                  settings: RunSettings | None = None,
                  cache: RunCache | str | Path | None = None) -> tuple[torch.nn.Module, dict]:
    """A trained model of a variant and its row: from the cache when there, else trained now."""
    variant = get_variant(variant)
    settings = settings or RunSettings.for_profile()
    cache = cache if isinstance(cache, RunCache) or cache is None else RunCache(cache)
    key = run_key(variant, seed, benchmark_signature(benchmark), settings)
    if cache is not None and cache.get(key) is not None and cache.model_path(key).is_file():
        model = build_model(variant, benchmark, settings, seed)
        model.load_state_dict(torch.load(cache.model_path(key), map_location="cpu"))
        model.eval()
        return model, cache.get(key)
    row, model = run_variant(variant, benchmark, seed, settings, return_model=True)
    if cache is not None:
        cache.put(key, row, model)
    return model, row


# ----------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------

SUMMARY_METRICS: tuple[str, ...] = (
    "accuracy_test", "mAP_all_classes_test", "mAP_present_classes_test",
    "accuracy_shift", "mAP_all_classes_shift", "mAP_present_classes_shift",
    "gap_accuracy", "gap_mAP_all_classes", "masked_accuracy", "masked_score_ratio",
)


def summarize(rows: pd.DataFrame | Sequence[Mapping[str, Any]], metrics: Sequence[str] = SUMMARY_METRICS,
              by: str = "variant", order: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation over seeds: columns ``<metric>_mean``, ``<metric>_std``, ``n``.

    Rows follow ``order`` (default: first appearance). The standard deviation is the sample one
    (``ddof=1``), NaN for a single seed.
    """
    frame = pd.DataFrame(rows)
    metrics = [m for m in metrics if m in frame.columns]
    grouped = frame.groupby(by, sort=False)
    table = pd.concat({"mean": grouped[metrics].mean(), "std": grouped[metrics].std(ddof=1)}, axis=1)
    table.columns = [f"{metric}_{stat}" for stat, metric in table.columns]
    table = table[[f"{m}_{s}" for m in metrics for s in ("mean", "std")]]
    table["n"] = grouped.size()
    if "label" in frame.columns:
        table.insert(0, "label", grouped["label"].first())
    if order is not None:
        table = table.loc[[name for name in order if name in table.index]]
    return table


def format_table(summary: pd.DataFrame, metrics: Sequence[str], *, percent: bool = True,
                 names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A display table: one ``mean ± std`` string per metric (in percent by default)."""
    scale = 100.0 if percent else 1.0
    shown = pd.DataFrame(index=summary.index)
    if "label" in summary.columns:
        shown["configuration"] = summary["label"]
    for metric in metrics:
        mean, std = summary[f"{metric}_mean"] * scale, summary[f"{metric}_std"] * scale
        shown[(names or {}).get(metric, metric)] = [
            f"{m:.1f}" if not np.isfinite(s) else f"{m:.1f} ± {s:.1f}" for m, s in zip(mean, std)]
    shown["seeds"] = summary["n"]
    return shown.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# The text prior: zero-shot and few-shot
# ----------------------------------------------------------------------------------------------

def zero_shot(benchmark: Mapping[str, Any], splits: Sequence[str] = ("test", "test_shift", "test_masked"),
              text: str = "frozen", temperature: float = 0.01) -> pd.DataFrame:
    """Zero-shot measures with no training: the cosine of each video's mean frame with the label
    texts (:func:`pcmci_edu.data.benchmark.zero_shot_scores`), one row per split.

    ``text="frozen"`` uses the benchmark's (companion-contaminated) VLM text embeddings;
    ``text="clean"`` the generator's clean ones from ``benchmark.truth``. The cosines divided by
    ``temperature`` go through a softmax (activities) and a sigmoid (actions); accuracy and mAP
    do not depend on the temperature, the true-label scores do.
    """
    from pcmci_edu.data.benchmark import zero_shot_scores

    if text not in ("frozen", "clean"):
        raise ValueError(f"text={text!r}: expected 'frozen' or 'clean'")
    truth = getattr(benchmark, "truth", None) if text == "clean" else None
    if text == "clean" and truth is None:
        raise ValueError("text='clean' needs a benchmark with ground truth (benchmark.truth)")
    rows = []
    for split in splits:
        dataset = benchmark[split]
        activity, action = zero_shot_scores(dataset, truth)
        activity_probs = None if activity is None else _probabilities(activity / temperature, False)
        action_probs = _probabilities(action / temperature, True)
        rows.append({"split": split, "text": text, **split_measures(activity_probs, action_probs, dataset)})
    return pd.DataFrame(rows)


def few_shot(benchmark, variants: Sequence[str | Variant], shots: Sequence[int], seeds: Sequence[int],
             settings: RunSettings | None = None, cache: RunCache | str | Path | None = None,
             *, min_steps: int = 100, progress: bool = True) -> pd.DataFrame:
    """Train variants on ``benchmark.few_shot(k, seed)`` for each k in ``shots``; one row per run.

    A few videos make few steps per epoch, so the epochs are raised until a run makes at least
    ``min_steps`` optimiser steps.
    """
    settings = settings or RunSettings.for_profile()
    cache = cache if isinstance(cache, RunCache) or cache is None else RunCache(cache)
    signature = benchmark_signature(benchmark)
    jobs = [(get_variant(v), k, s) for v in variants for k in shots for s in seeds]
    rows = []
    for variant, k, seed in tqdm(jobs, desc="few-shot runs", disable=not progress):
        train_set = benchmark.few_shot(k, seed)
        steps_per_epoch = math.ceil(len(train_set) / settings.batch_size)
        run_settings = replace(settings, epochs=max(settings.epochs, math.ceil(min_steps / steps_per_epoch)))
        key = run_key(variant, seed, signature, run_settings, extra={"shots": k})
        row = cache.get(key) if cache is not None else None
        if row is None:
            row = run_variant(variant, benchmark, seed, run_settings, train_set=train_set, progress=False)
            row["shots"] = k
            if cache is not None:
                cache.put(key, row)
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# Conclusions computed from the numbers (chapter 7 prints these; the tests check them)
# ----------------------------------------------------------------------------------------------

def difference(rows: pd.DataFrame, metric: str, first: str, second: str) -> dict[str, float]:
    """Mean of ``metric`` for variant ``first`` minus ``second``, with the standard error of the
    difference (independent seeds) and whether it is clear: ``|diff| > 2 * se``."""
    a = rows.loc[rows["variant"] == first, metric].astype(float)
    b = rows.loc[rows["variant"] == second, metric].astype(float)
    if a.empty or b.empty:
        raise KeyError(f"no rows for variant {first if a.empty else second!r} (metric {metric})")
    diff = float(a.mean() - b.mean())
    se = float(math.sqrt((a.var(ddof=1) if len(a) > 1 else 0.0) / len(a) +
                         (b.var(ddof=1) if len(b) > 1 else 0.0) / len(b)))
    return {"diff": diff, "se": se, "clear": bool(abs(diff) > 2 * se and len(a) > 1 and len(b) > 1)}


def best_variant(rows: pd.DataFrame, metric: str, among: Sequence[str], higher: bool = True) -> str:
    """The variant among ``among`` with the best mean ``metric`` over seeds."""
    means = rows[rows["variant"].isin(among)].groupby("variant")[metric].mean()
    if means.empty:
        raise KeyError(f"no rows for any of {list(among)}")
    return str(means.idxmax() if higher else means.idxmin())


def permutation_anova(groups: Sequence[Sequence[float]], permutations: int = 10_000,
                      seed: int = 0) -> tuple[float, float]:
    """One-way ANOVA F statistic of several groups and its permutation p-value.

    The p-value is the fraction of random reassignments of the pooled values to groups of the
    same sizes whose F is at least the observed one (plus one, so it is never 0); no normality
    assumption. Used to ask whether several configurations differ at all, before reading their
    ranking.

    >>> f, p = permutation_anova([[0.0, 0.1, 0.2], [5.0, 5.1, 5.2]], permutations=999)
    >>> p < 0.2
    True
    """
    arrays = [np.asarray(group, dtype=float) for group in groups]
    if len(arrays) < 2 or any(len(a) < 1 for a in arrays):
        raise ValueError("permutation_anova needs at least two non-empty groups")
    sizes = np.array([len(a) for a in arrays])
    pooled = np.concatenate(arrays)
    bounds = np.cumsum(sizes)[:-1]

    def f_statistic(values: np.ndarray) -> float:
        parts = np.split(values, bounds)
        means = np.array([part.mean() for part in parts])
        between = (sizes * (means - values.mean()) ** 2).sum() / (len(parts) - 1)
        within = sum(((part - part.mean()) ** 2).sum() for part in parts) / max(len(values) - len(parts), 1)
        return float(between / within) if within > 0 else math.inf

    observed = f_statistic(pooled)
    generator = np.random.default_rng(seed)
    exceed = sum(f_statistic(generator.permutation(pooled)) >= observed * (1 - 1e-9) for _ in range(permutations))
    return observed, (exceed + 1) / (permutations + 1)


def rank_correlation(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """Spearman's rank correlation of two sequences of the same length (ties averaged)."""
    a = pd.Series(list(ours)).rank().to_numpy()
    b = pd.Series(list(theirs)).rank().to_numpy()
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _pct(value: float) -> str:
    return f"{100 * value:+.1f} points"


def _describe(diff: Mapping[str, float], percent: bool = True) -> str:
    strength = "a clear" if diff["clear"] else "not a clear"
    if not percent:
        return f"{diff['diff']:+.3f} (± {diff['se']:.3f} standard error; {strength} difference)"
    return f"{_pct(diff['diff'])} (± {100 * diff['se']:.1f} standard error; {strength} difference)"


def compare(rows: pd.DataFrame, metric: str, first: str, second: str, what: str | None = None,
            percent: bool = True) -> str:
    """One sentence comparing two variants on a metric, from the rows (mean ± std over seeds).

    >>> rows = pd.DataFrame({"variant": ["a", "a", "b", "b"], "x": [0.5, 0.7, 0.2, 0.2]})
    >>> compare(rows, "x", "a", "b", what="accuracy")
    'accuracy: a 60.0 ± 14.1, b 20.0 ± 0.0; difference +40.0 points (± 10.0 standard error; a clear difference).'
    """
    scale = 100.0 if percent else 1.0
    rows = pd.DataFrame(rows)

    def name(variant: str) -> str:
        return VARIANTS[variant].label if variant in VARIANTS else variant

    def stat(variant: str) -> str:
        values = rows.loc[rows["variant"] == variant, metric].astype(float) * scale
        digits = 1 if percent else 3
        return (f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}" if len(values) > 1
                else f"{values.mean():.{digits}f}")

    diff = difference(rows, metric, first, second)
    unit = "points" if percent else ""
    strength = "a clear" if diff["clear"] else "not a clear"
    digits = 1 if percent else 3
    return (f"{what or metric}: {name(first)} {stat(first)}, {name(second)} {stat(second)}; difference "
            f"{scale * diff['diff']:+.{digits}f} {unit} (± {scale * diff['se']:.{digits}f} standard error; "
            f"{strength} difference).").replace("  ", " ")


BEYOND_THE_PAPER: tuple[str, ...] = ("frozen_text", "ivc_cross_sample", "pcmci_cross_sample",
                                     "pcmci_textbook", "pcmci_frozen_text")
"""Variants that change what the classifier can see, compared with the oracle's shift gap."""


def chapter7_conclusions(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The claims chapter 7 states, computed from its rows, and the sentences that state them.

    Returns ``{"claims": {...}, "sentences": [...]}``. Claims: the ablation's winner by accuracy
    and by all-class mAP on ``test``; PCMCi minus Base (accuracy, mAP, shift gap, masking
    probe) with its standard error; the best order and the rank of the poster's order; the rank
    correlation of our order means with the poster's; the control's gain beside ICH's; and, for
    each "beyond the paper" variant present, the fraction of the base's excess shift gap (over the
    oracle's) that it removes and its cost in test accuracy.
    """
    rows = pd.DataFrame(rows).drop_duplicates(["variant", "seed"])
    present = set(rows["variant"])
    label = {v: get_variant(v).label for v in present if v in VARIANTS}
    claims: dict[str, Any] = {}
    sentences: list[str] = []

    ablation = [v for v in ABLATION if v in present]
    if ablation:
        claims["ablation_best_accuracy"] = best_variant(rows, "accuracy_test", ablation)
        claims["ablation_best_mAP"] = best_variant(rows, "mAP_all_classes_test", ablation)
        sentences.append(
            f"In the ablation, the best test accuracy is {label[claims['ablation_best_accuracy']]}'s "
            f"and the best all-class mAP is {label[claims['ablation_best_mAP']]}'s; the poster has "
            f"PCMCi first on both.")
    if {"pcmci", "base"} <= present:
        for metric, key in (("accuracy_test", "accuracy"), ("mAP_all_classes_test", "mAP"),
                            ("gap_accuracy", "gap_accuracy"), ("gap_mAP_all_classes", "gap_mAP"),
                            ("masked_score_ratio", "masked_score_ratio")):
            claims[f"pcmci_minus_base_{key}"] = difference(rows, metric, "pcmci", "base")
        d = claims
        sentences.append(
            f"PCMCi minus Base: test accuracy {_describe(d['pcmci_minus_base_accuracy'])}, "
            f"all-class mAP {_describe(d['pcmci_minus_base_mAP'])}.")
        gap = d["pcmci_minus_base_gap_accuracy"]
        claims["pcmci_shrinks_gap"] = bool(gap["diff"] < 0 and gap["clear"])
        sentences.append(
            "The shift gap in accuracy (test minus test_shift) "
            + ("shrinks clearly" if claims["pcmci_shrinks_gap"] else "does not shrink clearly")
            + f" with PCMCi: {_describe(gap)} against the base.")
        if "base_attention_pool" in present:
            control_gap = difference(rows, "gap_accuracy", "base_attention_pool", "base")
            versus_control = difference(rows, "gap_accuracy", "pcmci", "base_attention_pool")
            claims["control_minus_base_gap_accuracy"] = control_gap
            claims["pcmci_minus_control_gap_accuracy"] = versus_control
            claims["pcmci_gap_beats_control"] = bool(versus_control["diff"] < 0 and versus_control["clear"])
            sentences.append(
                f"The attention-pooling control, with no intervention, changes the gap by "
                f"{_describe(control_gap)} against the base; PCMCi's gap minus the control's is "
                f"{_describe(versus_control)}: "
                + ("PCMCi shrinks the gap clearly more than the control." if claims["pcmci_gap_beats_control"]
                   else "what PCMCi gains on the gap, the control gains too, so it is not evidence of "
                        "deconfounding."))
        ratio = d["pcmci_minus_base_masked_score_ratio"]
        claims["pcmci_lowers_masked_score"] = bool(ratio["diff"] < 0 and ratio["clear"])
        sentences.append(
            "On the masking probe, the true activity's score with the action removed (relative to "
            "unmasked) " + ("falls clearly" if claims["pcmci_lowers_masked_score"]
                            else "does not fall clearly") + f" with PCMCi: {_describe(ratio, percent=False)} "
            "in the ratio.")
    orders = [v for v in ORDER_VARIANTS if v in present]
    if len(orders) == len(ORDER_VARIANTS):
        means = rows.groupby("variant")[["accuracy_test", "mAP_all_classes_test"]].mean().loc[orders]
        claims["order_best_accuracy"] = str(means["accuracy_test"].idxmax())
        claims["order_best_mAP"] = str(means["mAP_all_classes_test"].idxmax())
        claims["poster_order_rank_accuracy"] = int(
            means["accuracy_test"].rank(ascending=False, method="min")["pcmci"])
        claims["order_rank_correlation_accuracy"] = rank_correlation(
            means["accuracy_test"], POSTER_ORDERS.set_index("variant").loc[orders, "B-Acc"])
        claims["order_rank_correlation_mAP"] = rank_correlation(
            means["mAP_all_classes_test"], POSTER_ORDERS.set_index("variant").loc[orders, "B-mAP"])
        claims["order_spread_accuracy"] = float(means["accuracy_test"].max() - means["accuracy_test"].min())
        best = claims["order_best_accuracy"]
        spread = {metric: difference(rows, metric, str(means[metric].idxmax()), str(means[metric].idxmin()))
                  for metric in ("accuracy_test", "mAP_all_classes_test")}
        claims["order_best_minus_worst_accuracy"] = spread["accuracy_test"]
        claims["order_best_minus_worst_mAP"] = spread["mAP_all_classes_test"]
        anova = {metric: permutation_anova([rows.loc[rows["variant"] == v, metric] for v in orders])
                 for metric in ("accuracy_test", "mAP_all_classes_test")}
        claims["order_anova_p_accuracy"] = anova["accuracy_test"][1]
        claims["order_anova_p_mAP"] = anova["mAP_all_classes_test"][1]
        # two tests (accuracy, mAP): Bonferroni, 0.05 / 2
        claims["orders_distinguishable"] = bool(min(claims["order_anova_p_accuracy"],
                                                    claims["order_anova_p_mAP"]) < 0.025)
        sentences.append(
            f"Among the six orders, {label[best]} has the best mean test accuracy; the poster's "
            f"ICH → ICI → IVC ranks {claims['poster_order_rank_accuracy']} of 6. The best order minus "
            f"the worst: accuracy {_describe(spread['accuracy_test'])}, all-class mAP "
            f"{_describe(spread['mAP_all_classes_test'])}. Do the six orders differ at all? A one-way "
            f"permutation ANOVA over seeds gives p = {claims['order_anova_p_accuracy']:.3f} (accuracy) "
            f"and p = {claims['order_anova_p_mAP']:.3f} (mAP): "
            + ("the orders are distinguishable on this benchmark (p < 0.025, Bonferroni for two tests). "
               if claims["orders_distinguishable"]
               else "on this benchmark the six orders cannot be told apart (no p < 0.025, Bonferroni "
                    "for two tests). ")
            + f"Spearman's correlation of our order ranking with the poster's is "
            f"{claims['order_rank_correlation_accuracy']:+.2f} (accuracy) and "
            f"{claims['order_rank_correlation_mAP']:+.2f} (mAP).")
    if {"ich", "base_attention_pool", "base"} <= present:
        ich = difference(rows, "mAP_all_classes_test", "ich", "base")
        control = difference(rows, "mAP_all_classes_test", "base_attention_pool", "base")
        claims["ich_minus_base_mAP"], claims["control_minus_base_mAP"] = ich, control
        claims["ich_beats_control_mAP"] = difference(rows, "mAP_all_classes_test", "ich",
                                                     "base_attention_pool")
        sentences.append(
            f"ICH alone changes all-class mAP by {_describe(ich)}; the attention-pooling control, "
            f"with no intervention, by {_describe(control)}. A gain the control also gets is a "
            f"better readout, not deconfounding.")
    if {"base", "oracle"} <= present:
        means = rows.groupby("variant")["gap_accuracy"].mean()
        excess = float(means["base"] - means["oracle"])
        claims["base_gap_accuracy"] = float(means["base"])
        claims["oracle_gap_accuracy"] = float(means["oracle"])
        sentences.append(
            f"The base loses {100 * means['base']:.1f} points of accuracy from test to test_shift; "
            f"the oracle, trained without the confounders, loses {100 * means['oracle']:.1f}.")
        beyond = {}
        for name in [v for v in BEYOND_THE_PAPER + ("pcmci",) if v in present]:
            closed = (float(means["base"] - means[name]) / excess) if abs(excess) > 1e-9 else math.nan
            cost = difference(rows, "accuracy_test", name, "base")
            beyond[name] = {"gap_accuracy": float(means[name]), "fraction_of_gap_closed": closed,
                            "accuracy_change": cost["diff"],
                            "gap_change": difference(rows, "gap_accuracy", name, "base")}
            if "base_attention_pool" in present:
                beyond[name]["gap_versus_control"] = difference(rows, "gap_accuracy", name,
                                                                "base_attention_pool")
        claims["beyond_the_paper"] = beyond
        if beyond:
            closers = [n for n, b in beyond.items() if b["gap_change"]["diff"] < 0 and b["gap_change"]["clear"]]
            claims["gap_closers"] = closers
            best = min(beyond, key=lambda n: beyond[n]["gap_accuracy"])
            claims["smallest_gap_variant"] = best
            beats_control = [n for n in closers if "gap_versus_control" in beyond[n]
                             and beyond[n]["gap_versus_control"]["diff"] < 0
                             and beyond[n]["gap_versus_control"]["clear"]]
            claims["gap_closers_beyond_control"] = beats_control
            sentences.append(
                f"Of the variants that change what the classifier can see, {label[best]} has the "
                f"smallest shift gap ({100 * beyond[best]['gap_accuracy']:.1f} points, "
                f"{100 * beyond[best]['fraction_of_gap_closed']:.0f}% of the base's excess over the "
                f"oracle removed) at a test-accuracy change of "
                f"{_pct(beyond[best]['accuracy_change'])}. "
                + ("Clearly smaller gaps than the base's: " + "; ".join(label[n] for n in closers) + ". "
                   if closers else "None of them shrinks the gap clearly below the base's. ")
                + ("Clearly smaller than the attention-pooling control's too: "
                   + "; ".join(label[n] for n in beats_control) + "."
                   if beats_control else "None shrinks it clearly below the attention-pooling control's, "
                                         "which has no intervention at all."))
    return {"claims": claims, "sentences": sentences}


def write_results(path: str | Path, rows: pd.DataFrame, *, profile: str, benchmark: Mapping[str, Any],
                  settings: RunSettings, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write a chapter's rows, its computed conclusions and its provenance to a JSON file (atomic)."""
    rows = pd.DataFrame(rows).drop(columns=["cached"], errors="ignore").drop_duplicates(["variant", "seed"])
    data = {"profile": profile, "benchmark": benchmark_signature(benchmark),
            "settings": settings.key(), "code": code_fingerprint(),
            "rows": rows.to_dict(orient="records"), **chapter7_conclusions(rows), **(extra or {})}
    write_json_atomic(path, data)
    return data


# ----------------------------------------------------------------------------------------------
# Looking inside a trained model (figures of chapters 4-6)
# ----------------------------------------------------------------------------------------------

def _frames(dataset, indices: Sequence[int]) -> torch.Tensor:
    return torch.stack([dataset[int(i)]["frames"] for i in indices])


@torch.no_grad()
def model_details(model: torch.nn.Module, dataset, indices: Sequence[int],
                  frames: torch.Tensor | None = None) -> dict[str, Any]:
    """The model's intermediate quantities (``return_details=True``) for some videos, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    frames = _frames(dataset, indices) if frames is None else frames
    output = model(frames.to(device), return_details=True)
    details = {name: (value.detach().cpu() if isinstance(value, torch.Tensor) else value)
               for name, value in output.details.items()}
    details["action_logits"] = output.action_logits.cpu()
    details["activity_logits"] = None if output.activity_logits is None else output.activity_logits.cpu()
    return details


def frame_truth(split, index: int) -> dict[str, np.ndarray]:
    """What the generator put in each frame of one video, as label x frame masks over the
    actions: ``action`` [K, N] (the action is performed in the frame) and ``companion``
    [K, N] (the action's companion object is visible in the frame)."""
    frame_actions = np.asarray(split.frame_actions[index])
    frame_objects = np.asarray(split.frame_objects[index])
    companions = np.asarray(split.truth.companion_index)
    labels = np.arange(len(companions))[:, None]
    action = frame_actions[None, :] == labels
    companion = (companions[:, None] >= 0) & (frame_objects[None, :] == companions[:, None])
    return {"action": action, "companion": companion}


def plan_mass_on_truth(plans: torch.Tensor | np.ndarray, split, indices: Sequence[int],
                       num_activities: int) -> dict[str, float]:
    """Where an OT plan's rows put their mass, averaged over the videos' true actions.

    For each video and each action it contains, the row of the plan (renormalised to one) is
    split into the share on frames where that action is performed, on frames that show only
    its companion object (not the action), and elsewhere; ``uniform_action`` is what a uniform
    row would put on the action's frames.
    """
    plans = np.asarray(plans, dtype=np.float64)
    shares = {"on_action": [], "on_companion_only": [], "elsewhere": [], "uniform_action": []}
    for row, index in enumerate(indices):
        truth = frame_truth(split, int(index))
        for k in np.flatnonzero(np.asarray(split.actions[int(index)]) > 0):
            plan = plans[row, num_activities + k]
            plan = plan / max(plan.sum(), 1e-12)
            action, companion = truth["action"][k], truth["companion"][k] & ~truth["action"][k]
            shares["on_action"].append(plan[action].sum())
            shares["on_companion_only"].append(plan[companion].sum())
            shares["elsewhere"].append(plan[~action & ~companion].sum())
            shares["uniform_action"].append(action.mean())
    return {name: float(np.mean(values)) if values else math.nan for name, values in shares.items()}


def _true_label_logit(model: torch.nn.Module, frames: torch.Tensor, split, indices) -> torch.Tensor:
    output = model(frames)
    if output.activity_logits is not None and getattr(split, "has_activities", True):
        labels = torch.as_tensor(np.asarray(split.activities)[list(indices)], device=frames.device)
        return output.activity_logits.gather(1, labels[:, None]).squeeze(1)
    targets = torch.as_tensor(np.asarray(split.actions)[list(indices)], device=frames.device)
    return (output.action_logits * targets).sum(1) / targets.sum(1).clamp_min(1)


@torch.no_grad()
def part_occlusion(model: torch.nn.Module, split, parts: Sequence[str] = ("action", "context", "objects"),
                   max_videos: int = 128, seed: int = 0) -> pd.DataFrame:
    """How much the model leans on each additive part of the features (from ``split.parts``).

    For each part, the frames are recomputed without it (``frames - part``) and we measure the
    mean drop of the true label's logit, the mean absolute change of the IVC gate and the total
    variation between IVC's attention ``P(m | V)`` with and without the part (where the model
    has IVC). One row per part.
    """
    model.eval()
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(split), size=min(max_videos, len(split)), replace=False))
    device = next(model.parameters()).device
    frames = _frames(split, indices).to(device)
    reference = model(frames, return_details=True)
    reference_logit = _true_label_logit(model, frames, split, indices)
    rows = []
    for part in parts:
        removed = frames - torch.as_tensor(split.parts[part][indices], device=device)
        output = model(removed, return_details=True)
        row = {"part": part,
               "logit_drop": float((reference_logit - _true_label_logit(model, removed, split, indices)).mean())}
        if "ivc_gate" in reference.details:
            row["gate_change"] = float((output.details["ivc_gate"] - reference.details["ivc_gate"]).abs().mean())
            row["attention_change"] = float(0.5 * (output.details["ivc_attention"] -
                                                   reference.details["ivc_attention"]).abs().sum(-1).mean())
        rows.append(row)
    return pd.DataFrame(rows)


@torch.no_grad()
def attention_on_own_action(model: torch.nn.Module, split, max_videos: int = 128, seed: int = 0) -> dict[str, float]:
    """IVC's attention ``P(m | V)`` of each frame: the mass on the label of the action performed
    in that frame, against the uniform ``1 / L`` (frames with an action only)."""
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(split), size=min(max_videos, len(split)), replace=False))
    details = model_details(model, split, indices)
    if "ivc_attention" not in details:
        raise ValueError("the model has no IVC: no attention P(m | V) to read")
    attention = details["ivc_attention"].numpy()                       # [B, N, L]
    num_activities = getattr(model, "num_activities", 0)
    frame_actions = np.asarray(split.frame_actions)[indices]            # [B, N]
    visible = frame_actions >= 0
    own = np.take_along_axis(attention, (num_activities + np.maximum(frame_actions, 0))[..., None], -1)[..., 0]
    return {"on_own_action": float(own[visible].mean()), "uniform": 1.0 / attention.shape[-1]}


def per_class_average_precision(model: torch.nn.Module, dataset) -> np.ndarray:
    """Average precision of each atomic action on a split ``[K]`` (NaN without positives)."""
    from pcmci_edu.metrics import average_precision_per_class

    _, action_probs = predict_probabilities(model, dataset)
    return average_precision_per_class(action_probs, np.asarray(dataset.actions))


def activities_per_action(train_set) -> np.ndarray:
    """In how many activities each atomic action occurs in training ``[K]`` (1: exclusive to one
    activity; more: shared)."""
    membership = np.zeros((len(train_set.activity_names), len(train_set.action_names)))
    np.add.at(membership, np.asarray(train_set.activities), np.asarray(train_set.actions))
    return (membership > 0).sum(0)


def label_similarity(embeddings: torch.Tensor | np.ndarray) -> np.ndarray:
    """Cosine similarity between label embeddings ``[L, D]`` -> ``[L, L]``."""
    embeddings = torch.nn.functional.normalize(torch.as_tensor(np.asarray(embeddings), dtype=torch.float32), dim=-1)
    return (embeddings @ embeddings.T).numpy()


# ----------------------------------------------------------------------------------------------
# Plotting glue for the tables above
# ----------------------------------------------------------------------------------------------

def plot_summary(summary: pd.DataFrame, metrics: Sequence[str], ax=None, *, names: Mapping[str, str] | None = None,
                 percent: bool = True, title: str | None = None):
    """Grouped bars: one group per metric, one bar per configuration, error bars = std over seeds."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(1.6 + 1.4 * len(metrics) * max(1, len(summary)) / 3, 3.2))[1]
    scale = 100.0 if percent else 1.0
    width = 0.8 / max(len(summary), 1)
    positions = np.arange(len(metrics))
    for i, (name, row) in enumerate(summary.iterrows()):
        means = [row[f"{m}_mean"] * scale for m in metrics]
        stds = [np.nan_to_num(row[f"{m}_std"]) * scale for m in metrics]
        ax.bar(positions + (i - (len(summary) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
               label=row.get("label", name))
    ax.set_xticks(positions, [(names or {}).get(m, m) for m in metrics], rotation=0)
    ax.set_ylabel("percent" if percent else "value")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    if title:
        ax.set_title(title)
    return ax

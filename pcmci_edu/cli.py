"""The command line: ``pcmci-edu info | prepare | extract | train | evaluate``.

A full run on one dataset (the run configurations ship with the package, in
``pcmci_edu/configs``; ``--config`` takes their name or a path to your own .toml file)::

    pcmci-edu prepare breakfast --root DATA --accept-licence
    pcmci-edu extract breakfast --root DATA
    pcmci-edu train --config breakfast --root DATA --out runs/breakfast
    pcmci-edu evaluate --config breakfast --root DATA --out runs/breakfast

``train`` runs on several GPUs under ``torchrun --nproc_per_node=G -m pcmci_edu.cli train ...``.
Any configuration value can be overridden with ``--set section.key=value``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import textwrap
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pcmci_edu import __version__
from pcmci_edu.config_check import ConfigError, check_value

CONFIG_SECTIONS = ("dataset", "extract", "model", "train")
MODEL_FILE = "model.pt"
RESULTS_FILE = "results.json"
HISTORY_FILE = "history.csv"


# ---------------------------------------------------------------------------------------
# Run configuration (configs/<dataset>.toml)
# ---------------------------------------------------------------------------------------

def _load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path}: no such config file (or give a shipped one by name: "
                                f"{', '.join(shipped_configs())})") from error
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error


def _parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML literal (number, bool, list, quoted string), else the text."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
"""The run configurations that ship with the package, one per real dataset."""


def shipped_configs() -> list[str]:
    """The names ``--config`` accepts instead of a path.

    >>> shipped_configs()
    ['breakfast', 'charades', 'coin']
    """
    return sorted(path.stem for path in CONFIGS_DIR.glob("*.toml"))


def resolve_config(config: str | Path) -> Path:
    """A ``--config`` value as a file: a shipped configuration's name, or a path to a .toml file.

    >>> resolve_config("breakfast") == CONFIGS_DIR / "breakfast.toml"
    True
    >>> resolve_config("my_runs/coin.toml").as_posix()
    'my_runs/coin.toml'
    """
    if str(config) in shipped_configs():
        return CONFIGS_DIR / f"{config}.toml"
    return Path(config)


def load_run_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Read a run configuration (a shipped name or a path) and apply ``section.key=value`` overrides.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = path.write_text('[dataset]\\nname = "coin"\\n[train]\\nepochs = 30\\n')
    >>> load_run_config(path, ["train.epochs=2", "model.interventions=[]"])["train"]
    {'epochs': 2}
    """
    path = resolve_config(path)
    config = _load_toml(path)
    unknown = set(config) - set(CONFIG_SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; expected {list(CONFIG_SECTIONS)}")
    for section in CONFIG_SECTIONS:
        config.setdefault(section, {})
        if not isinstance(config[section], dict):
            raise ValueError(f"{path}: {section} = ... must be a [{section}] table")
        for name, value in config[section].items():
            try:
                config[section][name] = check_value(section, name, value)
            except ConfigError as error:
                raise ConfigError(f"{path}: {error}") from None
    for override in overrides or []:
        key, separator, value = override.partition("=")
        section, dot, name = key.strip().partition(".")
        if not separator or not dot or section not in CONFIG_SECTIONS or not name:
            raise ValueError(f"--set {override!r}: expected section.key=value with section one of "
                             f"{list(CONFIG_SECTIONS)}, e.g. train.epochs=10")
        try:
            config[section][name] = check_value(section, name, _parse_value(value.strip()), from_set=True)
        except ConfigError as error:
            raise ConfigError(f"--set {override} (on {path}): {error}") from None
    if "name" not in config["dataset"]:
        raise ValueError(f"{path}: [dataset] needs a name (breakfast, coin or charades)")
    if config["dataset"].get("num_frames", 1) < 1:
        raise ValueError(f"{path}: [dataset] num_frames = {config['dataset']['num_frames']}: expected at least 1")
    _check_ranges(config, path)
    return config


def _check_ranges(config: dict, path: Path) -> None:
    """The checks of TrainConfig, ExtractionConfig and ModelConfig, reported with the file and
    section before any data is read (the model's sizes from the data: a stand-in width here)."""
    from pcmci_edu.extract import ExtractionConfig
    from pcmci_edu.model import ModelConfig
    from pcmci_edu.train import TrainConfig

    def model(**values) -> ModelConfig:
        return ModelConfig(feature_dim=values.get("text_dim") or 512,
                           num_frames=config["dataset"].get("num_frames", 32), **values)

    for section, fields in (("train", TrainConfig), ("extract", ExtractionConfig), ("model", model)):
        try:
            fields(**config[section])
        except ValueError as error:
            raise ConfigError(f"{path}: [{section}] {error}") from None


# ---------------------------------------------------------------------------------------
# Datasets, models, provenance
# ---------------------------------------------------------------------------------------

def _dataset_dir(config: dict, root: str | Path) -> Path:
    return Path(root) / config["dataset"]["name"]


def _store_dir(config: dict, root: str | Path) -> Path:
    features = config["dataset"].get("features", "features/clip")
    return _dataset_dir(config, root) / features


def open_split(config: dict, root: str | Path, split: str, with_features: bool = True):
    """The real reader for ``config['dataset']['name']`` on one split, with its feature store.

    Videos listed in the annotations but absent from the store (a COIN video no longer online,
    a file that failed to decode) are left out with a printed count; the dataset then records
    ``videos_without_features``. Below ``[dataset] min_coverage`` of the split's videos with
    features, a :class:`~pcmci_edu.data.published.CoverageError` says which are missing.
    """
    from pcmci_edu import data
    from pcmci_edu.data.published import DEFAULT_MIN_COVERAGE, check_coverage

    name = config["dataset"]["name"]
    readers = {"breakfast": "Breakfast", "coin": "COIN", "charades": "Charades"}
    if name not in readers:
        raise ValueError(f"[dataset] name={name!r}: expected one of {', '.join(readers)}")
    reader = getattr(data, readers[name])
    keywords: dict[str, Any] = {"split": split}
    if name == "breakfast":
        keywords["subset"] = config["dataset"].get("subset", "person")
    annotations = reader(_dataset_dir(config, root), **keywords)
    annotations.videos_without_features = []
    if not with_features:
        return annotations
    store_dir = _store_dir(config, root)
    if not store_dir.is_dir():
        raise FileNotFoundError(f"{store_dir}: no feature store; run `pcmci-edu extract {name}` first")
    store = data.FeatureStore(store_dir)
    num_frames = int(config["dataset"].get("num_frames", 32))
    seed = int(config["train"].get("seed", 0))  # the frames a random sampling draws: the run's seed
    missing = store.missing(annotations.video_ids)
    check_coverage(name, split, len(annotations), missing,
                   float(config["dataset"].get("min_coverage", DEFAULT_MIN_COVERAGE)), store_dir)
    if not missing:
        dataset = reader(_dataset_dir(config, root), features=store, num_frames=num_frames, seed=seed, **keywords)
        dataset.videos_without_features = []
        return dataset
    if len(missing) == len(annotations):
        store.require(annotations.video_ids, listed_in=f"{name} {split}")  # raises, naming the store
    from pcmci_edu.extract import FAILED_LOG

    print(f"{name} {split}: {len(missing)} of {len(annotations)} annotated videos have no features in "
          f"{store_dir} (not fetched, or failed to decode: see {FAILED_LOG}); they are left out")
    return _with_features(annotations, store, num_frames, sampling="random" if split == "train" else "uniform",
                          missing=missing, seed=seed)


def _with_features(annotations, store, num_frames: int, sampling: str, missing: list[str], seed: int):
    """The videos of an annotation-only split that the store has, reading their features from it."""
    import torch

    from pcmci_edu.data.features import frame_loader

    absent = set(missing)
    dataset = annotations.subset([i for i, video in enumerate(annotations.video_ids) if video not in absent])
    texts = store.read_text_features(dataset.num_actions, dataset.num_activities or None)
    if texts is None:
        raise FileNotFoundError(f"{store.root}: no text_features.npz; run `pcmci-edu extract` first")
    dataset.frame_loader = frame_loader(store, dataset.video_ids, num_frames, sampling, seed)
    dataset.num_frames = num_frames
    dataset.feature_dim = store.read_all_frames(dataset.video_ids[0]).shape[1]
    dataset.action_text_features = torch.as_tensor(texts["actions"], dtype=torch.float32)
    dataset.activity_text_features = (torch.as_tensor(texts["activities"], dtype=torch.float32)
                                      if "activities" in texts else None)
    dataset.videos_without_features = sorted(absent)
    return dataset


def code_version() -> dict[str, Any]:
    """``pcmci_edu.__version__`` and, when the package runs from a git checkout that tracks it, the
    commit and whether the checkout differs from it (a pip-installed copy records no commit, even
    inside another repository's folder)."""
    version: dict[str, Any] = {"pcmci_edu": __version__, "git_commit": None, "git_dirty": None}
    here = Path(__file__).resolve().parent

    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=here, capture_output=True, text=True, timeout=10,
                              check=True).stdout

    try:
        git("ls-files", "--error-unmatch", Path(__file__).name)  # fails unless this file is tracked here
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
        version.update(git_commit=commit, git_dirty=dirty)
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def hardware() -> dict[str, Any]:
    """The device, the number of GPUs, and the versions of the stack."""
    import torch

    from pcmci_edu.system import environment_report

    report: dict[str, Any] = dict(environment_report())
    report["cuda_devices"] = torch.cuda.device_count()
    report["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    return report


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _atomic_json(path: Path, payload: dict) -> None:
    from pcmci_edu.files import atomic_json

    atomic_json(path, payload)


def _json_safe(value: Any) -> Any:
    """NaN (no activities, e.g. Charades' accuracy) becomes null in the JSON file."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------
# Results files beside the paper's numbers
# ---------------------------------------------------------------------------------------

PAPER_MAIN_TABLE: dict[str, dict[str, float | None]] = {
    # method: Breakfast accuracy, Breakfast mAP, COIN accuracy, COIN mAP (percent), GFLOPs, params (M)
    "Text4Vis": {"breakfast/accuracy": 95.49, "breakfast/mAP": 60.49, "coin/accuracy": 91.98,
                 "coin/mAP": 63.39, "FLOPs": 835, "params": 287},
    "MA-LMM": {"breakfast/accuracy": 93.00, "breakfast/mAP": 71.84, "coin/accuracy": 93.20,
               "coin/mAP": 67.67, "FLOPs": 29063, "params": 7526},
    "HierarQ": {"breakfast/accuracy": 97.18, "breakfast/mAP": 76.32, "coin/accuracy": 94.78,
                "coin/mAP": 70.10, "FLOPs": 37877, "params": 7881},
    "PCMCi": {"breakfast/accuracy": 97.46, "breakfast/mAP": 90.51, "coin/accuracy": 94.53,
              "coin/mAP": 86.54, "FLOPs": 650, "params": 211, "charades/mAP": 53.3},
}
"""The poster's main comparison (Xu et al., CVPR 2026, "Main Comparison"; Charades mAP from its
headline numbers), quoted in percent. The poster does not say which mAP convention each number
uses, nor the units of FLOPs and Params."""


def read_results(folder: str | Path) -> list[dict]:
    """Every ``results.json`` written by ``pcmci-edu evaluate`` under ``folder`` (recursively).

    A file that is not valid JSON or lacks the metrics is reported by name.
    """
    results = []
    for path in sorted(Path(folder).rglob(RESULTS_FILE)):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(record.get("metrics"), dict) or "dataset" not in record:
            raise ValueError(f"{path}: expected the 'dataset' and 'metrics' fields of `pcmci-edu evaluate`")
        results.append({**record, "path": str(path)})
    return results


def results_rows(results: list[dict]) -> list[dict]:
    """One row per results file: dataset, label, the three metrics in percent, device, commit."""
    rows = []
    for record in results:
        metrics = record["metrics"]
        rows.append({
            "dataset": record["dataset"], "label": record.get("label") or "", "videos": record.get("num_videos"),
            "videos without features": record.get("videos_without_features"),
            **{name: None if metrics.get(name) is None else round(100 * metrics[name], 2)
               for name in ("accuracy", "mAP_all_classes", "mAP_present_classes")},
            "device": (record.get("hardware") or {}).get("device", ""),
            "commit": ((record.get("code_version") or {}).get("git_commit") or "")[:10],
            "file": record["path"],
        })
    return rows


# ---------------------------------------------------------------------------------------
# Sub-commands
# ---------------------------------------------------------------------------------------

def _info(_: argparse.Namespace) -> int:
    from pcmci_edu.system import environment_report

    for name, value in environment_report().items():
        print(f"{name}: {value}")
    return 0


def _prepare(arguments: argparse.Namespace) -> int:
    from pcmci_edu.data.download import LicenceNotAccepted, prepare

    try:
        report = prepare(arguments.dataset, arguments.root, components=arguments.include,
                         accept_licence=arguments.accept_licence, mirror=arguments.mirror,
                         local_dir=arguments.from_dir, verify=not arguments.no_verify,
                         keep_archives=arguments.keep_archives)
    except LicenceNotAccepted as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def _extraction_config(config: dict, arguments: argparse.Namespace):
    from pcmci_edu.extract import ExtractionConfig

    values = dict(config["extract"])
    for name in ("model_name", "pretrained", "num_frames", "sampling", "batch_size", "device", "num_workers",
                 "image_size"):
        given = getattr(arguments, name, None)
        if given is not None:
            values[name] = given
    return ExtractionConfig(**values)


FEATURE_DEFINING = ("model_name", "pretrained", "num_frames", "sampling", "image_size", "text_template")
"""Extraction settings that change the features (a store holds one combination)."""


def _check_store_matches(store_dir: Path, settings: dict, source: str) -> dict | None:
    """Fix the store's settings before its first feature is written, or refuse other ones.

    A store holds features of one setting (:data:`FEATURE_DEFINING` and the source). A store
    with features keeps the settings recorded in its ``extraction.json``: a run that asks for
    others stops, naming both and what to do. A store without features (new, or left empty by a
    run that stopped early) takes this run's. The run is added, unfinished, to the record's
    ``runs`` (:func:`_record_extraction` finishes it). Returns the previous record when the store
    holds features of these settings, else ``None``.
    """
    from pcmci_edu.extract import TEXT_FEATURES_FILE

    record = _read_extraction_record(store_dir)
    stored = len(list(store_dir.glob("*.npy"))) + int((store_dir / TEXT_FEATURES_FILE).is_file())
    wanted = {**settings, "source": source}
    to_do = (f"extract into another store with --out DIR (then train with --set dataset.features=DIR, "
             f"relative to <root>/<dataset>), or delete {store_dir} to start it again")
    if stored and record is None:
        raise ValueError(f"{store_dir} holds {stored} feature file(s) but no extraction.json, so how they were "
                         f"made is unknown and this run cannot add to them: {to_do}")
    if stored:
        before = record.get("settings") or {**{name: record["config"].get(name) for name in FEATURE_DEFINING},
                                            "source": record.get("source")}
        if before != wanted:
            differ = [name for name in wanted if before.get(name) != wanted[name]]
            raise ValueError(f"{store_dir} holds features made with "
                             f"{', '.join(f'{name}={before.get(name)!r}' for name in differ)}; this run asks for "
                             f"{', '.join(f'{name}={wanted[name]!r}' for name in differ)}. A store holds features "
                             f"of one setting: {to_do}")
    else:
        record = None
    run = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "finished": None,
           "settings": wanted, "code_version": code_version()}
    _atomic_json(store_dir / "extraction.json", _json_safe({**(record or {"source": source}), "settings": wanted,
                                                            "runs": [*(record or {}).get("runs", []), run]}))
    return record


def _record_extraction(store_dir: Path, report, record: dict) -> None:
    """Write ``extraction.json``: ``record`` (what the store holds now), the store's settings, and
    its runs, this one (the last, begun by :func:`_check_store_matches`) finished with what it did."""
    previous = _read_extraction_record(store_dir) or {}
    runs = list(previous.get("runs", []))
    if runs and runs[-1].get("finished") is None:
        runs[-1].update(finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        written=len(report.written), already_done=len(report.skipped),
                        failed=dict(getattr(report, "failed", {})))
    _atomic_json(store_dir / "extraction.json", {**record, "settings": previous.get("settings"), "runs": runs})


def _extract_holding_the_store(arguments: argparse.Namespace) -> int:
    """``extract`` holding the feature store's lock from start to end: a second ``extract`` on the
    same store stops at once instead of doing the same work (:meth:`FeatureStore.lock`)."""
    from pcmci_edu.data.features import FeatureStore

    config = _run_config(arguments)
    store_dir = Path(arguments.out) if arguments.out else _store_dir(config, arguments.root)
    with FeatureStore(store_dir).lock():
        return _extract(arguments)


def _extract(arguments: argparse.Namespace) -> int:
    from pcmci_edu import extract
    from pcmci_edu.data.features import FeatureStore
    from pcmci_edu.data.published import coverage, coverage_lines

    config = _run_config(arguments)
    name = config["dataset"]["name"]
    if name != arguments.dataset:
        raise ValueError(f"extract {arguments.dataset}: the config {arguments.config} is for {name}")
    extraction = _extraction_config(config, arguments)
    store_dir = Path(arguments.out) if arguments.out else _store_dir(config, arguments.root)
    store = FeatureStore(store_dir)
    splits = [open_split(config, arguments.root, config["dataset"][key], with_features=False)
              for key in ("train_split", "test_split")]
    video_ids = list(dict.fromkeys(video_id for split in splits for video_id in split.video_ids))
    if arguments.from_features:
        return _import_published(arguments, extraction, store_dir, splits, video_ids)
    videos_dir = Path(arguments.videos) if arguments.videos else _dataset_dir(config, arguments.root) / "videos"
    videos = extract.find_videos(videos_dir, name, video_ids)
    if not videos and store.missing(video_ids) == video_ids:
        raise FileNotFoundError(
            f"{videos_dir}: none of the {len(video_ids)} annotated {name} videos is here (files named by their "
            f"video id, e.g. {video_ids[0]}.mp4); nothing was extracted or recorded. Give the video folder "
            "with --videos, or fetch the videos (see `pcmci-edu prepare`)")
    missing = len(video_ids) - len(videos)
    if missing:
        print(f"{missing} of {len(video_ids)} annotated videos have no file under {videos_dir}; "
              "they are left out (see `pcmci-edu prepare` for how to fetch them)")
    source = f"videos in {videos_dir.resolve()}"
    settings = {field: getattr(extraction, field) for field in FEATURE_DEFINING}
    previous = _check_store_matches(store_dir, settings, source)
    has_text = (store_dir / extract.TEXT_FEATURES_FILE).is_file() and previous is not None
    todo = store.missing(videos)
    model = preprocess = tokenizer = None
    if todo or not has_text:
        device = extract._resolve_device(extraction.device)
        model, preprocess, tokenizer = extract.load_clip(extraction.model_name, extraction.pretrained,
                                                         device, extraction.image_size)
    if todo:
        report = extract.extract_videos(videos, store, extraction, model=model, preprocess=preprocess)
    else:
        report = extract.ExtractionReport(skipped=list(videos))
    if not has_text:
        first = splits[0]
        extract.extract_text_features(store, first.action_texts, first.activity_texts, extraction,
                                      model=model, tokenizer=tokenizer)
    covered = coverage(store, {split.split: split.video_ids for split in splits}, name)
    _record_extraction(store_dir, report, _json_safe({
        "source": source, "config": extract.config_dict(extraction),
        "frames": {"model_name": extraction.model_name, "pretrained": extraction.pretrained,
                   "weights_sha256": _weights_sha256(extraction.pretrained), "num_frames": extraction.num_frames,
                   "sampling": extraction.sampling, "image_size": extraction.image_size},
        "texts": _text_provenance(extraction), "coverage": covered,
        "videos_stored": len(store.video_ids()), "failed": report.failed, "code_version": code_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    print(f"{name}: features of {source} -> {store_dir}")
    print(report.summary())
    print("\n".join(coverage_lines(covered, name)))
    return 0


def _weights_sha256(pretrained: str | None) -> str | None:
    """The sha256 of a local weights file (None for an open_clip tag or random weights)."""
    from pcmci_edu.data.download import sha256sum

    return sha256sum(pretrained) if pretrained and Path(pretrained).is_file() else None


def _text_provenance(extraction) -> dict:
    """Which text tower encoded the label texts, with which weights and template."""
    return {"model_name": extraction.model_name, "pretrained": extraction.pretrained,
            "weights_sha256": _weights_sha256(extraction.pretrained), "text_template": extraction.text_template}


def _import_published(arguments: argparse.Namespace, extraction, store_dir: Path, splits: list,
                      video_ids: list[str]) -> int:
    """``extract --from-features DIR [--layout NAME|FILE.toml]``: published features through a layout.

    Resamples each protocol video's features to ``[extract] num_frames`` rows (as ``extract`` samples
    frames), encodes the label texts with the configured open_clip text tower, and records the layout,
    its rate, the resampling, both models and the coverage in ``extraction.json``.
    """
    import open_clip

    from pcmci_edu import extract
    from pcmci_edu.data import published
    from pcmci_edu.data.features import FeatureStore

    name = splits[0].name
    layout = published.get_layout(arguments.layout or published.DEFAULT_LAYOUT[name])
    if layout.datasets and name not in layout.datasets:
        print(f"note: layout {layout.name} is published for {', '.join(layout.datasets)}, not {name}")
    directory = Path(arguments.from_features)
    if not directory.is_dir():
        raise FileNotFoundError(f"--from-features {directory}: no such folder")
    example = next((layout.path(directory, v) for v in video_ids if layout.path(directory, v).is_file()),
                   layout.path(directory, video_ids[0]))
    model_config = open_clip.get_model_config(extraction.model_name)
    if model_config is None:
        raise ValueError(f"--model-name {extraction.model_name}: not an open_clip model "
                         f"(e.g. {', '.join(layout.text_models or ('ViT-B-16',))})")
    published.check_text_width(layout, int(model_config["embed_dim"]), extraction.model_name, example)
    source = f"published features in {directory.resolve()} (layout {layout.name})"
    settings = {field: getattr(extraction, field) for field in FEATURE_DEFINING}
    previous = _check_store_matches(store_dir, settings, source)  # after the checks: a refused import leaves nothing
    if layout.shares_text_space and extraction.pretrained in (None, "none", "None", "random", ""):
        print(f"note: random text weights (--pretrained none) do not share the {layout.name} frames' CLIP "
              "space: a pipeline check, never a result")
    store = FeatureStore(store_dir)
    report = published.import_features(layout, directory, store, video_ids, num_frames=extraction.num_frames,
                                       sampling=extraction.sampling, seed=extraction.seed)
    if not ((store_dir / extract.TEXT_FEATURES_FILE).is_file() and previous is not None):
        model, _, tokenizer = extract.load_clip(extraction.model_name, extraction.pretrained,
                                                extract._resolve_device(extraction.device))
        extract.extract_text_features(store, splits[0].action_texts, splits[0].activity_texts, extraction,
                                      model=model, tokenizer=tokenizer)
    covered = published.coverage(store, {split.split: split.video_ids for split in splits}, name)
    _record_extraction(store_dir, report, _json_safe({
        "source": source, "config": extract.config_dict(extraction),
        "frames": {"model": layout.frame_model, "published_by": layout.source, "width": layout.feature_dim,
                   "num_frames": extraction.num_frames, "sampling": extraction.sampling},
        "texts": _text_provenance(extraction),
        "import": published.import_record(layout, directory, report, extraction.num_frames, extraction.sampling),
        "coverage": covered, "videos_stored": len(store.video_ids()), "failed": {},  # a bad file stops the import
        "code_version": code_version(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    print(f"{name}: {source} -> {store_dir}")
    print(layout.describe())
    print(report.summary())
    print("\n".join(published.coverage_lines(covered, name)))
    return 0


def default_config_path(dataset: str) -> Path:
    """The run configuration shipped for ``dataset`` (``pcmci_edu/configs/<dataset>.toml``).

    >>> default_config_path("coin").name
    'coin.toml'
    """
    if dataset not in shipped_configs():
        raise FileNotFoundError(f"no shipped run configuration for {dataset!r}; shipped: "
                                f"{', '.join(shipped_configs())}")
    return CONFIGS_DIR / f"{dataset}.toml"


def _run_config(arguments: argparse.Namespace) -> dict:
    if arguments.config is None:
        arguments.config = default_config_path(arguments.dataset)
    return load_run_config(arguments.config, arguments.set)


DEFAULT_VAL_FRACTION = 0.1
"""Share of the training videos held out as the validation split when the config does not say."""


def training_splits(config: dict, root: str | Path):
    """``(train, val)``: the training split without its validation part, and that part.

    ``[dataset] val_fraction`` of the training videos (default :data:`DEFAULT_VAL_FRACTION`),
    drawn with ``[train] seed``, form the validation split, read with the test-time (uniform)
    frame sampling; ``val_fraction = 0`` trains on every training video and gives ``val=None``.
    ``train`` and ``evaluate`` both call this, so the model is rebuilt from the same videos.
    """
    import numpy as np

    from pcmci_edu.data.features import FeatureStore, frame_loader

    train = open_split(config, root, config["dataset"]["train_split"])
    fraction = float(config["dataset"].get("val_fraction", DEFAULT_VAL_FRACTION))
    if not 0 <= fraction < 1:
        raise ValueError(f"[dataset] val_fraction = {fraction}: expected a number in [0, 1)")
    held_out = round(fraction * len(train))
    if held_out == 0:
        return train, None
    order = np.random.default_rng(int(config["train"].get("seed", 0))).permutation(len(train))
    validation = train.subset(np.sort(order[:held_out]), split="val")
    if validation.frames is None and validation.frame_loader is not None:
        store = FeatureStore(_store_dir(config, root))
        validation.frame_loader = frame_loader(store, validation.video_ids, validation.num_frames, "uniform")
    without = train.subset(np.sort(order[held_out:]))
    without.videos_without_features = train.videos_without_features
    return without, validation


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


def _read_extraction_record(store_dir: Path) -> dict | None:
    """What ``extract`` recorded about the features (model, frames, source), if anything."""
    path = store_dir / "extraction.json"
    return json.loads(path.read_text()) if path.is_file() else None


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


def extractor_provenance(record: dict | None) -> dict | None:
    """What made the features, from the store's own ``extraction.json`` (``None`` without one)."""
    if record is None:
        return None
    settings = record.get("config", {})
    return {"source": record.get("source"), "created": record.get("created"),
            "extracted_with": record.get("code_version"),
            **{name: settings.get(name) for name in FEATURE_DEFINING},
            # what made the frames and the label texts (they differ for imported published features)
            "frames": record.get("frames"), "texts": record.get("texts")}


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
    _atomic_json(output, _json_safe(results))
    print(results_table(_json_safe(results)))
    print(f"-> {output}")
    return 0


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------

DESCRIPTION = """\
Prepare the real datasets, extract CLIP features, train PCMCi and evaluate it.

A full run on one dataset:
  pcmci-edu prepare breakfast --root DATA --accept-licence
  pcmci-edu extract breakfast --root DATA
  pcmci-edu train --config breakfast --root DATA --out runs/breakfast
  pcmci-edu evaluate --config breakfast --root DATA --out runs/breakfast

--config takes a shipped configuration by name (breakfast, coin, charades) or the path
of a .toml file; --set section.key=value overrides one of its values. Several GPUs:
  torchrun --nproc_per_node=G -m pcmci_edu.cli train --config coin --root DATA --out runs/coin
Run `pcmci-edu <command> --help` for a command's options."""

DATASETS = ("breakfast", "coin", "charades")


def _add_run_options(parser: argparse.ArgumentParser, dataset_positional: bool) -> None:
    if dataset_positional:
        parser.add_argument("dataset", choices=DATASETS, help="which dataset: %(choices)s")
        parser.add_argument("--config", default=None,
                            help="run configuration: a shipped name (breakfast, coin, charades) or a .toml "
                                 "path (default: the shipped configuration of DATASET)")
    else:
        parser.add_argument("--config", required=True,
                            help="run configuration: a shipped name (breakfast, coin, charades) or a .toml "
                                 "path (required)")
    parser.add_argument("--root", type=Path, required=True,
                        help="data folder that holds <dataset>/ (required)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=10; repeatable (default: none)")
    parser.add_argument("--device", default=None,
                        help="cuda, cuda:1 or cpu (default: CUDA when a GPU is visible, else the CPU)")


def _command(commands, name: str, summary: str, details: str = "") -> argparse.ArgumentParser:
    """A sub-command with a one-line summary (in the command list) and a description."""
    description = summary + ("\n\n" + textwrap.fill(details, 88) if details else "")
    return commands.add_parser(name, help=summary, description=description,
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per step of the pipeline."""
    parser = argparse.ArgumentParser(prog="pcmci-edu", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pcmci_edu {__version__}",
                        help="print the package version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands")

    info = _command(commands, "info", "Print the compute device and the versions of the stack.")
    info.set_defaults(handler=_info)

    prepare = _command(commands, "prepare", "Download a dataset's files from its official sources.",
                       "Files go to <root>/<dataset>; nothing is downloaded without --accept-licence.")
    prepare.add_argument("dataset", choices=DATASETS, help="which dataset: %(choices)s")
    prepare.add_argument("--root", type=Path, required=True,
                         help="data folder; files go to <root>/<dataset> (required)")
    prepare.add_argument("--include", nargs="+", default=["annotations"],
                         choices=("annotations", "features", "videos"),
                         help="what to fetch, one or more of %(choices)s (default: annotations; "
                              "Breakfast's come with its I3D features)")
    prepare.add_argument("--accept-licence", action="store_true",
                         help="you have read and accept the dataset's licence, research use only for all "
                              "three (default: not accepted, nothing is downloaded)")
    prepare.add_argument("--mirror", default=None,
                         help="base URL serving the same file names (default: the official sources)")
    prepare.add_argument("--from-dir", type=Path, default=None,
                         help="folder where the files already are: copied and verified, no download "
                              "(default: download)")
    prepare.add_argument("--no-verify", action="store_true",
                         help="skip the pinned sha256 checks (default: verify)")
    prepare.add_argument("--keep-archives", action="store_true",
                         help="keep .zip files after unpacking (default: delete them)")
    prepare.set_defaults(handler=_prepare)

    extract = _command(commands, "extract", "Encode the videos and label texts with open_clip into a feature store.",
                       "Videos already in the store are skipped; unreadable ones are logged to "
                       "failed_videos.tsv. The store records how it was made in extraction.json.")
    _add_run_options(extract, dataset_positional=True)
    extract.add_argument("--videos", type=Path, default=None,
                         help="video folder (default: <root>/<dataset>/videos)")
    extract.add_argument("--from-features", type=Path, default=None, metavar="DIR",
                         help="import published per-video features from DIR instead of decoding videos "
                              "(default: decode videos; see --layout)")
    extract.add_argument("--layout", default=None, metavar="NAME|FILE.toml",
                         help="how DIR stores the features: hero-clip (UniVTG's CLIP ViT-B/16 "
                              "vid_clip/<id>.npz; default for coin and charades), mstcn-i3d (MS-TCN's I3D "
                              "<id>.npy; default for breakfast), or a .toml file declaring a layout")
    extract.add_argument("--out", type=Path, default=None,
                         help="feature store folder (default: <root>/<dataset>/ + the config's dataset.features)")
    extract.add_argument("--model-name", dest="model_name", default=None,
                         help="open_clip model name (default: the config's extract.model_name)")
    extract.add_argument("--pretrained", default=None,
                         help="open_clip tag (openai), a local checkpoint file, or none for random weights "
                              "(default: the config's extract.pretrained)")
    extract.add_argument("--num-frames", dest="num_frames", type=int, default=None,
                         help="frames stored per video (default: the config's extract.num_frames)")
    extract.add_argument("--sampling", choices=("uniform", "random"), default=None,
                         help="which frames: %(choices)s (default: the config's extract.sampling)")
    extract.add_argument("--batch-size", dest="batch_size", type=int, default=None,
                         help="frames per forward pass (default: the config's extract.batch_size)")
    extract.add_argument("--num-workers", dest="num_workers", type=int, default=None,
                         help="video decoding processes (default: up to 8 on CUDA, capped by the CPU count)")
    extract.add_argument("--image-size", dest="image_size", type=int, default=None,
                         help="input size in pixels, smaller only for quick CPU checks (default: the model's)")
    extract.set_defaults(handler=_extract_holding_the_store)

    train = _command(commands, "train", "Train PCMCi from a run configuration (torchrun for several GPUs).",
                     "Holds out [dataset] val_fraction of the training videos (default 0.1) as a validation "
                     "split, evaluated every --eval-every epochs. Each epoch prints one line and is appended to "
                     "<out>/history.csv (training loss, validation metrics; TensorBoard scalars in "
                     "<out>/tensorboard when tensorboard is installed). Resumes from "
                     "<out>/checkpoints/last.pt.")
    _add_run_options(train, dataset_positional=False)
    train.add_argument("--out", type=Path, required=True,
                       help="run folder for checkpoints, history.csv and model.pt (required)")
    train.add_argument("--epochs", type=int, default=None,
                       help="number of epochs (default: the config's train.epochs)")
    train.add_argument("--eval-every", dest="eval_every", type=int, default=None,
                       help="evaluate the validation split every K epochs and after the last "
                            "(default: the config's train.eval_every, else 1)")
    train.set_defaults(handler=_train)

    evaluate = _command(commands, "evaluate", "Evaluate a trained model on the test split; print and save the results.",
                        "Writes accuracy and both mAP conventions with their provenance (the feature "
                        "store's extraction.json, package version, git commit, hardware) to results.json.")
    _add_run_options(evaluate, dataset_positional=False)
    evaluate.add_argument("--out", type=Path, required=True, help="run folder of `pcmci-edu train` (required)")
    evaluate.add_argument("--checkpoint", type=Path, default=None, help="trained model (default: <out>/model.pt)")
    evaluate.add_argument("--output", type=Path, default=None, help="results file (default: <out>/results.json)")
    evaluate.add_argument("--label", default=None,
                          help="free text stored in the results, e.g. what run this is (default: none)")
    evaluate.set_defaults(handler=_evaluate)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (default: one line)")
    for command in commands.choices.values():  # also accepted after the command's name
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error (default: one line)")
    return parser


def error_message(error: BaseException) -> str:
    """One line for an error: an operating-system error as ``file: reason (what to do)``; an error
    this package did not expect with its kind and a pointer to ``--debug``."""
    if isinstance(error, OSError) and error.errno is not None and error.filename is not None:
        hints = {PermissionError: "choose a writable folder (--root, --out) or fix its permissions",
                 NotADirectoryError: "a file stands where a folder is expected",
                 IsADirectoryError: "a folder stands where a file is expected"}
        hint = next((text for kind, text in hints.items() if isinstance(error, kind)), None)
        return f"{error.filename}: {error.strerror}" + (f" ({hint})" if hint else "")
    if isinstance(error, (ValueError, OSError, RuntimeError)):
        return str(error)
    return f"{type(error).__name__}: {error} (unexpected; rerun with --debug for the traceback and report it)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pcmci-edu`` console script. An error is one line on stderr and exit
    code 1 (130 when interrupted); ``--debug`` raises it with its traceback instead."""
    arguments = build_parser().parse_args(argv)
    try:
        root = getattr(arguments, "root", None)
        if root is not None and Path(root).exists() and not Path(root).is_dir():
            raise NotADirectoryError(f"{root}: --root is not a folder (give the data folder that holds <dataset>/)")
        return arguments.handler(arguments)
    except KeyboardInterrupt:
        if arguments.debug:
            raise
        print("interrupted: run the same command again to continue where it stopped", file=sys.stderr)
        return 130
    except Exception as error:
        if arguments.debug:
            raise
        print(f"error: {error_message(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

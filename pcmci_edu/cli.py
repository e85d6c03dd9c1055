"""The command line: ``pcmci-edu info | prepare | extract | train | evaluate``.

A full run on one dataset (see ``configs/`` and the README's "Full runs")::

    pcmci-edu prepare breakfast --root DATA --accept-licence
    pcmci-edu extract breakfast --root DATA --config configs/breakfast.toml
    pcmci-edu train --config configs/breakfast.toml --root DATA --out runs/breakfast
    pcmci-edu evaluate --config configs/breakfast.toml --root DATA --out runs/breakfast

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pcmci_edu import __version__

CONFIG_SECTIONS = ("dataset", "extract", "model", "train")
MODEL_FILE = "model.pt"
RESULTS_FILE = "results.json"


# ---------------------------------------------------------------------------------------
# Run configuration (configs/<dataset>.toml)
# ---------------------------------------------------------------------------------------

def _tomllib():
    """The standard TOML reader (``tomli`` on Python 3.10)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError as error:
            raise RuntimeError("reading a .toml config on Python 3.10 needs `pip install tomli`") from error
    return tomllib


def _load_toml(path: Path) -> dict:
    toml = _tomllib()
    try:
        with open(path, "rb") as file:
            return toml.load(file)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path}: no such config file (see configs/ in the repository)") from error
    except toml.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error


def _parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML literal (number, bool, list, quoted string), else the text."""
    toml = _tomllib()
    try:
        return toml.loads(f"value = {text}")["value"]
    except toml.TOMLDecodeError:
        return text


def load_run_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Read a run configuration and apply ``section.key=value`` overrides.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = path.write_text('[dataset]\\nname = "coin"\\n[train]\\nepochs = 30\\n')
    >>> load_run_config(path, ["train.epochs=2", "model.interventions=[]"])["train"]
    {'epochs': 2}
    """
    path = Path(path)
    config = _load_toml(path)
    unknown = set(config) - set(CONFIG_SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; expected {list(CONFIG_SECTIONS)}")
    for section in CONFIG_SECTIONS:
        config.setdefault(section, {})
    for override in overrides or []:
        key, separator, value = override.partition("=")
        section, dot, name = key.strip().partition(".")
        if not separator or not dot or section not in CONFIG_SECTIONS or not name:
            raise ValueError(f"--set {override!r}: expected section.key=value with section one of "
                             f"{list(CONFIG_SECTIONS)}, e.g. train.epochs=10")
        config[section][name] = _parse_value(value.strip())
    if "name" not in config["dataset"]:
        raise ValueError(f"{path}: [dataset] needs a name (breakfast, coin or charades)")
    return config


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
    ``videos_without_features``.
    """
    from pcmci_edu import data

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
    missing = store.missing(annotations.video_ids)
    if not missing:
        dataset = reader(_dataset_dir(config, root), features=store, num_frames=num_frames, **keywords)
        dataset.videos_without_features = []
        return dataset
    if len(missing) == len(annotations):
        store.require(annotations.video_ids, listed_in=f"{name} {split}")  # raises, naming the store
    from pcmci_edu.extract import FAILED_LOG

    print(f"{name} {split}: {len(missing)} of {len(annotations)} annotated videos have no features in "
          f"{store_dir} (not fetched, or failed to decode: see {FAILED_LOG}); they are left out")
    return _with_features(annotations, store, num_frames, sampling="random" if split == "train" else "uniform",
                          missing=missing)


def _with_features(annotations, store, num_frames: int, sampling: str, missing: list[str]):
    """The videos of an annotation-only split that the store has, reading their features from it."""
    import torch

    from pcmci_edu.data.features import frame_loader

    absent = set(missing)
    dataset = annotations.subset([i for i, video in enumerate(annotations.video_ids) if video not in absent])
    texts = store.read_text_features(dataset.num_actions, dataset.num_activities or None)
    if texts is None:
        raise FileNotFoundError(f"{store.root}: no text_features.npz; run `pcmci-edu extract` first")
    dataset.frame_loader = frame_loader(store, dataset.video_ids, num_frames, sampling)
    dataset.num_frames = num_frames
    dataset.feature_dim = store.read_all_frames(dataset.video_ids[0]).shape[1]
    dataset.action_text_features = torch.as_tensor(texts["actions"], dtype=torch.float32)
    dataset.activity_text_features = (torch.as_tensor(texts["activities"], dtype=torch.float32)
                                      if "activities" in texts else None)
    dataset.videos_without_features = sorted(absent)
    return dataset


def code_version() -> dict[str, Any]:
    """``pcmci_edu.__version__`` and, in a git checkout, the commit and whether it is dirty."""
    version: dict[str, Any] = {"pcmci_edu": __version__, "git_commit": None, "git_dirty": None}
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        version.update(git_commit=commit, git_dirty=bool(status.strip()))
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
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n")
    os.replace(partial, path)


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
    """The store's previous extraction record; an error when it was made differently."""
    record = _read_extraction_record(store_dir)
    if record is None:
        return None
    before = {name: record["config"].get(name) for name in FEATURE_DEFINING}
    if before != settings or record.get("source") != source:
        raise ValueError(f"{store_dir} holds features made with {before} from {record.get('source')}; "
                         f"this run asks for {settings} from {source}. Use --out for a new store "
                         "(or --set dataset.features=...), or delete the old one.")
    return record


def _extract(arguments: argparse.Namespace) -> int:
    from pcmci_edu import extract
    from pcmci_edu.data.features import FeatureStore

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
        source = f"published features in {Path(arguments.from_features).resolve()}"
    else:
        videos_dir = Path(arguments.videos) if arguments.videos else _dataset_dir(config, arguments.root) / "videos"
        videos = extract.find_videos(videos_dir, name, video_ids)
        missing = len(video_ids) - len(videos)
        if missing:
            print(f"{missing} of {len(video_ids)} annotated videos have no file under {videos_dir}; "
                  "they are left out (see `pcmci-edu prepare` for how to fetch them)")
        source = f"videos in {videos_dir.resolve()}"
    settings = {field: getattr(extraction, field) for field in FEATURE_DEFINING}
    previous = _check_store_matches(store_dir, settings, source)
    has_text = (store_dir / extract.TEXT_FEATURES_FILE).is_file() and previous is not None
    todo = store.missing(video_ids if arguments.from_features else videos)
    model = preprocess = tokenizer = None
    if todo and not arguments.from_features or not has_text:
        device = extract._resolve_device(extraction.device)
        model, preprocess, tokenizer = extract.load_clip(extraction.model_name, extraction.pretrained,
                                                         device, extraction.image_size)
    if arguments.from_features:
        report = extract.import_published_features(arguments.from_features, store,
                                                   num_frames=extraction.num_frames, video_ids=video_ids)
    elif todo:
        report = extract.extract_videos(videos, store, extraction, model=model, preprocess=preprocess)
    else:
        report = extract.ExtractionReport(skipped=list(videos))
    if not has_text:
        first = splits[0]
        extract.extract_text_features(store, first.action_texts, first.activity_texts, extraction,
                                      model=model, tokenizer=tokenizer)
    _atomic_json(store_dir / "extraction.json", _json_safe({
        "source": source, "config": extract.config_dict(extraction),
        "videos_stored": len(store.video_ids()), "failed": report.failed, "code_version": code_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    print(f"{name}: features of {source} -> {store_dir}")
    print(report.summary())
    return 0


def default_config_path(dataset: str) -> Path:
    """``configs/<dataset>.toml``: of the repository checkout this package runs from, else of the
    current folder or its parent (a clone next to a pip-installed package, as in Colab).

    >>> default_config_path("coin").name
    'coin.toml'
    """
    folders = (Path(__file__).resolve().parents[1], Path.cwd(), Path.cwd().parent)
    for folder in folders:
        path = folder / "configs" / f"{dataset}.toml"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"configs/{dataset}.toml: not found in {', '.join(str(folder) for folder in folders)}. The run "
        "configurations live in the repository's configs/ folder, which a pip install does not "
        "include: clone the repository (git clone https://github.com/pcmci-edu/pcmci_edu) and run "
        "from it, or pass --config")


def _run_config(arguments: argparse.Namespace) -> dict:
    if arguments.config is None:
        arguments.config = default_config_path(arguments.dataset)
    return load_run_config(arguments.config, arguments.set)


def _train_config(config: dict, arguments: argparse.Namespace, out: Path):
    from pcmci_edu.train import TrainConfig

    if arguments.epochs is not None:
        config["train"]["epochs"] = arguments.epochs
    values = dict(config["train"])
    values.update(device=arguments.device, checkpoint_dir=str(out / "checkpoints"),
                  log_path=str(out / "history.csv"))
    return TrainConfig(**values)


def _train(arguments: argparse.Namespace) -> int:
    import torch

    from pcmci_edu.model import PCMCi
    from pcmci_edu.train import fit

    config = _run_config(arguments)
    out = Path(arguments.out)
    train_set = open_split(config, arguments.root, config["dataset"]["train_split"])
    model_values = dict(config["model"])
    model = PCMCi.from_dataset(train_set, **model_values)
    train_config = _train_config(config, arguments, out)
    history = fit(model, train_set, {}, train_config)
    if _is_main_process():
        checkpoint = {"model_config": model.config.to_dict(), "state_dict": model.state_dict(),
                      "run_config": config, "code_version": code_version(),
                      "history": history.rows}
        partial = out / (MODEL_FILE + ".part")
        torch.save(checkpoint, partial)
        os.replace(partial, out / MODEL_FILE)
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
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    model = PCMCi.from_dataset(train_set, ModelConfig(**state["model_config"]))
    model.load_state_dict(state["state_dict"])
    return model.eval(), state


def _read_extraction_record(store_dir: Path) -> dict | None:
    """What ``extract`` recorded about the features (model, frames, source), if anything."""
    path = store_dir / "extraction.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _evaluate(arguments: argparse.Namespace) -> int:
    from pcmci_edu.train import evaluate

    config = _run_config(arguments)
    out = Path(arguments.out)
    checkpoint = Path(arguments.checkpoint) if arguments.checkpoint else out / MODEL_FILE
    train_set = open_split(config, arguments.root, config["dataset"]["train_split"])
    test_split = config["dataset"]["test_split"]
    test_set = open_split(config, arguments.root, test_split)
    model, state = load_trained_model(checkpoint, train_set)
    if arguments.device:
        model.to(arguments.device)
    metrics = evaluate(model, test_set)
    results = {
        "dataset": config["dataset"]["name"], "split": test_split, "num_videos": len(test_set),
        "videos_without_features": len(test_set.videos_without_features),
        "label": arguments.label,
        "metrics": {name: metrics[name] for name in ("accuracy", "mAP_all_classes", "mAP_present_classes")},
        "config": state["run_config"], "model_config": state["model_config"],
        "features": _read_extraction_record(_store_dir(state["run_config"], arguments.root)),
        "checkpoint": str(checkpoint), "trained_with": state.get("code_version"),
        "code_version": code_version(), "hardware": hardware(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    output = Path(arguments.output) if arguments.output else out / RESULTS_FILE
    _atomic_json(output, _json_safe(results))
    shown = ", ".join(f"{name} {value:.4f}" for name, value in results["metrics"].items()
                      if not math.isnan(value))
    print(f"{results['dataset']} {test_split} ({len(test_set)} videos): {shown} -> {output}")
    return 0


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------

def _add_run_options(parser: argparse.ArgumentParser, dataset_positional: bool) -> None:
    if dataset_positional:
        parser.add_argument("dataset", choices=("breakfast", "coin", "charades"))
    parser.add_argument("--config", type=Path, default=None,
                        help="run configuration (default: configs/<dataset>.toml of the repository)")
    parser.add_argument("--root", type=Path, required=True, help="data folder (holds <dataset>/)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=10 (repeatable)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: CUDA when visible)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per step of the pipeline."""
    parser = argparse.ArgumentParser(prog="pcmci-edu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pcmci_edu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="print the device and the versions of the stack")
    info.set_defaults(handler=_info)

    prepare = commands.add_parser("prepare", help="download a dataset from its official sources")
    prepare.add_argument("dataset", choices=("breakfast", "coin", "charades"))
    prepare.add_argument("--root", type=Path, required=True, help="data folder; files go to <root>/<dataset>")
    prepare.add_argument("--include", nargs="+", default=["annotations"],
                         choices=("annotations", "features", "videos"),
                         help="what to fetch (default: annotations; Breakfast's come with its I3D features)")
    prepare.add_argument("--accept-licence", action="store_true",
                         help="you have read and accept the dataset's licence (all three: research only)")
    prepare.add_argument("--mirror", default=None, help="base URL serving the same file names")
    prepare.add_argument("--from-dir", type=Path, default=None,
                         help="folder where the files already are (copied, verified; no download)")
    prepare.add_argument("--no-verify", action="store_true", help="skip the pinned sha256 checks")
    prepare.add_argument("--keep-archives", action="store_true", help="keep .zip files after unpacking")
    prepare.set_defaults(handler=_prepare)

    extract = commands.add_parser("extract", help="encode videos and label texts with open_clip")
    _add_run_options(extract, dataset_positional=True)
    extract.add_argument("--videos", type=Path, default=None, help="video folder (default: <root>/<dataset>/videos)")
    extract.add_argument("--from-features", type=Path, default=None,
                         help="import published per-video .npy features (e.g. Breakfast I3D) instead of videos")
    extract.add_argument("--out", type=Path, default=None, help="feature store (default: from the config)")
    extract.add_argument("--model-name", dest="model_name", default=None, help="open_clip model name")
    extract.add_argument("--pretrained", default=None,
                         help="open_clip tag (openai), a local checkpoint file, or none (random weights)")
    extract.add_argument("--num-frames", dest="num_frames", type=int, default=None)
    extract.add_argument("--sampling", choices=("uniform", "random"), default=None)
    extract.add_argument("--batch-size", dest="batch_size", type=int, default=None, help="frames per forward pass")
    extract.add_argument("--num-workers", dest="num_workers", type=int, default=None, help="decoding processes")
    extract.add_argument("--image-size", dest="image_size", type=int, default=None,
                         help="input size in pixels (default: the model's; smaller only for quick CPU checks)")
    extract.set_defaults(handler=_extract)

    train = commands.add_parser("train", help="train PCMCi from a config (torchrun for several GPUs)")
    _add_run_options(train, dataset_positional=False)
    train.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, history, model.pt")
    train.add_argument("--epochs", type=int, default=None)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a trained model; write results JSON")
    _add_run_options(evaluate, dataset_positional=False)
    evaluate.add_argument("--out", type=Path, required=True, help="run folder of `pcmci-edu train`")
    evaluate.add_argument("--checkpoint", type=Path, default=None, help="default: <out>/model.pt")
    evaluate.add_argument("--output", type=Path, default=None, help="default: <out>/results.json")
    evaluate.add_argument("--label", default=None, help="free text stored in the results (e.g. what run this is)")
    evaluate.set_defaults(handler=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pcmci-edu`` console script."""
    arguments = build_parser().parse_args(argv)
    if getattr(arguments, "config", None) is None and arguments.command in {"train", "evaluate"}:
        build_parser().error(f"{arguments.command} needs --config")
    return arguments.handler(arguments)


if __name__ == "__main__":
    sys.exit(main())

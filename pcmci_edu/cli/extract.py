"""``pcmci-edu extract``: a feature store from videos, or from published features.

From videos: open_clip encodes the sampled frames of each annotated video and the label texts;
videos already in the store are skipped. With ``--from-features DIR`` the published per-video
features are imported through a layout (:mod:`pcmci_edu.data.published`) instead. Either way the
command holds the store's lock, refuses to mix settings in one store, and records in the store's
``extraction.json`` how its features were made and how many of the protocol's videos it covers.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from pcmci_edu.cli.config import _run_config
from pcmci_edu.cli.datasets import _dataset_dir, _store_dir, open_split, weights_slug
from pcmci_edu.cli.provenance import (FEATURE_DEFINING, _json_safe, _read_extraction_record, _text_provenance,
                                      _weights_sha256, code_version)
from pcmci_edu.files import atomic_json


def _extraction_config(config: dict, arguments: argparse.Namespace):
    """The extraction settings: the config's ``[extract]``, then the command's options.

    With ``--from-features`` and a layout in a CLIP space, the label texts default to the layout's
    own text tower (``hero-clip``: ``ViT-B-32-quickgelu``, OpenAI weights) when ``--model-name`` is not
    given: the config's ``[extract]`` model is the one that encodes video frames.
    """
    from pcmci_edu.extract import ExtractionConfig

    values = dict(config["extract"])
    if getattr(arguments, "from_features", None) and arguments.model_name is None:
        from pcmci_edu.data import published

        layout = published.get_layout(arguments.layout or published.DEFAULT_LAYOUT[config["dataset"]["name"]])
        if layout.shares_text_space and values.get("model_name") not in layout.text_models:
            values["model_name"] = layout.text_models[0]
            if arguments.pretrained is None and layout.text_pretrained:
                values["pretrained"] = layout.text_pretrained
    for name in ("model_name", "pretrained", "num_frames", "sampling", "batch_size", "device", "num_workers",
                 "image_size"):
        given = getattr(arguments, name, None)
        if given is not None:
            values[name] = given
    for name in ("num_frames", "batch_size", "image_size", "num_workers"):
        given = getattr(arguments, name, None)
        if given is not None and given < (0 if name == "num_workers" else 1):
            raise ValueError(f"--{name.replace('_', '-')} {given}: expected "
                             + ("0 or more" if name == "num_workers" else "a positive integer"))
    try:
        return ExtractionConfig(**values)
    except ValueError as error:
        raise ValueError(f"extract settings ([extract] of {arguments.config} and the options): {error}") from None


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
    atomic_json(store_dir / "extraction.json", _json_safe({**(record or {"source": source}), "settings": wanted,
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
    atomic_json(store_dir / "extraction.json", {**record, "settings": previous.get("settings"), "runs": runs})


def _default_store(config: dict, arguments: argparse.Namespace, extraction) -> Path:
    """Where this run's store goes without ``--out``: named after the model actually used.

    From videos: ``[dataset] features`` filled with the model and weights of this run (so
    ``--model-name`` or ``--set extract.model_name`` moves it: ``features/clip_vit_s32_alt_random``);
    from published features: ``features/<layout>_<text model>_<weights>``.
    """
    if getattr(arguments, "from_features", None):
        from pcmci_edu.data import published

        layout = published.get_layout(arguments.layout or published.DEFAULT_LAYOUT[config["dataset"]["name"]])
        name = f"{layout.name}_{weights_slug(extraction.model_name)}_{weights_slug(extraction.pretrained)}"
        return _dataset_dir(config, arguments.root) / "features" / name
    used = {**config, "extract": {**config["extract"], "model_name": extraction.model_name,
                                  "pretrained": extraction.pretrained}}
    return _store_dir(used, arguments.root)


def _store_of(config: dict, arguments: argparse.Namespace) -> Path:
    return Path(arguments.out) if arguments.out else _default_store(config, arguments,
                                                                    _extraction_config(config, arguments))


def _extract_holding_the_store(arguments: argparse.Namespace) -> int:
    """``extract`` holding the feature store's lock from start to end: a second ``extract`` on the
    same store stops at once instead of doing the same work (:meth:`FeatureStore.lock`).

    A run that fails before it writes any feature (weights that do not load, a refused text tower)
    leaves the store's ``extraction.json`` as it found it: no unfinished run is recorded for it.
    """
    from pcmci_edu.data.features import FeatureStore

    config = _run_config(arguments)
    _store_dir(config, arguments.root)  # a bad [dataset] features stops the run before any work
    store_dir = _store_of(config, arguments)
    with FeatureStore(store_dir).lock():
        record = store_dir / "extraction.json"
        before = record.read_bytes() if record.is_file() else None
        files_before = _feature_files(store_dir)
        try:
            return _extract(arguments)
        except BaseException:
            if _feature_files(store_dir) == files_before:
                if before is None:
                    record.unlink(missing_ok=True)
                else:
                    record.write_bytes(before)
            raise


def _feature_files(store_dir: Path) -> set[tuple[str, int]]:
    """The store's feature files with their modification times (what a run has written)."""
    return {(path.name, path.stat().st_mtime_ns) for pattern in ("*.npy", "*.npz")
            for path in store_dir.glob(pattern)} if store_dir.is_dir() else set()


def _point_to_store(config: dict, root: Path, store_dir: Path) -> str | None:
    """The ``--set`` that train and evaluate need when the store is not the config's default."""
    if store_dir.resolve() == _store_dir(config, root).resolve():
        return None
    try:
        relative = store_dir.resolve().relative_to(_dataset_dir(config, root).resolve()).as_posix()
    except ValueError:
        relative = str(store_dir.resolve())
    return (f"train and evaluate on this store with --set dataset.features={relative} "
            f"(the config's default is {_store_dir(config, root)})")


def _extract(arguments: argparse.Namespace) -> int:
    config = _run_config(arguments)
    name = config["dataset"]["name"]
    if name != arguments.dataset:
        raise ValueError(f"extract {arguments.dataset}: the config {arguments.config} is for {name}")
    extraction = _extraction_config(config, arguments)
    store_dir = _store_of(config, arguments)
    splits = [open_split(config, arguments.root, config["dataset"][key], with_features=False)
              for key in ("train_split", "test_split")]
    video_ids = list(dict.fromkeys(video_id for split in splits for video_id in split.video_ids))
    if arguments.from_features:
        status = _import_published(arguments, extraction, store_dir, splits, video_ids)
    else:
        status = _extract_videos(arguments, config, extraction, store_dir, splits, video_ids)
    hint = _point_to_store(config, arguments.root, store_dir)
    if hint:
        print(hint)
    return status


def _extract_videos(arguments: argparse.Namespace, config: dict, extraction, store_dir: Path, splits: list,
                    video_ids: list[str]) -> int:
    """``extract`` from video files: open_clip encodes the sampled frames and the label texts."""
    from pcmci_edu import extract
    from pcmci_edu.data.features import FeatureStore
    from pcmci_edu.data.published import coverage, coverage_lines

    name = splits[0].name
    store = FeatureStore(store_dir)
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
        "texts": _text_provenance(extraction), "normalization": extract.NORMALIZATION, "coverage": covered,
        "videos_stored": len(store.video_ids()), "failed": report.failed, "code_version": code_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    print(f"{name}: features of {source} -> {store_dir}")
    print(report.summary())
    print("\n".join(coverage_lines(covered, name)))
    return 0


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
                         f"(e.g. {', '.join(layout.text_models or ('ViT-B-32-quickgelu',))})")
    allow_other = bool(getattr(arguments, "allow_other_text_tower", False))
    notes = published.check_text_tower(layout, int(model_config["embed_dim"]), extraction.model_name,
                                       extraction.pretrained, example, allow_other=allow_other)
    source = f"published features in {directory.resolve()} (layout {layout.name})"
    settings = {**{field: getattr(extraction, field) for field in FEATURE_DEFINING},
                "normalization": published.normalization(layout)}
    previous = _check_store_matches(store_dir, settings, source)  # after the checks: a refused import leaves nothing
    for note in notes:
        print(note)
    store = FeatureStore(store_dir)
    model = tokenizer = None
    needs_texts = not ((store_dir / extract.TEXT_FEATURES_FILE).is_file() and previous is not None)
    if needs_texts:  # before the import: weights that do not load stop the run before anything is written
        model, _, tokenizer = extract.load_clip(extraction.model_name, extraction.pretrained,
                                                extract._resolve_device(extraction.device))
    report = published.import_features(layout, directory, store, video_ids, num_frames=extraction.num_frames,
                                       sampling=extraction.sampling, seed=extraction.seed)
    if needs_texts:
        extract.extract_text_features(store, splits[0].action_texts, splits[0].activity_texts, extraction,
                                      model=model, tokenizer=tokenizer)
    covered = published.coverage(store, {split.split: split.video_ids for split in splits}, name)
    _record_extraction(store_dir, report, _json_safe({
        "source": source, "config": extract.config_dict(extraction),
        "frames": {"model": layout.frame_model, "published_by": layout.source, "width": layout.feature_dim,
                   "num_frames": extraction.num_frames, "sampling": extraction.sampling},
        "texts": {**_text_provenance(extraction), "declared_by_layout": list(layout.text_models),
                  "declared_weights": layout.text_pretrained or None, "other_tower_allowed": allow_other},
        "normalization": published.normalization(layout),
        "import": published.import_record(layout, directory, report, extraction.num_frames, extraction.sampling),
        "coverage": covered, "videos_stored": len(store.video_ids()), "failed": {},  # a bad file stops the import
        "code_version": code_version(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    print(f"{name}: {source} -> {store_dir}")
    print(layout.describe())
    print(report.summary())
    print("\n".join(published.coverage_lines(covered, name)))
    return 0

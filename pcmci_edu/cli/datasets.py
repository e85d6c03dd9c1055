"""The real datasets a run configuration names, read with their feature store.

:func:`open_split` opens one split of Breakfast, COIN or Charades (``<root>/<dataset>``) with
the features of ``[dataset] features``, leaving out (and counting) annotated videos the store
lacks; :func:`training_splits` holds out the validation videos, the same ones for ``train`` and
``evaluate``. Chapter 9's full runs read the data through these.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def _dataset_dir(config: dict, root: str | Path) -> Path:
    return Path(root) / config["dataset"]["name"]


def weights_slug(text: str | None) -> str:
    """A model name or weights tag as a folder-name part: lower case, ``_`` between words.

    >>> weights_slug("ViT-B-32-quickgelu"), weights_slug("openai"), weights_slug(None)
    ('vit_b32_quickgelu', 'openai', 'random')
    >>> weights_slug("/models/ViT-B-16-openai.bin")
    'vit_b16_openai'
    """
    if text is None or str(text).lower() in ("none", "random", ""):
        return "random"
    name = Path(str(text)).stem if ("/" in str(text) or Path(str(text)).suffix) else str(text)
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return re.sub(r"([a-z])_(\d)", r"\1\2", slug)


def store_name(config: dict) -> str:
    """``[dataset] features`` with ``{model}`` and ``{weights}`` filled from ``[extract]``, so a
    store's folder is named after the model that made it (``features/clip_vit_b16_openai``).

    >>> store_name({"dataset": {"features": "features/clip_{model}_{weights}"},
    ...             "extract": {"model_name": "ViT-S-32-alt", "pretrained": "none"}})
    'features/clip_vit_s32_alt_random'
    """
    from pcmci_edu.extract import DEFAULT_MODEL, DEFAULT_PRETRAINED

    features = str(config["dataset"].get("features", "features/clip_{model}_{weights}"))
    extract = config.get("extract", {})
    try:
        return features.format(model=weights_slug(extract.get("model_name", DEFAULT_MODEL)),
                               weights=weights_slug(extract.get("pretrained", DEFAULT_PRETRAINED)))
    except (KeyError, IndexError, ValueError) as error:
        what = f"unknown placeholder {{{error.args[0]}}}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"[dataset] features = {features!r}: {what}; only {{model}} and {{weights}} may be "
                         "filled in (from [extract] model_name and pretrained)") from None


def _store_dir(config: dict, root: str | Path) -> Path:
    return _dataset_dir(config, root) / store_name(config)


def other_stores(dataset_dir: Path, store_dir: Path) -> str:
    """The feature stores that do exist beside a missing one, each with what made it (for a message)."""
    from pcmci_edu.cli.provenance import _read_extraction_record

    found = []
    for record_path in sorted(dataset_dir.glob("**/extraction.json"))[:8]:
        record = _read_extraction_record(record_path.parent) or {}
        settings = record.get("settings") or {}
        relative = record_path.parent.relative_to(dataset_dir).as_posix()
        found.append(f"{relative} ({settings.get('model_name')}, {settings.get('pretrained')})")
    if not found:
        return ""
    return (f"; stores under {dataset_dir}: {', '.join(found)}: choose one with --set dataset.features=NAME, or "
            "give the same --set extract.model_name/extract.pretrained as to extract")


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
        raise FileNotFoundError(f"{store_dir}: no feature store; run `pcmci-edu extract {name}` first"
                                + other_stores(_dataset_dir(config, root), store_dir))
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

    listings = [path for path in (store_dir / f"missing_{split}.txt", store_dir / FAILED_LOG) if path.is_file()]
    where = f": see {' and '.join(map(str, listings))}" if listings else ""
    print(f"{name} {split}: {len(missing)} of {len(annotations)} annotated videos have no features in "
          f"{store_dir} (not fetched, not published, or failed to decode{where}); they are left out")
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


DEFAULT_VAL_FRACTION = 0.1
"""Share of the training videos held out as the validation split when the config does not say."""


def training_splits(config: dict, root: str | Path):
    """``(train, val)``: the training split without its validation part, and that part.

    ``[dataset] val_fraction`` of the training videos (default :data:`DEFAULT_VAL_FRACTION`),
    drawn with ``[dataset] split_seed`` (default 0; not the training seed, so runs of several seeds
    learn from the same videos), form the validation split, read with the test-time (uniform)
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
    if held_out >= len(train):
        raise ValueError(f"[dataset] val_fraction = {fraction} holds out {held_out} of the {len(train)} training "
                         "videos, leaving none to train on: lower it (0 trains on every video)")
    order = np.random.default_rng(int(config["dataset"].get("split_seed", 0))).permutation(len(train))
    validation = train.subset(np.sort(order[:held_out]), split="val")
    if validation.frames is None and validation.frame_loader is not None:
        store = FeatureStore(_store_dir(config, root))
        validation.frame_loader = frame_loader(store, validation.video_ids, validation.num_frames, "uniform")
    without = train.subset(np.sort(order[held_out:]))
    without.videos_without_features = train.videos_without_features
    return without, validation

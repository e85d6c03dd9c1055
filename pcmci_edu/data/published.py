"""Published per-video features into a feature store: one importer, a registry of layouts.

Researchers usually start from published features rather than from the videos (many of
COIN's YouTube videos are gone; decoding 80 hours of Charades is the slowest step of a full
run). A :class:`FeatureLayout` declares how one published feature set is stored: where a
video's file is (``file``, with ``{video_id}``), the array inside it (``key`` of a ``.npz``,
or a plain ``.npy``), its axes (``"TD"``: one row per time step; ``"DT"``: one column), its
width, its rate (feature vectors per second of video), and whether its frames live in a CLIP
text tower's embedding space (``text_models``). Registered layouts (:data:`LAYOUTS`):

``hero-clip``
    CLIP ViT-B/32 image features (OpenAI weights, 512-d), as UniVTG (Lin et al., ICCV 2023)
    publishes them for COIN and for Charades-STA's Charades videos, made with
    HERO_Video_Feature_Extractor: ``vid_clip/<video id>.npz``, key ``features``, shape
    ``[T, 512]``, float16 as HERO writes them by default. Each vector is the image embedding of
    **one frame sampled every 2 seconds**, not an aggregate of a 2-second clip. UniVTG's notes
    say "CLIP B/32" (its model notes: "Slowfast R50 + CLIP-B/32"; HERO's CLIP extractor accepts
    only ViT-B/32 or RN50x4), so the label texts come from ``ViT-B-32-quickgelu`` with OpenAI
    weights (``ViT-B-32`` with the ``openai`` tag builds the same tower). ``DIR`` is the folder
    holding ``vid_clip/``.
``hero-slowfast``
    SlowFast R50 features (Kinetics-pretrained, 2304-d = 2048 slow + 256 fast, one vector per
    2 seconds of video) that UniVTG publishes beside its CLIP ones: ``vid_slowfast/<video id>.npz``,
    key ``features``, shape ``[T, 2304]``. Not in a CLIP space: the model adds a frame adapter
    (``ModelConfig.text_dim``), as for ``mstcn-i3d``.
``mstcn-i3d``
    I3D features (2048-d, one per video frame at 15 fps) of the MS-TCN release (Farha and
    Gall, CVPR 2019), which ``pcmci-edu prepare breakfast`` unpacks to
    ``<root>/breakfast/features``: ``<video id>.npy``, shape ``(2048, T)``. The label texts'
    CLIP space differs from I3D's, so the model adds a frame adapter (``ModelConfig.text_dim``).

**Which text tower**: a layout in a CLIP space names the open_clip models (``text_models``) and
weights (``text_pretrained``) that made its frames; the importer refuses another text tower or
other weights (two 512-d towers pass any width check and still live in different spaces) unless
``--allow-other-text-tower`` is given, which ``extraction.json`` then records. Random weights
(``--pretrained none``) are let through with a note: a pipeline check, never a result.

**Scale**: the importer L2-normalises every vector of a layout with ``normalize = true`` (the
default; ``hero-clip`` and ``hero-slowfast``), as ``extract`` normalises the CLIP embeddings it
computes and UniVTG normalises its features on load, so both paths store vectors of one scale;
``mstcn-i3d`` keeps MS-TCN's raw I3D vectors (MS-TCN uses them raw, and the Breakfast reader reads
that folder in place). ``extraction.json`` records which (``normalization``).

A layout of your own is a few lines (a TOML file passed as ``--layout my_layout.toml``, or
:func:`register_layout` in Python)::

    name = "my-clip-l14"
    file = "clip_l14/{video_id}.npy"
    axes = "TD"
    feature_dim = 768
    rate_hz = 1.0
    text_models = ["ViT-L-14", "ViT-L-14-quickgelu"]
    text_pretrained = "openai"

**Resampling** (ours; the same rule as ``extract``'s frame sampling): a video's ``T``
published vectors are split into ``N`` equal segments (``N`` = the store's frame count,
``[extract] num_frames``) and one vector is kept per segment: the segment's centre for
``sampling = "uniform"``, a seeded random one for ``"random"``
(:func:`pcmci_edu.data.features.sample_indices`). A video with ``T < N`` vectors repeats
them (a 30-s Charades video has 15 at 0.5 Hz, stored as 64 rows). ``extraction.json``
records the layout, its rate and this rule.

**Coverage**: :func:`coverage` counts the protocol's videos of each split that have
features, and writes the missing ids to ``missing_<split>.txt`` in the store; training and
evaluation refuse a split whose coverage is below ``[dataset] min_coverage``
(:data:`DEFAULT_MIN_COVERAGE`, lowered explicitly with ``--set dataset.min_coverage=...``).

>>> LAYOUTS["hero-clip"].path("DIR", "AO8RW").as_posix()
'DIR/vid_clip/AO8RW.npz'
>>> LAYOUTS["mstcn-i3d"].rate_hz
15.0
>>> LAYOUTS["hero-clip"].text_models[0]
'ViT-B-32-quickgelu'
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pcmci_edu.data.features import FeatureError, FeatureStore, sample_indices

DEFAULT_MIN_COVERAGE = 0.9
"""Below this fraction of a split's protocol videos with features, train and evaluate refuse (ours)."""

COIN_PEER_SKIPPED = ("AfiVmAjfTNs", "cjwtcDKTQM8")
"""COIN videos that MA-LMM's COIN loader (and the long-term protocol that copies it) skips by id
because their files fail to decode; it also drops videos that were never downloaded. Ours skips
nothing by id: a video takes part exactly when the store has its features (see :func:`coverage`)."""

AXES = ("TD", "DT")


class CoverageError(FeatureError):
    """Too few of a split's protocol videos have features (below ``min_coverage``)."""


@dataclass(frozen=True)
class FeatureLayout:
    """How one published feature set stores a video's features (see the module docstring)."""

    name: str
    file: str
    """Path of one video's file relative to the folder given to the importer; ``{video_id}`` is replaced."""
    axes: str
    """``"TD"``: rows are time steps (``[T, D]``); ``"DT"``: columns are (``(D, T)``, MS-TCN)."""
    feature_dim: int
    rate_hz: float
    """Feature vectors per second of video (0.5: one per 2-second clip)."""
    key: str | None = None
    """The array's name inside a ``.npz`` file; None for a plain ``.npy``."""
    text_models: tuple[str, ...] = ()
    """open_clip models whose text tower shares the frames' embedding space; the label texts must
    come from one of them, at the same width. Empty: frames and texts live in different spaces
    (the model adds a frame adapter)."""
    text_pretrained: str = ""
    """The open_clip weights tag of the model that made the frames (``"openai"``); empty: not stated."""
    frame_model: str = ""
    source: str = ""
    datasets: tuple[str, ...] = ()
    normalize: bool = True
    """Whether the importer L2-normalises each vector (as ``extract`` does CLIP embeddings); False keeps
    them as published (MS-TCN's I3D vectors, which MS-TCN and the Breakfast reader use raw)."""

    def __post_init__(self) -> None:
        if "{video_id}" not in self.file:
            raise ValueError(f"layout {self.name!r}: file={self.file!r} needs a '{{video_id}}'")
        if self.axes not in AXES:
            raise ValueError(f"layout {self.name!r}: axes={self.axes!r}, expected one of {', '.join(AXES)}")
        if self.feature_dim < 1 or not self.rate_hz > 0:
            raise ValueError(f"layout {self.name!r}: feature_dim and rate_hz must be positive, "
                             f"got {self.feature_dim} and {self.rate_hz}")
        if self.key is None and not self.file.endswith(".npy"):
            raise ValueError(f"layout {self.name!r}: a file without 'key' must be a .npy, got {self.file!r}")

    def path(self, directory: str | os.PathLike, video_id: str) -> Path:
        """Where ``video_id``'s features are under ``directory``."""
        return Path(directory) / self.file.format(video_id=video_id)

    @property
    def shares_text_space(self) -> bool:
        """Whether the frames live in a CLIP text tower's space (then widths must match)."""
        return bool(self.text_models)

    def describe(self) -> str:
        """One line: name, file pattern, shape, rate, model."""
        shape = f"[T, {self.feature_dim}]" if self.axes == "TD" else f"({self.feature_dim}, T)"
        inside = f", key {self.key!r}" if self.key else ""
        return (f"{self.name}: {self.file}{inside}, {shape}, {self.rate_hz:g} per second; "
                f"{self.frame_model or 'frame model not stated'}")


LAYOUTS: dict[str, FeatureLayout] = {}
"""The registered layouts by name."""


def register_layout(layout: FeatureLayout) -> FeatureLayout:
    """Add ``layout`` to :data:`LAYOUTS` (a name can be registered once)."""
    if layout.name in LAYOUTS and LAYOUTS[layout.name] != layout:
        raise ValueError(f"a different layout named {layout.name!r} is already registered")
    LAYOUTS[layout.name] = layout
    return layout


UNIVTG_DOWNLOADS = "https://github.com/showlab/UniVTG/blob/main/install.md"

register_layout(FeatureLayout(
    name="hero-clip", file="vid_clip/{video_id}.npz", key="features", axes="TD", feature_dim=512,
    rate_hz=0.5, text_models=("ViT-B-32-quickgelu", "ViT-B-32"), text_pretrained="openai",
    frame_model="CLIP ViT-B/32 image tower, OpenAI weights (HERO_Video_Feature_Extractor: one frame "
                "sampled every 2 s, float16)",
    source="UniVTG (Lin et al., ICCV 2023) feature downloads: 'Video (CLIP B/32)' of COIN (556 MB) and "
           f"Charades-STA (305 MB), {UNIVTG_DOWNLOADS}",
    datasets=("coin", "charades"),
))
register_layout(FeatureLayout(
    name="hero-slowfast", file="vid_slowfast/{video_id}.npz", key="features", axes="TD", feature_dim=2304,
    rate_hz=0.5,
    frame_model="SlowFast R50 (Kinetics-pretrained; 2048 slow + 256 fast channels), one vector per 2 s "
                "(HERO_Video_Feature_Extractor)",
    source="UniVTG (Lin et al., ICCV 2023) feature downloads: 'Video (Slowfast R50)' of COIN (2.3 GB) and "
           f"Charades-STA (1.3 GB), {UNIVTG_DOWNLOADS}",
    datasets=("coin", "charades"),
))
register_layout(FeatureLayout(
    name="mstcn-i3d", file="{video_id}.npy", axes="DT", feature_dim=2048, rate_hz=15.0,
    frame_model="I3D (Kinetics-pretrained, RGB + optical flow), one vector per frame of the 15-fps video",
    source="MS-TCN release (Farha and Gall, CVPR 2019), data.zip: breakfast/features/ "
           "(https://zenodo.org/records/3625992; `pcmci-edu prepare breakfast`)",
    datasets=("breakfast",), normalize=False,
))

DEFAULT_LAYOUT = {"breakfast": "mstcn-i3d", "coin": "hero-clip", "charades": "hero-clip"}
"""The layout ``--from-features`` assumes for each dataset when ``--layout`` is not given."""


LAYOUT_FIELD_TYPES = {"name": str, "file": str, "axes": str, "feature_dim": int, "rate_hz": float, "key": str,
                      "text_models": "strings", "text_pretrained": str, "frame_model": str, "source": str,
                      "datasets": "strings", "normalize": bool}
"""The type each field of a layout file must have (checked before the layout is built)."""


def layout_from_file(path: str | os.PathLike) -> FeatureLayout:
    """Read a layout from a TOML file whose keys are :class:`FeatureLayout`'s fields."""
    import tomllib

    path = Path(path)
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such layout file") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    known = {item.name for item in fields(FeatureLayout)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown layout field(s) {unknown}; expected some of {sorted(known)}")
    missing = [name for name in ("name", "file", "axes", "feature_dim", "rate_hz") if name not in values]
    if missing:
        raise ValueError(f"{path}: missing layout field(s) {missing} (required: name, file, axes, feature_dim, "
                         "rate_hz)")
    for name, value in values.items():
        expected = LAYOUT_FIELD_TYPES[name]
        if expected == "strings":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ValueError(f"{path}: {name} = {value!r}: expected a list of strings, e.g. [\"ViT-B-32\"]")
            values[name] = tuple(value)
        elif expected is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{path}: {name} = {value!r}: expected true or false")
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{path}: {name} = {value!r}: expected a number")
        elif isinstance(value, bool) or not isinstance(value, expected):
            raise ValueError(f"{path}: {name} = {value!r}: expected {'an integer' if expected is int else 'a string'}")
    try:
        return FeatureLayout(**values)
    except TypeError as error:
        raise ValueError(f"{path}: {error} (required: name, file, axes, feature_dim, rate_hz)") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def get_layout(name_or_file: str | os.PathLike) -> FeatureLayout:
    """A registered layout by name, or one read from a ``.toml`` file."""
    if str(name_or_file).endswith(".toml"):
        return layout_from_file(name_or_file)
    if str(name_or_file) not in LAYOUTS:
        raise ValueError(f"unknown feature layout {str(name_or_file)!r}: expected one of "
                         f"{', '.join(LAYOUTS)} or a .toml file declaring one (see pcmci_edu.data.published)")
    return LAYOUTS[str(name_or_file)]


def read_published(layout: FeatureLayout, directory: str | os.PathLike, video_id: str) -> np.ndarray:
    """One video's published features as float32 ``[T, D]``; a :class:`FeatureError` naming the file otherwise."""
    path = layout.path(directory, video_id)
    expected = (f"layout {layout.name} expects " + (f"an .npz with an array {layout.key!r}" if layout.key
                                                    else "a .npy array"))
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if layout.key is None:
                    raise FeatureError(f"{path}: an .npz archive ({', '.join(loaded.files)}); {expected}")
                if layout.key not in loaded.files:
                    raise FeatureError(f"{path}: no array {layout.key!r} (it holds {', '.join(loaded.files) or 'none'}); "
                                       f"{expected}")
                array = loaded[layout.key]
        elif layout.key is not None:
            raise FeatureError(f"{path}: a single .npy array, not an .npz archive; {expected}")
        else:
            array = loaded
    except FeatureError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
        raise FeatureError(f"{path}: not a readable array file ({error}); {expected}") from None
    if not np.issubdtype(array.dtype, np.floating) or array.ndim != 2:
        raise FeatureError(f"{path}: array of dtype {array.dtype} and shape {array.shape}; "
                           f"{expected} of floating-point numbers (float16/32/64) with 2 axes ({layout.axes})")
    frames = array.T if layout.axes == "DT" else array
    if frames.shape[1] != layout.feature_dim or frames.shape[0] < 1:
        shape = f"[T, {layout.feature_dim}]" if layout.axes == "TD" else f"({layout.feature_dim}, T)"
        raise FeatureError(f"{path}: features have shape {array.shape}; layout {layout.name} expects {shape} "
                           "(is this the right --layout?)")
    finite = np.isfinite(frames)
    if not finite.all():
        raise FeatureError(f"{path}: features contain NaN or infinity (first at time step "
                           f"{int(np.argwhere(~finite)[0][0])})")
    return np.asarray(frames, dtype=np.float32)


NORMALIZATION = "L2: every imported vector divided by its Euclidean norm (as extract's CLIP embeddings)"
"""What the importer does to each published vector; ``extraction.json`` records it."""


def l2_normalize(frames: np.ndarray, path: Path) -> np.ndarray:
    """Each row divided by its norm; a :class:`FeatureError` naming ``path`` for an all-zero row."""
    norms = np.linalg.norm(frames, axis=1, keepdims=True)
    if not (norms > 0).all():
        raise FeatureError(f"{path}: time step {int(np.argwhere(norms[:, 0] == 0)[0][0])} is an all-zero vector; "
                           "expected a feature vector (it cannot be normalised)")
    return frames / norms


def normalization(layout: FeatureLayout) -> str:
    """What the importer does to ``layout``'s vectors, as ``extraction.json`` records it."""
    return NORMALIZATION if layout.normalize else "none: vectors stored as published (the layout's normalize = false)"


RANDOM_WEIGHTS = ("none", "random", "")


def check_text_tower(layout: FeatureLayout, text_width: int, model_name: str, pretrained: str | None,
                     example: Path, allow_other: bool = False) -> list[str]:
    """A shared-space layout needs label texts from the tower that made its frames, at its width.

    Refuses (a :class:`FeatureError` naming ``example``) another model or other weights than the
    layout declares, unless ``allow_other``; a width that differs is refused always. Returns the
    notes to print (random weights; a tower accepted by ``allow_other``).
    """
    if not layout.shares_text_space:
        return []
    notes = []
    weights = "none" if pretrained is None else str(pretrained)
    declared = f"{' / '.join(layout.text_models)}" + (f" with {layout.text_pretrained} weights"
                                                      if layout.text_pretrained else "")
    if weights.lower() in RANDOM_WEIGHTS:
        notes.append(f"note: random text weights (--pretrained none) do not share the {layout.name} frames' CLIP "
                     "space: a pipeline check, never a result")
        weights_differ = False
    else:
        local_file = os.sep in weights or Path(weights).is_file()
        weights_differ = bool(layout.text_pretrained) and not local_file and weights != layout.text_pretrained
        if local_file and layout.text_pretrained:
            notes.append(f"note: the weights file {weights} is taken to hold the {layout.text_pretrained} weights of "
                         f"{model_name} ({layout.name} needs {declared}); extraction.json records its sha256")
    if model_name not in layout.text_models or weights_differ:
        got = f"--model-name {model_name} --pretrained {weights}"
        if not allow_other:
            raise FeatureError(
                f"{example}: layout {layout.name} holds {layout.frame_model or 'features'}, in the space of "
                f"{declared}; the label texts must come from that text tower, got {got}. Use --model-name "
                f"{layout.text_models[0]}" + (f" --pretrained {layout.text_pretrained}" if layout.text_pretrained
                                               else "") + " (or a local file of those weights), or give "
                "--allow-other-text-tower to import anyway (extraction.json records it)")
        notes.append(f"note: --allow-other-text-tower: label texts from {got}, frames from {declared}; "
                     "extraction.json records the mismatch")
    if text_width != layout.feature_dim:
        raise FeatureError(
            f"{example}: frames are {layout.feature_dim}-d but the {model_name} text tower gives {text_width}-d "
            f"label texts; layout {layout.name} needs both in one space of one width")
    return notes


@dataclass
class ImportReport:
    """What an import did: videos written, already in the store, absent from the folder."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    lengths: dict[str, int] = field(default_factory=dict)
    """Published vectors per written video (before resampling)."""

    def summary(self) -> str:
        """One line of counts (none fail: a bad file stops the import with a :class:`FeatureError`)."""
        return (f"written {len(self.written)}, already done {len(self.skipped)}, failed 0, "
                f"no file in the folder {len(self.absent)}")


def import_features(layout: FeatureLayout, directory: str | os.PathLike, store: FeatureStore,
                    video_ids: Sequence[str], *, num_frames: int, sampling: str = "uniform", seed: int = 0,
                    progress: bool = True) -> ImportReport:
    """Resample each listed video's published features to ``num_frames`` rows into ``store``.

    Videos already in the store are skipped (an interrupted import resumes); videos without a
    file are counted in ``absent``. A file that cannot be read as the layout declares stops the
    import with a :class:`FeatureError` naming it: fix or remove it (a removed file then counts as
    missing) and run again.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such feature folder")
    report = ImportReport()
    todo = []
    for position, video_id in enumerate(video_ids):
        if store.contains(video_id):
            report.skipped.append(video_id)
        elif layout.path(directory, video_id).is_file():
            todo.append((position, video_id))
        else:
            report.absent.append(video_id)
    if not todo and not report.skipped:
        example = layout.path(directory, video_ids[0]) if video_ids else layout.path(directory, "<video id>")
        raise FeatureError(f"{directory}: none of the {len(video_ids)} protocol videos has a file of layout "
                           f"{layout.name} (expected e.g. {example}); is this the right folder and --layout?")
    for position, video_id in tqdm(todo, desc=f"import {layout.name}", unit="video", disable=not progress):
        frames = read_published(layout, directory, video_id)
        if layout.normalize:
            frames = l2_normalize(frames, layout.path(directory, video_id))
        rng = np.random.default_rng([seed, position])
        store.write(video_id, frames[sample_indices(len(frames), num_frames, sampling, rng)])
        report.written.append(video_id)
        report.lengths[video_id] = len(frames)
    return report


def make_published_miniature(layout: FeatureLayout, directory: str | os.PathLike,
                              videos: Mapping[str, str | os.PathLike], seed: int = 0) -> dict[str, int]:
    """Write random unit vectors in ``layout`` for each video file, as many as its duration gives at the
    layout's rate (at least one): a published folder in miniature for a pipeline check, never a result.

    Returns the number of vectors written per video id.
    """
    from pcmci_edu.data.miniature import _clip_duration

    rng = np.random.default_rng(seed)
    lengths = {}
    for video_id, video in sorted(videos.items()):
        count = max(1, round(_clip_duration(Path(video)) * layout.rate_hz))
        vectors = rng.normal(size=(count, layout.feature_dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        path = layout.path(directory, video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        array = vectors.T if layout.axes == "DT" else vectors
        with open(path, "wb") as stream:
            if layout.key is None:
                np.save(stream, array)
            else:
                np.savez(stream, **{layout.key: array})
        lengths[video_id] = count
    return lengths


def import_record(layout: FeatureLayout, directory: str | os.PathLike, report: ImportReport,
                  num_frames: int, sampling: str) -> dict:
    """The ``import`` section of ``extraction.json``: layout, source rate, resampling, lengths."""
    lengths = np.array(list(report.lengths.values()), dtype=np.int64)
    summary = ({"min": int(lengths.min()), "median": float(np.median(lengths)), "max": int(lengths.max()),
                "videos_with_fewer_than_num_frames": int((lengths < num_frames).sum())}
               if len(lengths) else None)
    return {
        "layout": {**asdict(layout), "text_models": list(layout.text_models), "datasets": list(layout.datasets)},
        "directory": str(Path(directory).resolve()),
        "source_rate_hz": layout.rate_hz,
        "resampling": (f"segment-wise, as extract samples frames: the T published vectors are split into "
                       f"{num_frames} equal segments and one is kept per segment ({sampling}: "
                       + ("the centre" if sampling == "uniform" else "a seeded random one")
                       + "); T < num_frames repeats vectors (pcmci_edu.data.features.sample_indices)"),
        "num_frames": num_frames,
        "sampling": sampling,
        "normalization": normalization(layout),
        "published_vectors_per_video": summary,
        "absent_from_folder": len(report.absent),
    }


def coverage(store: FeatureStore, splits: Mapping[str, Iterable[str]], dataset: str) -> dict:
    """Per split: protocol videos, how many have features, the fraction; writes ``missing_<split>.txt``.

    For COIN, ``peer_skipped`` says whether each of :data:`COIN_PEER_SKIPPED` has features here.
    """
    result: dict = {}
    Path(store.root).mkdir(parents=True, exist_ok=True)
    for split, video_ids in splits.items():
        video_ids = list(video_ids)
        missing = store.missing(video_ids)
        listing = Path(store.root) / f"missing_{split}.txt"
        partial = listing.with_name(f".{listing.name}.{os.getpid()}.part")
        partial.write_text("".join(f"{video_id}\n" for video_id in missing))
        os.replace(partial, listing)
        entry = {"protocol_videos": len(video_ids), "with_features": len(video_ids) - len(missing),
                 "fraction": (len(video_ids) - len(missing)) / len(video_ids) if video_ids else 0.0,
                 "missing_file": str(listing)}
        if dataset == "coin":
            present = set(video_ids)
            entry["peer_skipped"] = {video_id: ("not in this split" if video_id not in present else
                                                "no features (left out)" if video_id in missing else
                                                "has features (used)") for video_id in COIN_PEER_SKIPPED}
        result[split] = entry
    return result


def coverage_lines(report: Mapping[str, dict], dataset: str) -> list[str]:
    """Printable lines of a :func:`coverage` report."""
    lines = [f"{dataset} {split}: {entry['with_features']} of {entry['protocol_videos']} protocol videos have "
             f"features ({100 * entry['fraction']:.1f}%); missing ids in {entry['missing_file']}"
             for split, entry in report.items()]
    for split, entry in report.items():
        for video_id, state in entry.get("peer_skipped", {}).items():
            if state != "not in this split":
                lines.append(f"  {video_id} ({split}; skipped by id in MA-LMM's COIN loader): {state}")
    return lines


def check_coverage(dataset: str, split: str, protocol_videos: int, missing: Sequence[str],
                   min_coverage: float, store_root: str | os.PathLike) -> float:
    """The fraction of a split's protocol videos with features; a :class:`CoverageError` below ``min_coverage``."""
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"[dataset] min_coverage={min_coverage}: expected a fraction between 0 and 1")
    fraction = (protocol_videos - len(missing)) / protocol_videos if protocol_videos else 0.0
    if fraction < min_coverage:
        listing = Path(store_root) / f"missing_{split}.txt"
        where = (f"the missing ids are in {listing}" if listing.is_file()
                 else f"missing e.g. {', '.join(list(missing)[:5])}")
        raise CoverageError(
            f"{dataset} {split}: only {protocol_videos - len(missing)} of {protocol_videos} protocol videos have "
            f"features in {store_root} ({100 * fraction:.1f}%, below dataset.min_coverage={min_coverage:g}); "
            f"{where}. Extract or import the missing ones, or lower the threshold explicitly with "
            f"--set dataset.min_coverage={max(0.0, np.floor(fraction * 100) / 100):g} (the run then no longer "
            "covers the whole protocol; results.json records how many videos were left out)")
    return fraction

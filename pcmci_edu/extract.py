"""Frame and label-text features with open_clip: ``pcmci-edu extract``.

A video becomes ``N`` frame embeddings ``F in R^{N x D}`` from the frozen image tower
of a CLIP model, and every label text becomes one embedding of the same model's text
tower (``T0 in R^{K x D}``): the inputs the paper's model starts from.

Choices (ours; the poster does not fix them):

- **Frames**: ``num_frames = 64`` stored per video (``DEFAULT_NUM_FRAMES``), twice the 32
  the model sees, so that training can sample a random frame per segment from the store.
  ``sampling``: ``"uniform"`` (default) takes the centre frame of each of ``N`` equal
  segments, the same frames every run; ``"random"`` takes one random frame per segment
  (seeded). Videos shorter than ``N`` frames repeat frames.
- **Model**: ``ViT-B-16`` with OpenAI weights (``pretrained="openai"``, fetched by
  open_clip on first use). ``pretrained`` also takes a local checkpoint file; OpenAI
  weights loaded from a file need the ``-quickgelu`` model name (``ViT-B-16-quickgelu``),
  since those weights were trained with QuickGELU. ``pretrained=None`` gives random
  weights (the book's pipeline check, never a result).
- **Embeddings** are L2-normalised (CLIP compares them by cosine) and stored as
  float32, one ``<video_id>.npy`` of shape ``[N, D]`` per video in a feature store,
  with ``text_features.npz`` holding ``"actions"`` [K, D] and ``"activities"`` [A, D].
- **Label texts** are the dataset's phrases (``"pour egg to pan"``) put into
  ``text_template`` (default ``"{}"``: the phrase as is).

Extraction is batched (frames of several videos per forward pass), uses mixed precision
on CUDA, skips videos already in the store (so it resumes after an interruption), and
logs a corrupt or empty video and goes on. Published features (CLIP ViT-B/16 clip
features of COIN and Charades, Breakfast's I3D features) can replace extraction: see
:mod:`pcmci_edu.data.published`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pcmci_edu.data.features import SAMPLINGS, TEXT_FEATURES_FILE, FeatureStore, sample_indices
from pcmci_edu.files import atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-16"
DEFAULT_PRETRAINED = "openai"
DEFAULT_NUM_FRAMES = 64
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
FAILED_LOG = "failed_videos.tsv"
NORMALIZATION = "L2: every embedding divided by its Euclidean norm (open_clip's normalize=True)"
"""What ``extract`` does to each frame and text embedding; ``extraction.json`` records it."""


class VideoDecodeError(RuntimeError):
    """A video could not be decoded: corrupt, empty, or without a video stream."""


@dataclass
class ExtractionConfig:
    """How ``extract`` turns videos into features (defaults documented in the module)."""

    model_name: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    num_frames: int = DEFAULT_NUM_FRAMES
    sampling: str = "uniform"
    batch_size: int = 256  # frames per forward pass of the image tower
    num_workers: int | None = None  # decoding processes; None: up to 8 on CUDA, 0 on CPU
    device: str | None = None  # None: CUDA when visible
    text_template: str = "{}"
    image_size: int | None = None  # None: the model's own (224); smaller only for quick CPU checks
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling={self.sampling!r}: expected one of {SAMPLINGS}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames={self.num_frames}: expected at least 1")
        if "{}" not in self.text_template:
            raise ValueError(f"text_template={self.text_template!r}: expected a '{{}}' for the label phrase")


SEEK_GAP = 300
"""When the next sampled frame is more than this many frames ahead, the decoder seeks to the
keyframe before it instead of decoding every frame in between (long videos)."""


def _frame_index(frame, stream) -> int | None:
    """A frame's index from its timestamp: ``(pts - start) x time base x frame rate``."""
    rate = stream.average_rate or stream.guessed_rate
    if frame.pts is None or not rate or stream.time_base is None:
        return None
    return int(round(float((frame.pts - (stream.start_time or 0)) * stream.time_base * rate)))


def _decode_at(path: Path, indices: np.ndarray, seek_gap: int = SEEK_GAP) -> tuple[dict[int, object], int]:
    """Decode the frames at ``indices``. Returns (PIL image by index, frames up to the last decoded).

    Frames are numbered by their timestamps (by counting where a frame has none), which lets the
    decoder seek ahead over long gaps. A wanted frame missing from a variable-frame-rate stream
    is replaced by the next one decoded.
    """
    import av

    kept: dict[int, object] = {}
    position, image = -1, None
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoDecodeError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        frames = container.decode(stream)
        for target in sorted(set(int(i) for i in indices)):
            if position >= target and image is not None:
                kept[target] = image
                continue
            if rate and stream.time_base and target - position > seek_gap:
                offset = (stream.start_time or 0) + int(target / rate / stream.time_base)
                container.seek(offset, stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
            for frame in frames:
                index = _frame_index(frame, stream)
                position = position + 1 if index is None else index
                if position >= target:
                    image = kept[target] = frame.to_image()
                    break
            else:
                break  # the stream ended before this frame
    return kept, position + 1


def count_frames(path: str | Path) -> int:
    """The number of frames of a video: the container's count, else by decoding."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            stream.thread_type = "AUTO"
            return sum(1 for _ in container.decode(stream))
    except av.FFmpegError as error:
        raise VideoDecodeError(f"{path}: {error}") from error


def decode_frames(path: str | Path, num_frames: int = DEFAULT_NUM_FRAMES, sampling: str = "uniform",
                  rng: np.random.Generator | None = None) -> list:
    """Decode ``num_frames`` sampled frames of a video with PyAV, as PIL images.

    Raises :class:`VideoDecodeError` (naming the file) for a corrupt or empty video.
    When the container overstates its frame count, the frames are sampled again from
    the count actually decoded.
    """
    import av

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: missing or empty file")
    try:
        total = count_frames(path)
        if total == 0:
            raise VideoDecodeError(f"{path}: the video stream has no frames")
        indices = sample_indices(total, num_frames, sampling, rng)
        kept, seen = _decode_at(path, indices)
        if len(kept) < len(set(indices.tolist())):  # fewer frames than the container claimed
            if seen == 0:
                raise VideoDecodeError(f"{path}: no frame could be decoded")
            indices = sample_indices(seen, num_frames, sampling, rng)
            kept, _ = _decode_at(path, indices)
    except av.FFmpegError as error:
        raise VideoDecodeError(f"{path}: {error}") from error
    return [kept[int(i)] for i in indices]


def load_clip(model_name: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED,
              device: str | torch.device = "cpu", image_size: int | None = None):
    """An open_clip model in eval mode, its image preprocessing and its tokenizer.

    ``pretrained``: an open_clip tag (``"openai"``: downloaded on first use), a local
    checkpoint file, or ``None``/``"none"`` for random weights. ``image_size`` overrides
    the model's input size (the book's CPU pipeline check uses 64 pixels).
    """
    import open_clip

    if pretrained is not None and str(pretrained).lower() in {"none", "random", ""}:
        pretrained = None
    if pretrained is not None and (os.sep in str(pretrained) or Path(pretrained).suffix in CHECKPOINT_SUFFIXES):
        checkpoint = Path(pretrained)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"--pretrained {checkpoint}: no such checkpoint file")
        if "openai" in checkpoint.name.lower() and "quickgelu" not in model_name:
            log.warning("%s looks like OpenAI weights: they need the model name %s-quickgelu",
                        checkpoint, model_name)
        pretrained = str(checkpoint)
    weights = ("random weights" if pretrained is None else f"weights file {pretrained}" if Path(pretrained).is_file()
               else f"weights {pretrained!r}, downloaded with a progress bar unless already in open_clip's cache")
    print(f"loading open_clip {model_name} ({weights}) on {device}", flush=True)
    started = time.perf_counter()
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained,
                                                                     force_image_size=image_size)
    except Exception as error:  # open_clip raises several kinds for a bad file or a failed download
        if pretrained is None:
            raise
        if Path(pretrained).is_file():
            raise RuntimeError(f"--pretrained {pretrained}: not loadable as {model_name} weights ({error}); "
                               "OpenAI weights from a file need the -quickgelu model name, other weights "
                               "their own model name") from None
        raise RuntimeError(
            f"could not load the {pretrained!r} weights of {model_name}: {error}. open_clip downloads "
            "them on first use; without network, fetch the checkpoint elsewhere and pass "
            "--pretrained /path/to/checkpoint (OpenAI weights then need the -quickgelu model name)"
        ) from error
    model = model.to(device).eval()
    print(f"loaded {model_name} in {time.perf_counter() - started:.1f} s", flush=True)
    return model, preprocess, open_clip.get_tokenizer(model_name)


def _autocast(device: torch.device):
    """Mixed precision (float16) on CUDA; full precision elsewhere."""
    return torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device.type == "cuda")


@torch.no_grad()
def encode_images(model, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """L2-normalised image embeddings ``[M, D]`` of preprocessed images ``[M, 3, H, W]``."""
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(images), batch_size):
        with _autocast(device):
            batch = images[start:start + batch_size].to(device, non_blocking=True)
            chunks.append(model.encode_image(batch, normalize=True).float().cpu())
    return torch.cat(chunks).numpy()


@torch.no_grad()
def encode_texts(model, tokenizer, texts: Sequence[str], *, template: str = "{}",
                 batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """L2-normalised text embeddings ``[len(texts), D]`` from the model's text tower."""
    if not texts:
        raise ValueError("encode_texts needs at least one text")
    device = next(model.parameters()).device
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc="label texts", unit="batch",
                      disable=not progress, leave=False):
        tokens = tokenizer([template.format(text) for text in texts[start:start + batch_size]])
        with _autocast(device):
            chunks.append(model.encode_text(tokens.to(device), normalize=True).float().cpu())
    return torch.cat(chunks).numpy()


class _SampledVideos(torch.utils.data.Dataset):
    """Decodes and preprocesses the sampled frames of each video (in DataLoader workers)."""

    def __init__(self, items: Sequence[tuple[str, Path]], preprocess, config: ExtractionConfig):
        self.items, self.preprocess, self.config = list(items), preprocess, config

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        video_id, path = self.items[index]
        rng = np.random.default_rng([self.config.seed, index])
        try:
            images = decode_frames(path, self.config.num_frames, self.config.sampling, rng)
            frames = torch.stack([self.preprocess(image) for image in images])
            return {"video_id": video_id, "frames": frames, "error": None}
        except (VideoDecodeError, OSError, ValueError) as error:
            return {"video_id": video_id, "frames": None, "error": str(error)}


@dataclass
class ExtractionReport:
    """What an extraction did: videos written, skipped (already done), failed (why)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per outcome, and each failure with its reason."""
        lines = [f"written {len(self.written)}, already done {len(self.skipped)}, failed {len(self.failed)}"]
        lines += [f"  failed {video_id}: {reason}" for video_id, reason in self.failed.items()]
        return "\n".join(lines)


def _resolve_device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def extract_videos(videos: Mapping[str, str | Path], store, config: ExtractionConfig | None = None,
                   *, model=None, preprocess=None, progress: bool = True) -> ExtractionReport:
    """Encode the sampled frames of each video into ``store`` (one ``[N, D]`` array each).

    ``videos`` maps a video id to its file. Videos already in the store are skipped;
    a video that fails to decode is logged (and listed once, with its latest reason, in
    ``failed_videos.tsv`` in the store's folder, until it decodes) and the others go on. Pass ``model``/``preprocess`` to reuse a
    loaded model; otherwise :func:`load_clip` loads ``config``'s.
    """
    config = config or ExtractionConfig()
    device = _resolve_device(config.device)
    if model is None:
        model, preprocess, _ = load_clip(config.model_name, config.pretrained, device, config.image_size)
    done = {video_id for video_id in videos if store.contains(video_id)}
    report = ExtractionReport(skipped=[video_id for video_id in videos if video_id in done])
    todo = [(video_id, Path(path)) for video_id, path in videos.items() if video_id not in done]
    workers = config.num_workers if config.num_workers is not None else (
        min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)
    loader = torch.utils.data.DataLoader(
        _SampledVideos(todo, preprocess, config),
        batch_size=max(1, config.batch_size // config.num_frames), num_workers=workers,
        collate_fn=list, pin_memory=device.type == "cuda",
    )
    failed_log = Path(store.root) / FAILED_LOG
    failures = read_failed_log(failed_log)
    with tqdm(total=len(todo), desc="extract", unit="video", disable=not progress) as bar:
        for batch in loader:
            good = [item for item in batch if item["error"] is None]
            for item in batch:
                if item["error"] is not None:
                    log.warning("skipping video %s: %s", item["video_id"], item["error"])
                    report.failed[item["video_id"]] = failures[item["video_id"]] = item["error"]
                    _write_failed_log(failed_log, failures)
            if good:
                features = encode_images(model, torch.cat([item["frames"] for item in good]),
                                         config.batch_size)
                n = config.num_frames
                for position, item in enumerate(good):
                    store.write(item["video_id"], features[position * n:(position + 1) * n])
                    report.written.append(item["video_id"])
                    if failures.pop(item["video_id"], None) is not None:  # decodes now
                        _write_failed_log(failed_log, failures)
            bar.update(len(batch))
    return report


def read_failed_log(path: Path) -> dict[str, str]:
    """``failed_videos.tsv`` as ``{video id: reason}`` (empty when there is none)."""
    if not path.is_file():
        return {}
    entries = (line.partition("\t") for line in path.read_text().splitlines() if line.strip())
    return {video_id: reason for video_id, _, reason in entries}


def _write_failed_log(path: Path, failures: Mapping[str, str]) -> None:
    """One line per video that failed, with its latest reason (rewritten whole, atomically)."""
    atomic_write_text(path, "".join(f"{video_id}\t{' '.join(reason.split())}\n" for video_id, reason in failures.items()))


def extract_text_features(store: FeatureStore, action_texts: Sequence[str],
                          activity_texts: Sequence[str], config: ExtractionConfig | None = None,
                          *, model=None, tokenizer=None) -> Path:
    """Encode the label phrases with the text tower; write the store's ``text_features.npz``."""
    config = config or ExtractionConfig()
    if model is None:
        model, _, tokenizer = load_clip(config.model_name, config.pretrained,
                                        _resolve_device(config.device), config.image_size)
    actions = encode_texts(model, tokenizer, list(action_texts), template=config.text_template)
    activities = (encode_texts(model, tokenizer, list(activity_texts), template=config.text_template)
                  if len(activity_texts) else None)  # Charades has no activities
    store.write_text_features(actions, activities)
    return Path(store.root) / TEXT_FEATURES_FILE


_BREAKFAST_STEREO = re.compile(r"^(?P<stem>.+)_ch(?P<channel>\d)$")


def video_id_from_path(path: str | Path, dataset: str) -> str:
    """The dataset's id for a video file.

    COIN and Charades name files by their id. Breakfast's release nests
    ``<person>/<camera>/<person>_<activity>.avi``; its annotations call that video
    ``<person>_<camera>_<person>_<activity>`` (the MS-TCN names), and the stereo
    camera's channels ``_ch0``/``_ch1`` become ``stereo01``/``stereo02`` (our mapping).

    >>> video_id_from_path("BreakfastII/P03/cam01/P03_cereals.avi", "breakfast")
    'P03_cam01_P03_cereals'
    >>> video_id_from_path("P03/stereo/P03_cereals_ch1.avi", "breakfast")
    'P03_stereo02_P03_cereals'
    >>> video_id_from_path("videos/LtRSn-ntcLY.mp4", "coin")
    'LtRSn-ntcLY'
    """
    path = Path(path)
    if dataset != "breakfast" or len(path.parts) < 3 or path.stem.startswith(f"{path.parent.parent.name}_{path.parent.name}_"):
        return path.stem
    person, camera, stem = path.parent.parent.name, path.parent.name, path.stem
    stereo = _BREAKFAST_STEREO.match(stem)
    if camera == "stereo" and stereo:
        camera, stem = f"stereo0{int(stereo['channel']) + 1}", stereo["stem"]
    return f"{person}_{camera}_{stem}"


def find_videos(folder: str | Path, dataset: str, video_ids: Iterable[str] | None = None) -> dict[str, Path]:
    """Video files under ``folder`` (recursively), keyed by the dataset's video id.

    With ``video_ids``, only those are kept (files of other videos are ignored).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such video folder (run `pcmci-edu prepare` first)")
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            found.setdefault(video_id_from_path(path.relative_to(folder), dataset), path)
    if video_ids is not None:
        keep = set(video_ids)
        found = {video_id: path for video_id, path in found.items() if video_id in keep}
    return found


def config_dict(config: ExtractionConfig) -> dict:
    """The configuration as a plain dict (for logs and results files)."""
    return asdict(config)

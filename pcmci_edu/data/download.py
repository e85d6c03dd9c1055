"""Fetch the real datasets from their official sources: ``pcmci-edu prepare``.

Each dataset lists its *sources*: a file at an official URL (annotations, published
features, videos) or a step the user must do by hand because a licence or a host
requires it (COIN's videos live on YouTube; Breakfast's videos sit behind the
authors' page). :func:`prepare` downloads what can be downloaded and prints, exactly,
what is left to fetch by hand.

Every download is resumable, verified against a pinned sha256 where one is known
(``Source.sha256``, and ``Source.member_sha256`` for archive members) and atomic
(:mod:`pcmci_edu.data.transfer`); the hashes of everything downloaded are recorded in
``<dataset>/prepared.json``.

Where the pinned hashes come from: the sha256 values below are those of the copies
of the annotation files this project was tested with (``../shared/data``); no hash
is pinned for an archive we could not fetch ourselves (its hash is recorded on the
first download, so later copies can be compared).

The transfers themselves live in :mod:`pcmci_edu.data.transfer`, the offline miniatures
of the three datasets in :mod:`pcmci_edu.data.miniature`; both are importable from here too.

Tests never touch the internet: they serve files from ``127.0.0.1`` (``mirror=``) or
from a local folder (``local_dir=``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pcmci_edu.data.miniature import Miniature, make_miniature, sample_clips
from pcmci_edu.data.transfer import (CHUNK_SIZE, ChecksumError, DownloadError, _copy_local, download, sha256sum,
                                     unpack)
from pcmci_edu.files import atomic_write_text

__all__ = [
    "CHUNK_SIZE", "COMPONENTS", "DATASETS", "ChecksumError", "DatasetSources", "DownloadError",
    "LicenceNotAccepted", "Miniature", "PrepareReport", "Source", "download", "make_miniature", "prepare",
    "sample_clips", "sha256sum", "unpack", "write_coin_video_list",
]


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
                description=("CLIP ViT-B/32 frame features (one 512-d float16 vector per frame sampled every "
                             "2 s) that UniVTG publishes for COIN's videos; imported with `extract --from-features DIR --layout hero-clip` "
                             "instead of decoding the videos"),
                size="556 MB",
                manual=(
                    "UniVTG (Lin et al., ICCV 2023) publishes them on Google Drive: "
                    "https://github.com/showlab/UniVTG/blob/main/install.md, row COIN, column "
                    "'Video (CLIP B/32)' (https://drive.google.com/file/d/1csHu8D7V8NpLChA5Z-3cVmXwnyGApfnW/view). "
                    "Download the .tar by hand, unpack it (tar -xvf NAME.tar) and move the folder vid_clip/ "
                    "to {root}/coin/univtg/vid_clip/, then\n"
                    "    pcmci-edu extract coin --root {root} --from-features {root}/coin/univtg "
                    "--layout hero-clip\n"
                    "(the label texts then come from ViT-B-32-quickgelu with OpenAI weights, the tower of the "
                    "frames: open_clip downloads them, or pass a local file with --pretrained FILE). UniVTG's "
                    "'Video (Slowfast R50)' column (folder vid_slowfast/) imports the same way with "
                    "--layout hero-slowfast"
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
                description=("CLIP ViT-B/32 frame features (one 512-d float16 vector per frame sampled every "
                             "2 s) that UniVTG publishes for Charades-STA's videos (perhaps not all of Charades': the import reports the "
                             "coverage); imported with `extract --from-features DIR --layout hero-clip` instead "
                             "of decoding the videos"),
                size="305 MB",
                manual=(
                    "UniVTG (Lin et al., ICCV 2023) publishes them on Google Drive: "
                    "https://github.com/showlab/UniVTG/blob/main/install.md, row Charades-STA, column "
                    "'Video (CLIP B/32)' (https://drive.google.com/file/d/1JQGEz6jiizAccylBDZoMQQHMDwcQ7Nkv/view). "
                    "Download the .tar by hand, unpack it (tar -xvf NAME.tar) and move the folder vid_clip/ "
                    "to {root}/charades/univtg/vid_clip/, then\n"
                    "    pcmci-edu extract charades --root {root} --from-features {root}/charades/univtg "
                    "--layout hero-clip\n"
                    "(the label texts then come from ViT-B-32-quickgelu with OpenAI weights, the tower of the "
                    "frames: open_clip downloads them, or pass a local file with --pretrained FILE). UniVTG's "
                    "'Video (Slowfast R50)' column (folder vid_slowfast/) imports the same way with "
                    "--layout hero-slowfast"
                ),
            ),
        ),
    ),
}
"""The official sources of Breakfast, COIN and Charades."""


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
    atomic_write_text(path, "\n".join(lines) + "\n")
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

"""Resumable, checksummed transfers and safe unpacking, the machinery of ``pcmci-edu prepare``.

Every download is

- **resumable**: bytes go to ``<file>.part``; a later call asks the server for the
  rest with an HTTP ``Range`` header (and starts over when the server ignores it);
- **verified**: against a pinned sha256 where one is given, and archive members against
  pinned sha256s after unpacking;
- **atomic**: a file appears under its final name only when it is complete and
  verified (``os.replace`` from the ``.part`` file, or from a scratch folder for
  archive members).

Nothing here knows about a dataset: :mod:`pcmci_edu.data.download` says what to fetch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm.auto import tqdm

from pcmci_edu.files import atomic_write


CHUNK_SIZE = 1 << 20
"""Bytes read per network request (1 MiB)."""


class DownloadError(RuntimeError):
    """A download failed: the server refused it, or it ended before it was complete."""


class ChecksumError(RuntimeError):
    """A file's sha256 differs from the pinned one."""


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

"""Atomic file writes: readers see the old file or the new one, never half of one.

The new content goes to a temporary file with a unique name in the target's folder (so two
writers of one file never share a temporary), gets the mode an ordinary write would give it
(``0o666`` less the umask: readable by the other users of a shared store, where ``tempfile``
alone would leave ``0o600``), and is renamed over the target.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "note.json"
>>> atomic_json(path, {"epochs": 3})
>>> path.read_text()
'{\\n  "epochs": 3\\n}\\n'
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

LOCK_SUFFIX = ".lock"
TEMPORARY_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process's umask (from ``/proc`` where it can be read without changing it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Write ``path`` atomically: ``write(stream)`` fills a unique temporary file beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        if error.filename is None and error.errno is not None:  # a full disk says no file: name the one written
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def atomic_json(path: str | os.PathLike, payload: Any) -> None:
    """Write ``payload`` as indented JSON (no NaN: strict JSON) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def remove_stale_temporaries(folder: str | os.PathLike, names: list[str]) -> list[Path]:
    """Delete the temporaries that :func:`atomic_write` left beside ``folder/<name>`` for each of
    ``names`` when its process was killed before it could clean up. Call it only while holding
    the folder's :func:`folder_lock`, so that no live writer owns them. Returns the files deleted.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".model.pt.x1y2.tmp").write_bytes(b"half")
    >>> [path.name for path in remove_stale_temporaries(folder, ["model.pt"])]
    ['.model.pt.x1y2.tmp']
    """
    folder = Path(folder)
    stale = [path for name in names for path in folder.glob(f".{name}.*{TEMPORARY_SUFFIX}") if path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


class FolderBusyError(RuntimeError):
    """Another process holds a folder's :func:`folder_lock`."""


@contextmanager
def folder_lock(folder: str | os.PathLike, busy: str, error: type[FolderBusyError] = FolderBusyError) -> Iterator[None]:
    """Hold ``folder`` for one writer until the block ends.

    An advisory lock (``fcntl.flock``) on ``.<folder name>.lock`` beside the folder, so that a run
    refused before it writes leaves no folder. A second writer raises ``error(busy)``, where
    ``{holder}`` in ``busy`` is replaced by the process id of the holder; the system releases the
    lock when its process ends, even when killed. Where ``fcntl`` is missing the block runs unlocked.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.parent / f".{folder.name}{LOCK_SUFFIX}"
    with open(path, "a+") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise error(busy.replace("{holder}", handle.read().strip() or "unknown")) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)

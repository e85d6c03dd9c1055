"""A notebook execution cache keyed by what decides the chapters' outputs, and their run times.

Jupyter Book's cache (jupyter-cache, through myst-nb) matches a notebook by its code cells
only. Our chapters' outputs also depend on the run profile (``$PCMCI_PROFILE``, read by
:func:`pcmci_edu.resolve_profile`), on the code of the package they import, and on the real
data root (``$PCMCI_DATA_ROOT``): with one cache, ``PCMCI_PROFILE=smoke make book`` followed by
``make book`` would serve the smoke outputs, and an edit of ``pcmci_edu/`` would re-execute
nothing. So this extension gives every combination its own cache folder,

    <cache>/<profile>-<package fingerprint>[-data-<hash of the data root>]

where ``<cache>`` is ``execute.cache`` of ``_config.yml`` (default ``_build/.jupyter_cache``) and
the fingerprint is a SHA-256 of every file of the packages named in the Sphinx setting
``execution_cache_packages`` (default ``["pcmci_edu"]``). It sets ``nb_execution_cache_path``
when the configuration is read; myst-nb registers that setting as one that invalidates
Sphinx's environment, so a new key also makes Sphinx read every page again instead of serving
its own stored copy. Switching back to an earlier key finds its folder still there: the
:data:`KEEP_FOLDERS` most recently used folders are kept, older ones deleted.

When the build finishes, the extension prints each executed page's run time and the total
(``execution times`` in the log), whether it ran in this build or came from the cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
KEEP_FOLDERS = 6
"""How many keyed cache folders (profiles x code versions) are kept; older ones are deleted."""
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def package_fingerprint(roots: list[Path]) -> str:
    """SHA-256 over the relative paths and bytes of every file under ``roots`` (sorted),
    skipping ``__pycache__``, compiled files and hidden files."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if (not path.is_file() or path.suffix in {".pyc", ".pyo"}
                    or any(part in SKIPPED_PARTS or part.startswith(".") for part in relative.parts)):
                continue
            digest.update(f"{root.name}/{relative.as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def package_root(name: str) -> Path:
    """The folder of an importable package (without importing it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"execution_cache_packages names {name!r}, which is not an importable package")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_key(packages: list[str]) -> str:
    """``<profile>-<fingerprint>[-data-<hash>]`` for the current environment."""
    from pcmci_edu.profile import ENV_VARIABLE, resolve_profile

    try:
        profile = resolve_profile()
    except ValueError as error:
        raise ConfigError(f"${ENV_VARIABLE}: {error}") from None
    key = f"{profile}-{package_fingerprint([package_root(name) for name in packages])[:16]}"
    data_root = os.environ.get("PCMCI_DATA_ROOT", "").strip()
    if data_root:
        key += "-data-" + hashlib.sha256(str(Path(data_root).resolve()).encode()).hexdigest()[:8]
    return key


def _key_the_cache(app: Sphinx, config: Config) -> None:
    base = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    if not base.is_absolute():
        base = Path(app.confdir) / base
    folder = base / cache_key(list(config.execution_cache_packages))
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)                                   # "most recently used", for the pruning below
    for stale in sorted((path for path in base.iterdir() if path.is_dir()),
                        key=lambda path: path.stat().st_mtime, reverse=True)[KEEP_FOLDERS:]:
        shutil.rmtree(stale, ignore_errors=True)
    config.nb_execution_cache_path = str(folder)
    app.execution_cache_started = time.time()
    LOGGER.info(f"notebook execution cache for this profile and code: {folder}")


def execution_times(app: Sphinx) -> list[tuple[str, float, bool]]:
    """``(page, seconds, ran in this build)`` for every executed page, in document order."""
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_doc_data(app.env)
    order = {name: index for index, name in enumerate(_toc_order(app))}
    rows = []
    for name, values in data.items():
        result = values.get("exec_data")
        if result and result.get("runtime") is not None:
            ran_now = result.get("mtime", 0) >= getattr(app, "execution_cache_started", float("inf"))
            rows.append((name, float(result["runtime"]), ran_now))
    return sorted(rows, key=lambda row: (order.get(row[0], len(order)), row[0]))


def _toc_order(app: Sphinx) -> list[str]:
    """Page names in the table of contents' order (depth first)."""
    seen: list[str] = []

    def visit(name: str) -> None:
        if name not in seen:
            seen.append(name)
            for child in app.env.toctree_includes.get(name, []):
                visit(child)

    visit(app.config.root_doc)
    return seen


def _report_times(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None:
        return
    rows = execution_times(app)
    if not rows:
        return
    width = max(len(name) for name, _, _ in rows)
    lines = [f"execution times (s), cache {Path(app.config.nb_execution_cache_path).name}:"]
    lines += [f"  {name:<{width}}  {seconds:8.1f}  {'executed in this build' if now else 'from the cache'}"
              for name, seconds, now in rows]
    lines.append(f"  {'total':<{width}}  {sum(seconds for _, seconds, _ in rows):8.1f}  "
                 f"({sum(seconds for _, seconds, now in rows if now):.1f} executed in this build)")
    LOGGER.info("\n".join(lines))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("execution_cache_packages", ["pcmci_edu"], "env", [list])
    # after myst-nb's own config-inited handlers, before its builder-inited reads the setting
    app.connect("config-inited", _key_the_cache, priority=900)
    app.connect("build-finished", _report_times)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

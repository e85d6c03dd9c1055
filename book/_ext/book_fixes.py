"""Small Sphinx fixes that make the built book clean in a browser (see tests/test_browser.py).

- Drop exact duplicate ``<script>`` entries. With Sphinx 7.4, sphinx-thebe's inline
  ``const THEBE_JS_URL = ...`` script (and sphinx-togglebutton's inline script) is
  registered twice, once with filename ``None`` and once with ``""``, which every page
  reports as "Identifier 'THEBE_JS_URL' has already been declared".
- Give the theme a default colour mode. pydata-sphinx-theme's page template reads
  ``localStorage.mode || default_mode`` (an ``html_context`` value); Jupyter Book leaves
  ``default_mode`` empty, so a first visit logs "Got invalid theme mode". ``auto`` follows
  the reader's system setting.
- Launch buttons open the tagged release this book was built from: the theme's
  ``repository_branch`` becomes ``v<pcmci_edu.__version__>``, the tag the notebooks' first
  cell installs (one version, in ``pcmci_edu/__init__.py``).
- Exercises are numbered per chapter: "Exercise 7.2" is the second exercise of chapter 7
  (:func:`chapter_number` reads the chapter from the file name, ``notebooks/07_pcmci`` -> ``7``,
  ``notebooks/01b_causal_primer`` -> ``1b``). Sphinx numbers an enumerable node with one
  counter for the whole book unless the toctree is numbered (then every title would carry a
  second number), so sphinx-exercise's numbers ran on across chapters ("Exercise 22" opened
  chapter 7); :func:`_number_exercises_per_chapter` renumbers them after Sphinx has assigned them.
- The download button offers the executed notebook: after the build, each notebook's copy in
  ``_sources`` (the stored notebook, without outputs) is replaced by the executed one that
  myst-nb wrote to ``jupyter_execute``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config


def launch_branch() -> str:
    """The git tag the launch buttons open: ``v`` + the package version."""
    import pcmci_edu

    return f"v{pcmci_edu.__version__}"


def _launch_the_tagged_version(app: Sphinx, config: Config) -> None:
    config.html_theme_options = {**config.html_theme_options, "repository_branch": launch_branch()}


def _offer_executed_notebooks(app: Sphinx, exception: Exception | None) -> None:
    """Replace ``_sources/<page>.ipynb`` by the executed notebook, for the download button."""
    if exception is not None or app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute"
    for docname in app.env.found_docs:
        notebook = executed / f"{docname}.ipynb"
        target = Path(app.outdir) / "_sources" / f"{docname}.ipynb"
        if notebook.is_file() and target.is_file():
            shutil.copyfile(notebook, target)


def _script_key(script: Any) -> tuple[str, str]:
    # An inline script's filename is None or "" depending on how it was registered.
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename), repr(sorted(attributes.items()))


def _fix_page_context(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def chapter_number(docname: str) -> str | None:
    """The chapter a page is, from its file name: ``notebooks/07_pcmci`` -> ``"7"``,
    ``notebooks/01b_causal_primer`` -> ``"1b"``; ``None`` for a page that is not a chapter."""
    match = re.match(r"notebooks/0*(\d+[a-z]?)_", docname)
    return match.group(1) if match else None


def _number_exercises_per_chapter(app: Sphinx, env: Any) -> list[str]:
    """Replace the book-wide exercise numbers by ``(chapter, position in the chapter)``."""
    changed = []
    for docname, numbers in env.toc_fignumbers.items():
        exercises = numbers.get("exercise")
        chapter = chapter_number(docname)
        if not exercises or chapter is None:
            continue
        ordered = sorted(exercises, key=lambda label: exercises[label])
        renumbered = {label: (chapter, position) for position, label in enumerate(ordered, start=1)}
        if renumbered != exercises:
            numbers["exercise"] = renumbered
            changed.append(docname)
    return changed


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _fix_page_context, priority=900)
    app.connect("config-inited", _launch_the_tagged_version)
    app.connect("build-finished", _offer_executed_notebooks)
    app.connect("env-get-updated", _number_exercises_per_chapter, priority=900)  # after Sphinx numbers them
    return {"parallel_read_safe": True, "parallel_write_safe": True}

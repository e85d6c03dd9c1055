"""Small Sphinx fixes that make the built book clean in a browser (see tests/test_browser.py).

- Drop exact duplicate ``<script>`` entries. With Sphinx 7.4, sphinx-thebe's inline
  ``const THEBE_JS_URL = ...`` script (and sphinx-togglebutton's inline script) is
  registered twice, once with filename ``None`` and once with ``""``, which every page
  reports as "Identifier 'THEBE_JS_URL' has already been declared".
- Give the theme a default colour mode. pydata-sphinx-theme's page template reads
  ``localStorage.mode || default_mode`` (an ``html_context`` value); Jupyter Book leaves
  ``default_mode`` empty, so a first visit logs "Got invalid theme mode". ``auto`` follows
  the reader's system setting.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


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


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _fix_page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

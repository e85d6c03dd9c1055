"""The built book, opened page by page in a real browser (headless Chromium via Playwright).

The site in ``_build/html`` (or ``$PCMCI_BOOK_HTML``) is served on 127.0.0.1 by a thread
running ``http.server``; every HTML page is opened and the test fails on

- a page that does not load (HTTP status, navigation error);
- a JavaScript error: a console message of type ``error`` or an uncaught exception;
- a local resource that fails (script, style sheet, font, image: HTTP >= 400 or a network error);
- a request to another host: the book is self-contained (MathJax comes from the
  ``sphinx-mathjax-offline`` package, the widget manager from ``book/_static/vendor``), so a
  request that leaves the machine means a page depends on a CDN and breaks offline.
  Such requests are aborted and reported by host, never waited for;
- a broken internal link: an ``<a href>`` to a page of the site that does not exist, or to
  an anchor (``#id``) that the target page does not define;
- an image that did not load (``naturalWidth == 0``);
- unrendered math: TeX left in the text outside code (``$$``, ``\\(``, ``\\[``, ``\\begin``,
  ``\\frac`` ...), a math element MathJax did not typeset, or a MathJax error;
- a widget without saved state: an ipywidgets view in the HTML whose model has no entry in
  the page's embedded widget state, or a widget that did not render;
- solutions shown open: a ``{solution}`` with ``:class: dropdown`` whose body is visible
  before the reader clicks it (and a chapter page without one);
- content wider than the column, on chapters 1-9 (``notebooks/01*`` to ``notebooks/09*``, the
  primer included): a code cell's output, a displayed equation (``.math``) or a table that
  scrolls sideways (``scrollWidth > clientWidth``) or sticks out of the article, at the default
  1280 x 720 window. A reader on a laptop should never have to scroll a conclusion into view.

Three checks read the build without a browser: the API reference's module pages list every
public name of ``pcmci_edu`` (from ``objects.inv``), every chapter page has its Colab launch
link to the tagged version, and the download button gives the executed notebook.

When does it run?
- ``make test`` runs it when a build exists and is newer than the book's sources; it skips,
  with the reason, when Chromium or Playwright is absent, when there is no build, or when
  the build is stale (older than a notebook, a page, the configuration or the package).
- ``.ci/run`` runs it explicitly after ``make book`` with ``PCMCI_REQUIRE_BROWSER=1``, which
  turns every one of those skips into a failure.
"""

from __future__ import annotations

import functools
import http.server
import importlib
import inspect
import json
import os
import pkgutil
import posixpath
import re
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("PCMCI_BOOK_HTML") or REPO_ROOT / "_build" / "html")
REQUIRED = os.environ.get("PCMCI_REQUIRE_BROWSER", "") not in {"", "0"}
CHROMIUM = os.environ.get("PCMCI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# What a build is made from: a build older than any of these is stale.
SOURCES = ["_config.yml", "_toc.yml", "book", "notebooks", "pcmci_edu"]
PAGE_TIMEOUT_MS = 60_000
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# TeX that should never survive into the text a reader sees (code blocks excluded).
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\(?:frac|sum|mathbf|mathcal|mathrm|left|right|alpha|lambda)\b")


def _skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (PCMCI_REQUIRE_BROWSER is set, so this is a failure)")
    pytest.skip(reason)


def _newest_source() -> tuple[float, Path | None]:
    newest, newest_path = 0.0, None
    for name in SOURCES:
        root = REPO_ROOT / name
        paths = [root] if root.is_file() else root.rglob("*") if root.is_dir() else []
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
                mtime = path.stat().st_mtime
                if mtime > newest:
                    newest, newest_path = mtime, path
    return newest, newest_path


def _pages() -> list[str]:
    if not (SITE / "index.html").is_file():
        return []
    skipped = {"_static", "_sources", "_images", "_downloads"}
    return sorted(
        path.relative_to(SITE).as_posix() for path in SITE.rglob("*.html")
        if not skipped & set(path.relative_to(SITE).parts)
    )


PAGES = _pages()


class _AnchorsAndWidgets(HTMLParser):
    """The ids a page defines, and its widget views and widget state (from the HTML source)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: set[str] = set()
        self.view_models: list[str] = []
        self.state_models: set[str] = set()
        self._script_type: str | None = None
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for key in ("id", "name"):
            if attributes.get(key):
                self.anchors.add(attributes[key])
        if tag == "script" and attributes.get("type") in {WIDGET_VIEW, WIDGET_STATE}:
            self._script_type, self._script_text = attributes["type"], []

    def handle_data(self, data: str) -> None:
        if self._script_type:
            self._script_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script_type:
            body = json.loads("".join(self._script_text))
            if self._script_type == WIDGET_VIEW:
                self.view_models.append(body["model_id"])
            else:
                self.state_models.update(body.get("state", {}))
            self._script_type = None


@functools.lru_cache(maxsize=None)
def _parse(relative: str) -> _AnchorsAndWidgets:
    parser = _AnchorsAndWidgets()
    parser.feed((SITE / relative).read_text(encoding="utf-8"))
    return parser


def _site_path(url_path: str) -> Path:
    path = SITE / unquote(url_path).lstrip("/")
    return path / "index.html" if url_path.endswith("/") or path.is_dir() else path


@pytest.fixture(scope="module")
def site() -> Path:
    """The built site; skip (or fail, with PCMCI_REQUIRE_BROWSER) when absent or stale."""
    if not (SITE / "index.html").is_file():
        _skip_or_fail(f"no built book at {SITE}: run `make book` first")
    newest, newest_path = _newest_source()
    # Sphinx rewrites .buildinfo at the end of every build, even one that re-ran nothing.
    built = max((SITE / name).stat().st_mtime for name in ("index.html", ".buildinfo") if (SITE / name).exists())
    if "PCMCI_BOOK_HTML" not in os.environ and newest > built:
        _skip_or_fail(f"the build in {SITE} is older than {newest_path.relative_to(REPO_ROOT)}: "
                      "run `make book` again to test it")
    return SITE


@pytest.fixture(scope="module")
def server(site: Path):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the Python package playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _skip_or_fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set PCMCI_CHROMIUM)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def test_the_book_has_pages():
    if not PAGES:
        _skip_or_fail(f"no built book at {SITE}: run `make book` first")
    assert "index.html" in PAGES
    assert any(page.startswith("notebooks/") for page in PAGES), "no chapter page in the build"


def test_api_page_lists_every_public_name(site: Path):
    """Every public module and name of pcmci_edu has an entry on the API page (objects.inv).

    Public, as the page's generator defines it: a module's ``__all__``, else the functions and
    classes it defines. A name re-exported from another module is documented there.
    """
    from sphinx.util.inventory import InventoryFile

    import pcmci_edu

    with open(site / "objects.inv", "rb") as stream:
        inventory = InventoryFile.load(stream, "", posixpath.join)
    documented = {name: uri for kind, entries in inventory.items() if kind.startswith("py:")
                  for name, (_, _, uri, _) in entries.items()}
    modules = ["pcmci_edu"] + [info.name for info in pkgutil.walk_packages(pcmci_edu.__path__, "pcmci_edu.")
                               if not any(part.startswith("_") for part in info.name.split("."))]
    missing, elsewhere = [], []
    for module_name in modules:
        module = importlib.import_module(module_name)
        if module_name not in documented:
            missing.append(f"module {module_name}")
        names = list(getattr(module, "__all__", [
            name for name, value in vars(module).items() if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == module_name]))
        for name in names:
            value = getattr(module, name)
            if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ in modules:
                homes = [f"{value.__module__}.{value.__qualname__}"]
            else:  # a constant: documented here or in the module it is re-exported from
                homes = [f"{other}.{name}" for other in modules
                         if getattr(importlib.import_module(other), name, None) is value]
            found = [home for home in homes if home in documented]
            if not found:
                missing.append(f"{module_name}.{name}")
            elif not documented[found[0]].startswith("book/api/"):
                elsewhere.append(found[0])
    assert not missing, f"not in the API reference (book/api/<module>): {missing}"
    assert not elsewhere, f"documented outside the API reference's module pages: {elsewhere}"


def test_download_button_gives_the_executed_notebook(site: Path):
    """The download button's .ipynb (``_sources``) is the executed notebook, with outputs."""
    import json

    pages = sorted((site / "notebooks").glob("*.html"))
    assert pages, "no chapter page in the build"
    for page in pages:
        notebook = json.loads((site / "_sources" / "notebooks" / f"{page.stem}.ipynb").read_text())
        outputs = sum(len(cell.get("outputs", [])) for cell in notebook["cells"] if cell["cell_type"] == "code")
        assert outputs, f"_sources/notebooks/{page.stem}.ipynb has no outputs: the download gives the stored notebook"


def test_chapters_have_a_colab_button(site: Path):
    """Every chapter page links to Colab, opening that notebook from the book's repository at the
    tag of this version (the tag the notebook's first cell installs)."""
    import yaml

    import pcmci_edu

    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    repository = urlsplit(config["repository"]["url"]).path.strip("/")
    branch = f"v{pcmci_edu.__version__}"
    pages = sorted((site / "notebooks").glob("*.html"))
    assert pages, "no chapter page in the build"
    for page in pages:
        notebook = REPO_ROOT / "notebooks" / f"{page.stem}.ipynb"
        expected = f"https://colab.research.google.com/github/{repository}/blob/{branch}/notebooks/{notebook.name}"
        assert notebook.is_file(), f"{page.name} has no notebook {notebook.name}: stale build?"
        assert expected in page.read_text(encoding="utf-8"), f"{page.name}: no Colab launch link {expected}"


# JavaScript run in the page once it has loaded: waits for MathJax and the widget manager,
# then reports what a reader would see.
_INSPECT = """
async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  for (const img of document.images) { img.loading = "eager"; }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener("load", r); img.addEventListener("error", r); })));
  const views = document.querySelectorAll('script[type="%(view)s"]').length;
  for (let i = 0; i < 100 && views > 0 &&
       document.querySelectorAll(".jupyter-widgets.widget-inline-hbox, .jupyter-widgets.widget-box, .jupyter-widgets.widget-container, .jupyter-widgets").length === 0; i++) {
    await sleep(100);
  }
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, textarea, mjx-container, .highlight, .math-wrapper mjx-container")
       .forEach(e => e.remove());
  return {
    text: clone.textContent,
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    brokenImages: [...document.images].filter(img => !(img.complete && img.naturalWidth > 0))
                                     .map(img => img.currentSrc || img.src),
    mathElements: document.querySelectorAll(".math").length,
    untypesetMath: [...document.querySelectorAll(".math")].filter(e => !e.querySelector("mjx-container"))
                      .map(e => e.textContent.slice(0, 80)),
    mathErrors: [...document.querySelectorAll("mjx-merror, [data-mjx-error]")]
                      .map(e => e.getAttribute("data-mjx-error") || e.textContent.slice(0, 80)),
    mathjax: !!window.MathJax,
    dropdowns: document.querySelectorAll(".admonition.dropdown").length,
    openDropdowns: [...document.querySelectorAll(".admonition.dropdown")].filter(d =>
        [...d.children].some(c => !c.matches(".admonition-title, button") && c.offsetHeight > 0
                                  && getComputedStyle(c).visibility !== "hidden"))
        .map(d => (d.querySelector(".admonition-title") || d).textContent.slice(0, 60)),
    widgetViews: views,
    renderedWidgets: document.querySelectorAll(".jupyter-widgets").length,
    widgetErrors: [...document.querySelectorAll(".jupyter-widgets")].map(e => e.textContent)
                      .filter(t => /Error displaying widget|model not found/i.test(t)),
    overflowing: (() => {
      const article = document.querySelector("article.bd-article, main article, main") || document.body;
      const edge = article.getBoundingClientRect().right;
      const candidates = [
        ...[...document.querySelectorAll(".cell_output .output, .cell_output pre")].map(e => ["code output", e]),
        ...[...document.querySelectorAll("div.math")].map(e => ["equation", e]),   // display math
        ...[...document.querySelectorAll("table")].map(e => ["table", e]),
      ];
      return candidates
        .filter(([, e]) => e.offsetParent !== null)   // shown (not inside a closed dropdown)
        .filter(([, e]) => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > edge + 1)
        .map(([kind, e]) => `${kind} ${e.scrollWidth}px in ${e.clientWidth}px: ` +
                            e.textContent.replace(/\s+/g, " ").trim().slice(0, 70));
    })(),
  };
}
""" % {"view": WIDGET_VIEW}


@pytest.mark.parametrize("page_path", PAGES or ["(no build)"])
def test_page_in_browser(page_path: str, server: str, browser) -> None:
    if page_path == "(no build)":
        _skip_or_fail(f"no built book at {SITE}: run `make book` first")
    problems: list[str] = []
    external_hosts: set[str] = set()
    origin = urlsplit(server).netloc

    context = browser.new_context()
    page = context.new_page()

    def route(route_, request) -> None:
        host = urlsplit(request.url).netloc
        if urlsplit(request.url).scheme in {"http", "https"} and host != origin:
            external_hosts.add(host)
            route_.abort("blockedbyclient")
        else:
            route_.continue_()

    page.route("**/*", route)
    page.on("console", lambda message: message.type == "error" and "ERR_BLOCKED_BY_CLIENT" not in message.text
            and problems.append(f"console error: {message.text} ({message.location.get('url', '')})"))
    page.on("pageerror", lambda error: problems.append(f"uncaught JavaScript exception: {error}"))
    page.on("requestfailed", lambda request: urlsplit(request.url).netloc == origin
            and problems.append(f"request failed: {request.url} ({request.failure})"))
    page.on("response", lambda response: urlsplit(response.url).netloc == origin and response.status >= 400
            and problems.append(f"HTTP {response.status}: {response.url}"))
    try:
        response = page.goto(f"{server}/{page_path}", wait_until="load", timeout=PAGE_TIMEOUT_MS)
        assert response is not None and response.ok, f"{page_path} did not load: {response and response.status}"
        page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
        seen = page.evaluate(_INSPECT)
    finally:
        context.close()

    if external_hosts:
        problems.append(f"requests to other hosts (the book must work offline): {sorted(external_hosts)}")
    problems += [f"image did not load: {src}" for src in seen["brokenImages"]]

    # Math: no raw TeX in the reader's text, every math element typeset, no MathJax error.
    for match in list(RAW_TEX.finditer(seen["text"]))[:5]:
        start = max(match.start() - 40, 0)
        problems.append(f"unrendered math near: {seen['text'][start:match.end() + 40]!r}")
    if seen["mathElements"] and not seen["mathjax"]:
        problems.append(f"{seen['mathElements']} math elements but MathJax did not load")
    problems += [f"math not typeset: {text!r}" for text in seen["untypesetMath"][:5]]
    problems += [f"MathJax error: {text}" for text in seen["mathErrors"]]

    # Solutions: collapsed until the reader opens them; every chapter has some.
    problems += [f"dropdown shown open on load: {title!r}" for title in seen["openDropdowns"]]
    if page_path.startswith("notebooks/") and not seen["dropdowns"]:
        problems.append("chapter without a collapsed solution ({solution} with :class: dropdown)")

    # Layout: on chapters 1-9 nothing a reader must read scrolls sideways.
    if re.match(r"notebooks/0[1-9]", page_path):
        problems += [f"wider than the column: {text}" for text in seen["overflowing"][:10]]

    # Widgets: every view has saved state, and renders.
    source = _parse(page_path)
    missing = [model for model in source.view_models if model not in source.state_models]
    if missing:
        problems.append(f"{len(missing)} widget views without saved widget state (models {missing[:3]}): "
                        "the notebook's widget state was not stored when it was executed")
    if source.view_models and seen["renderedWidgets"] == 0:
        problems.append(f"{len(source.view_models)} widget views, none rendered by the widget manager")
    problems += [f"widget error: {text[:120]}" for text in seen["widgetErrors"]]

    # Internal links: the target exists and defines the anchor.
    for link in sorted(set(seen["links"])):
        parts = urlsplit(link)
        if parts.netloc != origin:
            continue
        target = _site_path(parts.path)
        if not target.is_file():
            problems.append(f"broken link: {link} (no {target.relative_to(SITE) if target.is_relative_to(SITE) else target})")
            continue
        _, fragment = urldefrag(link)
        fragment = unquote(fragment)
        if fragment and target.suffix == ".html":
            if fragment not in _parse(target.relative_to(SITE).as_posix()).anchors:
                problems.append(f"broken anchor: {link} ({target.relative_to(SITE)} has no id {fragment!r})")

    assert not problems, f"{page_path}:\n  " + "\n  ".join(problems)

"""The API reference's generator covers the whole package, checked without building the book.

``book/_ext/api_reference.py`` writes one page per public module (``book/api/<module>.rst``,
listed in ``_toc.yml`` by a glob) with an autosummary table and one autodoc entry per public
name (or, for a re-export, a link to where it is defined); ``book/api.md`` shows the module
table. Here the generator runs on the installed package; the built pages are checked from
``objects.inv`` in tests/test_browser.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import pcmci_edu

REPO_ROOT = Path(__file__).resolve().parents[1]


def _load_generator():
    spec = importlib.util.spec_from_file_location("api_reference", REPO_ROOT / "book" / "_ext" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = _load_generator()
MODULES = generator.package_modules("pcmci_edu")


def test_api_page_uses_the_generator_and_is_in_the_toc():
    assert ".. package-modules:: pcmci_edu" in (REPO_ROOT / "book" / "api.md").read_text()
    toc = (REPO_ROOT / "_toc.yml").read_text()
    assert re.search(r"^\s*- file: book/api\s*$", toc, re.MULTILINE)
    assert re.search(r"^\s*- glob: book/api/\*", toc, re.MULTILINE), "the module pages are listed by a glob"


def test_one_page_per_module_written_and_stale_pages_removed(tmp_path: Path):
    folder = tmp_path / "api"
    folder.mkdir()
    (folder / "pcmci_edu.gone.rst").write_text(generator.GENERATED + "\n\nold\n")
    (folder / "notes.rst").write_text("not generated: kept\n")
    generator.write_module_pages("pcmci_edu", folder)
    assert sorted(path.stem for path in folder.glob("pcmci_edu*.rst")) == MODULES
    assert (folder / "notes.rst").exists()
    page = (folder / "pcmci_edu.profile.rst").read_text()
    assert ".. automodule:: pcmci_edu.profile" in page and ".. autosummary::" in page
    assert re.search(r"^   resolve_profile$", page, re.MULTILINE), "the autosummary table lists the module's names"
    assert ".. autofunction:: pcmci_edu.profile.resolve_profile" in page
    package = (folder / "pcmci_edu.data.rst").read_text()
    assert re.search(r"^   breakfast$", package, re.MULTILINE), "a package's page lists its modules"


def test_every_public_module_is_found():
    expected = ["pcmci_edu"] + [
        info.name for info in pkgutil.walk_packages(pcmci_edu.__path__, "pcmci_edu.")
        if not any(part.startswith("_") for part in info.name.split("."))]
    assert sorted(expected) == MODULES
    assert {"pcmci_edu.profile", "pcmci_edu.system", "pcmci_edu.cli"} <= set(MODULES)
    assert {"pcmci_edu.experiments.runs", "pcmci_edu.experiments.statistics", "pcmci_edu.experiments.chapter7",
            "pcmci_edu.scm.graph", "pcmci_edu.scm.identification", "pcmci_edu.scm.evidence"} <= set(MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_generated_section_names_every_public_name(module_name: str):
    rst = "\n".join(generator.module_rst(module_name, MODULES))
    assert f".. automodule:: {module_name}" in rst
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None) or [
        name for name, value in vars(module).items() if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == module_name]
    for name in names:
        entry = re.compile(rf"^\.\. (auto|py:)?(function|class|data)::\s+({re.escape(module_name)}\.)?{re.escape(name)}$"
                           rf"|^- ``{re.escape(module_name)}\.{re.escape(name)}``: :py:obj:`", re.MULTILINE)
        assert entry.search(rst), f"{module_name}.{name} has no entry in the generated API section"


def test_reexports_point_to_where_names_are_defined():
    rst = "\n".join(generator.module_rst("pcmci_edu", MODULES))
    assert "- ``pcmci_edu.pick``: :py:obj:`pcmci_edu.profile.pick`" in rst
    assert ".. autofunction:: pcmci_edu.pick" not in rst, "a re-export must not be documented twice"
    profile_rst = "\n".join(generator.module_rst("pcmci_edu.profile", MODULES))
    assert ".. autofunction:: pcmci_edu.profile.pick" in profile_rst
    assert ".. autodata:: pcmci_edu.profile.PROFILES" in profile_rst

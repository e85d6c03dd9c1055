"""Every chapter opens in Colab: its first code cell installs pcmci_edu at the book's version.

The canonical cell is the first code cell of ``notebooks/00_setup.ipynb``; every notebook starts
with a verbatim copy. Its ``BOOK_VERSION`` is ``pcmci_edu.__version__`` (the one place the version
lives), its default install target is this package at tag ``v<version>`` of the repository in
``_config.yml``, and the book's launch buttons open the same tag (``book/_ext/book_fixes.py`` sets
it from the package version). What the cell does against a real wheel (install when missing,
reinstall on a version mismatch and ask for a restart, one clear message when pip fails) is tested
in tests/test_install.py.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

import pcmci_edu

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
SETUP = REPO_ROOT / "notebooks" / "00_setup.ipynb"


def first_code_cell(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    return code[0].source.strip()


CANONICAL = first_code_cell(SETUP)


def cell_constant(name: str) -> str:
    """The value of a top-level string assignment in the cell."""
    for node in ast.parse(CANONICAL).body:
        if isinstance(node, ast.Assign) and [target.id for target in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"the Colab cell assigns no {name}")


def default_target() -> str:
    """The cell's default install target, with BOOK_VERSION filled in."""
    strings = [node for node in ast.walk(ast.parse(CANONICAL)) if isinstance(node, ast.JoinedStr)
               and any(isinstance(part, ast.Constant) and "git+" in str(part.value) for part in node.values)]
    assert len(strings) == 1, "expected one f-string install target with a git URL in the Colab cell"
    return "".join(part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
                   for part in strings[0].values).replace("{BOOK_VERSION}", cell_constant("BOOK_VERSION"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_first_code_cell_is_the_colab_cell(path: Path):
    assert first_code_cell(path) == CANONICAL, (
        f"{path.name}: the first code cell must be the Colab install cell, copied verbatim from "
        f"notebooks/00_setup.ipynb:\n{CANONICAL}")


def test_the_cell_names_the_package_version():
    assert cell_constant("BOOK_VERSION") == pcmci_edu.__version__, (
        f"the Colab cell's BOOK_VERSION is {cell_constant('BOOK_VERSION')}, the package is "
        f"{pcmci_edu.__version__}: update BOOK_VERSION in every notebook's first cell")


def test_install_target_is_this_package_at_the_tagged_version():
    match = re.fullmatch(r"(?P<name>[\w.-]+)\[notebooks\] @ git\+(?P<url>https://\S+?)@v(?P<version>\S+)",
                         default_target())
    assert match, f"install target {default_target()!r} is not 'name[notebooks] @ git+https://...@v<version>'"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert match["name"] == project["name"] and "notebooks" in project["optional-dependencies"]
    assert match["version"] == pcmci_edu.__version__
    assert match["url"].rstrip("/") == config["repository"]["url"].rstrip("/"), (
        f"the cell installs from {match['url']}, _config.yml's repository (the launch buttons) is "
        f"{config['repository']['url']}")


def test_launch_buttons_open_the_same_tag():
    spec = importlib.util.spec_from_file_location("book_fixes", REPO_ROOT / "book" / "_ext" / "book_fixes.py")
    book_fixes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book_fixes)
    assert book_fixes.launch_branch() == f"v{cell_constant('BOOK_VERSION')}"
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"].startswith("https://github.com/"), "Colab opens notebooks from GitHub"
    assert "book_fixes" in config["sphinx"]["local_extensions"]


def test_the_cell_says_how_to_get_a_gpu_and_chapter_9_asks_for_one():
    assert "GPU" in CANONICAL and "Change runtime type" in CANONICAL
    metadata = nbformat.read(REPO_ROOT / "notebooks" / "09_full_runs.ipynb", as_version=4).metadata
    assert metadata.get("accelerator") == "GPU" and metadata.get("colab", {}).get("gpuType"), (
        "chapter 9 must ask Colab for a GPU in its notebook metadata")


def test_the_readme_installs_the_same_tag():
    readme = (REPO_ROOT / "README.md").read_text()
    tags = set(re.findall(r"pcmci_edu\[notebooks\] @ git\+\S+@v([\w.]+)", readme))
    assert tags == {pcmci_edu.__version__}, f"README's pip install line names tag(s) {tags}"

"""Every chapter opens in Colab: its first code cell installs pcmci_edu, pinned to this version.

The canonical cell is the first code cell of ``notebooks/00_setup.ipynb``; every notebook
starts with a verbatim copy. The install target it names must be this package at this
version (``<name> @ git+<repository>@v<version>``, with the name from ``pyproject.toml``,
the version from ``pcmci_edu.__version__`` and the repository from ``_config.yml``, which
also drives the book's "Open in Colab" buttons), and the cell must say how to switch the
Colab runtime to a GPU.
"""

from __future__ import annotations

import ast
import builtins
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

import pcmci_edu

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
SETUP = REPO_ROOT / "notebooks" / "00_setup.ipynb"
TARGET = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+) @ git\+(?P<url>https://\S+?)(?:\.git)?@v(?P<version>\S+)$")


def first_code_cell(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    return code[0].source.strip()


def install_targets(source: str) -> list[str]:
    """The string constants in the cell that look like a pip requirement with a git URL."""
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and " @ git+" in node.value]


CANONICAL = first_code_cell(SETUP)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_first_code_cell_is_the_colab_cell(path: Path):
    assert first_code_cell(path) == CANONICAL, (
        f"{path.name}: the first code cell must be the Colab install cell, copied verbatim from "
        f"notebooks/00_setup.ipynb:\n{CANONICAL}")


def test_install_target_is_this_package_at_this_version():
    targets = install_targets(CANONICAL)
    assert len(targets) == 1, f"expected one 'name @ git+URL@vVERSION' target in the Colab cell, found {targets}"
    match = TARGET.match(targets[0])
    assert match, f"install target {targets[0]!r} is not of the form 'name @ git+https://...@v<version>'"

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert match["name"] == project["name"], f"the cell installs {match['name']!r}, pyproject.toml names {project['name']!r}"
    assert match["version"] == pcmci_edu.__version__, (
        f"the cell pins tag v{match['version']}, the package is version {pcmci_edu.__version__}: "
        "update the cell in every notebook when the version changes")
    assert match["url"].rstrip("/") == config["repository"]["url"].rstrip("/"), (
        f"the cell installs from {match['url']}, _config.yml's repository (the launch buttons) is "
        f"{config['repository']['url']}")


def test_the_cell_says_how_to_get_a_gpu():
    assert "GPU" in CANONICAL and "Change runtime type" in CANONICAL, (
        "the Colab cell must say how to switch to a GPU runtime (Runtime > Change runtime type > GPU)")


def test_colab_launch_buttons_are_configured():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"].startswith("https://github.com/"), "Colab opens notebooks from GitHub"
    assert config["repository"].get("branch"), "the launch buttons need the repository branch"


def _run_cell(monkeypatch, importable: bool) -> list[list[str]]:
    """Execute the cell with ``import pcmci_edu`` failing (or not) and pip recorded, not run."""
    calls: list[list[str]] = []
    attempts = {"pcmci_edu": 0}
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "pcmci_edu":
            attempts["pcmci_edu"] += 1
            if not importable and attempts["pcmci_edu"] == 1:
                raise ImportError("No module named 'pcmci_edu'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(subprocess, "check_call", lambda command, *a, **k: calls.append(list(command)) or 0)
    namespace: dict = {}
    exec(compile(CANONICAL, "colab-cell", "exec"), namespace)
    assert namespace["pcmci_edu"] is pcmci_edu, "after the cell, pcmci_edu must be imported"
    return calls


def test_the_cell_installs_only_when_the_package_is_missing(monkeypatch):
    assert _run_cell(monkeypatch, importable=True) == [], "pip must not run when pcmci_edu is importable"
    calls = _run_cell(monkeypatch, importable=False)
    assert len(calls) == 1, f"expected one pip call, got {calls}"
    command = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"], command
    assert install_targets(CANONICAL)[0] in command

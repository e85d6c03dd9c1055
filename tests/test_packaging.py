"""pyproject.toml and environment.yml must name the same packages with the same ranges."""

from __future__ import annotations

import re
from pathlib import Path
import tomllib

import yaml
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[1]

# conda-forge spells a few packages differently from PyPI.
CONDA_TO_PYPI = {"pytorch": "torch", "open-clip-torch": "open_clip_torch"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        lines += [item for item in items if not item.startswith("pcmci_edu")]
    requirements = [Requirement(line) for line in lines]
    return {_normalise(r.name): str(r.specifier) for r in requirements}


def environment_requirements() -> dict[str, str]:
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for entry in environment["dependencies"]:
        items = entry["pip"] if isinstance(entry, dict) else [entry]
        for item in items:
            if item.startswith("-e") or item in {"pip"} or item.startswith("python"):
                continue
            requirement = Requirement(item)
            name = CONDA_TO_PYPI.get(requirement.name, requirement.name)
            found[_normalise(name)] = str(requirement.specifier)
    return found


def test_environment_and_pyproject_agree():
    pyproject, environment = pyproject_requirements(), environment_requirements()
    assert sorted(pyproject) == sorted(environment), (
        f"only in pyproject.toml: {sorted(set(pyproject) - set(environment))}; "
        f"only in environment.yml: {sorted(set(environment) - set(pyproject))}"
    )
    differing = {name: (pyproject[name], environment[name]) for name in pyproject if pyproject[name] != environment[name]}
    assert not differing, f"ranges differ (pyproject, environment): {differing}"


def test_named_dependencies_are_declared():
    declared = pyproject_requirements()
    for name in ["jupyter-book", "torch", "pot", "dowhy", "networkx", "open-clip-torch", "matplotlib", "ipywidgets"]:
        assert name in declared, name
    assert declared["jupyter-book"] == "<2,>=1.0.4"

"""pyproject.toml tells the truth, and environment.yml names the same packages with the same ranges."""

from __future__ import annotations

import re
from pathlib import Path
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

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
            if item.startswith("-e") or item == "pip" or Requirement(item).name == "python":
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


def _project() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def test_python_versions_agree():
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    python = [Requirement(item) for item in environment["dependencies"]
              if isinstance(item, str) and Requirement(item).name == "python"]
    assert [str(r.specifier) for r in python] == [_project()["requires-python"]], (
        "environment.yml's python range must be pyproject.toml's requires-python")


def test_requires_python_matches_the_code():
    """The package reads TOML with the standard library's tomllib, new in Python 3.11."""
    uses_tomllib = any("import tomllib" in path.read_text() for path in (REPO_ROOT / "pcmci_edu").rglob("*.py"))
    if uses_tomllib:
        assert "3.10" not in SpecifierSet(_project()["requires-python"]), "tomllib needs Python 3.11"


def test_dowhy_lower_bounds_are_installable():
    """dowhy 0.14 (our lower bound) itself requires numpy > 2.0 and networkx >= 3.3: our lower
    bounds must not promise versions it refuses."""
    from packaging.version import Version

    declared = {name: SpecifierSet(spec) for name, spec in pyproject_requirements().items()}
    assert Version("2.0.0") not in declared["numpy"] and Version("2.0.1") in declared["numpy"]
    assert Version("3.2.1") not in declared["networkx"] and Version("3.3") in declared["networkx"]
    assert "scipy" in declared and "statsmodels" in declared, "scipy.stats and statsmodels are imported directly"


def test_licence_is_an_spdx_expression_and_urls_are_given():
    project = _project()
    assert project["license"] == "MIT", "PEP 639: license is an SPDX expression string"
    assert (REPO_ROOT / "LICENSE").is_file() and "LICENSE" in project["license-files"]
    assert project["urls"]["Repository"].startswith("https://github.com/")


def test_run_configurations_are_package_data():
    configs = sorted(path.name for path in (REPO_ROOT / "pcmci_edu" / "configs").glob("*.toml"))
    assert configs == ["breakfast.toml", "charades.toml", "coin.toml"]
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "configs/*.toml" in setuptools["package-data"]["pcmci_edu"]

"""Issue 23: an exact lock of the environment, ``requirements-lock.txt``, written by ``make lock`` and
usable by the install (``pip install -r requirements-lock.txt -e ".[all]"``, ``make LOCKED=1 test``)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = REPO_ROOT / "requirements-lock.txt"


def _pins() -> dict[str, Version]:
    pins = {}
    for number, line in enumerate(LOCK.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        assert match, f"{LOCK.name}:{number}: {line!r} is not an exact pin (name==version)"
        pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def test_the_lock_pins_every_dependency_within_pyproject_ranges():
    pins = _pins()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += [item for item in extra if not item.startswith("pcmci_edu")]
    assert "pcmci-edu" not in pins  # the package itself is installed from the checkout (-e .)
    for text in wanted:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} (pyproject.toml) is not pinned in {LOCK.name}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {requirement.name}=={pins[name]}, outside pyproject.toml's {requirement}: run make lock")


def test_make_lock_writes_it_and_the_install_can_use_it():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^lock: \$\(STAMP\)\n(\t.*\n)*\t.*pip freeze --exclude-editable", makefile, re.MULTILINE)
    assert "$(if $(LOCKED),-r $(LOCK))" in makefile and "LOCK   := requirements-lock.txt" in makefile
    assert "make lock" in LOCK.read_text().splitlines()[0]
    readme = (REPO_ROOT / "README.md").read_text()
    assert 'pip install -r requirements-lock.txt -e ".[all]"' in readme and "make LOCKED=1 test" in readme

"""The book's execution cache is keyed by the profile and by the package's code
(book/_ext/execution_cache.py): a tiny book built in two profiles, then after a package edit,
shows each build's own outputs, and a rebuild with nothing changed reuses the cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
sys.path.insert(0, str(REPO_ROOT / "book" / "_ext"))
from execution_cache import package_fingerprint  # noqa: E402


def _write_book(root: Path) -> None:
    (root / "_config.yml").write_text(
        "title: tiny\n"
        "execute:\n  execute_notebooks: cache\n"
        "sphinx:\n"
        f"  local_extensions:\n    execution_cache: {REPO_ROOT / 'book' / '_ext'}\n"
        "  config:\n    execution_cache_packages: [tinypkg]\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: chapter\n")
    (root / "tinypkg").mkdir()
    (root / "tinypkg" / "__init__.py").write_text("VALUE = 1\n")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Chapter"),
        nbformat.v4.new_code_cell("import tinypkg\nfrom pcmci_edu import resolve_profile\n"
                                  "print(f'profile={resolve_profile()} value={tinypkg.VALUE}')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, root / "chapter.ipynb")


def _build(root: Path, profile: str | None) -> tuple[str, str]:
    """Build the tiny book; return the chapter's HTML and the build log."""
    env = {key: value for key, value in os.environ.items() if key not in {"PCMCI_PROFILE", "PCMCI_DATA_ROOT"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    if profile is not None:
        env["PCMCI_PROFILE"] = profile
    result = subprocess.run([str(JUPYTER_BOOK), "build", str(root), "-W", "-n", "--keep-going"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return (root / "_build" / "html" / "chapter.html").read_text(), result.stdout


@pytest.mark.skipif(not JUPYTER_BOOK.exists(), reason="jupyter-book is not installed in this environment")
def test_a_profile_or_package_change_re_executes_and_a_rebuild_reuses(tmp_path: Path) -> None:
    _write_book(tmp_path)
    html, _ = _build(tmp_path, "smoke")
    assert "profile=smoke value=1" in html

    html, log = _build(tmp_path, None)             # the default profile: not the smoke outputs
    assert "profile=book value=1" in html and "profile=smoke" not in html
    assert "executed in this build" in log

    (tmp_path / "tinypkg" / "__init__.py").write_text("VALUE = 2\n")
    html, _ = _build(tmp_path, None)               # the package changed: executed again
    assert "profile=book value=2" in html

    html, log = _build(tmp_path, None)             # nothing changed: the cache serves it
    assert "profile=book value=2" in html
    assert "from the cache" in log and "execution times" in log
    folders = sorted(path.name for path in (tmp_path / "_build" / ".jupyter_cache").iterdir())
    assert len(folders) == 3 and {name.split("-")[0] for name in folders} == {"smoke", "book"}


def test_fingerprint_follows_the_package_files_only(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    first = package_fingerprint([package])
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"compiled")
    assert package_fingerprint([package]) == first
    (package / "a.py").write_text("x = 2\n")
    assert package_fingerprint([package]) != first

"""Every chapter ends with exercises and their solutions in a collapsed block.

Convention (CONTRACTS.md, notebook rule 7): a markdown heading "Exercises", at least one
exercise below it, then a MyST admonition with ``:class: dropdown`` (rendered collapsed by
sphinx-togglebutton) whose title names the solutions::

    ```{admonition} Solutions
    :class: dropdown
    1. ...
    ```
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

EXERCISES_HEADING = re.compile(r"^#{2,4}\s+Exercises\b.*$", re.MULTILINE)
# ```{admonition} Title / :::{admonition} Title, its options, its body, the closing fence.
ADMONITION = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{admonition\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL)
LIST_ITEM = re.compile(r"^\s{0,3}(?:\d+[.)]|[-*+])\s+\S", re.MULTILINE)


def chapter_markdown(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks (notebooks/NN_*.ipynb)"


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_has_exercises_and_collapsed_solutions(path: Path):
    text = chapter_markdown(path)
    heading = EXERCISES_HEADING.search(text)
    assert heading, f"{path.name}: no markdown heading '## Exercises'"
    after = text[heading.end():]

    dropdowns = [m for m in ADMONITION.finditer(after)
                 if re.search(r"^:class:.*\bdropdown\b", m["body"], re.MULTILINE)]
    solutions = [m for m in dropdowns if re.search(r"solution", m["title"], re.IGNORECASE)]
    assert solutions, (f"{path.name}: after '## Exercises', no collapsed solutions block "
                       "(```{admonition} Solutions + :class: dropdown)")

    exercises = after[:solutions[0].start()]
    assert LIST_ITEM.search(exercises), f"{path.name}: no exercise (a list item) between the heading and the solutions"
    body = "\n".join(line for line in solutions[0]["body"].splitlines() if not line.startswith(":"))
    assert len(body.strip()) >= 20, f"{path.name}: the solutions block is empty"

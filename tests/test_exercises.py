"""Every chapter ends with exercises in sphinx-exercise's directives, each with its solution.

Convention: a markdown heading "## Exercises", then for each exercise::

    ````{exercise}
    :label: ex-chNN-K
    ...
    ````

    ````{solution} ex-chNN-K
    :class: dropdown
    ...
    ````

sphinx-exercise numbers the exercises, makes each label referenceable
(``{ref}`ex-ch03-1```), renders each solution collapsed (``:class: dropdown``), and drops every
solution from a build with ``hide_solutions: true`` (``_config.yml``), for a students' edition.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))  # 01b_causal_primer too

EXERCISES_HEADING = re.compile(r"^#{2,4}\s+Exercises\b.*$", re.MULTILINE)
DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>exercise|solution)\}[ \t]*(?P<argument>[^\n]*)\n"
                       r"(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$", re.MULTILINE)


def chapter_markdown(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def directives(text: str) -> list[dict]:
    found = []
    for match in DIRECTIVE.finditer(text):
        options = {m["key"]: m["value"].strip() for m in OPTION.finditer(match["body"])}
        content = "\n".join(line for line in match["body"].splitlines() if not OPTION.match(line)).strip()
        found.append({"name": match["name"], "argument": match["argument"].strip(), "options": options,
                      "content": content})
    return found


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks (notebooks/NN_*.ipynb)"


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_has_labelled_exercises_each_with_a_collapsed_solution(path: Path):
    text = chapter_markdown(path)
    heading = EXERCISES_HEADING.search(text)
    assert heading, f"{path.name}: no markdown heading '## Exercises'"
    assert "{admonition} Solutions" not in text, f"{path.name}: solutions as an ad-hoc admonition; use {{solution}}"
    found = directives(text[heading.end():])
    exercises = [d for d in found if d["name"] == "exercise"]
    solutions = {d["argument"]: d for d in found if d["name"] == "solution"}
    assert exercises, f"{path.name}: no {{exercise}} after '## Exercises'"
    for exercise in exercises:
        label = exercise["options"].get("label")
        assert label and re.fullmatch(r"ex-ch\d\d[a-z]?-\d+", label), f"{path.name}: exercise without an ex-chNN-K label"
        assert len(exercise["content"]) >= 20, f"{path.name}: {label} is empty"
        assert label in solutions, f"{path.name}: {label} has no {{solution}} {label}"
        assert "dropdown" in solutions[label]["options"].get("class", ""), f"{path.name}: {label}'s solution is not collapsed"
        assert len(solutions[label]["content"]) >= 20, f"{path.name}: the solution of {label} is empty"
    assert set(solutions) == {exercise["options"]["label"] for exercise in exercises}, (
        f"{path.name}: a solution refers to no exercise of this chapter")


def test_labels_are_unique_across_the_book():
    labels = Counter(d["options"].get("label") for path in CHAPTERS for d in directives(chapter_markdown(path))
                     if d["name"] == "exercise")
    assert not [label for label, count in labels.items() if count > 1], labels


def test_the_book_loads_sphinx_exercise_and_its_option_decides_on_solutions():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    assert config["sphinx"]["config"]["hide_solutions"] is False, "the published book shows (collapsed) solutions"
    book = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["book"]
    assert any(requirement.startswith("sphinx-exercise") for requirement in book)


def test_exercises_are_numbered_per_chapter():
    """book_fixes renumbers sphinx-exercise's book-wide counter per chapter: "Exercise 7.2"."""
    spec = importlib.util.spec_from_file_location("book_fixes", REPO_ROOT / "book" / "_ext" / "book_fixes.py")
    book_fixes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book_fixes)
    assert book_fixes.chapter_number("notebooks/07_pcmci") == "7"
    assert book_fixes.chapter_number("notebooks/01b_causal_primer") == "1b"
    assert book_fixes.chapter_number("book/intro") is None

    class Env:
        toc_fignumbers = {
            "notebooks/06_ivc": {"exercise": {"ex-ch06-1": (19,), "ex-ch06-2": (20,)}, "figure": {"f": (3,)}},
            "notebooks/07_pcmci": {"exercise": {"ex-ch07-2": (23,), "ex-ch07-1": (22,)}},
            "book/intro": {},
        }

    env = Env()
    changed = book_fixes._number_exercises_per_chapter(None, env)
    assert sorted(changed) == ["notebooks/06_ivc", "notebooks/07_pcmci"]
    assert env.toc_fignumbers["notebooks/07_pcmci"]["exercise"] == {"ex-ch07-1": ("7", 1), "ex-ch07-2": ("7", 2)}
    assert env.toc_fignumbers["notebooks/06_ivc"]["figure"] == {"f": (3,)}  # other numbers untouched
    assert book_fixes._number_exercises_per_chapter(None, env) == []  # idempotent

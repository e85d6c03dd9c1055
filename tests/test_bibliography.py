"""Citations resolve: every key cited in a chapter or page is an entry of book/references.bib,
and every entry has what the bibliography page shows (authors, title, year, venue)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from pybtex.database import parse_file

REPO_ROOT = Path(__file__).resolve().parents[1]
BIB = REPO_ROOT / "book" / "references.bib"
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
VENUE_FIELDS = {"booktitle", "journal", "publisher", "howpublished", "url", "school", "institution"}


def _sources() -> dict[str, str]:
    texts = {path.relative_to(REPO_ROOT).as_posix(): path.read_text(encoding="utf-8")
             for path in sorted((REPO_ROOT / "book").glob("*.md"))}
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        texts[path.relative_to(REPO_ROOT).as_posix()] = "\n".join(
            cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    return texts


ENTRIES = parse_file(str(BIB), bib_format="bibtex").entries


def test_every_cited_key_is_in_the_bib_file():
    missing = {}
    for source, text in _sources().items():
        for group in CITE.findall(text):
            for key in (key.strip() for key in group.split(",")):
                if key not in ENTRIES:
                    missing.setdefault(source, []).append(key)
    assert not missing, f"cited but not in book/references.bib: {missing}"


def test_the_book_cites_the_paper():
    assert any("xu2026pcmci" in text for text in _sources().values())


@pytest.mark.parametrize("key", sorted(ENTRIES))
def test_entry_is_complete(key: str):
    entry = ENTRIES[key]
    assert entry.persons.get("author") or entry.persons.get("editor"), f"{key}: no author"
    assert entry.fields.get("title"), f"{key}: no title"
    assert re.fullmatch(r"\d{4}", entry.fields.get("year", "")), f"{key}: year must be four digits"
    assert VENUE_FIELDS & {field.lower() for field in entry.fields}, f"{key}: no venue (booktitle, journal, publisher, url)"

import pytest

import pcmci_edu
from pcmci_edu.profile import pick, resolve_profile


def test_explicit_profile_wins_over_environment(monkeypatch):
    monkeypatch.setenv("PCMCI_PROFILE", "full")
    assert resolve_profile("smoke") == "smoke"


def test_environment_sets_the_default(monkeypatch):
    monkeypatch.setenv("PCMCI_PROFILE", "smoke")
    assert resolve_profile(None) == "smoke"


def test_book_is_the_default(monkeypatch):
    monkeypatch.delenv("PCMCI_PROFILE", raising=False)
    assert resolve_profile(None) == "book"


def test_unknown_profile_names_its_source(monkeypatch):
    monkeypatch.setenv("PCMCI_PROFILE", "huge")
    with pytest.raises(ValueError, match=r"\$PCMCI_PROFILE.*smoke, book, full"):
        resolve_profile(None)
    with pytest.raises(ValueError, match="PROFILE parameter"):
        resolve_profile("tiny")


def test_pick_by_profile():
    assert pick("smoke", smoke=1, book=2, full=3) == 1
    assert pick("full", smoke=1, book=2, full=3) == 3


def test_version_is_exposed():
    assert pcmci_edu.__version__.count(".") == 2

"""Label ids -> phrases."""

import pytest

from pcmci_edu.data.labels import (
    BREAKFAST_ACTIONS,
    action_phrase,
    activity_phrase,
    split_identifier,
    task_phrase,
)


@pytest.mark.parametrize(
    "identifier, phrase",
    [
        ("pour_egg2pan", "pour egg to pan"),
        ("add_saltnpepper", "add salt and pepper"),
        ("put_toppingOnTop", "put topping on top"),
        ("put_bunTogether", "put bun together"),
        ("stirfry_egg", "stir fry egg"),
        ("put_pancake2plate", "put pancake to plate"),
        ("take_eggs", "take eggs"),
        ("SIL", "background"),
    ],
)
def test_breakfast_action_phrases(identifier, phrase):
    assert action_phrase(identifier) == phrase


@pytest.mark.parametrize(
    "identifier, phrase",
    [
        ("scrambledegg", "make scrambled egg"),
        ("friedegg", "make fried egg"),
        ("scrambled egg", "make scrambled egg"),
        ("salat", "make salad"),
        ("cereals", "make cereals"),
        ("cereal", "make cereals"),
    ],
)
def test_breakfast_activity_phrases(identifier, phrase):
    assert activity_phrase(identifier) == phrase


def test_every_breakfast_action_becomes_plain_lowercase_words():
    for name in BREAKFAST_ACTIONS:
        words = split_identifier(name) if name != "SIL" else ["background"]
        assert all(w.isalpha() and w.islower() for w in words), name
    assert len(set(map(action_phrase, BREAKFAST_ACTIONS))) == 48


def test_task_phrase_keeps_acronyms():
    assert task_phrase("ReplaceCDDriveWithSSD") == "replace CD drive with SSD"
    assert task_phrase("MakeFrenchFries") == "make french fries"

"""Label vocabularies and label texts: dataset ids turned into the phrases a text encoder reads.

Breakfast names its 48 unit actions ``verb_object`` with a few compressions
(``pour_egg2pan``, ``add_saltnpepper``, ``put_toppingOnTop``) and its 10 activities by one
squeezed word (``scrambledegg``). The frozen text encoder should see English phrases:

>>> action_phrase("pour_egg2pan")
'pour egg to pan'
>>> action_phrase("add_saltnpepper")
'add salt and pepper'
>>> activity_phrase("scrambledegg")
'make scrambled egg'
>>> task_phrase("ReplaceCDDriveWithSSD")
'replace CD drive with SSD'
"""

from __future__ import annotations

import re

BREAKFAST_ACTIONS: tuple[str, ...] = (
    "SIL", "pour_cereals", "pour_milk", "stir_cereals", "take_bowl", "pour_coffee", "take_cup",
    "spoon_sugar", "stir_coffee", "pour_sugar", "pour_oil", "crack_egg", "add_saltnpepper",
    "fry_egg", "take_plate", "put_egg2plate", "take_eggs", "butter_pan", "take_knife",
    "cut_orange", "squeeze_orange", "pour_juice", "take_glass", "take_squeezer", "spoon_powder",
    "stir_milk", "spoon_flour", "stir_dough", "pour_dough2pan", "fry_pancake",
    "put_pancake2plate", "pour_flour", "cut_fruit", "put_fruit2bowl", "peel_fruit", "stir_fruit",
    "cut_bun", "smear_butter", "take_topping", "put_toppingOnTop", "put_bunTogether",
    "take_butter", "stir_egg", "pour_egg2pan", "stirfry_egg", "add_teabag", "pour_water",
    "stir_tea",
)
"""Breakfast's 48 unit actions in the MS-TCN ``mapping.txt`` order (0 SIL ... 47 stir_tea)."""

BREAKFAST_ACTIVITIES: tuple[str, ...] = (
    "cereals", "coffee", "tea", "pancake", "friedegg", "scrambledegg", "sandwich", "juice",
    "milk", "salat",
)
"""Breakfast's 10 activities as they end the video names, in the order of the long-term
recognition split's ``class_label`` (0 cereal ... 9 salat)."""

BACKGROUND_PHRASE = "background"
"""Text for Breakfast's ``SIL`` (frames between and around actions)."""

_SQUEEZED_WORDS = {
    "saltnpepper": "salt and pepper",
    "stirfry": "stir fry",
    "friedegg": "fried egg",
    "scrambledegg": "scrambled egg",
    "salat": "salad",
    "cereal": "cereals",
}


def split_identifier(identifier: str) -> list[str]:
    """Split an id written in snake_case, camelCase or with a ``2`` for "to" into words.

    >>> split_identifier("put_toppingOnTop")
    ['put', 'topping', 'on', 'top']
    >>> split_identifier("pour_dough2pan")
    ['pour', 'dough', 'to', 'pan']
    """
    words: list[str] = []
    for chunk in re.split(r"[_\s\-]+", identifier.strip()):
        if not chunk:
            continue
        if chunk.lower() in _SQUEEZED_WORDS:
            words.extend(_SQUEEZED_WORDS[chunk.lower()].split())
            continue
        chunk = re.sub(r"(?<=[a-zA-Z])2(?=[a-zA-Z])", " to ", chunk)
        for part in chunk.split():
            for token in re.findall(r"[A-Z]+(?=[A-Z][a-z]|\b|\d)|[A-Z]?[a-z]+|\d+", part):
                words.append(token if token.isupper() and len(token) > 1 else token.lower())
    return words


def action_phrase(action_id: str) -> str:
    """Breakfast-style action id -> phrase (``SIL`` -> ``"background"``)."""
    if action_id == "SIL":
        return BACKGROUND_PHRASE
    return " ".join(split_identifier(action_id))


def activity_phrase(activity_id: str) -> str:
    """Breakfast activity id (``friedegg``, or the split file's ``fried egg``) -> ``"make fried egg"``."""
    return "make " + " ".join(split_identifier(activity_id))


def task_phrase(task_id: str) -> str:
    """COIN task id in CamelCase -> lower-case phrase keeping acronyms."""
    return " ".join(split_identifier(task_id))

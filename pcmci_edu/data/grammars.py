"""Activity grammars: each activity is an ordered script of atomic-action steps.

A :class:`Step` is performed with probability ``probability`` (1.0: required, less:
optional) and, when it offers several ``alternatives``, exactly one of them is chosen
(exclusive actions, e.g. frying in oil *or* butter). An action used by several
activities is shared (``pour_milk`` in cereals, coffee, tea, milk and pancake): these
are the codependencies the ICI intervention models.

The Breakfast scripts below were written from the label vocabulary and the dataset's
description of how each dish is made (Kuehne et al., 2014); they are not read from the
annotation files. Order follows the usual way of preparing the dish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Step:
    """One step of a script: one of ``alternatives`` (exclusive), done with ``probability``."""

    alternatives: tuple[str, ...]
    probability: float = 1.0

    def __post_init__(self) -> None:
        if not self.alternatives:
            raise ValueError("a Step needs at least one alternative action")
        if not 0.0 < self.probability <= 1.0:
            raise ValueError(f"Step probability must be in (0, 1], got {self.probability}")


def step(*alternatives: str, p: float = 1.0) -> Step:
    """Shorthand: ``step("pour_oil", "butter_pan")`` is an exclusive required step."""
    return Step(tuple(alternatives), p)


Grammar = tuple[Step, ...]

BREAKFAST_GRAMMARS: dict[str, Grammar] = {
    "cereals": (
        step("take_bowl", p=0.8),
        step("pour_cereals"),
        step("pour_milk"),
        step("stir_cereals", p=0.5),
    ),
    "coffee": (
        step("take_cup", p=0.7),
        step("pour_coffee"),
        step("spoon_sugar", "pour_sugar", p=0.6),
        step("pour_milk", p=0.7),
        step("stir_coffee", p=0.7),
    ),
    "tea": (
        step("take_cup", p=0.7),
        step("add_teabag"),
        step("pour_water"),
        step("spoon_sugar", "pour_sugar", p=0.5),
        step("pour_milk", p=0.3),
        step("stir_tea", p=0.6),
    ),
    "pancake": (
        step("take_bowl", p=0.6),
        step("crack_egg", p=0.8),
        step("spoon_flour", "pour_flour"),
        step("pour_milk"),
        step("pour_sugar", "spoon_sugar", p=0.3),
        step("stir_dough"),
        step("pour_oil", "butter_pan", p=0.9),
        step("pour_dough2pan"),
        step("fry_pancake"),
        step("take_plate", p=0.6),
        step("put_pancake2plate"),
    ),
    "friedegg": (
        step("pour_oil", "butter_pan"),
        step("take_eggs", p=0.7),
        step("crack_egg"),
        step("fry_egg"),
        step("add_saltnpepper", p=0.7),
        step("take_plate", p=0.7),
        step("put_egg2plate"),
    ),
    "scrambledegg": (
        step("pour_oil", "butter_pan"),
        step("take_eggs", p=0.6),
        step("take_bowl", p=0.6),
        step("crack_egg"),
        step("stir_egg"),
        step("add_saltnpepper", p=0.6),
        step("pour_egg2pan"),
        step("stirfry_egg"),
        step("take_plate", p=0.7),
        step("put_egg2plate"),
    ),
    "sandwich": (
        step("take_plate", p=0.5),
        step("take_knife", p=0.7),
        step("cut_bun"),
        step("take_butter", p=0.7),
        step("smear_butter"),
        step("take_topping"),
        step("put_toppingOnTop"),
        step("put_bunTogether"),
    ),
    "juice": (
        step("take_squeezer", p=0.7),
        step("take_knife", p=0.6),
        step("cut_orange"),
        step("squeeze_orange"),
        step("take_glass", p=0.7),
        step("pour_juice"),
    ),
    "milk": (
        step("take_cup", "take_glass", p=0.7),
        step("spoon_powder"),
        step("pour_milk"),
        step("stir_milk"),
    ),
    "salat": (
        step("take_plate", "take_bowl", p=0.7),
        step("take_knife", p=0.7),
        step("peel_fruit", p=0.6),
        step("cut_fruit"),
        step("put_fruit2bowl"),
        step("stir_fruit", p=0.7),
    ),
}
"""Scripts of Breakfast's 10 activities over its 47 non-background actions."""


def grammar_actions(grammar: Grammar) -> list[str]:
    """Every action a grammar can produce, in script order, without repeats."""
    seen: list[str] = []
    for item in grammar:
        for action in item.alternatives:
            if action not in seen:
                seen.append(action)
    return seen


def sample_script(grammar: Grammar, rng: np.random.Generator) -> list[str]:
    """Draw one ordered action sequence from a grammar (at least one action)."""
    while True:
        sequence = [
            item.alternatives[rng.integers(len(item.alternatives))]
            for item in grammar
            if rng.random() < item.probability
        ]
        if sequence:
            return sequence


def splice_script(own: list, other: list, rng: np.random.Generator) -> list:
    """``own`` with a contiguous chunk of ``other`` inserted at a random cut (a codependency shift).

    The chunk has ``min(len(other), max(1, (len(own) + 1) // 2))`` actions, so ``own``
    contributes strictly more actions than ``other`` whenever it has two or more (and as many
    when it has one): the spliced video's label stays ``own``'s activity.

    >>> splice_script(["a", "b", "c", "d"], ["x", "y", "z"], np.random.default_rng(0))
    ['a', 'b', 'c', 'y', 'z', 'd']
    """
    size = min(len(other), max(1, (len(own) + 1) // 2))
    start = int(rng.integers(len(other) - size + 1))
    cut = int(rng.integers(len(own) + 1))
    return [*own[:cut], *other[start:start + size], *own[cut:]]


def action_roles(grammars: dict[str, Grammar]) -> dict[str, dict[str, list[str]]]:
    """Per action: the activities that use it, and the actions it excludes (same step).

    >>> roles = action_roles(BREAKFAST_GRAMMARS)
    >>> sorted(roles["pour_milk"]["activities"])
    ['cereals', 'coffee', 'milk', 'pancake', 'tea']
    >>> roles["pour_oil"]["excludes"]
    ['butter_pan']
    """
    roles: dict[str, dict[str, list[str]]] = {}
    for activity, grammar in grammars.items():
        for item in grammar:
            for action in item.alternatives:
                entry = roles.setdefault(action, {"activities": [], "excludes": []})
                if activity not in entry["activities"]:
                    entry["activities"].append(activity)
                for other in item.alternatives:
                    if other != action and other not in entry["excludes"]:
                        entry["excludes"].append(other)
    return roles


COIN_GRAMMARS: dict[str, Grammar] = {
    "MakeFrenchFries": (
        step("cut_potato_into_strips"),
        step("soak_strips_in_water", p=0.7),
        step("dry_strips", p=0.6),
        step("fry_strips_in_oil"),
        step("add_salt", p=0.5),
    ),
    "MakeSandwich": (
        step("cut_bread", p=0.7),
        step("prepare_filling"),
        step("put_filling_on_bread"),
        step("fry_sandwich", "grill_sandwich", p=0.5),
        step("cut_sandwich", p=0.6),
    ),
    "MakePizza": (
        step("knead_dough"),
        step("roll_out_dough"),
        step("spread_sauce", p=0.8),
        step("add_toppings"),
        step("add_seasoning", p=0.5),
        step("bake_pizza"),
    ),
    "BoilNoodles": (
        step("boil_water"),
        step("add_seasoning", p=0.6),
        step("put_noodles_in_pot"),
        step("stir_noodles", p=0.8),
        step("taste_noodles", p=0.4),
        step("pour_noodles_into_bowl"),
    ),
    "MakeCoffee": (
        step("grind_coffee_beans", p=0.6),
        step("boil_water"),
        step("brew_coffee"),
        step("pour_coffee_into_cup", p=0.7),
        step("add_milk", "add_sugar", p=0.6),
    ),
    "MakeSalad": (
        step("wash_vegetables", p=0.6),
        step("cut_vegetables"),
        step("put_vegetables_in_bowl"),
        step("add_seasoning", p=0.6),
        step("stir_salad"),
    ),
    "ChangeCarTire": (
        step("loosen_screws"),
        step("jack_up_car"),
        step("remove_tire"),
        step("put_on_tire"),
        step("tighten_screws"),
        step("lower_car", p=0.6),
    ),
    "ReplaceCDDriveWithSSD": (
        step("loosen_screws"),
        step("take_out_drive"),
        step("install_ssd_on_tray"),
        step("tighten_screws", p=0.8),
        step("insert_tray_into_laptop"),
    ),
    "PlantTree": (
        step("dig_pit"),
        step("put_tree_into_pit"),
        step("fill_pit_with_soil"),
        step("pour_water", p=0.8),
    ),
    "CleanToilet": (
        step("apply_detergent"),
        step("scrub_toilet"),
        step("flush_toilet"),
        step("wipe_toilet", p=0.7),
    ),
    "PasteScreenProtectorOnPad": (
        step("wipe_screen"),
        step("align_protector", p=0.6),
        step("paste_protector"),
        step("smooth_out_bubbles", p=0.7),
    ),
}
"""A slice of 11 COIN tasks (real task names) with steps written from the task descriptions
(not COIN's step texts): shared steps (``add_seasoning``, ``boil_water``, ``loosen_screws``),
exclusive ones (fry or grill)."""


def _scene(typical: tuple[str, ...], p: float = 0.4) -> Grammar:
    return tuple(step(action, p=p) for action in typical)


CHARADES_SCENE_SCRIPTS: dict[str, Grammar] = {
    "Kitchen": _scene(("open_refrigerator", "take_food", "cook_on_stove", "wash_dishes", "pour_water", "drink_from_cup")),
    "Bedroom": _scene(("lie_on_bed", "take_pillow", "tidy_blanket", "put_on_clothes", "take_off_shoes", "turn_on_light")),
    "Living room": _scene(("sit_on_sofa", "watch_television", "hold_phone", "read_book", "take_pillow", "drink_from_cup")),
    "Bathroom": _scene(("wash_hands", "hold_towel", "look_in_mirror", "turn_on_light", "open_door", "close_door")),
    "Hallway": _scene(("open_door", "close_door", "walk_through_doorway", "put_on_shoes", "hold_bag", "turn_on_light")),
    "Home office": _scene(("work_on_laptop", "sit_on_chair", "read_book", "hold_phone", "open_box", "drink_from_cup")),
    "Dining room": _scene(("sit_on_chair", "eat_sandwich", "drink_from_cup", "put_dishes_on_table", "take_food", "tidy_table")),
    "Garage": _scene(("open_box", "hold_broom", "sweep_floor", "take_bag", "close_door", "fix_bicycle")),
}
"""Charades-like scripts: the scene (the context) makes some actions typical. Every action
is optional and several are shared across scenes; no activity label exists."""

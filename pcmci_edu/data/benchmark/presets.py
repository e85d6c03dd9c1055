"""The benchmark's presets: Breakfast, COIN and Charades as label vocabularies and scripts.

A :class:`Preset` holds a dataset's real activity and action names with their label texts, the
grammars that generate its scripts (:mod:`pcmci_edu.data.grammars`), its companion objects and
split sizes per profile; :data:`PRESETS` maps a preset's name to it. The generator
(:mod:`pcmci_edu.data.benchmark.generator`) turns a preset into videos.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pcmci_edu.data.grammars import BREAKFAST_GRAMMARS, CHARADES_SCENE_SCRIPTS, COIN_GRAMMARS, Grammar, grammar_actions
from pcmci_edu.data.labels import BREAKFAST_ACTIONS, BREAKFAST_ACTIVITIES, action_phrase, activity_phrase, task_phrase


KITCHEN_OBJECTS: tuple[str, ...] = (
    "fridge", "stove", "sink", "kettle", "toaster", "microwave", "cutting board", "dish rack",
    "spice rack", "window", "oven", "paper towel", "trash can", "coffee machine", "tap",
    "cupboard", "apron", "radio", "plant", "clock", "cloth", "tray", "jar", "blender",
)
"""Names of the Breakfast preset's companion objects (the hallucination source H)."""


HOUSEHOLD_OBJECTS: tuple[str, ...] = (
    "table", "chair", "sofa", "lamp", "shelf", "mirror", "window", "door", "rug", "plant",
    "television", "laptop", "phone", "bag", "box", "towel", "pillow", "blanket", "broom",
    "bucket", "ladder", "toolbox", "radio", "clock",
)
"""Names of the COIN and Charades presets' companion objects."""


@dataclass(frozen=True)
class Preset:
    """A label vocabulary and the scripts that generate videos from it.

    ``grammars`` maps each script type to its grammar. For activity datasets the script
    types are the activities; for Charades they are scenes, the videos have no activity
    (``activity_names`` is empty) and the scene is both the script's source and the context.
    """

    name: str
    activity_names: tuple[str, ...]
    activity_texts: tuple[str, ...]
    action_names: tuple[str, ...]
    action_texts: tuple[str, ...]
    grammars: dict[str, Grammar]
    background: str | None
    sizes: dict[str, tuple[int, int, int]]
    """profile -> (train, val, test) video counts."""
    object_names: tuple[str, ...] = ()
    context_names: tuple[str, ...] = ()
    """Names of the contexts (default: persons P03, P04, ...)."""
    empty_rate: float = 0.0
    """Fraction of videos with no action at all (Charades has a few)."""
    defaults: dict[str, object] = field(default_factory=dict)
    """BenchmarkConfig values this preset changes (before profile and user overrides)."""

    @property
    def script_names(self) -> tuple[str, ...]:
        """The script types in grammar order: the activities (the scenes for Charades)."""
        return tuple(self.grammars)


def _actions_in(grammars: dict[str, Grammar]) -> tuple[str, ...]:
    """Every action the grammars use, in order of first use, without repeats."""
    return tuple(dict.fromkeys(action for grammar in grammars.values() for action in grammar_actions(grammar)))


def _breakfast_preset() -> Preset:
    return Preset(
        name="breakfast",
        activity_names=BREAKFAST_ACTIVITIES,
        activity_texts=tuple(activity_phrase(a) for a in BREAKFAST_ACTIVITIES),
        action_names=BREAKFAST_ACTIONS,
        action_texts=tuple(action_phrase(a) for a in BREAKFAST_ACTIONS),
        grammars=BREAKFAST_GRAMMARS,
        background="SIL",
        sizes={"smoke": (100, 30, 60), "book": (1357, 136, 355), "full": (1357, 136, 355)},
        object_names=KITCHEN_OBJECTS,
    )


def _coin_preset() -> Preset:
    tasks = tuple(COIN_GRAMMARS)
    actions = _actions_in(COIN_GRAMMARS)
    return Preset(
        name="coin",
        activity_names=tasks,
        activity_texts=tuple(task_phrase(t) for t in tasks),
        action_names=actions,
        action_texts=tuple(action_phrase(a) for a in actions),
        grammars=COIN_GRAMMARS,
        background=None,
        sizes={"smoke": (110, 33, 66), "book": (1100, 110, 330), "full": (1100, 110, 330)},
        object_names=HOUSEHOLD_OBJECTS,
        defaults=dict(context_strength=0.7, objects_strength=0.7, noise=12.0),
    )


def _charades_preset() -> Preset:
    actions = _actions_in(CHARADES_SCENE_SCRIPTS)
    return Preset(
        name="charades",
        activity_names=(),
        activity_texts=(),
        action_names=actions,
        action_texts=tuple(action_phrase(a) for a in actions),
        grammars=CHARADES_SCENE_SCRIPTS,
        background=None,
        sizes={"smoke": (100, 30, 60), "book": (2000, 200, 500), "full": (7985, 400, 1863)},
        object_names=HOUSEHOLD_OBJECTS,
        context_names=tuple(CHARADES_SCENE_SCRIPTS),
        empty_rate=0.02,
        defaults=dict(contexts_per_activity=1),
    )


PRESETS = {"breakfast": _breakfast_preset, "coin": _coin_preset, "charades": _charades_preset}
"""Preset name -> factory."""

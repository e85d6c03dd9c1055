"""The embedded causal benchmark: long-term action recognition data generated from an SCM.

Every chapter runs on it by default (no download), and because it is generated, the truth
behind each confounder of the PCMCi graph is known and recorded in ``Benchmark.truth``:

* scripts (codependency, I): an activity ``Y_act`` is an ordered grammar of atomic actions
  (:mod:`pcmci_edu.data.grammars`), some optional, some shared, some exclusive;
* context (visual confounder, C): a person/kitchen ``c`` tied to the activity in training
  (with probability ``confounding`` it is one of the activity's home contexts), drawn
  independently of the activity in ``test_shift``;
* companion objects (co-occurrence, H): while an action is performed its companion object
  is visible with probability ``companion_rate`` in training; in ``test_shift`` objects
  appear at the same rate but independently of the action. The frozen "VLM" label texts
  are contaminated by the companion (H -> T):
  ``T0_k = normalize(t_k + text_contamination * o_companion(k))``.

Breakfast preset: Breakfast's 10 activities and its 48 unit actions with their real names,
``SIL`` included as action 0. We keep it because the long-term protocol (and the PCMCi
paper's Breakfast mAP) averages over all 48 classes, and the real reader returns the same
48 columns, so numbers on the benchmark and on the real files use one label set. As on the
real data, background comes before and after every script, so ``SIL`` is positive in every
video and its AP is 1 for any scorer: it lifts every mAP by the same amount and never
separates two models.

Frame features are a sum of four parts (``BenchmarkSplit.parts``)::

    x_{v,n} = a_{k(v,n)} + context_strength * g_{c(v)} + objects_strength * o_{h(v,n)} + noise * e_{v,n} / sqrt(D)

with ``a_k`` the action's visual prototype (its clean text embedding plus a modality gap),
``g``, ``o`` unit vectors and ``e`` standard normal. Label text embeddings are
compositional (sum of word vectors), so "pour milk" is near "pour cereals" and "stir milk".

Splits: ``train``, ``val``, ``test`` (one distribution), ``test_shift`` (the test videos'
scripts and noise with context and objects redrawn independently of the labels),
``test_masked`` (the test videos with the action part removed: context, objects and noise
kept; a causal model's score for the true label must fall), ``train_oracle`` (the train
videos with the confounders broken, for an oracle reference). Paired splits are aligned:
video ``i`` of ``test_shift`` and ``test_masked`` is video ``i`` of ``test`` (same script,
timing and noise), and video ``i`` of ``train_oracle`` is video ``i`` of ``train``.

Default strengths were chosen with linear probes only, before any model was trained, by the
rule in ``SELECTION_RULE`` over ``SELECTION_GRID`` (:func:`select_strengths`;
``python benchmarks/benchmark_generation.py --grid`` writes the whole grid to
``results/benchmark_probes.txt``). The rule picks the weakest confounders for which a
linear probe of the whole features loses at least 0.10 mAP on ``test_shift`` while an
oracle probe (fit on ``train_oracle``) stays learnable but unsaturated. Chosen: Breakfast
and Charades context = objects strength 0.35, noise 4.0; COIN 0.7, noise 4.0 (its tasks
share few steps, so weaker confounders did not matter); everywhere confounding 0.9,
companion_rate 0.8, text_contamination 0.7.

Probes of the defaults (book profile, seed 0; accuracy / mAP over all classes, test ->
test_shift), from :func:`probe_report`:

=================================  =====================  =====================
probe                              accuracy               mAP (all classes)
=================================  =====================  =====================
Breakfast, context part only       0.901 -> 0.096         0.724 -> 0.135
Breakfast, action part only        1.000 -> 1.000         0.999 -> 0.999
Breakfast, objects part only       0.969 -> 0.121         0.883 -> 0.148
Breakfast, whole, fit on train     0.986 -> 0.868         0.929 -> 0.813
Breakfast, whole, fit on oracle    0.935 -> 0.935         0.904 -> 0.897
Breakfast, zero-shot frozen text   0.473 -> 0.524         0.588 -> 0.519
Breakfast, zero-shot clean text    0.479 -> 0.549         0.582 -> 0.594
COIN, whole, fit on train          1.000 -> 0.973         0.956 -> 0.856
COIN, whole, fit on oracle         0.997 -> 0.997         0.922 -> 0.919
Charades, whole, fit on train      (no activity)          0.955 -> 0.851
Charades, whole, fit on oracle     (no activity)          0.931 -> 0.927
=================================  =====================  =====================

A scorer that leans on context and objects (the whole-feature probe fit on confounded
training data) loses 12 points of accuracy and 12 of mAP on Breakfast's ``test_shift``;
the oracle loses none; the context probe falls to chance (0.1). The frozen label text,
contaminated by companion objects, ranks actions better than the clean text on ``test``
(where companions co-occur) and worse on ``test_shift``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from pcmci_edu.data.dataset import VideoDataset
from pcmci_edu.data.grammars import (
    BREAKFAST_GRAMMARS,
    CHARADES_SCENE_SCRIPTS,
    COIN_GRAMMARS,
    Grammar,
    grammar_actions,
    sample_script,
)
from pcmci_edu.data.labels import (
    BREAKFAST_ACTIONS,
    BREAKFAST_ACTIVITIES,
    action_phrase,
    activity_phrase,
    task_phrase,
)
from pcmci_edu.profile import resolve_profile

NO_ACTION = -1
"""Frame action index of frames showing no labelled action (their action part is zero)."""
SPLITS: tuple[str, ...] = ("train", "val", "test", "test_shift", "test_masked", "train_oracle")
PARTS: tuple[str, ...] = ("action", "context", "objects", "noise")
STOPWORDS = frozenset({"to", "and", "on", "of", "the", "a", "an", "with", "into", "some", "make"})

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
        return tuple(self.grammars)


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
    actions = tuple(dict.fromkeys(a for g in COIN_GRAMMARS.values() for a in grammar_actions(g)))
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
        defaults=dict(context_strength=0.7, objects_strength=0.7),
    )


def _charades_preset() -> Preset:
    actions = tuple(dict.fromkeys(a for g in CHARADES_SCENE_SCRIPTS.values() for a in grammar_actions(g)))
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


@dataclass(frozen=True)
class BenchmarkConfig:
    """Everything that determines a benchmark; ``make_benchmark(**overrides)`` replaces fields.

    Strengths are relative to the action part (unit-norm prototypes per frame).
    """

    preset: str = "breakfast"
    profile: str = "book"
    seed: int = 0
    num_train: int = 1357
    num_val: int = 136
    num_test: int = 355
    num_frames: int = 32
    feature_dim: int = 128
    contexts_per_activity: int = 2
    confounding: float = 0.9
    """P(context is one of the activity's home contexts) in train, val and test."""
    context_strength: float = 0.35
    objects_strength: float = 0.35
    companion_rate: float = 0.8
    """P(an action's segment shows an object): its companion in training, a random one in shift."""
    noise: float = 4.0
    """Norm of the per-frame Gaussian noise (per-dimension std noise / sqrt(D))."""
    text_contamination: float = 0.7
    modality_gap: float = 0.5
    """Weight of the vision-only direction in each action prototype (0: identical to the clean text)."""
    num_objects: int = 24
    mean_duration_s: float = 140.0


PROFILE_DEFAULTS = {
    "smoke": dict(num_frames=8, feature_dim=32),
    "book": dict(num_frames=32, feature_dim=128),
    "full": dict(num_frames=32, feature_dim=128),
}


@dataclass
class BenchmarkTruth:
    """The generator's ground truth, for the chapters to show and the tests to check."""

    companions: dict[str, str]
    """action name -> its companion object's name (not for the background)."""
    companion_index: np.ndarray
    """[K] object index per action, -1 for none."""
    home_contexts: dict[str, list[str]]
    """activity -> the contexts it is tied to in training."""
    confounding: dict[str, float]
    """split -> P(home context); 0 where context is independent of the activity."""
    objects_follow_actions: dict[str, bool]
    """split -> whether objects are the actions' companions (True) or drawn at random."""
    strengths: dict[str, float]
    context_names: list[str]
    object_names: list[str]
    clean_action_text_features: torch.Tensor
    clean_activity_text_features: torch.Tensor | None
    action_prototypes: np.ndarray
    """[K, D] visual action part ``a_k``."""
    context_vectors: np.ndarray
    """[C, D] context part (already times context_strength)."""
    object_vectors: np.ndarray
    """[O, D] objects part (already times objects_strength)."""
    grammars: dict[str, Grammar] = field(default_factory=dict)


class BenchmarkSplit(VideoDataset):
    """A :class:`VideoDataset` that also knows each frame's causes.

    ``parts`` gives the four additive parts ``[V, N, D]`` (their sum is ``frames``),
    ``contexts`` the context index of each video, ``script_types`` the grammar each video
    was drawn from (its activity; the latent scene for Charades), ``frame_actions``/
    ``frame_objects`` the action and object (-1: none) at each sampled frame.
    """

    def __init__(
        self,
        *,
        contexts: np.ndarray,
        script_types: np.ndarray,
        frame_actions: np.ndarray,
        frame_objects: np.ndarray,
        action_visible: bool,
        truth: BenchmarkTruth,
        **arguments,
    ) -> None:
        super().__init__(**arguments)
        self.contexts = np.asarray(contexts, dtype=np.int64)
        self.script_types = np.asarray(script_types, dtype=np.int64)
        self.frame_actions = np.asarray(frame_actions, dtype=np.int64)
        self.frame_objects = np.asarray(frame_objects, dtype=np.int64)
        self.action_visible = action_visible
        self.truth = truth
        self._parts: dict[str, np.ndarray] | None = None

    @property
    def parts(self) -> dict[str, np.ndarray]:
        """The additive parts "action", "context", "objects", "noise", each float32 [V, N, D]."""
        if self._parts is None:
            truth = self.truth
            action = _with_zero_row(truth.action_prototypes)[self.frame_actions]
            if not self.action_visible:
                action = np.zeros_like(action)
            context = np.broadcast_to(truth.context_vectors[self.contexts][:, None, :], action.shape)
            objects = _with_zero_row(truth.object_vectors)[self.frame_objects]
            noise = self.frames - action - context - objects
            self._parts = {
                "action": action.astype(np.float32),
                "context": np.ascontiguousarray(context, dtype=np.float32),
                "objects": objects.astype(np.float32),
                "noise": noise.astype(np.float32),
            }
        return self._parts

    def _subset_arrays(self, indices: np.ndarray) -> dict:
        arguments = super()._subset_arrays(indices)
        arguments.update(
            contexts=self.contexts[indices],
            script_types=self.script_types[indices],
            frame_actions=self.frame_actions[indices],
            frame_objects=self.frame_objects[indices],
            action_visible=self.action_visible,
            truth=self.truth,
        )
        return arguments


class Benchmark(Mapping):
    """The benchmark's splits by name (``bench["train"]``), its ``truth`` and ``config``."""

    def __init__(self, splits: dict[str, BenchmarkSplit], truth: BenchmarkTruth, config: BenchmarkConfig,
                 generation_seconds: float) -> None:
        self._splits = splits
        self.truth = truth
        self.config = config
        self.generation_seconds = generation_seconds

    def __getitem__(self, name: str) -> BenchmarkSplit:
        if name not in self._splits:
            raise KeyError(f"no split {name!r}: the benchmark has {', '.join(self._splits)}")
        return self._splits[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._splits)

    def __len__(self) -> int:
        return len(self._splits)

    def few_shot(self, k: int, seed: int = 0) -> BenchmarkSplit:
        """A training split with ``k`` videos per activity (per action for multi-label presets)."""
        train = self._splits["train"]
        if k < 1:
            raise ValueError(f"few_shot needs k >= 1, got {k}")
        rng = np.random.default_rng(seed)
        chosen: list[int] = []
        if train.has_activities:
            for activity in range(train.num_activities):
                members = np.flatnonzero(train.activities == activity)
                if len(members) < k:
                    raise ValueError(
                        f"few_shot: activity {train.activity_names[activity]!r} has {len(members)} training "
                        f"videos, fewer than k={k}"
                    )
                chosen.extend(rng.choice(members, size=k, replace=False).tolist())
        else:
            for action in rng.permutation(train.num_actions):
                members = [i for i in np.flatnonzero(train.actions[:, action] > 0) if i not in chosen]
                chosen.extend(rng.permutation(members)[:k].tolist())
        return train.subset(sorted(chosen), split=f"train_{k}shot")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(split)}" for name, split in self._splits.items())
        return f"Benchmark({self.config.preset!r}, profile={self.config.profile!r}, seed={self.config.seed}, {sizes})"


def benchmark_config(preset: str = "breakfast", profile: str | None = "book", seed: int = 0, **overrides) -> BenchmarkConfig:
    """The configuration ``make_benchmark`` would use (profile sizes, then ``overrides``)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown benchmark preset {preset!r}: expected one of {', '.join(PRESETS)}")
    profile = resolve_profile(profile)
    spec = PRESETS[preset]()
    num_train, num_val, num_test = spec.sizes[profile]
    values = dict(preset=preset, profile=profile, seed=seed, num_train=num_train, num_val=num_val,
                  num_test=num_test, **PROFILE_DEFAULTS[profile])
    values.update(spec.defaults)
    known = {f.name for f in dataclasses.fields(BenchmarkConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown benchmark setting(s) {unknown}: expected some of {sorted(known)}")
    values.update(overrides)
    return BenchmarkConfig(**values)


def make_benchmark(preset: str = "breakfast", profile: str | None = "book", seed: int = 0, **overrides) -> Benchmark:
    """Generate the benchmark: splits ``train, val, test, test_shift, test_masked, train_oracle``.

    ``overrides`` replace :class:`BenchmarkConfig` fields (e.g. ``confounding=0.5``).

    >>> bench = make_benchmark("breakfast", profile="smoke", seed=0)
    >>> sorted(bench)
    ['test', 'test_masked', 'test_shift', 'train', 'train_oracle', 'val']
    >>> bench["train"][0]["frames"].shape
    torch.Size([8, 32])
    """
    config = benchmark_config(preset, profile, seed, **overrides)
    start = time.perf_counter()
    generator = _Generator(PRESETS[preset](), config)
    splits = generator.splits()
    return Benchmark(splits, generator.truth, config, time.perf_counter() - start)


@dataclass
class _Content:
    """What a video shows regardless of confounders: activity, script, timing, noise."""

    activities: np.ndarray
    """Script type per video: the activity, or the scene for presets without activities."""
    scripts: list[np.ndarray]
    """Action index of each script segment (NO_ACTION for an empty video)."""
    multi_hot: np.ndarray
    segments: list[list[tuple[int, float, float]]]
    frame_actions: np.ndarray
    frame_segments: np.ndarray
    noise: np.ndarray


class _Generator:
    def __init__(self, preset: Preset, config: BenchmarkConfig) -> None:
        self.preset = preset
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.action_index = {name: k for k, name in enumerate(preset.action_names)}
        self._check_preset()
        self.truth = self._world()

    def _check_preset(self) -> None:
        for activity, grammar in self.preset.grammars.items():
            for action in grammar_actions(grammar):
                if action not in self.action_index:
                    raise ValueError(f"preset {self.preset.name!r}: grammar {activity!r} uses unknown action {action!r}")

    # -- the world: vectors shared by all splits -------------------------------------
    def _word_vectors(self, phrases: list[str]) -> dict[str, np.ndarray]:
        words = sorted({w for phrase in phrases for w in phrase.lower().split() if w not in STOPWORDS})
        vectors = _unit(self.rng.standard_normal((len(words), self.config.feature_dim)))
        return dict(zip(words, vectors))

    @staticmethod
    def _embed(phrase: str, words: dict[str, np.ndarray]) -> np.ndarray:
        content = [w for w in phrase.lower().split() if w not in STOPWORDS]
        return _unit(np.sum([words[w] for w in content], axis=0))

    def _world(self) -> BenchmarkTruth:
        config, preset, rng = self.config, self.preset, self.rng
        dim = config.feature_dim
        words = self._word_vectors(list(preset.action_texts) + list(preset.activity_texts))
        clean_actions = np.stack([self._embed(t, words) for t in preset.action_texts])
        gap = config.modality_gap
        prototypes = _unit(np.sqrt(1 - gap**2) * clean_actions + gap * _unit(rng.standard_normal(clean_actions.shape)))

        activities = list(preset.activity_names)
        scripts = list(preset.script_names)
        per = config.contexts_per_activity
        num_contexts = len(scripts) * per
        if preset.context_names:
            context_names = [name if per == 1 else f"{name} {i + 1}" for name in preset.context_names for i in range(per)]
        else:
            context_names = [f"P{3 + c:02d}" for c in range(num_contexts)]
        contexts = config.context_strength * _unit(rng.standard_normal((num_contexts, dim)))
        home = {a: context_names[i * per:(i + 1) * per] for i, a in enumerate(scripts)}

        pool = preset.object_names or KITCHEN_OBJECTS
        object_names = [pool[o % len(pool)] + ("" if o < len(pool) else f" {o // len(pool) + 1}")
                        for o in range(config.num_objects)]
        object_directions = _unit(rng.standard_normal((config.num_objects, dim)))
        companion_index = rng.integers(config.num_objects, size=len(preset.action_names))
        if preset.background is not None:
            companion_index[self.action_index[preset.background]] = -1
        contaminated = clean_actions.copy()
        has = companion_index >= 0
        contaminated[has] = _unit(clean_actions[has] + config.text_contamination * object_directions[companion_index[has]])

        clean_activity = contaminated_activity = None
        if activities:
            clean_activity, contaminated_activity = [], []
            for name, text in zip(activities, preset.activity_texts):
                members = [self.action_index[a] for a in grammar_actions(preset.grammars[name])]
                own = self._embed(text, words)
                clean_activity.append(_unit(own + 0.5 * clean_actions[members].mean(0)))
                contaminated_activity.append(_unit(own + 0.5 * contaminated[members].mean(0)))
            clean_activity, contaminated_activity = np.stack(clean_activity), np.stack(contaminated_activity)
        self.text_features = (contaminated, contaminated_activity)
        confounding = dict(train=config.confounding, val=config.confounding, test=config.confounding,
                           test_shift=0.0, test_masked=config.confounding, train_oracle=0.0)
        follows = {s: s not in ("test_shift", "train_oracle") for s in SPLITS}
        return BenchmarkTruth(
            companions={preset.action_names[k]: object_names[o] for k, o in enumerate(companion_index) if o >= 0},
            companion_index=companion_index,
            home_contexts=home,
            confounding=confounding,
            objects_follow_actions=follows,
            strengths=dict(context_strength=config.context_strength, objects_strength=config.objects_strength,
                           noise=config.noise, text_contamination=config.text_contamination,
                           companion_rate=config.companion_rate, modality_gap=config.modality_gap),
            context_names=context_names,
            object_names=object_names,
            clean_action_text_features=torch.from_numpy(clean_actions.astype(np.float32)),
            clean_activity_text_features=None if clean_activity is None else torch.from_numpy(clean_activity.astype(np.float32)),
            action_prototypes=prototypes.astype(np.float32),
            context_vectors=contexts.astype(np.float32),
            object_vectors=(config.objects_strength * object_directions).astype(np.float32),
            grammars=dict(preset.grammars),
        )

    # -- content: scripts, timing and noise -------------------------------------------
    def _content(self, count: int) -> _Content:
        config, preset, rng = self.config, self.preset, self.rng
        scripts = preset.script_names
        activities = rng.permutation(np.arange(count) % len(scripts))
        frames = config.num_frames
        multi_hot = np.zeros((count, len(preset.action_names)), dtype=np.float32)
        frame_actions = np.zeros((count, frames), dtype=np.int64)
        frame_segments = np.zeros((count, frames), dtype=np.int64)
        segments: list[list[tuple[int, float, float]]] = []
        scripts_drawn: list[np.ndarray] = []
        background = self.action_index.get(preset.background) if preset.background else None
        for v in range(count):
            script = [self.action_index[a] for a in sample_script(preset.grammars[scripts[activities[v]]], rng)]
            if preset.empty_rate and rng.random() < preset.empty_rate:
                script = [NO_ACTION]  # a video in which no labelled action happens
            lengths = rng.gamma(4.0, 0.25, size=len(script))
            if background is not None:
                script = [background, *script, background]
                lengths = np.concatenate([[0.4 * rng.random() + 0.1], lengths, [0.4 * rng.random() + 0.1]])
            duration = config.mean_duration_s * rng.lognormal(0.0, 0.4)
            ends = np.cumsum(lengths) / lengths.sum() * duration
            starts = np.concatenate([[0.0], ends[:-1]])
            segments.append([(int(k), round(float(s), 2), round(float(e), 2))
                             for k, s, e in zip(script, starts, ends) if k != NO_ACTION])
            multi_hot[v, [k for k in script if k != NO_ACTION]] = 1.0
            scripts_drawn.append(np.asarray(script, dtype=np.int64))
            times = (np.arange(frames) + 0.5) / frames * duration
            which = np.minimum(np.searchsorted(ends, times, side="right"), len(script) - 1)
            frame_segments[v] = which
            frame_actions[v] = np.asarray(script)[which]
        noise = rng.standard_normal((count, frames, config.feature_dim), dtype=np.float32)
        noise *= config.noise / np.sqrt(config.feature_dim)
        return _Content(activities, scripts_drawn, multi_hot, segments, frame_actions, frame_segments, noise)

    # -- confounders: context and objects -----------------------------------------------
    def _contexts(self, activities: np.ndarray, confounding: float) -> np.ndarray:
        rng, per = self.rng, self.config.contexts_per_activity
        num_contexts = len(self.truth.context_names)
        uniform = rng.integers(num_contexts, size=len(activities))
        home = activities * per + rng.integers(per, size=len(activities))
        return np.where(rng.random(len(activities)) < confounding, home, uniform)

    def _objects(self, content: _Content, follow_actions: bool) -> np.ndarray:
        rng, rate = self.rng, self.config.companion_rate
        companion = self.truth.companion_index
        frame_objects = np.full(content.frame_actions.shape, -1, dtype=np.int64)
        companion = np.append(companion, -1)  # index NO_ACTION (-1) has no companion
        for v in range(len(content.segments)):
            actions = content.scripts[v]
            shown = (rng.random(len(actions)) < rate) & (companion[actions] >= 0)
            if follow_actions:
                objects = np.where(shown, companion[actions], -1)
            else:
                objects = np.where(shown, rng.integers(self.config.num_objects, size=len(actions)), -1)
            frame_objects[v] = objects[content.frame_segments[v]]
        return frame_objects

    def _split(self, name: str, content: _Content, contexts: np.ndarray, frame_objects: np.ndarray,
               action_visible: bool) -> BenchmarkSplit:
        truth, preset = self.truth, self.preset
        parts = truth.context_vectors[contexts][:, None, :] + content.noise
        parts = parts + _with_zero_row(truth.object_vectors)[frame_objects]
        if action_visible:
            parts = parts + _with_zero_row(truth.action_prototypes)[content.frame_actions]
        action_features, activity_features = self.text_features
        return BenchmarkSplit(
            name=f"benchmark-{preset.name}",
            split=name,
            video_ids=[f"{name}_{v:05d}" for v in range(len(contexts))],
            activities=content.activities if preset.activity_names else np.full(len(contexts), -1),
            actions=content.multi_hot,
            activity_names=preset.activity_names,
            action_names=preset.action_names,
            activity_texts=preset.activity_texts,
            action_texts=preset.action_texts,
            segments=content.segments,
            frames=parts.astype(np.float32),
            action_text_features=action_features.astype(np.float32),
            activity_text_features=None if activity_features is None else activity_features.astype(np.float32),
            contexts=contexts,
            script_types=content.activities,
            frame_actions=content.frame_actions,
            frame_objects=frame_objects,
            action_visible=action_visible,
            truth=truth,
        )

    def splits(self) -> dict[str, BenchmarkSplit]:
        config, confounding = self.config, self.truth.confounding
        train, val, test = self._content(config.num_train), self._content(config.num_val), self._content(config.num_test)
        out: dict[str, BenchmarkSplit] = {}
        for name, content in (("train", train), ("val", val), ("test", test)):
            out[name] = self._split(name, content, self._contexts(content.activities, confounding[name]),
                                    self._objects(content, True), True)
        shift_contexts = self._contexts(test.activities, confounding["test_shift"])
        out["test_shift"] = self._split("test_shift", test, shift_contexts, self._objects(test, False), True)
        out["test_masked"] = self._split("test_masked", test, out["test"].contexts, out["test"].frame_objects, False)
        oracle_contexts = self._contexts(train.activities, confounding["train_oracle"])
        out["train_oracle"] = self._split("train_oracle", train, oracle_contexts, self._objects(train, False), True)
        return out


def _with_zero_row(vectors: np.ndarray) -> np.ndarray:
    """Append a zero row, so that index -1 (no action, no object) contributes nothing."""
    return np.concatenate([vectors, np.zeros_like(vectors[:1])])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _pooled(split: BenchmarkSplit, part: str) -> np.ndarray:
    values = split.frames if part == "whole" else split.parts[part]
    return np.asarray(values, dtype=np.float64).mean(axis=1)


def zero_shot_scores(dataset: VideoDataset, truth: BenchmarkTruth | None = None) -> tuple[np.ndarray | None, np.ndarray]:
    """Frozen-text zero-shot scores: cosine between each video's mean frame and each label text.

    Uses the dataset's frozen (for the benchmark: companion-contaminated) text features, or the
    clean ones of ``truth`` when given. Returns ``(activity_scores [V, A] or None, action_scores [V, K])``.
    """
    if truth is not None:
        action_text, activity_text = truth.clean_action_text_features, truth.clean_activity_text_features
    else:
        action_text, activity_text = dataset.action_text_features, dataset.activity_text_features
    if action_text is None:
        raise ValueError(f"{dataset!r} has no label text features: zero-shot scoring needs them")
    pooled = _unit(dataset.all_frames().mean(axis=1).astype(np.float64))

    def cosine(text: torch.Tensor) -> np.ndarray:
        return pooled @ _unit(text.numpy().astype(np.float64)).T

    return (None if activity_text is None else cosine(activity_text)), cosine(action_text)


def probe_report(bench: Benchmark, parts: tuple[str, ...] = ("context", "action", "objects", "whole"),
                 train_splits: tuple[str, ...] = ("train", "train_oracle")) -> "pandas.DataFrame":
    """Linear probes on mean-pooled feature parts: how much each part predicts the labels.

    Zero-shot rows score the whole pooled features with :func:`zero_shot_scores`, using the
    frozen (contaminated) label text features and the clean ones. For each training split and part, a multinomial logistic regression predicts the activity
    (top-1 accuracy) and a ridge regression scores the atomic actions (mAP over all classes);
    both are fit on the part pooled over frames and evaluated on the same part of ``test``
    and ``test_shift``. ``"whole"`` is the frames themselves. The oracle split is probed on
    the whole features only. A context-leaning scorer shows as a large test -> test_shift gap.
    """
    import pandas as pd
    from sklearn.linear_model import LogisticRegression, Ridge

    from pcmci_edu.metrics import mean_average_precision, top1_accuracy

    rows = []
    for train_name in train_splits:
        train = bench[train_name]
        for part in parts if train_name == "train" else ("whole",):
            features = _pooled(train, part)
            scale = features.std() or 1.0
            row = {"trained_on": train_name, "part": part}
            ridge = Ridge(alpha=1.0).fit(features / scale, train.actions)
            classifier = None
            if train.has_activities:
                classifier = LogisticRegression(max_iter=500, C=1.0).fit(features / scale, train.activities)
            for test_name in ("test", "test_shift"):
                test = bench[test_name]
                pooled = _pooled(test, part) / scale
                if classifier is not None:
                    row[f"accuracy_{test_name}"] = top1_accuracy(classifier.decision_function(pooled), test.activities)
                row[f"mAP_{test_name}"] = mean_average_precision(ridge.predict(pooled), test.actions, "all_classes")
            rows.append(row)
    for text in ("frozen", "clean"):
        row = {"trained_on": f"zero-shot {text}_text", "part": "whole"}
        for test_name in ("test", "test_shift"):
            test = bench[test_name]
            activity_scores, action_scores = zero_shot_scores(test, bench.truth if text == "clean" else None)
            if activity_scores is not None:
                row[f"accuracy_{test_name}"] = top1_accuracy(activity_scores, test.activities)
            row[f"mAP_{test_name}"] = mean_average_precision(action_scores, test.actions, "all_classes")
        rows.append(row)
    return pd.DataFrame(rows)


SELECTION_GRID: dict[str, tuple[float, ...]] = {"confounder_strength": (0.35, 0.5, 0.7, 1.0), "noise": (3.0, 4.0, 5.0, 6.0)}
"""Strengths tried when choosing a preset's defaults (context and objects share one strength)."""

SELECTION_RULE = (
    "Among grid settings where (a) a linear probe on the whole pooled features fit on train_oracle reaches "
    "mAP (all classes) on test in [0.85, 0.95] (learnable, not saturated) and (b) the same probe fit on the "
    "confounded train loses at least 0.10 mAP from test to test_shift (the confounding matters), choose the "
    "weakest confounders (smallest context = objects strength), then the smallest noise. Other strengths stay "
    "fixed: confounding 0.9, companion_rate 0.8, text_contamination 0.7. Decided before any model was trained."
)


def select_strengths(preset: str, profile: str = "book", seed: int = 0,
                     grid: dict[str, tuple[float, ...]] = SELECTION_GRID,
                     progress: bool = False) -> tuple["pandas.DataFrame", dict[str, float] | None]:
    """Run the probe grid of ``SELECTION_RULE`` for one preset: (table, chosen strengths or None)."""
    import pandas as pd
    from tqdm.auto import tqdm

    settings = [(s, n) for s in grid["confounder_strength"] for n in grid["noise"]]
    rows = []
    for strength, noise in tqdm(settings, desc=f"strength grid {preset}", disable=not progress):
        bench = make_benchmark(preset, profile=profile, seed=seed, context_strength=strength,
                               objects_strength=strength, noise=noise)
        report = probe_report(bench, parts=("whole",)).set_index("trained_on")
        confounded, oracle = report.loc["train"], report.loc["train_oracle"]
        rows.append({
            "confounder_strength": strength, "noise": noise,
            "oracle_mAP_test": oracle["mAP_test"], "oracle_mAP_test_shift": oracle["mAP_test_shift"],
            "confounded_mAP_test": confounded["mAP_test"], "confounded_mAP_test_shift": confounded["mAP_test_shift"],
            "confounded_loss": confounded["mAP_test"] - confounded["mAP_test_shift"],
        })
    table = pd.DataFrame(rows)
    table["eligible"] = table["oracle_mAP_test"].between(0.85, 0.95) & (table["confounded_loss"] >= 0.10)
    eligible = table[table["eligible"]].sort_values(["confounder_strength", "noise"])
    if eligible.empty:
        return table, None
    best = eligible.iloc[0]
    return table, {"context_strength": float(best["confounder_strength"]),
                   "objects_strength": float(best["confounder_strength"]), "noise": float(best["noise"])}

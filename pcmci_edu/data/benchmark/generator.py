"""The structural causal model that generates the benchmark (:func:`make_benchmark`).

From a preset and a :class:`~pcmci_edu.data.benchmark.splits.BenchmarkConfig` it draws the world
(compositional label texts, action prototypes, context and object vectors, the companion of each
action) and then the videos: scripts from the grammars, timing, noise, and the confounders
(context tied to the activity, companions to the actions) that the shifted test splits and
the oracles redraw independently of the labels, one at a time or jointly; the codependency
splits recombine the scripts themselves (``_Generator.splits``). The equations are in
:mod:`pcmci_edu.data.benchmark`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from pcmci_edu.data.benchmark.presets import KITCHEN_OBJECTS, PRESETS, Preset
from pcmci_edu.data.benchmark.splits import (BREAKS, NO_ACTION, PROFILE_DEFAULTS, SPLITS, Benchmark,
                                             BenchmarkConfig, BenchmarkSplit, BenchmarkTruth, _unit, _with_zero_row,
                                             novel_pair_fraction)
from pcmci_edu.data.grammars import grammar_actions, sample_script, splice_script
from pcmci_edu.profile import resolve_profile


STOPWORDS = frozenset({"to", "and", "on", "of", "the", "a", "an", "with", "into", "some", "make"})


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
    """Generate the benchmark: the splits of :data:`~pcmci_edu.data.benchmark.splits.SPLITS`.

    ``overrides`` replace :class:`BenchmarkConfig` fields (e.g. ``confounding=0.5``).

    >>> bench = make_benchmark("breakfast", profile="smoke", seed=0)
    >>> list(bench)[:6]
    ['train', 'val', 'test', 'test_shift', 'test_masked', 'train_oracle']
    >>> [name for name in bench if name.startswith("test_shift_")]
    ['test_shift_context', 'test_shift_objects', 'test_shift_codependency']
    >>> bench["train"][0]["frames"].shape
    torch.Size([8, 32])
    """
    config = benchmark_config(preset, profile, seed, **overrides)
    start = time.perf_counter()
    generator = _Generator(PRESETS[preset](), config)
    splits = generator.splits()
    for name in splits:
        generator.truth.novel_pairs[name] = novel_pair_fraction(splits[name], splits["train"],
                                                                generator.truth.background_index)
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
    spliced_types: np.ndarray | None = None
    """Script type of the chunk spliced into each video (-1: none); None for unspliced content."""


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
        confounding = {s: 0.0 if "C" in BREAKS[s] else config.confounding for s in SPLITS}
        follows = {s: "H" not in BREAKS[s] for s in SPLITS}
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
            breaks=dict(BREAKS),
            background_index=-1 if preset.background is None else self.action_index[preset.background],
        )

    # -- content: scripts, timing and noise -------------------------------------------
    def _content(self, count: int) -> _Content:
        preset, rng = self.preset, self.rng
        scripts = preset.script_names
        activities = rng.permutation(np.arange(count) % len(scripts))
        drawn = []
        for v in range(count):
            script = [self.action_index[a] for a in sample_script(preset.grammars[scripts[activities[v]]], rng)]
            if preset.empty_rate and rng.random() < preset.empty_rate:
                script = [NO_ACTION]  # a video in which no labelled action happens
            drawn.append(self._timed(script))
        return self._assemble(activities, drawn, self._noise(count))

    def _spliced_content(self, content: _Content) -> _Content:
        """The codependency shift of ``content``: each video's own script (same activity, same
        noise) with a chunk of a script drawn from another script type spliced in
        (:func:`~pcmci_edu.data.grammars.splice_script`); timing redrawn. Empty videos stay empty.
        """
        preset, rng = self.preset, self.rng
        names = preset.script_names
        background = 1 if preset.background is not None else 0
        others = np.full(len(content.scripts), -1, dtype=np.int64)
        drawn = []
        for v, script in enumerate(content.scripts):
            own = script[background:len(script) - background].tolist()
            if own != [NO_ACTION]:
                choices = [t for t in range(len(names)) if t != content.activities[v]]
                others[v] = choices[rng.integers(len(choices))]
                other = [self.action_index[a] for a in sample_script(preset.grammars[names[others[v]]], rng)]
                own = splice_script(own, other, rng)
            drawn.append(self._timed(own))
        spliced = self._assemble(content.activities, drawn, content.noise)
        spliced.spliced_types = others
        return spliced

    def _timed(self, script: list[int]) -> tuple[list[int], np.ndarray]:
        """A script with its background segments and its segment end times (seconds)."""
        config, rng = self.config, self.rng
        lengths = rng.gamma(4.0, 0.25, size=len(script))
        if self.preset.background is not None:
            background = self.action_index[self.preset.background]
            script = [background, *script, background]
            lengths = np.concatenate([[0.4 * rng.random() + 0.1], lengths, [0.4 * rng.random() + 0.1]])
        duration = config.mean_duration_s * rng.lognormal(0.0, 0.4)
        return script, np.cumsum(lengths) / lengths.sum() * duration

    def _noise(self, count: int) -> np.ndarray:
        config = self.config
        noise = self.rng.standard_normal((count, config.num_frames, config.feature_dim), dtype=np.float32)
        noise *= config.noise / np.sqrt(config.feature_dim)
        return noise

    def _assemble(self, activities: np.ndarray, drawn: list[tuple[list[int], np.ndarray]],
                  noise: np.ndarray) -> _Content:
        """Labels and the action at each sampled frame from timed scripts."""
        count, frames = len(drawn), self.config.num_frames
        multi_hot = np.zeros((count, len(self.preset.action_names)), dtype=np.float32)
        frame_actions = np.zeros((count, frames), dtype=np.int64)
        frame_segments = np.zeros((count, frames), dtype=np.int64)
        segments: list[list[tuple[int, float, float]]] = []
        scripts_drawn: list[np.ndarray] = []
        for v, (script, ends) in enumerate(drawn):
            starts = np.concatenate([[0.0], ends[:-1]])
            segments.append([(int(k), round(float(s), 2), round(float(e), 2))
                             for k, s, e in zip(script, starts, ends) if k != NO_ACTION])
            multi_hot[v, [k for k in script if k != NO_ACTION]] = 1.0
            scripts_drawn.append(np.asarray(script, dtype=np.int64))
            times = (np.arange(frames) + 0.5) / frames * ends[-1]
            which = np.minimum(np.searchsorted(ends, times, side="right"), len(script) - 1)
            frame_segments[v] = which
            frame_actions[v] = np.asarray(script)[which]
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
            spliced_types=content.spliced_types,
        )

    def splits(self) -> dict[str, BenchmarkSplit]:
        """Every split of SPLITS. Shifts and oracles reuse their source's content and noise, and
        the confounders they do not break: ``test_shift`` and ``train_oracle`` redraw context
        and objects, ``*_context`` only the context, ``*_objects`` only the objects (the very
        redraws of the joint split), ``*_codependency`` splices the scripts and keeps the
        source's contexts, its objects following the new actions' companions as in training.
        """
        config, confounding = self.config, self.truth.confounding
        train, val, test = self._content(config.num_train), self._content(config.num_val), self._content(config.num_test)
        out: dict[str, BenchmarkSplit] = {}
        for name, content in (("train", train), ("val", val), ("test", test)):
            out[name] = self._split(name, content, self._contexts(content.activities, confounding[name]),
                                    self._objects(content, True), True)
        redrawn: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for source, shift in (("test", "test_shift"), ("train", "train_oracle")):
            content = test if source == "test" else train
            contexts = self._contexts(content.activities, confounding[shift])
            objects = self._objects(content, False)
            redrawn[source] = (contexts, objects)
            out[shift] = self._split(shift, content, contexts, objects, True)
            if source == "test":
                out["test_masked"] = self._split("test_masked", test, out["test"].contexts,
                                                 out["test"].frame_objects, False)
        for source, prefix in (("test", "test_shift"), ("train", "train_oracle")):
            content, kept = (test if source == "test" else train), out[source]
            contexts, objects = redrawn[source]
            out[f"{prefix}_context"] = self._split(f"{prefix}_context", content, contexts, kept.frame_objects, True)
            out[f"{prefix}_objects"] = self._split(f"{prefix}_objects", content, kept.contexts, objects, True)
        for source, prefix in (("test", "test_shift"), ("train", "train_oracle")):
            spliced = self._spliced_content(test if source == "test" else train)
            name = f"{prefix}_codependency"
            out[name] = self._split(name, spliced, out[source].contexts, self._objects(spliced, True), True)
        return {name: out[name] for name in SPLITS}

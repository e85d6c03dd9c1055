"""Properties of the embedded causal benchmark, tested rather than assumed."""

import numpy as np
import pytest
import torch

from pcmci_edu.data import Benchmark, BenchmarkSplit, VideoDataset, make_benchmark
from pcmci_edu.data.benchmark import ACCURACY_WINDOW, MIN_SHIFT_LOSS, SPLITS, probe_report
from pcmci_edu.data.labels import BREAKFAST_ACTIONS


@pytest.fixture(scope="module")
def book():
    return make_benchmark("breakfast", profile="book", seed=0)


@pytest.fixture(scope="module")
def smoke():
    return make_benchmark("breakfast", profile="smoke", seed=0)


def test_splits_sizes_and_interface(book):
    assert isinstance(book, Benchmark)
    assert list(book) == list(SPLITS)
    assert len(book["train"]) == 1357 and len(book["test"]) == 355
    assert len(book["test_shift"]) == len(book["test_masked"]) == 355
    assert len(book["train_oracle"]) == 1357
    train = book["train"]
    assert isinstance(train, BenchmarkSplit) and isinstance(train, VideoDataset)
    assert train.num_frames == 32 and train.feature_dim == 128
    assert train.action_names == list(BREAKFAST_ACTIONS) and len(train.activity_names) == 10
    assert train.has_activities
    sample = train[3]
    assert sample["frames"].shape == (32, 128) and sample["frames"].dtype == torch.float32
    assert sample["activity"].dtype == torch.long and sample["activity"].ndim == 0
    assert sample["actions"].shape == (48,) and int(sample["index"]) == 3
    assert train.action_text_features.shape == (48, 128)
    assert train.activity_text_features.shape == (10, 128)
    assert book.config.preset == "breakfast" and book.config.seed == 0


def test_smoke_profile_is_tiny(smoke):
    train = smoke["train"]
    assert len(train) <= 120 and train.num_frames == 8 and train.feature_dim == 32


def test_parts_sum_to_frames_and_masking_removes_the_action(smoke):
    for name in SPLITS:
        split = smoke[name]
        total = sum(split.parts[p] for p in ("action", "context", "objects", "noise"))
        np.testing.assert_allclose(total, split.frames, atol=1e-5)
    test, masked = smoke["test"], smoke["test_masked"]
    assert np.all(masked.parts["action"] == 0)
    np.testing.assert_allclose(masked.frames, test.frames - test.parts["action"], atol=1e-5)
    np.testing.assert_array_equal(masked.actions, test.actions)
    shift = smoke["test_shift"]  # aligned with test: same scripts and noise, confounders redrawn
    np.testing.assert_array_equal(shift.frame_actions, test.frame_actions)
    np.testing.assert_allclose(shift.parts["noise"], test.parts["noise"], atol=1e-5)


def test_labels_come_from_the_frame_level_scripts(smoke):
    train = smoke["train"]
    sil = train.action_names.index("SIL")
    assert np.all(train.actions[:, sil] == 1)  # background before and after every script
    for v in range(len(train)):
        labelled = set(np.flatnonzero(train.actions[v]))
        assert {k for k, _, _ in train.segments[v]} == labelled
        starts = [s for _, s, _ in train.segments[v]]
        assert starts == sorted(starts)
        assert set(train.frame_actions[v]) <= labelled


def test_context_predicts_activity_in_train_not_in_shift(book):
    def home_rate(split):
        per = book.config.contexts_per_activity
        return float(np.mean(split.contexts // per == split.activities))

    assert home_rate(book["train"]) > 0.85  # chance is 0.1
    assert home_rate(book["test"]) > 0.85
    assert abs(home_rate(book["test_shift"]) - 0.1) < 0.05
    assert abs(home_rate(book["train_oracle"]) - 0.1) < 0.04
    assert book.truth.confounding["test_shift"] == 0.0


def test_companions_cooccur_with_their_actions_in_train_not_in_shift(book):
    companion = book.truth.companion_index

    def companion_rate(split):
        frames_with_action = companion[split.frame_actions] >= 0
        shown = split.frame_objects == companion[split.frame_actions]
        return float(shown[frames_with_action].mean())

    assert companion_rate(book["train"]) > 0.7
    assert companion_rate(book["test_shift"]) < 0.1
    # objects still appear in the shift split, at a similar rate
    assert abs((book["test_shift"].frame_objects >= 0).mean() - (book["test"].frame_objects >= 0).mean()) < 0.05


def test_frozen_text_is_contaminated_by_companions(book):
    truth = book.truth
    frozen = book["train"].action_text_features.numpy()
    clean = truth.clean_action_text_features.numpy()
    k = BREAKFAST_ACTIONS.index("pour_milk")
    direction = truth.object_vectors[truth.companion_index[k]]
    direction = direction / np.linalg.norm(direction)
    assert frozen[k] @ direction > clean[k] @ direction + 0.3
    assert book.truth.companions["pour_milk"] == truth.object_names[truth.companion_index[k]]


def test_text_embeddings_are_compositional(book):
    clean = book.truth.clean_action_text_features.numpy()
    index = {name: k for k, name in enumerate(BREAKFAST_ACTIONS)}

    def cos(a, b):
        return float(clean[index[a]] @ clean[index[b]])

    assert cos("pour_milk", "pour_cereals") > cos("pour_milk", "take_knife") + 0.3
    assert cos("pour_milk", "stir_milk") > cos("pour_milk", "take_knife") + 0.3


def test_context_probe_is_at_chance_on_shift_and_confounding_matters(book):
    report = probe_report(book).set_index(["trained_on", "part"])
    context = report.loc[("train", "context")]
    assert context["accuracy_test"] > 0.7
    assert abs(context["accuracy_test_shift"] - 0.1) < 0.06
    action = report.loc[("train", "action")]
    assert action["accuracy_test_shift"] > 0.95  # the causal part carries the label
    whole, oracle = report.loc[("train", "whole")], report.loc[("train_oracle", "whole")]
    confounded_loss = whole["mAP_test"] - whole["mAP_test_shift"]
    oracle_loss = oracle["mAP_test"] - oracle["mAP_test_shift"]
    assert confounded_loss > 0.08 and confounded_loss > oracle_loss + 0.08
    assert whole["accuracy_test"] - whole["accuracy_test_shift"] > 0.05
    frozen, clean = report.loc[("zero-shot frozen_text", "whole")], report.loc[("zero-shot clean_text", "whole")]
    assert frozen["mAP_test"] - frozen["mAP_test_shift"] > clean["mAP_test"] - clean["mAP_test_shift"] + 0.03
    # the defaults satisfy SELECTION_RULE: headroom below the ceiling, and the confounding matters
    low, high = ACCURACY_WINDOW
    assert low <= whole["accuracy_test"] <= high
    assert whole["mAP_test"] - whole["mAP_test_shift"] >= MIN_SHIFT_LOSS
    # the context-only shift sends the context probe to chance; the objects-only shift the objects probe
    assert abs(context["accuracy_test_shift_context"] - 0.1) < 0.06
    objects = report.loc[("train", "objects")]
    assert objects["accuracy_test"] > 0.7 and objects["accuracy_test_shift_objects"] < 0.25
    assert objects["accuracy_test_shift_context"] == pytest.approx(objects["accuracy_test"])


def test_recorded_grid_chose_the_defaults():
    """results/benchmark_probes.txt (benchmarks/benchmark_generation.py --grid) chose each preset's defaults."""
    import ast
    import re
    from pathlib import Path

    from pcmci_edu.data.benchmark import PRESETS, SELECTION_RULE, benchmark_config

    text = (Path(__file__).resolve().parents[1] / "results" / "benchmark_probes.txt").read_text()
    assert SELECTION_RULE in text.replace("\n", " ")
    for preset in PRESETS:
        match = re.search(rf"^\[{preset}\] grid .*?; chosen: (\{{.*?\}}|None);", text, re.MULTILINE)
        assert match, f"no grid for {preset} in results/benchmark_probes.txt"
        chosen = ast.literal_eval(match.group(1))
        assert chosen is not None, f"{preset}: no eligible setting"
        config = benchmark_config(preset, "book")
        assert {name: getattr(config, name) for name in chosen} == chosen, preset


def test_determinism_for_a_seed():
    a = make_benchmark("breakfast", profile="smoke", seed=3)
    b = make_benchmark("breakfast", profile="smoke", seed=3)
    c = make_benchmark("breakfast", profile="smoke", seed=4)
    for name in SPLITS:
        np.testing.assert_array_equal(a[name].frames, b[name].frames)
        np.testing.assert_array_equal(a[name].actions, b[name].actions)
    assert not np.array_equal(a["train"].frames, c["train"].frames)


def test_few_shot_takes_k_videos_per_activity(book):
    few = book.few_shot(4, seed=1)
    assert len(few) == 40
    assert np.all(np.bincount(few.activities, minlength=10) == 4)
    assert few.parts["context"].shape == (40, 32, 128)
    np.testing.assert_array_equal(few.frames, book["train"].frames[few_indices(book, few)])
    assert book.few_shot(4, seed=1).video_ids == few.video_ids
    with pytest.raises(ValueError, match="k >= 1"):
        book.few_shot(0)


def few_indices(book, few):
    position = {vid: i for i, vid in enumerate(book["train"].video_ids)}
    return [position[v] for v in few.video_ids]


def test_overrides_and_bad_settings():
    bench = make_benchmark("breakfast", profile="smoke", num_frames=4, feature_dim=16, confounding=0.5)
    assert bench["train"].frames.shape[1:] == (4, 16) and bench.config.confounding == 0.5
    with pytest.raises(TypeError, match="unknown benchmark setting"):
        make_benchmark("breakfast", profile="smoke", confunding=0.5)
    with pytest.raises(ValueError, match="unknown benchmark preset"):
        make_benchmark("epic", profile="smoke")


@pytest.mark.parametrize("preset", ["coin", "charades"])
def test_other_presets_share_the_interface(preset):
    bench = make_benchmark(preset, profile="smoke", seed=0)
    assert list(bench) == list(SPLITS)
    train = bench["train"]
    sample = train[0]
    assert sample["frames"].shape == (8, 32) and sample["actions"].shape == (train.num_actions,)
    assert train.action_text_features.shape == (train.num_actions, 32)
    assert all(text == text.lower() and "_" not in text for text in train.action_texts)
    total = sum(train.parts[p] for p in ("action", "context", "objects", "noise"))
    np.testing.assert_allclose(total, train.frames, atol=1e-5)


def test_coin_preset_is_a_slice_of_tasks_with_shared_steps():
    train = make_benchmark("coin", profile="smoke")["train"]
    assert 8 <= train.num_activities <= 20 and train.num_actions < 100
    assert "MakeFrenchFries" in train.activity_names
    assert train.activity_texts[train.activity_names.index("ReplaceCDDriveWithSSD")] == "replace CD drive with SSD"
    shared = train.action_names.index("add_seasoning")
    assert len(set(train.activities[train.actions[:, shared] > 0])) >= 2


def test_charades_preset_is_multi_label_with_scenes_as_context():
    bench = make_benchmark("charades", profile="book", seed=0)
    train, shift = bench["train"], bench["test_shift"]
    assert not train.has_activities and (train.activities == -1).all()
    assert train.activity_text_features is None and train.activity_names == []
    assert "Kitchen" in bench.truth.context_names and len(bench.truth.context_names) == 8
    # the scene shown is the script's scene in training, not in the shifted test
    assert np.mean(train.contexts == train.script_types) > 0.85
    assert np.mean(shift.contexts == shift.script_types) < 0.25
    # some videos have no action at all, as in Charades
    assert 0 < (train.actions.sum(1) == 0).sum() < 0.05 * len(train)
    assert (train.actions.sum(1) > 1).mean() > 0.5
    with pytest.raises(ValueError):
        bench.few_shot(0)
    few = bench.few_shot(2, seed=0)
    assert (few.actions.sum(0) >= 2).all()


def test_generation_is_fast_enough():
    bench = make_benchmark("breakfast", profile="book", seed=1)
    assert bench.generation_seconds < 10.0


def test_zero_shot_scores_use_frozen_or_clean_text(smoke):
    from pcmci_edu.data import zero_shot_scores

    test = smoke["test"]
    activity, action = zero_shot_scores(test)
    assert activity.shape == (len(test), 10) and action.shape == (len(test), 48)
    assert np.all(np.abs(action) <= 1 + 1e-9)  # cosines
    _, clean = zero_shot_scores(test, smoke.truth)
    assert not np.allclose(action, clean)


def test_split_names_and_what_each_breaks(book):
    from pcmci_edu.data.benchmark import BREAKS, CONFOUNDERS, ORACLE_SPLITS, SHIFT_SPLITS

    assert CONFOUNDERS == {"context": "C", "objects": "H", "codependency": "I"}
    assert SHIFT_SPLITS == {"context": "test_shift_context", "objects": "test_shift_objects",
                            "codependency": "test_shift_codependency", "joint": "test_shift"}
    assert ORACLE_SPLITS == {"context": "train_oracle_context", "objects": "train_oracle_objects",
                             "codependency": "train_oracle_codependency", "joint": "train_oracle"}
    assert set(BREAKS) == set(SPLITS) and book.truth.breaks == BREAKS
    for confounder, node in CONFOUNDERS.items():
        assert BREAKS[SHIFT_SPLITS[confounder]] == BREAKS[ORACLE_SPLITS[confounder]] == (node,)
    assert BREAKS["test_shift"] == BREAKS["train_oracle"] == ("C", "H")
    for name in SPLITS:
        assert book.truth.confounding[name] == (0.0 if "C" in BREAKS[name] else book.config.confounding)
        assert book.truth.objects_follow_actions[name] == ("H" not in BREAKS[name])


def _home_rate(bench, split):
    return float(np.mean(split.contexts // bench.config.contexts_per_activity == split.script_types))


def _companion_rate(bench, split):
    companion = bench.truth.companion_index
    with_action = companion[split.frame_actions] >= 0
    return float((split.frame_objects == companion[split.frame_actions])[with_action].mean())


@pytest.mark.parametrize("source, prefix", [("test", "test_shift"), ("train", "train_oracle")])
def test_context_and_objects_shifts_change_only_their_confounder(book, source, prefix):
    kept, joint = book[source], book[prefix]
    context, objects = book[f"{prefix}_context"], book[f"{prefix}_objects"]
    for split in (joint, context, objects):  # same videos: scripts, timing, labels, noise
        np.testing.assert_array_equal(split.frame_actions, kept.frame_actions)
        np.testing.assert_array_equal(split.actions, kept.actions)
        np.testing.assert_array_equal(split.activities, kept.activities)
        np.testing.assert_allclose(split.parts["noise"], kept.parts["noise"], atol=1e-5)
    # context only: the context redrawn, the objects of each frame kept
    np.testing.assert_array_equal(context.frame_objects, kept.frame_objects)
    assert _home_rate(book, kept) > 0.85 and abs(_home_rate(book, context) - 0.1) < 0.05
    # objects only: the contexts kept, objects independent of the actions at the same rate
    np.testing.assert_array_equal(objects.contexts, kept.contexts)
    assert _companion_rate(book, kept) > 0.7 and _companion_rate(book, objects) < 0.1
    assert abs((objects.frame_objects >= 0).mean() - (kept.frame_objects >= 0).mean()) < 0.05
    # the joint shift is exactly both redraws together
    np.testing.assert_array_equal(joint.contexts, context.contexts)
    np.testing.assert_array_equal(joint.frame_objects, objects.frame_objects)


@pytest.mark.parametrize("source, prefix", [("test", "test_shift"), ("train", "train_oracle")])
def test_codependency_shift_recombines_scripts_and_keeps_the_other_rules(book, source, prefix):
    kept, spliced = book[source], book[f"{prefix}_codependency"]
    np.testing.assert_array_equal(spliced.activities, kept.activities)      # label: the majority activity
    np.testing.assert_array_equal(spliced.contexts, kept.contexts)          # context as in the source
    np.testing.assert_allclose(spliced.parts["noise"], kept.parts["noise"], atol=1e-5)
    assert _companion_rate(book, spliced) > 0.7                             # objects follow companions
    assert np.all(spliced.actions >= kept.actions)                          # the own script is kept whole
    assert np.all(spliced.spliced_types != spliced.script_types)
    for v in range(len(kept)):
        own = len(kept.segments[v]) - 2                                      # without SIL before and after
        inserted = len(spliced.segments[v]) - 2 - own
        assert 1 <= inserted <= own and (inserted < own or own == 1)
    # many of its co-occurring pairs never co-occur in training; none in the unshifted splits
    assert book.truth.novel_pairs[f"{prefix}_codependency"] > 0.3
    assert book.truth.novel_pairs["test"] < 0.01 and book.truth.novel_pairs["train"] == 0.0


def test_novel_pair_fraction_counts_pairs_unseen_in_training():
    from pcmci_edu.data.benchmark import novel_pair_fraction

    class Labels:
        def __init__(self, rows):
            self.actions = np.asarray(rows, dtype=np.float32)

    train = Labels([[1, 1, 1, 0, 0], [1, 0, 0, 1, 1]])
    assert novel_pair_fraction(Labels([[1, 1, 1, 0, 0]]), train, background_index=0) == 0.0
    assert novel_pair_fraction(Labels([[1, 1, 0, 1, 0]]), train, background_index=0) == 1.0
    assert novel_pair_fraction(Labels([[0, 1, 1, 1, 0]]), train) == pytest.approx(2 / 3)


@pytest.mark.parametrize("preset", ["coin", "charades"])
def test_every_preset_has_the_per_confounder_splits(preset):
    bench = make_benchmark(preset, profile="book", seed=0)
    test, spliced = bench["test"], bench["test_shift_codependency"]
    np.testing.assert_array_equal(bench["test_shift_context"].frame_objects, test.frame_objects)
    np.testing.assert_array_equal(bench["test_shift_objects"].contexts, test.contexts)
    np.testing.assert_array_equal(spliced.contexts, test.contexts)
    nonempty = test.actions.sum(1) > 0
    assert np.all(spliced.spliced_types[nonempty] >= 0) and np.all(spliced.spliced_types[~nonempty] == -1)
    assert bench.truth.novel_pairs["test_shift_codependency"] > 0.3

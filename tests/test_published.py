"""Published features through one importer: each layout's fixture, import -> train -> evaluate via the CLI.

Annotations are in the real formats: Charades and Breakfast are small subsets of the real files when
PCMCI_DATA_ROOT is set (else miniatures written by ``make_miniature``); COIN.json is written here.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pcmci_edu import cli
from pcmci_edu.data.coin import read_coin_taxonomy
from pcmci_edu.data.download import make_miniature, prepare
from pcmci_edu.data.features import FeatureError, FeatureStore, sample_indices
from pcmci_edu.data.published import (
    COIN_PEER_SKIPPED,
    LAYOUTS,
    CoverageError,
    FeatureLayout,
    check_coverage,
    get_layout,
    import_features,
    read_published,
)

NUM_FRAMES = 8  # frames stored per video in these tests (the configs store 64)
RUN_OPTIONS = ["--set", "dataset.num_frames=4", "--set", "model.width=32", "--set", "model.heads=2",
               "--set", "model.layers=1", "--set", "train.batch_size=2", "--device", "cpu"]
SMALL_TEXT_MODEL = "ViT-S-32-alt"  # a 256-d random-weight text tower: quick on a CPU


def fails(argv: list[str], capsys, pattern: str) -> None:
    """The command exits 1 with one error line on stderr that matches ``pattern``."""
    assert cli.main(argv) == 1
    error = capsys.readouterr().err
    assert re.search(pattern, error), error


def _real_root() -> Path | None:
    value = os.environ.get("PCMCI_DATA_ROOT", "")
    return Path(value) if value and Path(value).is_dir() else None


def _from_miniature(dataset: str, tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    mini = make_miniature(tmp_path / "mini", dataset, num_train=4, num_test=2)
    prepare(dataset, tmp_path / "data", local_dir=mini.mirror, verify=False, accept_licence=True, progress=False)
    return tmp_path / "data", mini.video_ids


def charades_root(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """The first rows of the real Charades CSVs and the real class list, else a miniature."""
    real = _real_root()
    if real is None or not (real / "charades" / "Charades_v1_classes.txt").is_file():
        return _from_miniature("charades", tmp_path)
    folder = tmp_path / "data" / "charades"
    folder.mkdir(parents=True)
    shutil.copyfile(real / "charades" / "Charades_v1_classes.txt", folder / "Charades_v1_classes.txt")
    ids: dict[str, list[str]] = {}
    for split, count in (("train", 5), ("test", 2)):
        name = f"Charades_v1_{split}.csv"
        with open(real / "charades" / name, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            rows = [row for _, row in zip(range(count), reader)]
            header = reader.fieldnames
        with open(folder / name, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        ids[split] = [row["id"] for row in rows]
    return tmp_path / "data", ids


def breakfast_root(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """A few videos of the real person split (frame labels, mapping.txt, split JSONs), else a miniature."""
    from pcmci_edu.data.breakfast import person_split_name

    real = _real_root()
    if real is None or not (real / "breakfast" / "mapping.txt").is_file():
        return _from_miniature("breakfast", tmp_path)
    source, folder = real / "breakfast", tmp_path / "data" / "breakfast"
    (folder / "malmm").mkdir(parents=True)
    (folder / "groundTruth").mkdir()
    shutil.copyfile(source / "mapping.txt", folder / "mapping.txt")
    ids: dict[str, list[str]] = {}
    for split, name, count in (("train", "train.json", 5), ("test", "val.json", 2)):
        entries = dict(list(json.loads((source / "malmm" / name).read_text()).items())[:count])
        (folder / "malmm" / name).write_text(json.dumps(entries, indent=4))
        ids[split] = [person_split_name(entry) for entry in entries]
        for video_id in ids[split]:
            shutil.copyfile(source / "groundTruth" / f"{video_id}.txt", folder / "groundTruth" / f"{video_id}.txt")
    return tmp_path / "data", ids


def coin_root(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """COIN.json written here over a miniature taxonomy.xlsx (the real one has 958 label texts, too many to
    encode in a test); one test video is AfiVmAjfTNs, which MA-LMM's loader skips by id."""
    mini = make_miniature(tmp_path / "mini", "coin", num_train=2, num_test=1)
    folder = tmp_path / "data" / "coin"
    folder.mkdir(parents=True)
    shutil.copyfile(mini.mirror / "taxonomy.xlsx", folder / "taxonomy.xlsx")
    taxonomy = read_coin_taxonomy(folder / "taxonomy.xlsx")
    rng = np.random.default_rng(1)
    ids = {"train": [f"tr{i:09d}" for i in range(5)], "test": [COIN_PEER_SKIPPED[0], "te000000001"]}
    database = {}
    for split, subset in (("train", "training"), ("test", "testing")):
        for video_id in ids[split]:
            task = int(rng.integers(len(taxonomy.tasks)))
            steps = [j for j, owner in enumerate(taxonomy.step_task) if owner == task]
            duration = float(rng.uniform(20, 120))
            bounds = np.linspace(0, duration, len(steps) + 1)
            database[video_id] = {
                "duration": duration, "class": taxonomy.tasks[task], "recipe_type": task,
                "video_url": f"https://www.youtube.com/embed/{video_id}", "start": 0.0, "end": duration,
                "subset": subset,
                "annotation": [{"id": str(j + 1), "segment": [round(float(bounds[i]), 2), round(float(bounds[i + 1]), 2)],
                                "label": taxonomy.steps[j]} for i, j in enumerate(steps)],
            }
    (folder / "COIN.json").write_text(json.dumps({"database": database}))
    return tmp_path / "data", ids


def write_published(layout: FeatureLayout, directory: Path, video_ids: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    """One file per video in ``layout``; lengths straddle the store's frame count. Returns [T, D] per video."""
    rng = np.random.default_rng(seed)
    written = {}
    for number, video_id in enumerate(video_ids):
        frames = rng.normal(size=(3 + 7 * number, layout.feature_dim)).astype(np.float32)
        path = layout.path(directory, video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        array = frames.T if layout.axes == "DT" else frames
        if layout.key:
            np.savez(path, **{layout.key: array})
        else:
            np.save(path, array)
        written[video_id] = frames
    return written


def hero_clip_small_text(tmp_path: Path) -> Path:
    """A user layout in a TOML file: hero-clip's files, with a small text tower for a quick CPU test."""
    path = tmp_path / "hero_clip_small.toml"
    path.write_text('name = "hero-clip-small-text"\nfile = "vid_clip/{video_id}.npz"\nkey = "features"\n'
                    'axes = "TD"\nfeature_dim = 256\nrate_hz = 0.5\ntext_models = ["ViT-S-32-alt"]\n')
    return path


CASES = {
    # dataset: (annotation root builder, layout (name or a TOML file), text tower)
    "coin": (coin_root, "hero-clip", "ViT-B-32-quickgelu"),
    "charades": (charades_root, "small-toml", SMALL_TEXT_MODEL),
    "breakfast": (breakfast_root, "mstcn-i3d", SMALL_TEXT_MODEL),
}


@pytest.mark.parametrize("dataset", list(CASES))
def test_import_train_evaluate_end_to_end(dataset: str, tmp_path: Path, capsys):
    build, layout_name, text_model = CASES[dataset]
    root, ids = build(tmp_path)
    layout_arg = str(hero_clip_small_text(tmp_path)) if layout_name == "small-toml" else layout_name
    layout = get_layout(layout_arg)
    published = tmp_path / "published"
    absent = ids["train"][-1]  # never downloaded: no file in the published folder
    arrays = write_published(layout, published, [v for v in ids["train"] + ids["test"] if v != absent])
    store_dir = tmp_path / "store"
    extract = ["extract", dataset, "--root", str(root), "--from-features", str(published), "--layout", layout_arg,
               "--out", str(store_dir), "--model-name", text_model, "--pretrained", "none",
               "--num-frames", str(NUM_FRAMES)]
    assert cli.main(extract) == 0
    printed = capsys.readouterr().out
    total = len(ids["train"]) + len(ids["test"])
    assert f"written {total - 1}, already done 0, failed 0, no file in the folder 1" in printed
    train_count = len(ids["train"])
    assert f"{dataset} train: {train_count - 1} of {train_count} protocol videos have features" in printed
    assert (store_dir / "missing_train.txt").read_text() == f"{absent}\n"
    assert (store_dir / "missing_test.txt").read_text() == ""
    if dataset == "coin":
        assert f"{COIN_PEER_SKIPPED[0]} (test; skipped by id in MA-LMM's COIN loader): has features (used)" in printed

    store = FeatureStore(store_dir)
    for video_id, frames in arrays.items():  # resampled segment-wise, as extract samples frames; unit length
        kept = frames[sample_indices(len(frames), NUM_FRAMES)]
        expected = kept / np.linalg.norm(kept, axis=1, keepdims=True) if layout.normalize else kept  # I3D: raw
        np.testing.assert_allclose(store.read_all_frames(video_id), expected, rtol=1e-6)
    record = json.loads((store_dir / "extraction.json").read_text())
    assert record["import"]["layout"]["name"] == layout.name
    assert record["import"]["source_rate_hz"] == layout.rate_hz and "segment-wise" in record["import"]["resampling"]
    lengths = [len(frames) for frames in arrays.values()]
    assert record["import"]["published_vectors_per_video"]["max"] == max(lengths)
    assert record["import"]["published_vectors_per_video"]["videos_with_fewer_than_num_frames"] == sum(
        length < NUM_FRAMES for length in lengths)
    assert record["texts"]["model_name"] == text_model and record["texts"]["pretrained"] == "none"
    assert record["config"]["num_frames"] == NUM_FRAMES and record["normalization"].startswith(
        "L2" if layout.normalize else "none")
    assert record["coverage"]["train"]["with_features"] == train_count - 1

    assert cli.main(extract) == 0  # resumable: nothing left to do
    assert f"written 0, already done {total - 1}" in capsys.readouterr().out

    run = tmp_path / "run"
    on_store = ["--set", f"dataset.features={store_dir}", *RUN_OPTIONS]
    fraction = (train_count - 1) / train_count
    fails(["train", "--config", dataset, "--root", str(root), "--out", str(run), *on_store], capsys,
          rf"{dataset} train: only {train_count - 1} of {train_count}.*missing_train\.txt")
    lowered = [*on_store, "--set", f"dataset.min_coverage={math.floor(100 * fraction) / 100}"]
    assert cli.main(["train", "--config", dataset, "--root", str(root), "--out", str(run), "--epochs", "1",
                     *lowered]) == 0
    assert cli.main(["evaluate", "--config", dataset, "--root", str(root), "--out", str(run), *lowered]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["num_videos"] == len(ids["test"]) and results["videos_without_features"] == 0
    assert 0.0 <= results["metrics"]["mAP_all_classes"] <= 1.0
    assert results["features"]["extraction"]["import"]["layout"]["name"] == layout.name
    assert results["extractor"]["frames"]["model"] == layout.frame_model  # not the text tower's name
    assert results["extractor"]["texts"]["model_name"] == text_model


def test_bad_files_stop_the_import_with_one_error_naming_the_file(tmp_path: Path):
    hero, store = LAYOUTS["hero-clip"], FeatureStore(tmp_path / "store")
    folder = tmp_path / "published"
    write_published(hero, folder, ["good"])
    (folder / "vid_clip" / "text.npz").write_text("not an array\n")
    np.savez(folder / "vid_clip" / "wrong_key.npz", feats=np.zeros((4, 512), dtype=np.float32))
    np.savez(folder / "vid_clip" / "narrow.npz", features=np.zeros((4, 256), dtype=np.float32))
    np.save(folder / "vid_clip" / "plain.npy", np.zeros((4, 512), dtype=np.float32))
    shutil.move(folder / "vid_clip" / "plain.npy", folder / "vid_clip" / "plain.npz")
    np.savez(folder / "vid_clip" / "nan.npz", features=np.full((4, 512), np.nan, dtype=np.float32))
    for video_id, message in (("text", r"text\.npz: not a readable array file"),
                              ("wrong_key", r"wrong_key\.npz: no array 'features' \(it holds feats\)"),
                              ("narrow", r"narrow\.npz: features have shape \(4, 256\); layout hero-clip expects \[T, 512\]"),
                              ("plain", r"plain\.npz: a single \.npy array, not an \.npz archive"),
                              ("nan", r"nan\.npz: features contain NaN")):
        with pytest.raises(FeatureError, match=message):
            import_features(hero, folder, store, ["good", video_id], num_frames=4, progress=False)
    with pytest.raises(FeatureError, match=r"none of the 2 protocol videos has a file of layout mstcn-i3d"):
        import_features(LAYOUTS["mstcn-i3d"], folder, store, ["x", "y"], num_frames=4, progress=False)
    assert read_published(hero, folder, "good").shape == (3, 512)


def test_texts_must_share_the_frames_space_and_width(tmp_path: Path, capsys):
    """hero-clip frames are CLIP ViT-B/32 image features: another text tower, or a layout whose width
    differs from its text tower's, is refused before anything is written, naming a feature file."""
    root, ids = charades_root(tmp_path)
    published = tmp_path / "published"
    write_published(LAYOUTS["hero-clip"], published, ids["train"] + ids["test"])
    base = ["extract", "charades", "--root", str(root), "--from-features", str(published), "--pretrained", "none",
            "--num-frames", "4"]
    fails([*base, "--out", str(tmp_path / "a"), "--model-name", SMALL_TEXT_MODEL], capsys,
          rf"vid_clip/{ids['train'][0]}\.npz: layout hero-clip .*got --model-name {SMALL_TEXT_MODEL}.*"
          r"--allow-other-text-tower")
    wide = tmp_path / "wide.toml"
    wide.write_text('name = "wide"\nfile = "vid_clip/{video_id}.npz"\nkey = "features"\naxes = "TD"\n'
                    'feature_dim = 768\nrate_hz = 1\ntext_models = ["ViT-B-16"]\n')
    fails([*base, "--out", str(tmp_path / "b"), "--layout", str(wide), "--model-name", "ViT-B-16"], capsys,
          r"vid_clip/\w+\.npz: frames are 768-d but the ViT-B-16 text tower gives 512-d")
    for refused in (tmp_path / "a", tmp_path / "b"):  # nothing written, nothing recorded (a lock file at most)
        assert not list(refused.glob("*.np*")) and not (refused / "extraction.json").exists()
    typo = tmp_path / "typo.toml"
    typo.write_text('name = "typo"\nfile = "{video_id}.npy"\naxis = "TD"\nfeature_dim = 8\nrate_hz = 1\n')
    with pytest.raises(ValueError, match=r"typo\.toml: unknown layout field\(s\) \['axis'\]"):
        get_layout(typo)
    with pytest.raises(ValueError, match="unknown feature layout 'hero'"):
        get_layout("hero")


def test_a_store_keeps_the_settings_of_its_first_import(tmp_path: Path, capsys):
    root, ids = breakfast_root(tmp_path)
    published = tmp_path / "published"
    write_published(LAYOUTS["mstcn-i3d"], published, ids["train"] + ids["test"])
    base = ["extract", "breakfast", "--root", str(root), "--from-features", str(published), "--out",
            str(tmp_path / "store"), "--model-name", SMALL_TEXT_MODEL, "--pretrained", "none"]
    assert cli.main([*base, "--num-frames", "4"]) == 0
    fails([*base, "--num-frames", "6"], capsys, "num_frames")


def test_random_resampling_is_seeded_and_segment_wise(tmp_path: Path):
    layout = LAYOUTS["mstcn-i3d"]
    arrays = write_published(layout, tmp_path / "published", ["a", "b"])
    stores = [FeatureStore(tmp_path / name) for name in ("one", "two")]
    for store in stores:
        import_features(layout, tmp_path / "published", store, ["a", "b"], num_frames=3, sampling="random",
                        seed=5, progress=False)
    np.testing.assert_array_equal(stores[0].read_all_frames("b"), stores[1].read_all_frames("b"))
    rows = stores[0].read_all_frames("b")  # 10 published vectors, 3 segments: [0, 3.3), [3.3, 6.7), [6.7, 10)
    unit = arrays["b"]  # mstcn-i3d: stored as published (not normalised)
    positions = [int(np.flatnonzero(np.isclose(unit, row, rtol=1e-6).all(axis=1))[0]) for row in rows]
    assert positions[0] <= 3 and 3 <= positions[1] <= 6 and positions[2] >= 6


def test_coverage_threshold_and_its_message(tmp_path: Path):
    assert check_coverage("coin", "test", 10, ["a"], 0.9, tmp_path) == 0.9
    with pytest.raises(CoverageError, match=r"only 8 of 10 .*80\.0%.*missing e\.g\. a, b.*min_coverage=0\.8"):
        check_coverage("coin", "test", 10, ["a", "b"], 0.9, tmp_path)
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_coverage("coin", "test", 10, [], 1.5, tmp_path)


def test_prepare_says_where_the_published_features_are(tmp_path: Path):
    for dataset in ("coin", "charades"):
        report = prepare(dataset, tmp_path, components=["features"], progress=False)  # nothing to download
        (step,) = report.manual
        assert "UniVTG" in step and "'Video (CLIP B/32)'" in step and "ViT-B-32-quickgelu" in step
        assert f"--from-features {tmp_path}/{dataset}/univtg --layout hero-clip" in step


# ------------------------------------------------------------------ issue 23: the right model, one scale, dtypes

def test_hero_clip_is_vit_b32_and_another_text_tower_needs_an_explicit_flag(tmp_path: Path, capsys):
    """UniVTG's CLIP features are ViT-B/32 (its notes: "CLIP B/32"; HERO's CLIP extractor takes ViT-B/32 or
    RN50x4). ViT-B/16's text tower is also 512-d, so only the model check can refuse it."""
    hero = LAYOUTS["hero-clip"]
    assert hero.text_models[0] == "ViT-B-32-quickgelu" and hero.text_pretrained == "openai"
    assert "ViT-B/32" in hero.frame_model and "B/16" not in hero.describe()
    root, ids = charades_root(tmp_path)
    published = tmp_path / "published"
    write_published(hero, published, ids["train"] + ids["test"])
    base = ["extract", "charades", "--root", str(root), "--from-features", str(published), "--num-frames", "4"]
    first = rf"vid_clip/{ids['train'][0]}\.npz"
    fails([*base, "--model-name", "ViT-B-16", "--pretrained", "none"], capsys,
          rf"{first}: layout hero-clip holds CLIP ViT-B/32 .*ViT-B-32-quickgelu / ViT-B-32 with openai weights.*"
          r"got --model-name ViT-B-16 --pretrained none.*--allow-other-text-tower")
    fails([*base, "--model-name", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k"], capsys,  # other weights
          rf"{first}: .*got --model-name ViT-B-32 --pretrained laion2b_s34b_b79k")
    features = root / "charades" / "features"  # refused before anything is written (a lock file at most)
    assert not list(features.glob("**/extraction.json")) and not list(features.glob("**/*.np*"))

    # no --model-name: the label texts come from the layout's own tower (random weights here: offline)
    assert cli.main([*base, "--pretrained", "none"]) == 0
    printed = capsys.readouterr().out
    store = root / "charades" / "features" / "hero-clip_vit_b32_quickgelu_random"  # named after what made it
    assert f"-> {store}" in printed and "a pipeline check, never a result" in printed
    record = json.loads((store / "extraction.json").read_text())
    assert record["texts"]["model_name"] == "ViT-B-32-quickgelu" and record["texts"]["other_tower_allowed"] is False
    assert "--set dataset.features=features/hero-clip_vit_b32_quickgelu_random" in printed

    out = tmp_path / "other_tower"
    assert cli.main([*base, "--model-name", "ViT-B-16", "--pretrained", "none", "--out", str(out),
                     "--allow-other-text-tower"]) == 0  # explicit: imported, and recorded
    assert "--allow-other-text-tower: label texts from --model-name ViT-B-16" in capsys.readouterr().out
    record = json.loads((out / "extraction.json").read_text())
    assert record["texts"]["other_tower_allowed"] is True and record["texts"]["declared_by_layout"][0] == "ViT-B-32-quickgelu"


def test_imported_and_extracted_features_have_one_scale(tmp_path: Path, capsys):
    """extract stores unit-length CLIP embeddings; the importer normalises published vectors the same way
    (UniVTG normalises them on load), whatever their scale or float width, and records it."""
    mini = make_miniature(tmp_path / "mini", "charades", num_train=2, num_test=1)
    root = tmp_path / "data"
    prepare("charades", root, local_dir=mini.mirror, verify=False, accept_licence=True, progress=False,
            components=["annotations", "videos"])
    small = ["--model-name", SMALL_TEXT_MODEL, "--pretrained", "none", "--num-frames", "3"]
    assert cli.main(["extract", "charades", "--root", str(root), *small, "--image-size", "64", "--num-workers", "0",
                     "--out", str(tmp_path / "from_videos")]) == 0
    published = tmp_path / "published"
    layout = get_layout(hero_clip_small_text(tmp_path))
    rng = np.random.default_rng(3)
    for video_id in mini.video_ids["train"] + mini.video_ids["test"]:  # float16 at HERO's scale, not unit length
        path = layout.path(published, video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, features=(37 * rng.normal(size=(5, 256))).astype(np.float16))
    assert cli.main(["extract", "charades", "--root", str(root), "--from-features", str(published), "--layout",
                     str(hero_clip_small_text(tmp_path)), *small, "--out", str(tmp_path / "imported")]) == 0
    capsys.readouterr()
    for name in ("from_videos", "imported"):
        store = FeatureStore(tmp_path / name)
        norms = np.concatenate([np.linalg.norm(store.read_all_frames(video), axis=1) for video in store.video_ids()])
        np.testing.assert_allclose(norms, 1.0, atol=1e-3, err_msg=name)
        assert json.loads((tmp_path / name / "extraction.json").read_text())["normalization"].startswith("L2")
    np.savez(layout.path(published, "zero"), features=np.zeros((2, 256), dtype=np.float32))
    with pytest.raises(FeatureError, match=r"zero\.npz: time step 0 is an all-zero vector"):
        import_features(layout, published, FeatureStore(tmp_path / "zero_store"), ["zero"], num_frames=2,
                        progress=False)


def test_layouts_say_what_a_vector_is_and_slowfast_gets_a_frame_adapter(tmp_path: Path, capsys):
    """hero-clip: one frame every 2 s, float16; hero-slowfast (UniVTG's vid_slowfast/, 2304-d, one per 2 s)
    is in no CLIP space, so the model maps its frames into the label texts' space (the I3D path's adapter)."""
    assert "one frame sampled every 2 s" in LAYOUTS["hero-clip"].frame_model
    assert "float16" in LAYOUTS["hero-clip"].frame_model
    slowfast = LAYOUTS["hero-slowfast"]
    assert (slowfast.file, slowfast.feature_dim, slowfast.rate_hz, slowfast.text_models) == (
        "vid_slowfast/{video_id}.npz", 2304, 0.5, ())
    root, ids = charades_root(tmp_path)
    published = tmp_path / "published"
    write_published(slowfast, published, ids["train"] + ids["test"])
    store = tmp_path / "store"
    assert cli.main(["extract", "charades", "--root", str(root), "--from-features", str(published), "--layout",
                     "hero-slowfast", "--model-name", SMALL_TEXT_MODEL, "--pretrained", "none", "--num-frames", "4",
                     "--out", str(store)]) == 0
    run = tmp_path / "run"
    options = ["--set", f"dataset.features={store}", *RUN_OPTIONS]
    assert cli.main(["train", "--config", "charades", "--root", str(root), "--out", str(run), "--epochs", "1",
                     *options]) == 0
    assert cli.main(["evaluate", "--root", str(root), "--out", str(run)]) == 0  # the run's own record
    results = json.loads((run / "results.json").read_text())
    assert results["model_config"]["feature_dim"] == 2304 and results["model_config"]["text_dim"] == 256
    assert results["features"]["extraction"]["import"]["layout"]["name"] == "hero-slowfast"


@pytest.mark.parametrize("dtype", ["int32", "uint8", "complex64", "bool"])
def test_non_float_published_arrays_are_refused_naming_the_file(tmp_path: Path, dtype: str):
    hero = LAYOUTS["hero-clip"]
    path = hero.path(tmp_path, "v")
    path.parent.mkdir(parents=True)
    np.savez(path, features=np.ones((3, 512), dtype=dtype))
    with pytest.raises(FeatureError, match=rf"v\.npz: array of dtype {dtype} .*floating-point"):
        read_published(hero, tmp_path, "v")
    np.savez(path, features=np.ones((3, 512), dtype=np.float16))  # HERO's default: accepted, read as float32
    assert read_published(hero, tmp_path, "v").dtype == np.float32

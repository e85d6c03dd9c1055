"""The feature store: layouts, sampling, atomic writes and clear errors."""

import numpy as np
import pytest

from pcmci_edu.data.features import FeatureError, FeatureStore, frame_loader, sample_indices


def test_uniform_sampling_takes_segment_centres():
    np.testing.assert_array_equal(sample_indices(10, 5), [1, 3, 5, 7, 9])
    np.testing.assert_array_equal(sample_indices(3, 6), [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(sample_indices(5, 5), np.arange(5))


def test_random_sampling_stays_inside_each_segment():
    rng = np.random.default_rng(0)
    draws = np.stack([sample_indices(100, 4, "random", rng) for _ in range(200)])
    for n in range(4):
        assert draws[:, n].min() >= 25 * n and draws[:, n].max() < 25 * (n + 1)
    assert len(np.unique(draws[:, 0])) > 10  # it does vary
    with pytest.raises(ValueError, match="unknown sampling"):
        sample_indices(10, 2, "dense")


def test_write_read_roundtrip_and_atomic_write(tmp_path):
    store = FeatureStore(tmp_path / "features")
    array = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    store.write("P03_cam01_P03_tea", array)
    assert store.contains("P03_cam01_P03_tea") and not store.contains("other")
    np.testing.assert_array_equal(store.read_all_frames("P03_cam01_P03_tea"), array)
    np.testing.assert_array_equal(store.read("P03_cam01_P03_tea", 8), array[sample_indices(40, 8)])
    assert store.video_ids() == ["P03_cam01_P03_tea"]
    assert not [p for p in (tmp_path / "features").iterdir() if p.suffix == ".tmp"]


def test_mstcn_channels_first_layout(tmp_path):
    store = FeatureStore(tmp_path)
    i3d = np.random.default_rng(1).standard_normal((2048, 30)).astype(np.float32)
    np.save(tmp_path / "vid.npy", i3d)
    frames = store.read("vid", 10)
    assert frames.shape == (10, 2048)
    np.testing.assert_array_equal(frames, i3d.T[sample_indices(30, 10)])
    explicit = FeatureStore(tmp_path, layout="channels_first")
    assert explicit.read_all_frames("vid").shape == (30, 2048)
    oriented = FeatureStore(tmp_path, feature_dim=2048)
    assert oriented.read_all_frames("vid").shape == (30, 2048)


def test_wrong_shape_is_named(tmp_path):
    store = FeatureStore(tmp_path, feature_dim=8)
    np.save(tmp_path / "flat.npy", np.zeros(10, dtype=np.float32))
    with pytest.raises(FeatureError, match=r"flat\.npy.*shape \(10,\).*expected 2-D"):
        store.read("flat", 4)
    np.save(tmp_path / "wide.npy", np.zeros((5, 7), dtype=np.float32))
    with pytest.raises(FeatureError, match=r"wide\.npy.*\(5, 7\).*D=8"):
        store.read("wide", 4)
    with pytest.raises(FeatureError, match="expected 2-D"):
        store.write("bad", np.zeros((2, 2, 2)))


def test_nan_is_named_with_its_frame(tmp_path):
    store = FeatureStore(tmp_path)
    array = np.ones((6, 3), dtype=np.float32)
    array[4, 1] = np.nan
    np.save(tmp_path / "nan.npy", array)
    with pytest.raises(FeatureError, match=r"nan\.npy.*NaN.*frame 4"):
        store.read("nan", 2)
    with pytest.raises(FeatureError, match="NaN"):
        store.write("nan2", array)
    assert not store.contains("nan2")


def test_missing_feature_for_a_listed_video(tmp_path):
    store = FeatureStore(tmp_path)
    store.write("a", np.ones((3, 2)))
    with pytest.raises(FeatureError, match=r"1 video\(s\) listed in split.txt.*: b"):
        store.require(["a", "b"], listed_in="split.txt")
    with pytest.raises(FeatureError, match="no feature file for video 'b'"):
        store.read("b", 2)


def test_text_features_roundtrip_and_checks(tmp_path):
    store = FeatureStore(tmp_path)
    assert store.read_text_features() is None
    store.write_text_features(np.ones((5, 4)), np.zeros((2, 4)))
    text = store.read_text_features(num_actions=5, num_activities=2)
    assert text["actions"].shape == (5, 4) and text["activities"].shape == (2, 4)
    with pytest.raises(FeatureError, match="expected 7 rows"):
        store.read_text_features(num_actions=7)


def test_frame_loader_reads_by_position(tmp_path):
    store = FeatureStore(tmp_path)
    store.write("x", np.full((4, 2), 1.0))
    store.write("y", np.full((4, 2), 2.0))
    load = frame_loader(store, ["y", "x"], num_frames=3, sampling="random", seed=0)
    assert load(0).shape == (3, 2) and load(0)[0, 0] == 2.0 and load(1)[0, 0] == 1.0

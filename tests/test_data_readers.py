"""Readers of Breakfast, COIN and Charades on small files the tests write, and their errors."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from pcmci_edu.data import COIN, AnnotationError, Breakfast, Charades, FeatureError, FeatureStore, VideoDataset
from pcmci_edu.data.labels import BREAKFAST_ACTIONS

# ---------------------------------------------------------------- Breakfast fixtures


def _write_breakfast(root, videos):
    folder = root / "breakfast"
    (folder / "groundTruth").mkdir(parents=True)
    (folder / "mapping.txt").write_text("".join(f"{k} {name}\n" for k, name in enumerate(BREAKFAST_ACTIONS)))
    for name, labels in videos.items():
        (folder / "groundTruth" / f"{name}.txt").write_text("\n".join(labels) + "\n")
    return folder


TINY = {
    "P03_cam01_P03_cereals": ["SIL"] * 3 + ["take_bowl"] * 4 + ["pour_cereals"] * 5 + ["SIL"] * 2,
    "P03_stereo01_P03_tea": ["SIL"] * 2 + ["add_teabag"] * 3 + ["pour_water"] * 6 + ["SIL"],
    "P48_webcam01_P48_friedegg": ["SIL"] + ["crack_egg"] * 3 + ["fry_egg"] * 8 + ["SIL"] * 3,
}


@pytest.fixture()
def tiny_breakfast(tmp_path):
    folder = _write_breakfast(tmp_path, TINY)
    (folder / "malmm").mkdir()
    (folder / "malmm" / "train.json").write_text(json.dumps({
        "P03-cam01-P03_cereals": {"class_name": "cereal", "class_label": 0},
        "P03-stereo-P03_tea_ch0": {"class_name": "tea", "class_label": 2},
    }))
    (folder / "malmm" / "val.json").write_text(json.dumps({
        "P48-webcam01-P48_friedegg": {"class_name": "fried egg", "class_label": 4},
    }))
    (folder / "splits").mkdir()
    (folder / "splits" / "train.split1.bundle").write_text("#bundle\nP48_webcam01_P48_friedegg.txt\n")
    (folder / "splits" / "test.split1.bundle").write_text("P03_cam01_P03_cereals.txt\nP03_stereo01_P03_tea.txt\n")
    return tmp_path


def test_breakfast_person_split_from_tiny_files(tiny_breakfast):
    train = Breakfast(tiny_breakfast, "train")
    assert isinstance(train, VideoDataset)
    assert train.video_ids == ["P03_cam01_P03_cereals", "P03_stereo01_P03_tea"]
    assert train.activities.tolist() == [0, 2]
    assert train.activity_names[2] == "tea" and train.activity_texts[5] == "make scrambled egg"
    assert train.action_texts[BREAKFAST_ACTIONS.index("pour_egg2pan")] == "pour egg to pan"
    expected = {"SIL", "take_bowl", "pour_cereals"}
    assert {train.action_names[k] for k in np.flatnonzero(train.actions[0])} == expected
    assert train.segments[0] == [(0, 0.0, 0.2), (4, 0.2, pytest.approx(7 / 15)), (1, pytest.approx(7 / 15), pytest.approx(12 / 15)),
                                 (0, pytest.approx(12 / 15), pytest.approx(14 / 15))]
    test = Breakfast(tiny_breakfast / "breakfast", "test")
    assert test.video_ids == ["P48_webcam01_P48_friedegg"] and test.activities.tolist() == [4]


def test_breakfast_mstcn_split_and_missing_split_files(tiny_breakfast):
    assert Breakfast(tiny_breakfast, "test", subset="split1").video_ids == ["P03_cam01_P03_cereals", "P03_stereo01_P03_tea"]
    assert Breakfast(tiny_breakfast, "train", subset="split1").video_ids == ["P48_webcam01_P48_friedegg"]
    with pytest.raises(AnnotationError, match=r"train\.split3\.bundle.*MS-TCN split file missing"):
        Breakfast(tiny_breakfast, "train", subset="split3")
    with pytest.raises(ValueError, match="subset must be one of"):
        Breakfast(tiny_breakfast, "train", subset="split5")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        Breakfast(tiny_breakfast, "val")


def test_breakfast_unknown_label_names_file_and_line(tiny_breakfast):
    path = tiny_breakfast / "breakfast" / "groundTruth" / "P48_webcam01_P48_friedegg.txt"
    path.write_text("SIL\ncrack_egg\nfry_eggs\nSIL\n")
    with pytest.raises(AnnotationError, match=r"P48_webcam01_P48_friedegg\.txt, line 3: unknown action label 'fry_eggs'"):
        Breakfast(tiny_breakfast, "test")


def test_breakfast_empty_file_is_named(tiny_breakfast):
    path = tiny_breakfast / "breakfast" / "groundTruth" / "P48_webcam01_P48_friedegg.txt"
    path.write_text("")
    with pytest.raises(AnnotationError, match=r"P48_webcam01_P48_friedegg\.txt: empty ground-truth file"):
        Breakfast(tiny_breakfast, "test")


def test_breakfast_split_label_must_match_the_name(tiny_breakfast):
    (tiny_breakfast / "breakfast" / "malmm" / "val.json").write_text(json.dumps({
        "P48-webcam01-P48_friedegg": {"class_label": 3},
    }))
    with pytest.raises(AnnotationError, match=r"val\.json, video 'P48-webcam01-P48_friedegg', field 'class_label'"):
        Breakfast(tiny_breakfast, "test")


def test_breakfast_with_features(tiny_breakfast, tmp_path):
    store = FeatureStore(tmp_path / "features")
    rng = np.random.default_rng(0)
    for video in TINY:
        store.write(video, rng.standard_normal((20, 6)))
    store.write_text_features(rng.standard_normal((48, 6)), rng.standard_normal((10, 6)))
    test = Breakfast(tiny_breakfast, "test", features=store, num_frames=4)
    sample = test[0]
    assert sample["frames"].shape == (4, 6) and sample["frames"].dtype == torch.float32
    assert sample["activity"].item() == 4 and sample["actions"].shape == (48,)
    assert test.feature_dim == 6 and test.action_text_features.shape == (48, 6)
    assert test.activity_text_features.shape == (10, 6)
    np.testing.assert_allclose(sample["frames"].numpy(), store.read("P48_webcam01_P48_friedegg", 4))


def test_missing_feature_for_a_listed_video(tiny_breakfast, tmp_path):
    store = FeatureStore(tmp_path / "features")
    store.write("P03_cam01_P03_cereals", np.ones((5, 3)))
    with pytest.raises(FeatureError, match=r"1 video\(s\) listed in Breakfast person train.*P03_stereo01_P03_tea"):
        Breakfast(tiny_breakfast, "train", features=store)


def test_annotation_only_frames_raise_clearly(tiny_breakfast):
    with pytest.raises(RuntimeError, match="annotation-only"):
        Breakfast(tiny_breakfast, "train")[0]


# ---------------------------------------------------------------- COIN fixtures


def _write_taxonomy(folder):
    steps = pd.DataFrame({
        "Target Id": [0, 0, 1, 1, 1],
        "Target Label": ["ReplaceCDDriveWithSSD", "ReplaceCDDriveWithSSD", "MakeFrenchFries", "MakeFrenchFries", "MakeFrenchFries"],
        "Action Id": [1, 2, 3, 4, 5],
        "Action Label": ["remove the cover", "install the ssd", "cut potato", "fry potato", "add salt"],
    })
    domains = pd.DataFrame({"Domains": ["Electrical Appliance", "Dish"], "Targets": ["ReplaceCDDriveWithSSD", "MakeFrenchFries"]})
    with pd.ExcelWriter(folder / "taxonomy.xlsx") as writer:
        steps.to_excel(writer, sheet_name="target_action_mapping", index=False)
        domains.to_excel(writer, sheet_name="domain_target_mapping", index=False)


def _coin_video(subset, task, name, steps):
    return {"duration": 60.0, "class": name, "recipe_type": task, "video_url": "https://example.org", "start": 0.0,
            "end": 60.0, "subset": subset,
            "annotation": [{"id": str(s), "segment": [start, start + 5.0], "label": "x"} for s, start in steps]}


@pytest.fixture()
def tiny_coin(tmp_path):
    folder = tmp_path / "coin"
    folder.mkdir()
    _write_taxonomy(folder)
    database = {
        "vidA": _coin_video("training", 0, "ReplaceCDDriveWithSSD", [(2, 20.0), (1, 3.0)]),
        "vidB": _coin_video("testing", 1, "MakeFrenchFries", [(3, 1.0), (4, 9.0)]),
        "vidC": _coin_video("validation", 1, "MakeFrenchFries", [(5, 2.0)]),
        "vidD": _coin_video("training", 1, "MakeFrenchFries", [(3, 0.0), (4, 6.0), (5, 12.0)]),
    }
    (folder / "COIN.json").write_text(json.dumps({"database": database}))
    return tmp_path


def test_coin_reader_on_a_tiny_file(tiny_coin):
    train, test = COIN(tiny_coin, "train"), COIN(tiny_coin, "test")
    assert train.video_ids == ["vidA", "vidD"] and test.video_ids == ["vidB", "vidC"]
    assert train.activity_names == ["ReplaceCDDriveWithSSD", "MakeFrenchFries"]
    assert train.activity_texts == ["replace CD drive with SSD", "make french fries"]
    assert train.action_names == ["1", "2", "3", "4", "5"] and train.action_texts[3] == "fry potato"
    assert train.activities.tolist() == [0, 1]
    np.testing.assert_array_equal(train.actions[0], [1, 1, 0, 0, 0])
    assert train.segments[0] == [(0, 3.0, 8.0), (1, 20.0, 25.0)]  # time-ordered
    assert train.taxonomy.domains["MakeFrenchFries"] == "Dish"


def test_coin_rejects_unknown_subset(tiny_coin):
    path = tiny_coin / "coin" / "COIN.json"
    data = json.loads(path.read_text())
    data["database"]["vidB"]["subset"] = "train"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"COIN\.json, video 'vidB', field 'subset': 'train', expected one of training"):
        COIN(tiny_coin, "test")


def test_coin_unknown_step_and_empty_file(tiny_coin):
    path = tiny_coin / "coin" / "COIN.json"
    data = json.loads(path.read_text())
    data["database"]["vidA"]["annotation"][0]["id"] = "99"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"video 'vidA', annotation\[0\], field 'id': unknown step id 99"):
        COIN(tiny_coin, "train")
    path.write_text("")
    with pytest.raises(AnnotationError, match=r"COIN\.json: empty file"):
        COIN(tiny_coin, "train")


# ---------------------------------------------------------------- Charades fixtures

HEADER = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"


@pytest.fixture()
def tiny_charades(tmp_path):
    folder = tmp_path / "charades"
    folder.mkdir()
    (folder / "Charades_v1_classes.txt").write_text("c000 Holding some clothes\nc001 Putting clothes somewhere\nc002 Opening a door\n")
    rows = [
        'AAAAA,S1,Kitchen,6,7,Yes,"A person, cooking.",food;stove,desc,c002 3.00 5.50;c000 0.00 2.00,10.0\n',
        "BBBBB,S2,Bedroom,5,6,Yes,script,clothes;bed,desc,,8.5\n",
        "CCCCC,S3,Bedroom,5,6,Yes,script,clothes,desc,c001 1.0 4.0,12\n",
    ]
    (folder / "Charades_v1_train.csv").write_text(HEADER + "".join(rows))
    (folder / "Charades_v1_test.csv").write_text(HEADER + rows[2].replace("CCCCC", "DDDDD"))  # no video in both
    return tmp_path


def test_charades_reader_on_a_tiny_file(tiny_charades):
    train = Charades(tiny_charades, "train")
    assert train.video_ids == ["AAAAA", "BBBBB", "CCCCC"]  # the video without actions is kept
    assert not train.has_activities and train.activities.tolist() == [-1, -1, -1]
    np.testing.assert_array_equal(train.actions, [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert train.segments[0] == [(0, 0.0, 2.0), (2, 3.0, 5.5)]
    assert train.scenes == ["Kitchen", "Bedroom", "Bedroom"]
    assert train.objects == [["food", "stove"], ["clothes", "bed"], ["clothes"]]
    assert train.action_texts[2] == "Opening a door" and train.action_names[0] == "c000"
    assert len(Charades(tiny_charades, "test")) == 1
    part = train.subset([2, 0])
    assert part.video_ids == ["CCCCC", "AAAAA"] and part.scenes == ["Bedroom", "Kitchen"]
    assert part.objects == [["clothes"], ["food", "stove"]]


def test_charades_malformed_action_string_names_file_line_field(tiny_charades):
    path = tiny_charades / "charades" / "Charades_v1_test.csv"
    path.write_text(HEADER + "CCCCC,S3,Bedroom,5,6,Yes,script,clothes,desc,c001 1.0;c000 0.0 2.0,12\n")
    with pytest.raises(AnnotationError, match=r"Charades_v1_test\.csv, line 2, field 'actions': malformed action 'c001 1.0'"):
        Charades(tiny_charades, "test")
    path.write_text(HEADER + "CCCCC,S3,Bedroom,5,6,Yes,script,clothes,desc,c157 1.0 2.0,12\n")
    with pytest.raises(AnnotationError, match=r"line 2, field 'actions': unknown class 'c157'"):
        Charades(tiny_charades, "test")


def test_charades_empty_file(tiny_charades):
    (tiny_charades / "charades" / "Charades_v1_test.csv").write_text("")
    with pytest.raises(AnnotationError, match=r"Charades_v1_test\.csv: empty file"):
        Charades(tiny_charades, "test")
    (tiny_charades / "charades" / "Charades_v1_test.csv").write_text(HEADER)
    with pytest.raises(AnnotationError, match="no videos after the header"):
        Charades(tiny_charades, "test")


# ---------------------------------------------------------------- truncated and malformed files (issue 13, item 4)


def test_charades_row_cut_short_names_file_line_and_field(tiny_charades):
    path = tiny_charades / "charades" / "Charades_v1_train.csv"
    text = path.read_text()
    path.write_text(text[:text.rindex(",desc,")])  # the download stopped inside the last row
    with pytest.raises(AnnotationError, match=r"Charades_v1_train\.csv, line 4, video 'CCCCC': the row ends "
                                              r"before field 'descriptions'"):
        Charades(tiny_charades, "train")


def test_charades_row_with_an_extra_field_is_refused(tiny_charades):
    path = tiny_charades / "charades" / "Charades_v1_test.csv"
    path.write_text(HEADER + "CCCCC,S3,Bedroom,5,6,Yes,script,clothes,desc,c001 1.0 4.0,12,surplus\n")
    with pytest.raises(AnnotationError, match=r"Charades_v1_test\.csv, line 2, video 'CCCCC': 12 fields, "
                                              r"the header has 11"):
        Charades(tiny_charades, "test")


@pytest.mark.parametrize("length", ["nan", "inf", "-3"])
def test_charades_length_must_be_a_finite_non_negative_number(tiny_charades, length):
    path = tiny_charades / "charades" / "Charades_v1_test.csv"
    path.write_text(HEADER + f"CCCCC,S3,Bedroom,5,6,Yes,script,clothes,desc,c001 1.0 4.0,{length}\n")
    with pytest.raises(AnnotationError, match=r"Charades_v1_test\.csv, line 2, field 'length': expected a "
                                              r"finite number of seconds >= 0"):
        Charades(tiny_charades, "test")


@pytest.mark.parametrize("segment, shown", [("12", "'12'"), ([1.0], r"\[1\.0\]"), ([1.0, 2.0, 3.0], r"\[1\.0, 2\.0, 3\.0\]"),
                                            ([float("nan"), 4.0], r"\[nan, 4\.0\]"), ([0.0, float("inf")], r"\[0\.0, inf\]"),
                                            ([True, 4.0], r"\[True, 4\.0\]")])
def test_coin_segment_must_be_two_finite_numbers(tiny_coin, segment, shown):
    path = tiny_coin / "coin" / "COIN.json"
    data = json.loads(path.read_text())
    data["database"]["vidD"]["annotation"][1]["segment"] = segment
    path.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes (and reads) them
    with pytest.raises(AnnotationError, match=rf"COIN\.json, video 'vidD', annotation\[1\], field 'segment': "
                                              rf"expected \[start, end\], two finite numbers of seconds, got {shown}"):
        COIN(tiny_coin, "train")


def test_coin_refuses_a_video_listed_twice(tiny_coin):
    path = tiny_coin / "coin" / "COIN.json"
    database = json.loads(path.read_text())["database"]
    entries = [f'"{video}": {json.dumps(entry)}' for video, entry in database.items()]
    path.write_text('{"database": {' + ", ".join([*entries, entries[0]]) + "}}")  # json.loads would keep one
    with pytest.raises(AnnotationError, match=r"COIN\.json: key 'vidA' appears twice in one object"):
        COIN(tiny_coin, "train")


def test_breakfast_refuses_a_video_listed_twice_or_in_both_splits(tiny_breakfast):
    splits = tiny_breakfast / "breakfast" / "splits"
    (splits / "train.split1.bundle").write_text("#bundle\nP48_webcam01_P48_friedegg.txt\nP48_webcam01_P48_friedegg.txt\n")
    with pytest.raises(AnnotationError, match=r"train\.split1\.bundle, line 3: video 'P48_webcam01_P48_friedegg' is "
                                              r"listed twice \(first at .*train\.split1\.bundle, line 2\)"):
        Breakfast(tiny_breakfast, "train", subset="split1")
    (splits / "train.split1.bundle").write_text("#bundle\nP48_webcam01_P48_friedegg.txt\nP03_cam01_P03_cereals.txt\n")
    for split in ("train", "test"):
        with pytest.raises(AnnotationError, match=r"video 'P03_cam01_P03_cereals' is also in the (test|train) split"):
            Breakfast(tiny_breakfast, split, subset="split1")

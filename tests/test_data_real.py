"""The readers on the real annotation files (PCMCI_DATA_ROOT; skipped with a reason when unset)."""

import numpy as np
import pytest

from pcmci_edu.data import COIN, AnnotationError, Breakfast, Charades, read_coin_taxonomy
from pcmci_edu.metrics import mean_average_precision


@pytest.fixture(scope="module")
def breakfast_person(data_root):
    return Breakfast(data_root, "train"), Breakfast(data_root, "test")


def test_breakfast_counts(breakfast_person, data_root):
    train, test = breakfast_person
    assert len(train) == 1357 and len(test) == 355
    assert len(set(train.video_ids) | set(test.video_ids)) == 1712
    assert len(list((data_root / "breakfast" / "groundTruth").glob("*.txt"))) == 1712
    assert len(train.action_names) == 48 and train.action_names[0] == "SIL" and train.action_names[47] == "stir_tea"
    assert len(train.activity_names) == 10
    assert np.bincount(train.activities, minlength=10).min() > 100


def test_breakfast_person_split_is_by_person(breakfast_person):
    train, test = breakfast_person
    persons = lambda d: {int(v.split("_")[0][1:]) for v in d.video_ids}  # noqa: E731
    assert max(persons(train)) <= 46 and min(persons(test)) >= 47


def test_breakfast_sil_everywhere_and_five_actions_absent_on_test(breakfast_person):
    train, test = breakfast_person
    sil = train.action_names.index("SIL")
    assert train.actions[:, sil].all() and test.actions[:, sil].all()
    absent = [test.action_names[k] for k in np.flatnonzero(test.actions.sum(0) == 0)]
    assert len(absent) == 5
    perfect = mean_average_precision(test.actions, test.actions, "all_classes")
    assert perfect == pytest.approx(43 / 48)
    assert mean_average_precision(test.actions, test.actions, "present_classes") == pytest.approx(1.0)


def test_breakfast_mstcn_split1_and_absent_splits(data_root):
    test = Breakfast(data_root, "test", subset="split1")
    assert len(test) == 252
    assert {v.split("_")[0] for v in test.video_ids} == {f"P{p:02d}" for p in range(3, 16)}
    assert len(Breakfast(data_root, "train", subset="split1")) == 1712 - 252
    if not (data_root / "breakfast" / "splits" / "test.split2.bundle").exists():
        with pytest.raises(AnnotationError, match="test.split2.bundle"):
            Breakfast(data_root, "test", subset="split2")


def test_coin_taxonomy(data_root):
    taxonomy = read_coin_taxonomy(data_root / "coin" / "taxonomy.xlsx")
    assert len(taxonomy.tasks) == 180 and len(taxonomy.steps) == 778
    assert len(set(taxonomy.steps)) == 749
    assert len(set(taxonomy.domains.values())) == 12
    assert "ReplaceCDDriveWithSSD" in taxonomy.tasks


def test_coin_json_absent_is_a_clear_error(data_root):
    if (data_root / "coin" / "COIN.json").exists():
        train = COIN(data_root, "train")
        assert len(train.activity_names) == 180 and len(train.action_names) == 778
    else:
        with pytest.raises(AnnotationError, match="COIN.json missing"):
            COIN(data_root, "train")


def test_charades_counts(data_root):
    train, test = Charades(data_root, "train"), Charades(data_root, "test")
    assert len(train) == 7985 and len(test) == 1863
    assert len(train.action_names) == 157 and train.action_names[156] == "c156"
    assert not train.has_activities and (train.activities == -1).all()
    assert (train.actions.sum(1) == 0).any() and (test.actions.sum(1) == 0).any()  # kept, as officially
    assert len(train.scenes) == len(train) and train.scenes[0] == "Kitchen"
    assert train.objects[0] == ["food", "stove", "window"]
    assert (test.actions.sum(0) > 0).all()

"""Chapters 5 and 6: their primaries, their sentences computed from rows, their results files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcmci_edu import experiments as ex
from pcmci_edu.experiments import intervention_evidence as ie

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _rows(chapter: ie.InterventionChapter, effects: dict[str, float], draws: int = 6, seeds: int = 2,
          noise: float = 0.004, seed: int = 0) -> pd.DataFrame:
    """Synthetic runs: every variant's endpoint (and its in-distribution column) is a draw effect
    plus the variant's effect plus a little seed noise."""
    generator = np.random.default_rng(seed)
    in_distribution = ex.in_distribution_metric(chapter.endpoint)
    records = []
    for draw in range(draws):
        level = generator.normal(0.6, 0.05)
        for variant in chapter.variants:
            for model_seed in range(seeds):
                value = level + effects.get(variant, 0.0) + generator.normal(0, noise)
                records.append({"variant": variant, "benchmark_seed": draw, "seed": model_seed,
                                chapter.endpoint: value, in_distribution: value + 0.2,
                                **{m: level + generator.normal(0, 0.01) for m in chapter.exploratory_metrics}})
    return pd.DataFrame(records)


@pytest.mark.parametrize("chapter", [ie.CHAPTER5, ie.CHAPTER6], ids=["chapter5", "chapter6"])
def test_design_targets_the_interventions_own_shift(chapter):
    family = chapter.declare()
    assert family.size == 3
    assert {c.metric for c in family.comparisons} == {chapter.endpoint}
    assert chapter.endpoint.endswith(ie.SHIFT_OF[chapter.confounder])
    pairs = {(c.first, c.second) for c in family.comparisons}
    assert pairs == {(chapter.intervention, "base"), (chapter.intervention, ie.CONTROL),
                     (chapter.oracle, chapter.intervention)}
    assert all(c.margin == ie.MARGIN for c in family.comparisons)
    assert ie.CHAPTER5.endpoint == "mAP_all_classes_shift_codependency"
    assert ie.CHAPTER6.endpoint == "accuracy_shift_context"


@pytest.mark.parametrize("effect, expected", [(0.06, "clearly raises"), (-0.06, "clearly lowers"),
                                               (0.0, "changes nothing that matters")])
def test_changes_sentence_follows_the_rows(effect, expected):
    chapter = ie.CHAPTER5
    rows = _rows(chapter, {"ici": effect, "oracle_codependency": 0.1})
    primary = ex.analyse_family(rows, chapter.declare())
    stated = ie.conclusions(chapter, primary)
    assert expected in stated["sentences"]["changes"]
    assert math.isclose(stated["numbers"]["vs_base"], 100 * primary.iloc[0]["mean_diff"])
    assert stated["glue"]["vs_base"] == f"{100 * primary.iloc[0]['mean_diff']:+.1f}"
    assert "test_shift_codependency" in stated["sentences"]["finding"]
    assert primary.iloc[2]["verdict"] == "clear gain"  # the oracle's head start is found


def test_inconclusive_sentence_names_the_detectable_effect():
    chapter = ie.CHAPTER6
    rows = _rows(chapter, {"ivc": 0.01}, draws=3, noise=0.05, seed=3)
    primary = ex.analyse_family(rows, chapter.declare())
    base_row = primary.iloc[0]
    assert base_row["verdict"] == "inconclusive"
    sentence = ie.conclusions(chapter, primary)["sentences"]["changes"]
    assert "no detectable change" in sentence and f"{100 * base_row['mde']:.1f} points" in sentence


def test_mechanism_sentence_from_the_exploratory_table():
    chapter = ie.CHAPTER5
    rows = _rows(chapter, {"ici": 0.0})
    generator = np.random.default_rng(1)
    rows["codependency_margin"] = np.where(rows["variant"] == "ici", 0.5, 0.2) + generator.normal(0, 0.01, len(rows))
    exploratory = chapter.analyse_exploratory(rows)
    assert set(exploratory["kind"]) == {"exploratory"}
    stated = ie.conclusions(chapter, ex.analyse_family(rows, chapter.declare()), exploratory)
    ici_minus_base = exploratory[(exploratory["metric"] == "codependency_margin") & (exploratory["first"] == "ici")
                                 & (exploratory["second"] == "base")].iloc[0]["mean_diff"]
    assert abs(ici_minus_base - 0.3) < 0.02
    assert (f"codependency margin: ICI minus the base {ici_minus_base:+.3f}"
            in stated["sentences"]["mechanism"])
    assert "Holm p < 0.001" in stated["sentences"]["mechanism"]


def test_with_mechanisms_joins_one_to_one():
    rows = pd.DataFrame({"variant": ["base", "ici"], "benchmark_seed": [0, 0], "seed": [0, 0], "x": [1, 2]})
    mechanisms = pd.DataFrame({"variant": ["ici"], "benchmark_seed": [0], "seed": [0], "codependency_margin": [0.3]})
    joined = ie.with_mechanisms(rows, mechanisms)
    assert joined["codependency_margin"].isna().tolist() == [True, False]


def test_gate_sentence_reads_the_spread_over_frames():
    generator = np.random.default_rng(0)
    per_feature = generator.uniform(0.3, 0.7, size=(4, 1, 8))
    constant_over_frames = np.repeat(per_feature, 16, axis=1)
    varying = generator.uniform(0.0, 1.0, size=(4, 16, 8))
    flat = ie.gate_spread(constant_over_frames)
    assert flat["std over frames"] < 1e-12 and flat["std over features"] > 0.05
    assert "practically the same for every frame" in ie.gate_sentence(flat, flat)
    assert "varies across the frames" in ie.gate_sentence(flat, ie.gate_spread(varying))
    with pytest.raises(ValueError, match="videos, frames, features"):
        ie.gate_spread(np.zeros((4, 8)))


@pytest.mark.parametrize("number, chapter", [(5, ie.CHAPTER5), (6, ie.CHAPTER6)], ids=["chapter5", "chapter6"])
def test_stored_book_evidence(number, chapter):
    """The stored file's primary analysis and the chapter's sentences, recomputed from its rows."""
    path = RESULTS / f"chapter{number}_book.json"
    if not path.is_file():
        pytest.skip(f"{path.name} is absent: the book build (chapter {number} in the book profile) writes it")
    data = ex.load_evidence(path)
    primary = ex.assert_stored_analysis(data)
    assert data["primary_family"].comparisons == chapter.comparisons(), "the declared primaries changed"
    assert len(data["draws"]) >= 5, "the draw is the unit of replication: at least 5"
    exploratory = chapter.analyse_exploratory(data["rows"])
    stored = data["exploratory"]["exploratory"]
    np.testing.assert_allclose(exploratory["mean_diff"].to_numpy(), stored["mean_diff"].to_numpy(), rtol=1e-9)
    recomputed = ie.conclusions(chapter, primary, exploratory)
    assert recomputed["sentences"] == data["conclusions"]["sentences"], "a verdict sentence is stale"
    assert recomputed["glue"] == data["conclusions"]["glue"]

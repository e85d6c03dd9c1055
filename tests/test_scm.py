"""The PCMCi SCM: graph, interventions, dowhy identification, simulators, data probes."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from pcmci_edu import scm

# Tolerance for the simulators: with n = 20000 samples the estimators' standard error is
# about 0.01 (back-door) and 0.015 (front-door); the naive estimates are off by about 0.5.
TOLERANCE = 0.06
N_SAMPLES = 20000


def test_graph_has_the_papers_nodes_paths_and_latent_flags():
    graph = scm.pcmci_graph()
    assert set(graph.nodes) == {"V", "T", "Y", "M", "H", "I", "C"}
    assert scm.latent_nodes(graph) == ["H", "I", "C"]
    assert nx.is_directed_acyclic_graph(graph)
    # the poster's three paths: {T, V} <- H -> Y, T <- I -> Y, V <- C -> Y
    for source, target in [("H", "T"), ("H", "V"), ("H", "Y"), ("I", "T"), ("I", "Y"), ("C", "V"), ("C", "Y")]:
        assert graph.edges[source, target]["kind"] == "confounding"
    assert not graph.has_edge("V", "Y")
    assert scm.pcmci_graph(direct_visual_effect=True).has_edge("V", "Y")


def test_interventions_cut_the_back_door_paths_into_the_treatments():
    stages = dict(scm.progressive_graphs())
    assert sorted(stages["base"].predecessors("T")) == ["H", "I"]
    assert list(stages["ich"].predecessors("T")) == ["I"]
    assert list(stages["ici"].predecessors("T")) == []
    assert list(stages["ivc"].predecessors("V")) == []
    assert stages["ici"].nodes["T"]["label"] == "T*"
    assert stages["ivc"].nodes["V"]["label"] == "V*"
    # the back-door paths of T disappear one intervention at a time
    open_paths = {name: [p for p in scm.backdoor_paths(g, "T", "Y") if not scm.is_blocked(g, p)]
                  for name, g in stages.items()}
    assert len(open_paths["base"]) == 3 and len(open_paths["ich"]) == 1 and open_paths["ici"] == []
    with pytest.raises(ValueError, match="unknown intervention"):
        scm.intervene(stages["base"], "xyz")


def test_path_blocking_agrees_with_networkx_d_separation():
    graph = scm.pcmci_graph()
    for treatment in ("T", "V"):
        cut = graph.copy()
        cut.remove_edges_from(list(graph.out_edges(treatment)))  # only back-door paths remain
        for conditioned in [set(), {"H"}, {"H", "I"}, {"M"}, {"H", "I", "M"}]:
            all_blocked = all(scm.is_blocked(graph, p, conditioned) for p in scm.backdoor_paths(graph, treatment, "Y"))
            assert all_blocked == nx.is_d_separator(cut, {treatment}, {"Y"}, conditioned)


def test_dowhy_finds_back_door_sets_for_h_and_i():
    h = scm.QUERIES["H"].identify()
    assert h.method == "backdoor" and "H" in h.backdoor_set
    i = scm.QUERIES["I"].identify()
    assert i.method == "backdoor" and "I" in i.backdoor_set
    both = scm.QUERIES["all_T"].identify()
    assert both.backdoor_set == ("H", "I")
    # without the surrogates, or with only one of them, P(Y | do(T)) is not identified
    assert not scm.identify(scm.pcmci_graph(), "T", "Y").identified
    assert not scm.identify(scm.pcmci_graph(), "T", "Y", measured=("H",)).identified


def test_dowhy_finds_a_front_door_through_m_for_c():
    for name in ("C", "all_V"):
        result = scm.QUERIES[name].identify()
        assert result.method == "frontdoor" and result.frontdoor_set == ("M",)
        assert result.backdoor_set is None
        assert "frontdoor" in str(result)
    # a direct V -> Y path breaks the front-door
    direct = scm.identify(scm.pcmci_graph(direct_visual_effect=True), "V", "Y")
    assert not direct.identified


def test_after_all_interventions_both_effects_need_no_adjustment():
    final = scm.progressive_graphs()[-1][1]
    assert scm.identify(final, "T", "Y").backdoor_set == ()
    assert scm.identify(final, "V", "Y").backdoor_set == ()


def test_identify_rejects_latent_treatment_and_unknown_nodes():
    with pytest.raises(ValueError, match="latent"):
        scm.identify(scm.pcmci_graph(), "H", "Y")
    with pytest.raises(KeyError, match="not in the graph"):
        scm.identify(scm.pcmci_graph(), "Z", "Y")


def test_linear_truth_follows_wrights_rule():
    case = scm.frontdoor_case(n=10, visual_to_mediator=0.7, mediator_to_label=-0.4)
    assert case.truth == pytest.approx(-0.28)
    assert sorted(case.observed.columns) == ["M", "V", "Y"]  # C is latent, not a column


@pytest.mark.parametrize("factory", [scm.backdoor_case, scm.frontdoor_case], ids=["backdoor", "frontdoor"])
def test_adjusted_estimates_recover_the_truth_and_naive_ones_do_not(factory):
    for seed in (0, 1):
        result = scm.estimate_effects(factory(n=N_SAMPLES, seed=seed))
        assert abs(result["adjusted"] - result["truth"]) < TOLERANCE, result
        assert abs(result["naive"] - result["truth"]) > 5 * TOLERANCE, result


def test_without_confounding_the_naive_estimate_is_right():
    result = scm.estimate_effects(scm.backdoor_case(n=N_SAMPLES, h_strength=0.0, i_strength=0.0))
    assert abs(result["naive"] - result["truth"]) < TOLERANCE


def test_explorer_recomputes_identification_and_estimates():
    kept = scm.explore(n=4000)
    assert not kept["identifications"]["T"].identified
    assert kept["identifications"]["T, surrogates"].backdoor_set == ("H", "I")
    assert kept["identifications"]["V"].method == "frontdoor"
    cut = scm.explore({"H -> T": False, "I -> T": False, "C -> V": False}, n=4000)
    assert cut["identifications"]["T"].backdoor_set == ()
    rows = cut["estimates"].set_index("case")
    assert abs(rows.loc["back-door (H, I)", "naive"] - rows.loc["back-door (H, I)", "truth"]) < 0.1
    direct = scm.explore({"V -> Y": True}, n=4000)
    assert not direct["identifications"]["V"].identified
    assert np.isnan(direct["estimates"].set_index("case").loc["front-door (C)", "adjusted"])
    with pytest.raises(KeyError, match="unknown explorer edge"):
        scm.explore({"T -> Y": False})


def test_label_structure_helpers():
    activities = np.array([0, 0, 0, 1, 1])
    actions = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1], [1, 0, 0, 1]])
    np.testing.assert_allclose(scm.action_cooccurrence(actions)[1], [1, 1, 0, 0])
    assert scm.shared_actions(activities, actions, 2).tolist() == [2, 1, 1, 1]
    pairs = scm.exclusive_pairs(activities, actions, 2, min_support=1)
    assert pairs == [(0, 1, 2)]
    scores = np.array([[0.9, 0.8, 0.7, 0.0], [0.9, 0.8, 0.1, 0.0]])
    assert scm.exclusivity_violations(scores, pairs) == 0.5
    with pytest.raises(ValueError, match="activity labels"):
        scm.activity_action_frequency(np.array([-1, -1]), actions[:2], 0)


def test_stratified_risk_difference_removes_confounding_by_the_stratum():
    # the scene decides both the object and the action; within a scene they are independent
    rng = np.random.default_rng(0)
    scenes = rng.choice(["kitchen", "bedroom"], size=20000)
    kitchen = scenes == "kitchen"
    objects = rng.random(20000) < np.where(kitchen, 0.8, 0.2)
    actions = rng.random(20000) < np.where(kitchen, 0.6, 0.1)
    result = scm.stratified_risk_difference(objects, actions, scenes)
    assert result["naive"] > 0.2
    assert abs(result["adjusted"]) < 0.03
    table = scm.all_stratified_risk_differences(objects[:, None], actions[:, None], scenes)
    assert table.loc[0, "adjusted"] == pytest.approx(result["adjusted"])
    estimates = scm.scene_adjusted_estimates(objects, actions, scenes)
    assert estimates["backdoor_set"] == ("scene",)
    assert abs(estimates["dowhy_linear_regression"]) < 0.03
    with pytest.raises(ValueError, match="exposure must vary"):
        scm.stratified_risk_difference(np.ones(4), np.ones(4), ["a"] * 4)


def test_scene_predictiveness_beats_the_prior_when_scene_matters():
    rng = np.random.default_rng(1)
    scenes = rng.choice(["kitchen", "bedroom", "garage"], size=3000)
    rates = pd.DataFrame({"kitchen": [0.7, 0.1], "bedroom": [0.1, 0.6], "garage": [0.2, 0.2]})
    actions = (rng.random((3000, 2)) < np.stack([rates[s].to_numpy() for s in scenes])).astype(int)
    result = scm.scene_predictiveness(scenes[:2000], actions[:2000], scenes[2000:], actions[2000:])
    assert result["mAP_scene"] > result["mAP_prior"] + 0.1
    assert (result["mutual_information_bits"] > 0.05).all()


def test_charades_scene_predicts_actions(data_root):
    from pcmci_edu.data import Charades

    train, test = Charades(data_root, split="train"), Charades(data_root, split="test")
    result = scm.scene_predictiveness(train.scenes, train.actions, test.scenes, test.actions)
    assert result["mAP_scene"] > result["mAP_prior"]


# --- probes on the embedded benchmark (the smoke preset builds in well under a second) ---


@pytest.fixture(scope="module")
def bench():
    from pcmci_edu.data import make_benchmark

    return make_benchmark("breakfast", profile="smoke", seed=0)


def test_correlational_scorer_and_masking_probe(bench):
    scorer = scm.CorrelationalScorer("activity").fit(bench["train"])
    scores = scorer.scores(bench["test"])
    assert scores.shape == (len(bench["test"]), bench["train"].num_activities)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    probe = scm.masking_probe(scorer, bench["test"], bench["test_masked"])
    assert list(probe.columns) == ["video_id", "label", "score", "masked_score", "holds"]
    assert probe.score.mean() > 1 / bench["train"].num_activities  # it learned something
    assert probe.masked_score.mean() < probe.score.mean()
    with pytest.raises(ValueError, match="does not hold the videos"):
        scm.masking_probe(scorer, bench["test"], bench["val"])
    with pytest.raises(RuntimeError, match="call fit"):
        scm.CorrelationalScorer().scores(bench["test"])
    with pytest.raises(ValueError, match="target must be"):
        scm.CorrelationalScorer("frames")


def test_isolated_action_scorer_scores_every_action(bench):
    scores = scm.CorrelationalScorer("actions").fit(bench["train"]).scores(bench["test"])
    assert scores.shape == (len(bench["test"]), bench["train"].num_actions)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_context_predicts_activity_in_train_not_in_test_shift(bench):
    table = scm.context_predictiveness(bench["train"], {"test": bench["test"], "test_shift": bench["test_shift"]})
    rows = table.set_index("split")
    assert rows.loc["train", "context_accuracy"] > 0.5
    assert rows.loc["test_shift", "context_accuracy"] < rows.loc["train", "context_accuracy"] - 0.3
    assert rows.loc["test_shift", "ami_context_activity"] < rows.loc["train", "ami_context_activity"]


def test_frozen_text_points_at_the_companion_objects(bench):
    truth = bench.truth
    frozen = scm.companion_similarity(bench["train"].action_text_features, truth.object_vectors, truth.companion_index)
    clean = scm.companion_similarity(truth.clean_action_text_features, truth.object_vectors, truth.companion_index)
    assert np.nanmean(frozen) > np.nanmean(clean) + 0.2


# ---------------------------------------------------------------------------------------------
# The causal primer (pcmci_edu.scm.primer) and the statistics primer (pcmci_edu.scm.stats_primer)
# ---------------------------------------------------------------------------------------------

from pcmci_edu.scm import primer, real_data, stats_primer  # noqa: E402


def test_do_cuts_the_arrows_into_the_intervened_node_and_keeps_the_rest():
    model = primer.confounded_triangle()
    joint = model.joint()
    assert joint.p.sum() == pytest.approx(1.0)
    intervened = model.do(X=1)
    assert not intervened.graph().has_edge("Z", "X") and intervened.graph().has_edge("Z", "Y")
    after = intervened.joint()
    assert primer.probability(after, {"X": 1}) == 1.0
    assert primer.probability(after, {"Z": 1}) == pytest.approx(0.5)  # Z does not listen to X
    # seeing is not doing: P(y | x=1) = 0.8, P(y | do(x=1)) = 0.1 + 0.3 + 0.5 * 0.5 = 0.65
    assert primer.probability(joint, {"Y": 1}, {"X": 1}) == pytest.approx(0.8)
    assert primer.interventional(model, "X", 1, "Y") == pytest.approx(0.65)
    with pytest.raises(KeyError, match="not a node"):
        model.do(W=1)


def test_backdoor_and_frontdoor_by_hand_equal_the_interventional_truth():
    triangle = primer.confounded_triangle()
    for x in (0, 1):
        value, terms = primer.backdoor_adjustment(triangle.joint(), "X", x, "Y", ["Z"])
        assert value == pytest.approx(primer.interventional(triangle, "X", x, "Y"))
        assert len(terms) == 2
    front = primer.frontdoor_scm()
    observed = front.joint().groupby(["X", "M", "Y"], as_index=False)["p"].sum()  # U marginalised out
    for x in (0, 1):
        value, terms = primer.frontdoor_adjustment(observed, "X", x, "M", "Y")
        assert value == pytest.approx(primer.interventional(front, "X", x, "Y"))
        assert len(terms) == 4
    # the naive contrast is biased: the check could fail if the formulas were the conditional
    naive = (primer.probability(observed, {"Y": 1}, {"X": 1}) - primer.probability(observed, {"Y": 1}, {"X": 0}))
    assert abs(naive - 0.28) > 0.1


def test_dowhy_identifies_the_primers_models_and_its_estimates_are_close():
    front = primer.dowhy_check(primer.frontdoor_scm(), "X", "Y", n=20000, seed=0)
    assert front["identified"] == "P(Y | do(X)): front-door through {M}"
    assert front["adjusted"] == pytest.approx(front["truth"], abs=0.04)
    assert abs(front["naive"] - front["truth"]) > 0.1
    back = primer.dowhy_check(primer.confounded_triangle(), "X", "Y", n=20000, seed=0)
    assert back["identified"] == "P(Y | do(X)): back-door, adjust for {Z}"
    assert back["adjusted"] == pytest.approx(0.3, abs=0.04)


def test_benchmark_direction_seeing_is_strong_doing_is_nothing():
    model = primer.benchmark_direction_scm()
    joint = model.joint()
    assert primer.probability(joint, {"Y": 1}, {"V": 1}) - primer.probability(joint, {"Y": 1}, {"V": 0}) > 0.3
    for v in (0, 1):
        assert primer.interventional(model, "V", v, "Y") == pytest.approx(0.5)
    with pytest.raises(ValueError):
        primer.benchmark_direction_scm(context_tie=1.5)


def test_stats_primer_pseudo_replication_inflates_false_positives_and_paired_is_calibrated():
    rates = stats_primer.false_positive_rates(2000, draws=5, seeds=3)
    assert rates["paired, one difference per draw"] == pytest.approx(0.05, abs=0.02)
    assert rates["pseudo-replicated: every run a unit"] > 0.15
    rows = stats_primer.simulate_comparison(5, 3, effect=0.03, rng_seed=1)
    assert set(rows.columns) == {"benchmark_seed", "seed", "variant", "accuracy"} and len(rows) == 30
    table = stats_primer.paired_versus_unpaired(rows)
    assert table.loc["paired, one difference per draw", "n"] == 5
    assert table.loc["pseudo-replicated: every run a unit", "n"] == 15
    # pairing removes the draws' difficulty: a far narrower interval than the unpaired one
    width = table.ci_high - table.ci_low
    assert width["paired, one difference per draw"] < width["unpaired, draws as two groups"] / 2


def test_minimum_detectable_effect_and_power_agree():
    mde = stats_primer.minimum_detectable_effect(0.02, 5)
    curve = stats_primer.power_curve(0.02, np.array([mde]), ns=(5,))
    assert curve.iloc[0, 0] == pytest.approx(0.8, abs=1e-3)
    assert stats_primer.minimum_detectable_effect(0.02, 20) < mde
    assert np.isnan(stats_primer.minimum_detectable_effect(0.02, 1))


def test_equivalence_needs_a_narrow_interval_inside_the_margin():
    rng = np.random.default_rng(0)
    base = rng.normal(0.6, 0.05, 10)
    same = base + rng.normal(0.0, 0.002, 10)
    result = stats_primer.equivalence_test(same, base, margin=0.01)
    assert result["p_equivalence"] < 0.05 and -0.01 < result["ci90_low"] < result["ci90_high"] < 0.01
    noisy = base + rng.normal(0.0, 0.05, 10)
    assert stats_primer.equivalence_test(noisy, base, margin=0.01)["p_equivalence"] > 0.05
    with pytest.raises(ValueError):
        stats_primer.equivalence_test(same, base, margin=0.0)


def test_committed_real_data_aggregates_are_aggregates_with_provenance():
    record, source = real_data.real_data(root="")
    assert "committed" in source and "pcmci_edu" in source
    breakfast = record["breakfast"]
    assert breakfast["videos"] == {"train": 1357, "test": 355}
    assert breakfast["test_present_classes"] == 43 and len(breakfast["test_absent_actions"]) == 5
    assert np.asarray(breakfast["cooccurrence_train"]).shape == (48, 48)
    assert record["coin"]["tasks"] == 180 and record["coin"]["steps"] == 778
    evidence = record["charades"]["scene_evidence"]
    assert evidence["mAP_scene"] > evidence["mAP_prior"]
    # no annotation rows: nothing in the file is a video id of the datasets
    text = real_data.COMMITTED.read_text()
    assert "P03_cam01" not in text and "46GP8" not in text
    assert "inputs" in json_load(real_data.COMMITTED)["provenance"]


def json_load(path):
    import json

    return json.loads(path.read_text())


def test_real_data_aggregates_match_the_committed_copy(data_root):
    live = real_data.aggregate(data_root, ("breakfast", "coin"))
    committed, _ = real_data.real_data(("breakfast", "coin"), root="")
    assert live == committed


def test_real_data_command_reports_a_missing_root(tmp_path, capsys):
    assert real_data.main(["--root", str(tmp_path / "absent"), "--out", str(tmp_path / "out.json")]) == 1
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_identification_short_latex_and_assumptions_read_dowhys_estimand():
    backdoor = scm.QUERIES["all_T"].identify()
    assert backdoor.short() == "back-door {H, I}"
    assert backdoor.latex().startswith(r"\frac{d}{d T}") and "matrix" not in backdoor.latex()
    assert set(backdoor.assumptions()) == {"Unconfoundedness"}
    front = scm.QUERIES["C"].identify()
    assert front.short() == "front-door {M}" and "matrix" not in front.latex()
    assert "Full-mediation" in front.assumptions()
    nothing = scm.identify(scm.pcmci_graph(), "T", "Y")
    assert nothing.short() == "not identified" and nothing.latex() == "" and nothing.assumptions() == {}
    cut = scm.identify(scm.progressive_graphs()[2][1], "T", "Y")  # after ICH and ICI
    assert cut.short() == "nothing to adjust"


def test_quiet_dowhy_swallows_dowhys_prints(capsys):
    from pcmci_edu.scm.identification import _quiet_dowhy

    with _quiet_dowhy():
        print("No such variable(s) found!")
    assert capsys.readouterr().out == ""

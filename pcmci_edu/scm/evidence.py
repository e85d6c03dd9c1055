"""Real-data evidence of a measured confounder: the scene in Charades (chapter 2).

:func:`scene_predictiveness` measures how well the scene alone predicts the actions,
:func:`stratified_risk_difference` and :func:`all_stratified_risk_differences` compare the
naive association of an object with an action against the scene-stratified (back-door) one, and
:func:`scene_adjusted_estimates` gives both with dowhy's estimate for one pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx
import numpy as np
import pandas as pd
from pcmci_edu.scm.identification import _quiet_dowhy


def multi_hot(items: Sequence[Iterable[str]], min_count: int = 1) -> tuple[np.ndarray, list[str]]:
    """``[V, J]`` indicator matrix of the item sets (e.g. Charades objects), and its vocabulary
    (items seen in at least ``min_count`` videos, sorted).

    >>> matrix, names = multi_hot([["cup", "table"], ["cup"]])
    >>> names, matrix.tolist()
    (['cup', 'table'], [[1, 1], [1, 0]])
    """
    sets = [set(entry) for entry in items]
    counts = pd.Series([item for entry in sets for item in entry], dtype=object).value_counts()
    vocabulary = sorted(counts[counts >= min_count].index)
    column = {name: j for j, name in enumerate(vocabulary)}
    matrix = np.zeros((len(sets), len(vocabulary)), dtype=np.int64)
    for i, entry in enumerate(sets):
        for item in entry:
            if item in column:
                matrix[i, column[item]] = 1
    return matrix, vocabulary


def scene_predictiveness(
    train_scenes: Sequence[str], train_actions: np.ndarray, test_scenes: Sequence[str], test_actions: np.ndarray
) -> dict[str, object]:
    """How strongly the scene alone predicts the actions (Charades: scene is a measured confounder).

    Scores each test video's actions by the training frequency ``P(a | scene)`` and compares
    the mean average precision (classes with a positive, the Charades convention) with the
    scene-blind prior ``P(a)``. Also returns, per action, the mutual information (bits) between
    scene and action in the training split.
    """
    from sklearn.metrics import average_precision_score, mutual_info_score

    train_present = np.asarray(train_actions) > 0
    test_present = np.asarray(test_actions) > 0
    frame = pd.DataFrame(train_present.astype(float))
    frame["scene"] = list(train_scenes)
    by_scene = frame.groupby("scene").mean()
    prior = train_present.mean(axis=0)
    scene_scores = np.stack([
        by_scene.loc[scene].to_numpy() if scene in by_scene.index else prior for scene in test_scenes
    ])
    rng = np.random.default_rng(0)
    prior_scores = prior[None, :] + 1e-9 * rng.random(test_present.shape)  # ties broken at random
    columns = np.flatnonzero(test_present.any(axis=0))

    def mean_ap(scores: np.ndarray) -> float:
        return float(np.mean([average_precision_score(test_present[:, k], scores[:, k]) for k in columns]))

    information = np.array([
        mutual_info_score(list(train_scenes), train_present[:, k]) / np.log(2) for k in range(train_present.shape[1])
    ])
    return {"mAP_scene": mean_ap(scene_scores), "mAP_prior": mean_ap(prior_scores),
            "mutual_information_bits": information, "scene_action_frequency": by_scene}


def stratified_risk_difference(
    exposure: np.ndarray, outcome: np.ndarray, strata: Sequence[str], min_group: int = 5
) -> dict[str, float]:
    """Naive and back-door adjusted risk difference of a binary ``outcome`` between exposed and
    unexposed videos, adjusting for the categorical ``strata`` (the scene).

    naive:    ``P(a | o) - P(a | not o)``;
    adjusted: ``sum_s P(s) [P(a | o, s) - P(a | not o, s)]`` over the strata that contain at
    least ``min_group`` exposed and ``min_group`` unexposed videos (positivity, with enough
    videos to estimate both rates), ``P(s)`` renormalised over them.
    Returns ``naive``, ``adjusted``, ``exposed`` (count) and ``coverage`` (fraction of videos
    in the strata used).
    """
    frame = pd.DataFrame({"o": np.asarray(exposure) > 0, "a": np.asarray(outcome) > 0, "s": list(strata)})
    if frame["o"].all() or not frame["o"].any():
        raise ValueError("stratified_risk_difference: the exposure must vary (some exposed, some not)")
    naive = frame.loc[frame.o, "a"].mean() - frame.loc[~frame.o, "a"].mean()
    grouped = frame.groupby(["s", "o"])["a"]
    rates = grouped.mean().unstack("o")
    sizes = grouped.size().unstack("o").fillna(0)
    usable = rates[(sizes.reindex(columns=[False, True], fill_value=0) >= min_group).all(axis=1)]
    if usable.empty:
        raise ValueError(f"stratified_risk_difference: no stratum has {min_group} exposed and {min_group} unexposed videos")
    weights = frame["s"].value_counts().reindex(usable.index)
    adjusted = float(((usable[True] - usable[False]) * weights).sum() / weights.sum())
    return {"naive": float(naive), "adjusted": adjusted, "exposed": int(frame.o.sum()),
            "coverage": float(weights.sum() / len(frame))}


def all_stratified_risk_differences(
    exposures: np.ndarray, outcomes: np.ndarray, strata: Sequence[str], min_exposed: int = 30,
    min_group: int = 5,
) -> pd.DataFrame:
    """:func:`stratified_risk_difference` for every (exposure column, outcome column) pair with
    at least ``min_exposed`` exposed videos; vectorised
    over strata. Columns: ``exposure``, ``outcome`` (indices), ``naive``, ``adjusted``,
    ``exposed``, ``coverage``."""
    exposed = np.asarray(exposures) > 0
    present = (np.asarray(outcomes) > 0).astype(np.float64)
    strata = np.asarray(list(strata))
    names = np.unique(strata)
    count = len(strata)
    naive = _rate(exposed, present) - _rate(~exposed, present)
    total = np.zeros_like(naive)
    weight = np.zeros(exposed.shape[1])
    for name in names:
        rows = strata == name
        exposed_s = exposed[rows]
        usable = (exposed_s.sum(axis=0) >= min_group) & ((~exposed_s).sum(axis=0) >= min_group)  # positivity
        difference = _rate(exposed_s, present[rows]) - _rate(~exposed_s, present[rows])
        total += np.where(usable[:, None], difference * rows.sum(), 0.0)
        weight += np.where(usable, rows.sum(), 0.0)
    adjusted = np.divide(total, weight[:, None], out=np.full_like(total, np.nan), where=weight[:, None] > 0)
    counts = exposed.sum(axis=0)
    keep_exposure = np.flatnonzero(counts >= min_exposed)
    rows = []
    for j in keep_exposure:
        for k in range(present.shape[1]):
            rows.append((j, k, naive[j, k], adjusted[j, k], int(counts[j]), weight[j] / count))
    return pd.DataFrame(rows, columns=["exposure", "outcome", "naive", "adjusted", "exposed", "coverage"])


def _rate(group: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``[J, K]``: for each exposure column ``j``, the outcome rate among rows in ``group[:, j]``."""
    group = group.astype(np.float64)
    size = group.sum(axis=0)[:, None]
    return np.divide(group.T @ present, size, out=np.full((group.shape[1], present.shape[1]), np.nan), where=size > 0)


def scene_adjusted_estimates(
    exposure: np.ndarray, outcome: np.ndarray, scenes: Sequence[str], min_group: int = 5
) -> dict[str, float]:
    """The effect of a binary exposure (an object) on a binary outcome (an action) with the
    scene as the measured confounder, four ways: the naive and the scene-standardised risk
    difference (:func:`stratified_risk_difference`, with ``min_group``), and dowhy's back-door estimators on the
    graph ``scene -> object -> action <- scene``: linear regression (scene one-hot) and
    propensity-score stratification (NaN when too few videos leave dowhy two usable strata)."""
    with _quiet_dowhy():  # importing dowhy replaces sys.displayhook (sympy's init_printing)
        from dowhy import CausalModel

    data = pd.DataFrame({"object": np.asarray(exposure) > 0, "action": (np.asarray(outcome) > 0).astype(float),
                         "scene": pd.Categorical(list(scenes))})
    graph = nx.DiGraph([("scene", "object"), ("scene", "action"), ("object", "action")])
    with _quiet_dowhy():
        model = CausalModel(data=data, treatment="object", outcome="action", graph=graph)
        estimand = model.identify_effect()
        regression = model.estimate_effect(estimand, method_name="backdoor.linear_regression").value
        try:
            stratified = model.estimate_effect(estimand, method_name="backdoor.propensity_score_stratification",
                                               method_params={"clipping_threshold": min_group}).value
        except ValueError:  # dowhy needs >= clipping_threshold videos per arm in two strata
            stratified = float("nan")
    result = stratified_risk_difference(exposure, outcome, scenes, min_group=min_group)
    return {"naive": result["naive"], "standardised": result["adjusted"],
            "dowhy_linear_regression": float(regression), "dowhy_propensity_stratification": float(stratified),
            "backdoor_set": tuple(estimand.backdoor_variables["backdoor"])}

"""The label structure that carries the codependency illusion ``I`` (chapter 1).

Co-occurrence of atomic actions, how often each activity contains each action, actions shared
between activities, and pairs of actions that exclude each other within an activity (the
alternatives of a script), with the rate at which a model predicts an exclusive pair together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def action_cooccurrence(actions: np.ndarray) -> np.ndarray:
    """``P(j | i)``: among videos with action ``i`` (row), the fraction that also contain ``j``.

    ``actions`` is the multi-hot ``[V, K]`` matrix; rows of actions that never occur are 0.

    >>> action_cooccurrence(np.array([[1, 1, 0], [1, 0, 1]])).round(2)
    array([[1. , 0.5, 0.5],
           [1. , 1. , 0. ],
           [1. , 0. , 1. ]])
    """
    present = np.asarray(actions, dtype=np.float64) > 0
    counts = present.T.astype(np.float64) @ present
    support = np.diag(counts)[:, None]
    return np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)


def activity_action_frequency(activities: np.ndarray, actions: np.ndarray, num_activities: int) -> np.ndarray:
    """``[A, K]``: the fraction of each activity's videos that contain each action."""
    activities = np.asarray(activities)
    present = np.asarray(actions) > 0
    if num_activities <= 0 or (activities < 0).any():
        raise ValueError("activity_action_frequency needs activity labels in [0, A) (Charades has none)")
    table = np.zeros((num_activities, present.shape[1]))
    for activity in range(num_activities):
        rows = present[activities == activity]
        if len(rows):
            table[activity] = rows.mean(axis=0)
    return table


def shared_actions(activities: np.ndarray, actions: np.ndarray, num_activities: int) -> np.ndarray:
    """``[K]``: in how many activities each action occurs at least once (``>= 2``: shared)."""
    return (activity_action_frequency(activities, actions, num_activities) > 0).sum(axis=0)


def exclusive_pairs(
    activities: np.ndarray, actions: np.ndarray, num_activities: int, min_support: int = 5
) -> list[tuple[int, int, int]]:
    """Pairs of actions that never occur in the same video although both occur, each at least
    ``min_support`` times, in videos of one activity: ``(activity, i, j)`` with ``i < j``.

    These are the alternatives of a script (fry in oil *or* in butter): a codependency that a
    model scoring each label in isolation cannot express.
    """
    activities = np.asarray(activities)
    present = np.asarray(actions) > 0
    together = present.T.astype(np.int64) @ present
    pairs = []
    for activity in range(num_activities):
        rows = present[activities == activity]
        frequent = np.flatnonzero(rows.sum(axis=0) >= min_support)
        for a, i in enumerate(frequent):
            for j in frequent[a + 1:]:
                if together[i, j] == 0:
                    pairs.append((activity, int(i), int(j)))
    return pairs


def exclusivity_violations(scores: np.ndarray, pairs: Sequence[tuple[int, int, int]], threshold: float = 0.5) -> float:
    """The fraction of videos in which some exclusive pair ``(_, i, j)`` is predicted together
    (both scores ``>= threshold``)."""
    predicted = np.asarray(scores) >= threshold
    if not pairs:
        return 0.0
    both = np.zeros(len(predicted), dtype=bool)
    for _, i, j in pairs:
        both |= predicted[:, i] & predicted[:, j]
    return float(both.mean())

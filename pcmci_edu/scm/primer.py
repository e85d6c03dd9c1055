"""The causal primer's small discrete SCMs: ``do(.)``, back-door and front-door by hand.

A :class:`DiscreteSCM` is a handful of binary variables, each with the probability that it is 1
given its parents. Because there are only a few variables, every distribution is computed
*exactly* by enumerating the joint table (:meth:`DiscreteSCM.joint`), so the primer can put the
hand computation of an adjustment formula beside the interventional truth, and beside dowhy's
estimate from a finite sample (:func:`dowhy_check`, which reuses
:func:`pcmci_edu.scm.simulation.estimate_effects`).

The formulas (Pearl, *Causality*, 2009), written for binary ``X`` and ``Y``:

- back-door over ``Z``:  ``P(y | do(x)) = sum_z P(y | x, z) P(z)``  (:func:`backdoor_adjustment`);
- front-door through ``M``:
  ``P(y | do(x)) = sum_m P(m | x) sum_x' P(y | m, x') P(x')``  (:func:`frontdoor_adjustment`).

The three SCMs of the primer (:func:`confounded_triangle`, :func:`frontdoor_scm`,
:func:`benchmark_direction_scm`) have additive conditional probabilities, so a linear
regression on binary data is unbiased for their effects and dowhy's linear estimators can be
compared with the exact values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from pcmci_edu.scm.identification import identify
from pcmci_edu.scm.simulation import SimulatedCase, estimate_effects

Probability = Callable[[Mapping[str, int]], float]
"""``P(node = 1 | parents)``: a function of the parents' values (a dict name -> 0/1)."""


@dataclass
class DiscreteSCM:
    """A structural causal model over binary variables.

    ``parents[node]`` lists the node's parents, ``probability[node]`` gives ``P(node=1 | parents)``;
    nodes in ``latent`` are part of the model but not of the data an analyst sees. Nodes are
    listed in a causal (topological) order.
    """

    name: str
    parents: dict[str, tuple[str, ...]]
    probability: dict[str, Probability]
    latent: tuple[str, ...] = ()
    fixed: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        order = list(self.parents)
        for node, parents in self.parents.items():
            unknown = [p for p in parents if p not in self.parents]
            if unknown:
                raise KeyError(f"{self.name}: parent(s) {unknown} of {node!r} are not nodes")
            late = [p for p in parents if order.index(p) > order.index(node)]
            if late:
                raise ValueError(f"{self.name}: list {late} before {node!r} (nodes go in causal order)")
            if node not in self.probability:
                raise KeyError(f"{self.name}: no probability given for {node!r}")

    @property
    def nodes(self) -> list[str]:
        """The variables, in causal order."""
        return list(self.parents)

    def graph(self) -> nx.DiGraph:
        """The SCM's DAG, latent nodes marked ``latent=True`` (what :func:`~pcmci_edu.scm.identify`
        reads). An intervened node keeps its node but loses its incoming edges."""
        graph = nx.DiGraph(name=self.name)
        for node in self.nodes:
            graph.add_node(node, latent=node in self.latent, label=node)
        for node, parents in self.parents.items():
            if node not in self.fixed:
                graph.add_edges_from((parent, node) for parent in parents)
        return graph

    def do(self, **values: int) -> "DiscreteSCM":
        """The SCM under ``do(node=value, ...)``: each named node is set to its value and
        listens to nothing (its incoming arrows are cut); every other mechanism is unchanged."""
        for node, value in values.items():
            if node not in self.parents:
                raise KeyError(f"{self.name}: cannot intervene on {node!r}, not a node ({self.nodes})")
            if value not in (0, 1):
                raise ValueError(f"do({node}={value!r}): the variables are binary (0 or 1)")
        setting = ", ".join(f"{node}={value}" for node, value in values.items())
        return DiscreteSCM(f"{self.name} under do({setting})", dict(self.parents), dict(self.probability),
                           self.latent, {**self.fixed, **values})

    def _p_one(self, node: str, assignment: Mapping[str, int]) -> float:
        if node in self.fixed:
            return float(self.fixed[node])
        p = float(self.probability[node]({parent: assignment[parent] for parent in self.parents[node]}))
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{self.name}: P({node}=1 | {dict(assignment)}) = {p} is not a probability")
        return p

    def joint(self) -> pd.DataFrame:
        """The exact joint distribution: one row per assignment of all nodes, column ``p``."""
        rows = []
        for values in itertools.product((0, 1), repeat=len(self.nodes)):
            assignment = dict(zip(self.nodes, values))
            p = 1.0
            for node in self.nodes:
                p_one = self._p_one(node, assignment)
                p *= p_one if assignment[node] else 1.0 - p_one
            rows.append({**assignment, "p": p})
        return pd.DataFrame(rows)

    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        """``n`` independent draws of every node (latent ones included), ancestral sampling."""
        if n < 1:
            raise ValueError(f"n must be a positive number of samples, got {n}")
        rng = np.random.default_rng(seed)
        data: dict[str, np.ndarray] = {}
        for node in self.nodes:
            if node in self.fixed:
                data[node] = np.full(n, self.fixed[node])
                continue
            parents = self.parents[node]
            p = np.empty(n)
            for values in itertools.product((0, 1), repeat=len(parents)):
                rows = np.ones(n, dtype=bool)
                for parent, value in zip(parents, values):
                    rows &= data[parent] == value
                p[rows] = self._p_one(node, dict(zip(parents, values)))
            data[node] = (rng.random(n) < p).astype(int)
        return pd.DataFrame(data)


def probability(joint: pd.DataFrame, event: Mapping[str, int], given: Mapping[str, int] | None = None) -> float:
    """``P(event | given)`` read from a joint table (:meth:`DiscreteSCM.joint`).

    >>> table = pd.DataFrame({"X": [0, 0, 1, 1], "Y": [0, 1, 0, 1], "p": [0.3, 0.2, 0.1, 0.4]})
    >>> round(probability(table, {"Y": 1}, {"X": 1}), 3)
    0.8
    """
    given = dict(given or {})

    def mass(condition: Mapping[str, int]) -> float:
        rows = np.ones(len(joint), dtype=bool)
        for node, value in condition.items():
            rows &= joint[node].to_numpy() == value
        return float(joint.loc[rows, "p"].sum())

    denominator = mass(given)
    if denominator == 0:
        raise ZeroDivisionError(f"P({given}) = 0: the conditional is undefined (positivity fails)")
    return mass({**given, **event}) / denominator


def backdoor_adjustment(joint: pd.DataFrame, treatment: str, value: int, outcome: str,
                        adjust: Iterable[str]) -> tuple[float, pd.DataFrame]:
    """``P(outcome=1 | do(treatment=value)) = sum_z P(outcome=1 | treatment=value, z) P(z)``.

    Returns the sum and its terms, one row per stratum ``z`` (columns ``P(y|x,z)``, ``P(z)``,
    ``product``), so a reader can check the hand computation line by line.
    """
    adjust = list(adjust)
    rows = []
    for values in itertools.product((0, 1), repeat=len(adjust)):
        stratum = dict(zip(adjust, values))
        p_y = probability(joint, {outcome: 1}, {treatment: value, **stratum})
        p_z = probability(joint, stratum)
        rows.append({**stratum, "P(y|x,z)": p_y, "P(z)": p_z, "product": p_y * p_z})
    terms = pd.DataFrame(rows)
    return float(terms["product"].sum()), terms


def frontdoor_adjustment(joint: pd.DataFrame, treatment: str, value: int, mediator: str,
                         outcome: str) -> tuple[float, pd.DataFrame]:
    """``P(outcome=1 | do(treatment=value)) = sum_m P(m | x) sum_x' P(y | m, x') P(x')``.

    Returns the sum and its terms: one row per ``(m, x')`` with ``P(m|x)``, ``P(y|m,x')``,
    ``P(x')`` and their product.
    """
    rows = []
    for m, other in itertools.product((0, 1), repeat=2):
        p_m = probability(joint, {mediator: m}, {treatment: value})
        p_y = probability(joint, {outcome: 1}, {mediator: m, treatment: other})
        p_x = probability(joint, {treatment: other})
        rows.append({"m": m, "x'": other, "P(m|x)": p_m, "P(y|m,x')": p_y, "P(x')": p_x,
                     "product": p_m * p_y * p_x})
    terms = pd.DataFrame(rows)
    return float(terms["product"].sum()), terms


def interventional(scm: DiscreteSCM, treatment: str, value: int, outcome: str) -> float:
    """The truth: ``P(outcome=1)`` in the intervened model ``do(treatment=value)``."""
    return probability(scm.do(**{treatment: value}).joint(), {outcome: 1})


def effect_table(scm: DiscreteSCM, treatment: str, outcome: str, adjusted: Callable[[int], float]) -> pd.DataFrame:
    """For ``x`` in 0, 1: the conditional ``P(y|x)``, the adjusted value and the truth ``P(y|do(x))``;
    a last row holds the differences (the average effect of ``x`` going from 0 to 1)."""
    joint = scm.joint()
    table = pd.DataFrame({
        "P(y=1 | x) (seeing)": [probability(joint, {outcome: 1}, {treatment: x}) for x in (0, 1)],
        "adjustment formula": [adjusted(x) for x in (0, 1)],
        "P(y=1 | do(x)) (doing)": [interventional(scm, treatment, x, outcome) for x in (0, 1)],
    }, index=[f"{treatment}=0", f"{treatment}=1"])
    table.loc["effect (1 minus 0)"] = table.iloc[1] - table.iloc[0]
    return table


def dowhy_check(scm: DiscreteSCM, treatment: str, outcome: str, n: int, seed: int = 0) -> dict[str, object]:
    """What dowhy identifies on ``scm``'s graph, and its estimate from ``n`` samples.

    The sample's latent columns are hidden from dowhy (:class:`~pcmci_edu.scm.simulation.SimulatedCase`
    keeps only the observed ones); the estimate is dowhy's, by
    :func:`~pcmci_edu.scm.simulation.estimate_effects`. ``truth`` is the exact average effect
    ``P(y=1 | do(x=1)) - P(y=1 | do(x=0))``.
    """
    graph = scm.graph()
    truth = interventional(scm, treatment, 1, outcome) - interventional(scm, treatment, 0, outcome)
    case = SimulatedCase(scm.name, graph, scm.sample(n, seed).astype(float), treatment, outcome, (), truth)
    return {"identified": identify(graph, treatment, outcome).describe(), **estimate_effects(case)}


# ---------------------------------------------------------------------------------------------
# The primer's three models
# ---------------------------------------------------------------------------------------------


def confounded_triangle() -> DiscreteSCM:
    """``Z -> X -> Y`` and ``Z -> Y``: a kitchen ``Z`` makes both the recorded activity ``X``
    and the label ``Y`` likelier. ``P(Z=1) = 0.5``, ``P(X=1|z) = 0.2 + 0.6 z``,
    ``P(Y=1|x,z) = 0.1 + 0.3 x + 0.5 z``; the true effect of ``X`` is 0.3."""
    return DiscreteSCM(
        "confounded triangle",
        parents={"Z": (), "X": ("Z",), "Y": ("X", "Z")},
        probability={"Z": lambda _: 0.5,
                     "X": lambda v: 0.2 + 0.6 * v["Z"],
                     "Y": lambda v: 0.1 + 0.3 * v["X"] + 0.5 * v["Z"]},
    )


def frontdoor_scm() -> DiscreteSCM:
    """``X <- U -> Y`` with ``U`` latent and ``X -> M -> Y``: the shape of IVC's front-door.
    ``P(U=1) = 0.5``, ``P(X=1|u) = 0.2 + 0.6 u``, ``P(M=1|x) = 0.1 + 0.7 x``,
    ``P(Y=1|m,u) = 0.1 + 0.4 m + 0.4 u``; the true effect of ``X`` is 0.7 * 0.4 = 0.28."""
    return DiscreteSCM(
        "front-door",
        parents={"U": (), "X": ("U",), "M": ("X",), "Y": ("M", "U")},
        probability={"U": lambda _: 0.5,
                     "X": lambda v: 0.2 + 0.6 * v["U"],
                     "M": lambda v: 0.1 + 0.7 * v["X"],
                     "Y": lambda v: 0.1 + 0.4 * v["M"] + 0.4 * v["U"]},
        latent=("U",),
    )


def benchmark_direction_scm(context_tie: float = 0.8) -> DiscreteSCM:
    """The embedded benchmark's direction in miniature: the label ``Y`` causes the features.

    ``Y -> A`` (the action part of the frames), ``Y -> C`` (the context, tied to the label with
    strength ``context_tie`` in training) and ``C -> V``, ``A -> V`` (the frame features).
    ``V`` has no arrow into ``Y``: ``P(y | do(v)) = P(y)`` for every ``v``, although ``P(y | v)``
    depends strongly on ``v``.
    """
    if not 0.0 <= context_tie <= 1.0:
        raise ValueError(f"context_tie must be in [0, 1], got {context_tie}")
    return DiscreteSCM(
        "benchmark direction",
        parents={"Y": (), "A": ("Y",), "C": ("Y",), "V": ("A", "C")},
        probability={"Y": lambda _: 0.5,
                     "A": lambda v: 0.1 + 0.8 * v["Y"],
                     "C": lambda v: 0.5 + context_tie * (v["Y"] - 0.5),
                     "V": lambda v: 0.05 + 0.6 * v["A"] + 0.3 * v["C"]},
    )

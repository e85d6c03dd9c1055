"""Small linear SCMs with known truth: naive against adjusted estimates (chapter 2).

:func:`simulate_linear_scm` draws data from a weighted graph and :func:`true_linear_effect`
gives the true effect (the sum over directed paths of the products of edge weights);
:func:`backdoor_case` and :func:`frontdoor_case` build the two cases chapter 2 estimates, and
:func:`estimate_effects` compares the naive regression with the back-door and front-door
estimates against that truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from pcmci_edu.scm.graph import DESCRIPTIONS, _require_nodes
from pcmci_edu.scm.identification import _quiet_dowhy, causal_model, identify, observed_columns


def simulate_linear_scm(graph: nx.DiGraph, n: int, seed: int = 0, noise: float = 1.0) -> pd.DataFrame:
    """Draw ``n`` samples of a linear Gaussian SCM: ``X = sum_pa w_pa X_pa + noise * eps``.

    Edge weights come from the edge attribute ``weight`` (an edge without one raises). All
    nodes, latent ones included, are columns of the result: drop the latent ones before
    estimating.
    """
    if n <= 1:
        raise ValueError(f"n must be at least 2 samples, got {n}")
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for node in nx.topological_sort(graph):
        total = noise * rng.normal(size=n)
        for parent in graph.predecessors(node):
            weight = graph.edges[parent, node].get("weight")
            if weight is None:
                raise KeyError(f"edge {parent}->{node} has no 'weight' attribute")
            total = total + weight * values[parent]
        values[node] = total
    return pd.DataFrame({node: values[node] for node in graph.nodes})


def true_linear_effect(graph: nx.DiGraph, treatment: str, outcome: str) -> float:
    """The causal effect of a unit change of ``treatment`` on ``outcome`` in a linear SCM:
    the sum over directed paths of the products of their edge weights (Wright's rule).

    >>> graph = nx.DiGraph()
    >>> graph.add_weighted_edges_from([("V", "M", 0.8), ("M", "Y", 0.5), ("V", "Y", 0.1)])
    >>> round(true_linear_effect(graph, "V", "Y"), 3)
    0.5
    """
    _require_nodes(graph, treatment, outcome)
    total = 0.0
    for path in nx.all_simple_paths(graph, treatment, outcome):
        total += float(np.prod([graph.edges[a, b]["weight"] for a, b in zip(path, path[1:])]))
    return total


@dataclass
class SimulatedCase:
    """A simulated data set from a weighted SCM, with its query and its true effect."""

    name: str
    graph: nx.DiGraph
    data: pd.DataFrame
    treatment: str
    outcome: str
    measured: tuple[str, ...]
    truth: float

    @property
    def observed(self) -> pd.DataFrame:
        """The columns an analyst sees: observed and measured nodes, not the latent ones."""
        return self.data[observed_columns(self.graph, self.measured)]


def _weighted(edges: Iterable[tuple[str, str, float]], latent: Iterable[str]) -> nx.DiGraph:
    graph = nx.DiGraph()
    latent = set(latent)
    for source, target, weight in edges:
        for node in (source, target):
            if node not in graph:
                graph.add_node(node, latent=node in latent, label=node,
                               description=DESCRIPTIONS.get(node, node))
        kind = "confounding" if source in latent else "causal"
        graph.add_edge(source, target, weight=weight, kind=kind)
    return graph


def backdoor_case(
    n: int = 5000,
    effect: float = 0.5,
    h_strength: float = 1.0,
    i_strength: float = 1.0,
    seed: int = 0,
) -> SimulatedCase:
    """The text side of PCMCi as a linear SCM: ``T <- H -> Y``, ``T <- I -> Y``, ``T -> Y``.

    ``h_strength`` and ``i_strength`` scale both edges out of ``H`` and ``I`` (0 cuts them,
    as ICH and ICI do). ``H`` and ``I`` are measured (the surrogates), so the back-door
    adjustment for ``{H, I}`` recovers ``effect``; the naive regression of ``Y`` on ``T``
    does not.
    """
    graph = _weighted(
        [("H", "T", h_strength), ("H", "Y", h_strength), ("I", "T", i_strength),
         ("I", "Y", i_strength), ("T", "Y", effect)],
        latent=("H", "I"),
    )
    data = simulate_linear_scm(graph, n, seed)
    return SimulatedCase("back-door (H, I)", graph, data, "T", "Y", ("H", "I"),
                         true_linear_effect(graph, "T", "Y"))


def frontdoor_case(
    n: int = 5000,
    visual_to_mediator: float = 0.8,
    mediator_to_label: float = 0.5,
    c_strength: float = 1.0,
    seed: int = 0,
) -> SimulatedCase:
    """The visual side of PCMCi as a linear SCM: ``V <- C -> Y`` with ``V -> M -> Y``.

    ``C`` stays latent; the front-door through ``M`` recovers the true effect
    ``visual_to_mediator * mediator_to_label``, the naive regression of ``Y`` on ``V`` does not.
    """
    graph = _weighted(
        [("C", "V", c_strength), ("C", "Y", c_strength), ("V", "M", visual_to_mediator),
         ("M", "Y", mediator_to_label)],
        latent=("C",),
    )
    data = simulate_linear_scm(graph, n, seed)
    return SimulatedCase("front-door (C)", graph, data, "V", "Y", (),
                         true_linear_effect(graph, "V", "Y"))


def estimate_effects(case: SimulatedCase) -> dict[str, float | str]:
    """The naive and the identified estimate of ``case``'s effect, by dowhy's estimators.

    naive: dowhy's linear regression on the graph ``treatment -> outcome`` alone (what one
    computes without a causal model); adjusted: dowhy identifies the effect on the case's
    graph and estimates it with ``backdoor.linear_regression`` or
    ``frontdoor.two_stage_regression``. Returns ``truth``, ``naive``, ``adjusted`` and
    ``method`` (the estimator used; ``"not identified"`` with ``adjusted`` NaN when dowhy
    finds no estimand).
    """
    observed = case.observed
    naive_graph = nx.DiGraph([(case.treatment, case.outcome)])
    naive_data = observed[[case.treatment, case.outcome]]
    naive_model = causal_model(naive_graph, case.treatment, case.outcome, naive_data)
    identification = identify(case.graph, case.treatment, case.outcome, case.measured)
    model = causal_model(case.graph, case.treatment, case.outcome, observed, case.measured)
    with _quiet_dowhy():
        naive_estimand = naive_model.identify_effect()
        naive = naive_model.estimate_effect(naive_estimand, method_name="backdoor.linear_regression")
        if identification.method == "backdoor":
            method = "backdoor.linear_regression"
        elif identification.method == "frontdoor":
            method = "frontdoor.two_stage_regression"
        else:
            method = "not identified"
        adjusted = (float(model.estimate_effect(identification.estimand, method_name=method).value)
                    if method != "not identified" else float("nan"))
    return {"truth": case.truth, "naive": float(naive.value), "adjusted": adjusted, "method": method}


def estimate_over_seeds(case_factory, seeds: Iterable[int], **kwargs) -> pd.DataFrame:
    """:func:`estimate_effects` for one case per seed: a frame with columns seed, truth,
    naive, adjusted, method (``case_factory`` is :func:`backdoor_case` or :func:`frontdoor_case`)."""
    rows = []
    for seed in seeds:
        rows.append({"seed": seed, **estimate_effects(case_factory(seed=seed, **kwargs))})
    return pd.DataFrame(rows)

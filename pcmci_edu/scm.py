"""The structural causal model (SCM) behind PCMCi, and what dowhy identifies on it.

Variables (the poster's notation): ``V`` the video, ``T`` the label text, ``Y`` the label,
``M`` the mediator (the deconfounded text ``T*`` through which IVC routes the video), and
three latent confounders:

- ``H`` co-occurrence hallucination: ``{T, V} <- H -> Y``;
- ``I`` codependency illusion:       ``T <- I -> Y``;
- ``C`` visual confounders:          ``V <- C -> Y``.

The module builds this graph with networkx, cuts it the way each intervention does (ICH and
ICI cut the back-door paths into ``T``, IVC replaces ``V`` by the front-door through ``M``),
asks dowhy's :class:`~dowhy.CausalModel` which estimand identifies a query, and simulates
small linear SCMs whose true effects are known, so the naive and the adjusted estimates can be
compared with the truth. The last section measures traces of the confounders in data: a
correlational scorer for the masking probe, and scene-stratified (back-door) associations for
Charades, where the scene is a measured confounder.

dowhy's ``gcm`` module cannot fit graphs with latent nodes, so everything here uses
``CausalModel``: a latent node is a graph node that is not a column of the data.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

OBSERVED = ("V", "T", "M", "Y")
"""The observed variables of the PCMCi SCM."""

LATENT = ("H", "I", "C")
"""The latent confounders of the PCMCi SCM."""

DESCRIPTIONS: dict[str, str] = {
    "V": "video (frame features)",
    "T": "label text (VLM text embeddings)",
    "Y": "label (activity or atomic actions)",
    "M": "mediator: the deconfounded text T* that IVC routes the video through",
    "H": "co-occurrence hallucination (companion objects, scenes)",
    "I": "codependency illusion (shared, exclusive, ordered actions)",
    "C": "visual confounders (background, attire)",
}

CONFOUNDING_EDGES: dict[str, tuple[tuple[str, str], ...]] = {
    "H": (("H", "T"), ("H", "V"), ("H", "Y")),
    "I": (("I", "T"), ("I", "Y")),
    "C": (("C", "V"), ("C", "Y")),
}
"""The edges out of each latent confounder: the poster's three SCM paths."""

INTERVENTIONS: dict[str, dict[str, object]] = {
    # ICH: "VLM-independent encoder blocks H -> V; OT-guided back-door adjustment blocks H -> T".
    "ich": {"cut": (("H", "T"), ("H", "V")), "relabel": {"T": "T'"}},
    # ICI: "back-door adjustment deconfounds T' -> T*, blocking T <- I -> Y".
    "ici": {"cut": (("I", "T"),), "relabel": {"T": "T*"}},
    # IVC: the front-door through M computes P(Y | do(V)): the graph of do(V) has no arrow into V.
    "ivc": {"cut": (("C", "V"), ("H", "V")), "relabel": {"V": "V*"}},
}
"""What each intervention does to the graph: the edges it cuts, the nodes it renames."""


# --------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------


def pcmci_graph(direct_visual_effect: bool = False) -> nx.DiGraph:
    """The PCMCi SCM as a networkx DiGraph; latent nodes carry ``latent=True``.

    Causal edges ``T -> Y`` and ``V -> M -> Y`` (the video acts on the label through the
    mediator, the assumption IVC's front-door adjustment needs), plus the confounding edges
    of ``H``, ``I`` and ``C``. With ``direct_visual_effect=True`` the graph also has
    ``V -> Y``, the base model's direct visual path, under which the front-door fails.

    >>> graph = pcmci_graph()
    >>> sorted(graph.predecessors("Y"))
    ['C', 'H', 'I', 'M', 'T']
    >>> [node for node, latent in graph.nodes(data="latent") if latent]
    ['H', 'I', 'C']
    """
    graph = nx.DiGraph(name="PCMCi SCM")
    for node in OBSERVED:
        graph.add_node(node, latent=False, label=node, description=DESCRIPTIONS[node])
    for node in LATENT:
        graph.add_node(node, latent=True, label=node, description=DESCRIPTIONS[node])
    graph.add_edges_from([("T", "Y"), ("V", "M"), ("M", "Y")], kind="causal")
    if direct_visual_effect:
        graph.add_edge("V", "Y", kind="causal")
    for confounder, edges in CONFOUNDING_EDGES.items():
        graph.add_edges_from(edges, kind="confounding", confounder=confounder)
    return graph


def latent_nodes(graph: nx.DiGraph) -> list[str]:
    """The nodes of ``graph`` marked ``latent=True``, in graph order."""
    return [node for node, latent in graph.nodes(data="latent") if latent]


def intervene(graph: nx.DiGraph, intervention: str) -> nx.DiGraph:
    """The graph after one intervention (``"ich"``, ``"ici"`` or ``"ivc"``): a new DiGraph.

    The cut edges are removed and the renamed nodes get a new ``label`` (``T -> T' -> T*``,
    ``V -> V*``); node names stay the same so queries keep working.

    >>> sorted(intervene(pcmci_graph(), "ich").predecessors("T"))
    ['I']
    >>> intervene(intervene(pcmci_graph(), "ich"), "ici").nodes["T"]["label"]
    'T*'
    """
    key = intervention.strip().lower()
    if key not in INTERVENTIONS:
        raise ValueError(f"unknown intervention {intervention!r}: expected one of {', '.join(INTERVENTIONS)}")
    spec = INTERVENTIONS[key]
    result = graph.copy()
    result.remove_edges_from([edge for edge in spec["cut"] if result.has_edge(*edge)])
    for node, label in spec["relabel"].items():
        if node in result:
            result.nodes[node]["label"] = label
    result.graph["interventions"] = (*graph.graph.get("interventions", ()), key)
    return result


def progressive_graphs(
    order: Sequence[str] = ("ich", "ici", "ivc"), graph: nx.DiGraph | None = None
) -> list[tuple[str, nx.DiGraph]]:
    """The graph before and after each intervention in ``order``: ``[("base", G0), ("ich", G1), ...]``."""
    current = pcmci_graph() if graph is None else graph
    stages = [("base", current)]
    for intervention in order:
        current = intervene(current, intervention)
        stages.append((intervention, current))
    return stages


def with_edges(graph: nx.DiGraph, keep: Mapping[tuple[str, str], bool]) -> nx.DiGraph:
    """A copy of ``graph`` in which each edge of ``keep`` is present (True) or cut (False).

    >>> graph = with_edges(pcmci_graph(), {("H", "T"): False, ("V", "Y"): True})
    >>> graph.has_edge("H", "T"), graph.has_edge("V", "Y")
    (False, True)
    """
    result = graph.copy()
    for (source, target), present in keep.items():
        for node in (source, target):
            if node not in result:
                raise KeyError(f"edge {source}->{target}: node {node!r} is not in the graph")
        if present and not result.has_edge(source, target):
            kind = "confounding" if result.nodes[source].get("latent") else "causal"
            result.add_edge(source, target, kind=kind)
        elif not present and result.has_edge(source, target):
            result.remove_edge(source, target)
    return result


# --------------------------------------------------------------------------------------------
# Back-door paths (networkx)
# --------------------------------------------------------------------------------------------


def backdoor_paths(graph: nx.DiGraph, treatment: str, outcome: str) -> list[list[str]]:
    """Every back-door path from ``treatment`` to ``outcome``: a simple path of the skeleton
    whose first edge points into the treatment.

    >>> backdoor_paths(pcmci_graph(), "T", "Y")
    [['T', 'H', 'Y'], ['T', 'H', 'V', 'C', 'Y'], ['T', 'H', 'V', 'M', 'Y'], ['T', 'I', 'Y']]
    """
    _require_nodes(graph, treatment, outcome)
    skeleton = graph.to_undirected(as_view=True)
    paths = [
        path for path in nx.all_simple_paths(skeleton, treatment, outcome)
        if graph.has_edge(path[1], path[0])
    ]
    return sorted(paths, key=lambda path: (path[1], len(path), path))


def is_blocked(graph: nx.DiGraph, path: Sequence[str], conditioned: Iterable[str] = ()) -> bool:
    """Whether ``conditioned`` blocks ``path`` (d-separation along one path).

    A path is blocked when it has a non-collider in the conditioning set, or a collider that
    is not in the set and has no descendant in it.

    >>> graph = pcmci_graph()
    >>> is_blocked(graph, ["T", "H", "Y"]), is_blocked(graph, ["T", "H", "Y"], {"H"})
    (False, True)
    >>> is_blocked(graph, ["T", "Y", "H"], ())  # Y is a collider on T -> Y <- H
    True
    """
    given = set(conditioned)
    for before, node, after in zip(path, path[1:], path[2:]):
        collider = graph.has_edge(before, node) and graph.has_edge(after, node)
        if collider:
            if node not in given and not (nx.descendants(graph, node) & given):
                return True
        elif node in given:
            return True
    return False


def format_path(graph: nx.DiGraph, path: Sequence[str]) -> str:
    """A path with its arrows, e.g. ``T <- H -> Y``, using the node labels."""
    parts = [graph.nodes[path[0]].get("label", path[0])]
    for source, target in zip(path, path[1:]):
        arrow = "->" if graph.has_edge(source, target) else "<-"
        parts += [arrow, graph.nodes[target].get("label", target)]
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# Identification with dowhy
# --------------------------------------------------------------------------------------------


@contextmanager
def _quiet_dowhy() -> Iterator[None]:
    """Silence dowhy's INFO logging and pandas/dowhy warnings for the duration of a call.

    Importing dowhy calls sympy's ``init_printing``, which replaces
    ``sys.displayhook`` (strings then echo without quotes in a notebook or doctest); the
    original hook is put back on exit.
    """
    logger = logging.getLogger("dowhy")
    level = logger.level
    displayhook = sys.displayhook
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        sys.displayhook = displayhook


def _require_nodes(graph: nx.DiGraph, *nodes: str) -> None:
    missing = [node for node in nodes if node not in graph]
    if missing:
        raise KeyError(f"node(s) {missing} not in the graph (it has {sorted(graph.nodes)})")


def observed_columns(graph: nx.DiGraph, measured: Iterable[str] = ()) -> list[str]:
    """The data columns dowhy sees: the non-latent nodes plus the latent ones we measure
    through a surrogate (e.g. ``H`` through ICH's optimal-transport prototypes)."""
    measured = set(measured)
    _require_nodes(graph, *measured)
    return [node for node in graph.nodes if not graph.nodes[node].get("latent") or node in measured]


def causal_model(
    graph: nx.DiGraph,
    treatment: str,
    outcome: str,
    data: pd.DataFrame | None = None,
    measured: Iterable[str] = (),
):
    """A :class:`dowhy.CausalModel` for ``treatment -> outcome`` on ``graph``.

    Latent nodes that are not ``measured`` are left out of the data, so dowhy treats them as
    unobserved. Without ``data`` a small placeholder frame is used: identification reads only
    the graph and the column names.
    """
    with _quiet_dowhy():  # importing dowhy replaces sys.displayhook (sympy's init_printing)
        from dowhy import CausalModel

    _require_nodes(graph, treatment, outcome)
    columns = observed_columns(graph, measured)
    for node in (treatment, outcome):
        if node not in columns:
            raise ValueError(f"{node!r} is latent: a treatment or outcome must be observed or measured")
    if data is None:
        rng = np.random.default_rng(0)
        data = pd.DataFrame(rng.normal(size=(8, len(columns))), columns=columns)
    else:
        missing = [column for column in columns if column not in data.columns]
        if missing:
            raise KeyError(f"data lacks the observed column(s) {missing}; it has {list(data.columns)}")
        data = data[columns]
    plain = nx.DiGraph()
    plain.add_nodes_from(graph.nodes)
    plain.add_edges_from(graph.edges)
    with _quiet_dowhy():
        return CausalModel(data=data, treatment=treatment, outcome=outcome, graph=plain)


@dataclass(frozen=True)
class Identification:
    """What dowhy identified for one query: the estimand and its adjustment sets."""

    treatment: str
    outcome: str
    measured: tuple[str, ...]
    backdoor_sets: tuple[tuple[str, ...], ...]
    backdoor_set: tuple[str, ...] | None
    frontdoor_set: tuple[str, ...] | None
    instruments: tuple[str, ...]
    estimand: object = field(repr=False, compare=False)

    @property
    def method(self) -> str:
        """``"backdoor"``, ``"frontdoor"``, ``"iv"`` or ``"not identified"`` (the first that applies)."""
        if self.backdoor_set is not None:
            return "backdoor"
        if self.frontdoor_set is not None:
            return "frontdoor"
        if self.instruments:
            return "iv"
        return "not identified"

    @property
    def identified(self) -> bool:
        """Whether dowhy found any estimand."""
        return self.method != "not identified"

    def describe(self) -> str:
        """One line: the query and how dowhy identifies it."""
        query = f"P({self.outcome} | do({self.treatment}))"
        measured = f", measuring {', '.join(self.measured)}" if self.measured else ""
        if self.method == "backdoor":
            adjust = "{" + ", ".join(self.backdoor_set) + "}" if self.backdoor_set else "{} (nothing to adjust)"
            return f"{query}{measured}: back-door, adjust for {adjust}"
        if self.method == "frontdoor":
            return f"{query}{measured}: front-door through {{{', '.join(self.frontdoor_set)}}}"
        if self.method == "iv":
            return f"{query}{measured}: instrumental variables {{{', '.join(self.instruments)}}}"
        return f"{query}{measured}: not identified"

    def __str__(self) -> str:
        return str(self.estimand)


def identify(
    graph: nx.DiGraph, treatment: str, outcome: str, measured: Iterable[str] = ()
) -> Identification:
    """Ask dowhy which estimand identifies ``P(outcome | do(treatment))`` on ``graph``.

    >>> identify(pcmci_graph(), "V", "Y").describe()
    'P(Y | do(V)): front-door through {M}'
    >>> identify(pcmci_graph(), "T", "Y", measured=("H", "I")).backdoor_set
    ('H', 'I')
    >>> identify(pcmci_graph(), "T", "Y").identified
    False
    """
    measured = tuple(measured)
    model = causal_model(graph, treatment, outcome, measured=measured)
    with _quiet_dowhy():
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
    order = {node: index for index, node in enumerate(graph.nodes)}

    def ordered(variables: Iterable[str]) -> tuple[str, ...]:  # dowhy returns sets in arbitrary order
        return tuple(sorted(variables, key=order.__getitem__))

    backdoor = estimand.backdoor_variables or {}
    sets = tuple(sorted({ordered(v) for name, v in backdoor.items() if name != "backdoor"}, key=len))
    chosen = backdoor.get("backdoor")
    frontdoor = estimand.frontdoor_variables or []
    return Identification(
        treatment=treatment,
        outcome=outcome,
        measured=measured,
        backdoor_sets=sets,
        backdoor_set=ordered(chosen) if chosen is not None else None,
        frontdoor_set=ordered(frontdoor) if frontdoor else None,
        instruments=ordered(estimand.instrumental_variables or ()),
        estimand=estimand,
    )


@dataclass(frozen=True)
class Query:
    """A causal query of the book: the effect it asks for, on which view of the SCM.

    ``confounders`` are the latent confounders kept in the view (the others are dropped, as
    the poster lists the three paths one at a time); ``measured`` are the confounders we
    observe through a surrogate (H: ICH's OT-pooled visual tokens; I: ICI's relation graphs).
    """

    name: str
    treatment: str
    outcome: str
    confounders: tuple[str, ...]
    measured: tuple[str, ...]
    intervention: str
    text: str

    def graph(self, direct_visual_effect: bool = False) -> nx.DiGraph:
        """The view of the SCM this query is asked on."""
        return confounder_view(pcmci_graph(direct_visual_effect), self.confounders)

    def identify(self, graph: nx.DiGraph | None = None) -> Identification:
        """dowhy's identification of this query (on ``graph``, default: its own view)."""
        return identify(self.graph() if graph is None else graph, self.treatment, self.outcome, self.measured)


QUERIES: dict[str, Query] = {
    "H": Query("H", "T", "Y", ("H",), ("H",), "ich",
               "P(Y | V, do(T)) = sum_h P(Y | V, do(T), h) P(h): back-door over h"),
    "I": Query("I", "T", "Y", ("I",), ("I",), "ici",
               "P(Y | V, do(T')) = sum_i P(Y | V, do(T'), i) P(i): back-door over i"),
    "C": Query("C", "V", "Y", ("C",), (), "ivc",
               "P(Y | do(V), T) = sum_m sum_v' P(Y | m, v', T) P(m | V) P(v'): front-door through M"),
    "all_T": Query("all_T", "T", "Y", LATENT, ("H", "I"), "ich+ici",
                   "P(Y | do(T)) on the full SCM, H and I measured through their surrogates"),
    "all_V": Query("all_V", "V", "Y", LATENT, (), "ivc",
                   "P(Y | do(V)) on the full SCM, nothing latent measured"),
}
"""The queries of chapter 2: one per confounder, then the two effects on the full SCM."""


def confounder_view(graph: nx.DiGraph, keep: Iterable[str]) -> nx.DiGraph:
    """``graph`` without the latent confounders not in ``keep`` (one SCM path at a time).

    >>> sorted(confounder_view(pcmci_graph(), ["C"]).nodes)
    ['C', 'M', 'T', 'V', 'Y']
    """
    keep = set(keep)
    unknown = keep - set(latent_nodes(graph))
    if unknown:
        raise KeyError(f"{sorted(unknown)} are not latent nodes of the graph ({latent_nodes(graph)})")
    view = graph.copy()
    view.remove_nodes_from([node for node in latent_nodes(graph) if node not in keep])
    return view


# --------------------------------------------------------------------------------------------
# Simulators with known truth (linear Gaussian SCMs)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Cutting edges: identification and estimates together (the chapter-2 explorer)
# --------------------------------------------------------------------------------------------

EXPLORER_EDGES: dict[str, tuple[str, str]] = {
    "H -> T": ("H", "T"),
    "I -> T": ("I", "T"),
    "C -> V": ("C", "V"),
    "V -> Y": ("V", "Y"),
}
"""The edges the chapter-2 explorer cuts or keeps: the three confounding arrows into the
treatments, and the direct visual path that breaks the front-door."""

EXPLORER_DEFAULTS: dict[str, bool] = {"H -> T": True, "I -> T": True, "C -> V": True, "V -> Y": False}


def explore(keep: Mapping[str, bool] | None = None, n: int = 3000, seed: int = 0) -> dict[str, object]:
    """Cut or keep the explorer's edges, then identify and estimate both effects.

    Returns ``graph`` (the PCMCi SCM with the edges as chosen), ``identifications``
    (dowhy on that graph: ``"T"`` and ``"V"`` with H, I, C latent, ``"T, surrogates"`` with
    H and I measured through their surrogates), and ``estimates``: a frame with
    one row per simulated case (back-door with H, I measured; front-door with C latent), the
    confounding arrows into the treatment scaled to 0 where cut.
    """
    choice = {**EXPLORER_DEFAULTS, **(keep or {})}
    unknown = set(choice) - set(EXPLORER_EDGES)
    if unknown:
        raise KeyError(f"unknown explorer edge(s) {sorted(unknown)}: expected {list(EXPLORER_EDGES)}")
    graph = with_edges(pcmci_graph(), {EXPLORER_EDGES[name]: kept for name, kept in choice.items()})
    identifications = {"T": identify(graph, "T", "Y"), "T, surrogates": identify(graph, "T", "Y", ("H", "I")),
                       "V": identify(graph, "V", "Y")}
    backdoor = backdoor_case(n=n, seed=seed)
    backdoor.graph.edges["H", "T"]["weight"] = 1.0 if choice["H -> T"] else 0.0
    backdoor.graph.edges["I", "T"]["weight"] = 1.0 if choice["I -> T"] else 0.0
    frontdoor = frontdoor_case(n=n, seed=seed)
    frontdoor.graph.edges["C", "V"]["weight"] = 1.0 if choice["C -> V"] else 0.0
    if choice["V -> Y"]:
        frontdoor.graph.add_edge("V", "Y", weight=0.3, kind="causal")
    rows = []
    for case in (backdoor, frontdoor):
        case.data = simulate_linear_scm(case.graph, n, seed)
        case.truth = true_linear_effect(case.graph, case.treatment, case.outcome)
        rows.append({"case": case.name, **estimate_effects(case)})
    return {"graph": graph, "identifications": identifications, "estimates": pd.DataFrame(rows)}


# --------------------------------------------------------------------------------------------
# Traces of H, I and C in data: label structure, probes, measured confounders
# --------------------------------------------------------------------------------------------


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


def mean_pooled(dataset) -> np.ndarray:
    """``[V, D]``: each video's frame features averaged over time."""
    return np.asarray(dataset.all_frames(), dtype=np.float32).mean(axis=1)


class CorrelationalScorer:
    """A purely correlational video classifier: logistic regression on mean-pooled frames.

    It learns whatever predicts the label in its training split (actions, context, companion
    objects alike), which is what the masking probe exposes. ``target="activity"`` fits one
    multinomial model; ``target="actions"`` fits one binary model per action (labels scored
    in isolation).
    """

    def __init__(self, target: str = "activity", C: float = 1.0, max_iter: int = 500) -> None:
        if target not in ("activity", "actions"):
            raise ValueError(f"target must be 'activity' or 'actions', got {target!r}")
        self.target = target
        self.C = C
        self.max_iter = max_iter
        self.model = None

    def fit(self, dataset) -> "CorrelationalScorer":
        """Fit on ``dataset`` (a :class:`~pcmci_edu.data.dataset.VideoDataset` with frames)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features = mean_pooled(dataset)
        classifier = LogisticRegression(C=self.C, max_iter=self.max_iter)
        if self.target == "activity":
            if not dataset.has_activities:
                raise ValueError(f"dataset {dataset.name!r} has no activity labels: use target='actions'")
            labels = dataset.activities
        else:
            classifier = OneVsRestClassifier(classifier)
            labels = (np.asarray(dataset.actions) > 0).astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant action columns (never / always present)
            self.model = make_pipeline(StandardScaler(), classifier).fit(features, labels)
        self.num_classes = dataset.num_activities if self.target == "activity" else dataset.num_actions
        return self

    def scores(self, dataset) -> np.ndarray:
        """Probabilities ``[V, A]`` (activity) or ``[V, K]`` (actions)."""
        if self.model is None:
            raise RuntimeError("CorrelationalScorer: call fit(train) before scores(...)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probabilities = self.model.predict_proba(mean_pooled(dataset))
        if self.target == "activity":
            full = np.zeros((len(probabilities), self.num_classes))
            full[:, self.model.classes_] = probabilities
            return full
        return probabilities


def masking_probe(scorer: CorrelationalScorer, test, masked) -> pd.DataFrame:
    """The score of each video's true activity before and after its action part is masked.

    ``masked`` holds the same videos as ``test`` with the action part removed and the context
    and companion objects kept. A model that relies on the action must lose score; one that
    relies on the confounders keeps (or raises) it. Columns: ``video_id``, ``label``,
    ``score``, ``masked_score``, ``holds`` (masked score at least 90% of the unmasked one).
    """
    same = (len(test) == len(masked) and np.array_equal(test.activities, masked.activities)
            and np.array_equal(test.actions, masked.actions))
    if not same:
        raise ValueError(f"masking_probe: {masked.split!r} does not hold the videos of {test.split!r} in order")
    labels = np.asarray(test.activities)
    rows = np.arange(len(labels))
    score = scorer.scores(test)[rows, labels]
    masked_score = scorer.scores(masked)[rows, labels]
    return pd.DataFrame({
        "video_id": list(test.video_ids), "label": labels, "score": score,
        "masked_score": masked_score, "holds": masked_score >= 0.9 * score,
    })


def companion_similarity(text_features, object_vectors: np.ndarray, companion_index: np.ndarray) -> np.ndarray:
    """Cosine between each action's label-text embedding and its companion object's visual
    vector (``H -> T``: a VLM's text for *fry egg* that points towards *pan*); NaN for actions
    without a companion (``companion_index`` -1).

    >>> companion_similarity(np.eye(2), np.array([[1.0, 0.0]]), np.array([0, -1])).tolist()
    [1.0, nan]
    """
    text = np.asarray(text_features, dtype=np.float64)
    objects = np.asarray(object_vectors, dtype=np.float64)
    companion_index = np.asarray(companion_index)
    result = np.full(len(text), np.nan)
    has = companion_index >= 0
    a, b = text[has], objects[companion_index[has]]
    result[has] = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return result


def context_predictiveness(train, splits: Mapping[str, object]) -> pd.DataFrame:
    """How well the context alone predicts the activity, fitted on ``train``.

    The predictor is the most frequent training activity of each context value (the plug-in
    ``argmax_y P(y | c)``). For each split: its accuracy, the accuracy of always answering the
    most frequent training activity, and the adjusted (for chance) mutual information between context
    and activity in that split.
    """
    from sklearn.metrics import adjusted_mutual_info_score

    table = pd.crosstab(pd.Series(train.contexts, name="context"), pd.Series(train.activities, name="activity"))
    lookup = table.idxmax(axis=1)
    majority = int(pd.Series(train.activities).mode().iloc[0])
    rows = []
    for name, split in {"train": train, **dict(splits)}.items():
        predicted = pd.Series(split.contexts).map(lookup).fillna(majority).to_numpy()
        rows.append({
            "split": name,
            "context_accuracy": float((predicted == split.activities).mean()),
            "majority_accuracy": float((split.activities == majority).mean()),
            "ami_context_activity": float(adjusted_mutual_info_score(split.contexts, split.activities)),
        })
    return pd.DataFrame(rows)


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

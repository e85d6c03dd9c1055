"""The structural causal model (SCM) behind PCMCi as a networkx graph, and its back-door paths.

Variables (the poster's notation): ``V`` the video, ``T`` the label text, ``Y`` the label,
``M`` the mediator (the deconfounded text ``T*`` through which IVC routes the video), and
three latent confounders:

- ``H`` co-occurrence hallucination: ``{T, V} <- H -> Y``;
- ``I`` codependency illusion:       ``T <- I -> Y``;
- ``C`` visual confounders:          ``V <- C -> Y``.

:func:`pcmci_graph` builds this graph, :func:`intervene` and :func:`progressive_graphs` cut it
the way each intervention does (ICH and ICI cut the back-door paths into ``T``, IVC replaces
``V`` by the front-door through ``M``), and :func:`backdoor_paths` / :func:`is_blocked` list the
back-door paths and apply d-separation's blocking rule. Chapter 2 draws and reads these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import networkx as nx


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
    "I": "codependency illusion (shared, alternative, ordered actions)",
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


def _require_nodes(graph: nx.DiGraph, *nodes: str) -> None:
    missing = [node for node in nodes if node not in graph]
    if missing:
        raise KeyError(f"node(s) {missing} not in the graph (it has {sorted(graph.nodes)})")


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

"""The chapter-2 explorer's logic: cut edges of the graph, then identify and estimate together.

:func:`explore` keeps or cuts the edges named in :data:`EXPLORER_EDGES`, asks dowhy what
identifies ``P(Y | do(V))`` on the edited graph and compares the naive and adjusted estimates
on simulated data; :func:`pcmci_edu.widgets.confounding_explorer` puts checkboxes on it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from pcmci_edu.scm.graph import pcmci_graph, with_edges
from pcmci_edu.scm.identification import identify
from pcmci_edu.scm.simulation import backdoor_case, estimate_effects, frontdoor_case, simulate_linear_scm, true_linear_effect


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

"""What dowhy identifies on the PCMCi graph: the estimand of each causal query of chapter 2.

:func:`identify` hands a graph (latent nodes are graph nodes that are not columns of the data)
to dowhy's :class:`~dowhy.CausalModel` and reports whether a query is identified and by which
adjustment (back-door set, front-door mediator); :data:`QUERIES` holds chapter 2's questions,
one per confounder. dowhy's ``gcm`` module cannot fit graphs with latent nodes, so everything
here uses ``CausalModel``.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
from pcmci_edu.scm.graph import LATENT, _require_nodes, latent_nodes, pcmci_graph


@contextmanager
def _quiet_dowhy() -> Iterator[None]:
    """Silence dowhy's INFO logging, pandas/dowhy warnings and anything dowhy prints for the
    duration of a call (a chapter shows dowhy's results, not its console).

    Importing dowhy calls sympy's ``init_printing``, which replaces
    ``sys.displayhook`` (strings then echo without quotes in a notebook or doctest); the
    original hook is put back on exit.
    """
    logger = logging.getLogger("dowhy")
    level = logger.level
    displayhook = sys.displayhook
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        sys.displayhook = displayhook



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

    def short(self) -> str:
        """The adjustment in a few words: ``back-door {H, I}``, ``front-door {M}``, ``nothing to adjust``
        (an empty back-door set), ``not identified``."""
        if self.method == "backdoor":
            return "back-door {" + ", ".join(self.backdoor_set) + "}" if self.backdoor_set else "nothing to adjust"
        if self.method == "frontdoor":
            return "front-door {" + ", ".join(self.frontdoor_set) + "}"
        if self.method == "iv":
            return "IV {" + ", ".join(self.instruments) + "}"
        return "not identified"

    def _chosen(self) -> dict:
        key = {"backdoor": "backdoor", "frontdoor": "frontdoor", "iv": "iv"}.get(self.method)
        return (self.estimand.estimands.get(key) or {}) if key else {}

    def latex(self) -> str:
        """dowhy's estimand for the chosen adjustment as LaTeX (``""`` when not identified), e.g.
        ``\\frac{d}{d T} \\operatorname{E}\\left[Y|H\\right]`` for the back-door over ``H``."""
        chosen = self._chosen()
        if not chosen:
            return ""
        import sympy

        text = sympy.latex(chosen["estimand"])
        return re.sub(r"\\left\[\\begin\{matrix\}(.*?)\\end\{matrix\}\\right\]", r"\1", text)

    def assumptions(self) -> dict[str, str]:
        """dowhy's assumptions for the chosen adjustment: name -> statement."""
        return dict(self._chosen().get("assumptions") or {})

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

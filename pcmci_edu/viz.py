"""Figures of the book: a flat module of plotting functions (matplotlib).

Each function draws on the ``ax`` it is given (or a new figure) and returns the axes or the
figure, so chapters can compose panels. Colours are fixed per role so the same variable looks
the same in every chapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

ROLE_COLOURS = {"treatment": "#4C72B0", "outcome": "#55A868", "mediator": "#8172B2", "latent": "#DDDDDD"}
ESTIMATE_COLOURS = {"truth": "black", "naive": "#C44E52", "adjusted": "#4C72B0"}

SCM_POSITIONS: dict[str, tuple[float, float]] = {
    "T": (0.0, 1.0), "V": (0.0, -1.0), "M": (1.6, -1.0), "Y": (3.0, 0.0),
    "H": (-1.5, 0.0), "I": (1.5, 2.0), "C": (1.5, -2.4),
}
"""Where the PCMCi SCM's nodes sit: treatments left, label right, confounders around."""


def _axes(ax: plt.Axes | None, size: tuple[float, float]) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def draw_scm(
    graph: nx.DiGraph,
    ax: plt.Axes | None = None,
    reference: nx.DiGraph | None = None,
    highlight: Sequence[Sequence[str]] = (),
    title: str | None = None,
) -> plt.Axes:
    """Draw a causal graph: latent nodes grey with dashed outlines and dashed out-edges,
    observed nodes coloured by role (``T``/``V`` treatments, ``Y`` outcome, ``M`` mediator).

    ``reference``: an earlier graph; its edges missing here are drawn faint with a cross (cut
    by an intervention). ``highlight``: paths (lists of nodes) drawn thick in orange.
    """
    ax = _axes(ax, (5.0, 3.6))
    positions = {node: SCM_POSITIONS.get(node) for node in graph.nodes}
    if any(position is None for position in positions.values()):
        positions = nx.spring_layout(graph, seed=0)
    latent = {node for node, flag in graph.nodes(data="latent") if flag}
    highlighted = {frozenset(pair) for path in highlight for pair in zip(path, path[1:])}

    def colour(node: str) -> str:
        if node in latent:
            return ROLE_COLOURS["latent"]
        return {"T": ROLE_COLOURS["treatment"], "V": ROLE_COLOURS["treatment"], "Y": ROLE_COLOURS["outcome"],
                "M": ROLE_COLOURS["mediator"]}.get(node, "#A1C9F4")

    if reference is not None:
        for source, target in reference.edges:
            if not graph.has_edge(source, target) and source in positions and target in positions:
                nx.draw_networkx_edges(reference, positions, edgelist=[(source, target)], ax=ax, style="dotted",
                                       edge_color="#BBBBBB", arrows=True, arrowsize=12, node_size=900,
                                       connectionstyle="arc3,rad=0.12")
                middle = (np.asarray(positions[source]) + np.asarray(positions[target])) / 2
                ax.text(*middle, "×", color="#C44E52", fontsize=16, ha="center", va="center", fontweight="bold")
    for source, target in graph.edges:
        dashed = source in latent
        thick = frozenset((source, target)) in highlighted
        nx.draw_networkx_edges(
            graph, positions, edgelist=[(source, target)], ax=ax, arrows=True, arrowsize=14, node_size=900,
            style="dashed" if dashed else "solid", width=3.0 if thick else 1.4,
            edge_color="#DD8452" if thick else ("#888888" if dashed else "#333333"),
            connectionstyle="arc3,rad=0.12",
        )
    for node in graph.nodes:
        nx.draw_networkx_nodes(graph, positions, nodelist=[node], ax=ax, node_size=900, node_color=colour(node),
                               edgecolors="#555555", linewidths=1.5)
        if node in latent:
            ax.collections[-1].set_linestyle("--")
    labels = {node: graph.nodes[node].get("label", node) for node in graph.nodes}
    nx.draw_networkx_labels(graph, positions, labels=labels, ax=ax, font_size=12, font_weight="bold")
    ax.set_title(title or graph.graph.get("name", ""), fontsize=11)
    ax.axis("off")
    ax.margins(0.12)
    return ax


def scm_legend(ax: plt.Axes) -> None:
    """A legend for :func:`draw_scm`: roles, latent nodes, cut edges."""
    handles = [
        Patch(facecolor=ROLE_COLOURS["treatment"], label="treatment (T, V)"),
        Patch(facecolor=ROLE_COLOURS["outcome"], label="label Y"),
        Patch(facecolor=ROLE_COLOURS["mediator"], label="mediator M"),
        Patch(facecolor=ROLE_COLOURS["latent"], edgecolor="#555555", linestyle="--", label="latent (H, I, C)"),
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=8, frameon=False)


def plot_progressive_graphs(stages: Sequence[tuple[str, nx.DiGraph]], titles: Mapping[str, str] | None = None):
    """One panel per stage of :func:`pcmci_edu.scm.progressive_graphs`, cut edges crossed out."""
    titles = dict(titles or {})
    figure, axes = plt.subplots(1, len(stages), figsize=(3.6 * len(stages), 3.4))
    axes = np.atleast_1d(axes)
    previous = None
    for ax, (name, graph) in zip(axes, stages):
        draw_scm(graph, ax=ax, reference=previous, title=titles.get(name, "base" if name == "base" else f"after {name.upper()}"))
        previous = graph
    scm_legend(axes[0])
    figure.tight_layout()
    return figure


def plot_estimates(frame: pd.DataFrame, ax: plt.Axes | None = None, case_column: str = "case") -> plt.Axes:
    """Naive and adjusted estimates against the truth, one row per case (dots: one per seed;
    an estimate that is NaN everywhere, i.e. not identified, is written as text).

    ``frame`` has columns ``case``, ``truth``, ``naive``, ``adjusted`` (several rows per case
    when several seeds were run).
    """
    ax = _axes(ax, (6.0, 0.9 + 0.9 * frame[case_column].nunique()))
    cases = list(dict.fromkeys(frame[case_column]))
    for row, case in enumerate(cases):
        part = frame[frame[case_column] == case]
        truth_x = float(part["truth"].iloc[0])
        for offset, kind in ((-0.12, "naive"), (0.12, "adjusted")):
            values = part[kind].to_numpy(dtype=float)
            if np.isnan(values).all():  # dowhy found no estimand: say so instead of a dot
                ax.text(truth_x, row + offset, f"  {kind}: not identified", va="center", fontsize=8,
                        color=ESTIMATE_COLOURS[kind])
                continue
            ax.scatter(values, np.full(len(values), row + offset), color=ESTIMATE_COLOURS[kind], alpha=0.6, s=25,
                       label=kind if row == 0 else None)
            ax.errorbar(np.nanmean(values), row + offset, xerr=np.nanstd(values), fmt="D", ms=8,
                        color=ESTIMATE_COLOURS[kind], capsize=3)
        truth = float(part["truth"].iloc[0])
        ax.plot([truth, truth], [row - 0.35, row + 0.35], color=ESTIMATE_COLOURS["truth"], lw=2.5,
                label="truth" if row == 0 else None)
    ax.set_yticks(range(len(cases)), cases)
    ax.set_ylim(-0.6, len(cases) - 0.4)
    ax.set_xlabel("estimated causal effect")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_cooccurrence(matrix: np.ndarray, names: Sequence[str], ax: plt.Axes | None = None,
                      title: str = "P(column action | row action)") -> plt.Axes:
    """Heat map of an action co-occurrence matrix (e.g. :func:`pcmci_edu.scm.action_cooccurrence`)."""
    ax = _axes(ax, (7.5, 6.5))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    ticks = range(len(names))
    fontsize = 7 if len(names) <= 30 else 5
    ax.set_xticks(ticks, names, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, names, fontsize=fontsize)
    ax.set_title(title, fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    return ax


def plot_activity_actions(table: np.ndarray, activity_names: Sequence[str], action_names: Sequence[str],
                          ax: plt.Axes | None = None) -> plt.Axes:
    """Heat map ``[A, K]``: the fraction of each activity's videos containing each action.
    Columns with several non-zero rows are shared actions."""
    ax = _axes(ax, (12.0, 3.8))
    image = ax.imshow(table, cmap="magma_r", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(activity_names)), activity_names, fontsize=8)
    ax.set_xticks(range(len(action_names)), action_names, rotation=90, fontsize=6)
    ax.set_title("fraction of an activity's videos that contain the action", fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    return ax


def plot_timeline(segments: Sequence[tuple[int, float, float]], action_names: Sequence[str],
                  ax: plt.Axes | None = None, title: str = "", unit: str = "s") -> plt.Axes:
    """The segments of one video as a Gantt chart, one row per action, in order of appearance."""
    ax = _axes(ax, (9.0, 0.5 + 0.35 * max(1, len({s[0] for s in segments}))))
    order = list(dict.fromkeys(action for action, _, _ in segments))
    palette = plt.get_cmap("tab20")
    for action, start, end in segments:
        row = order.index(action)
        ax.barh(row, end - start, left=start, color=palette(row % 20), edgecolor="black", linewidth=0.5)
    ax.set_yticks(range(len(order)), [action_names[a] for a in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"time ({unit})")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_masking_probe(probes: Mapping[str, pd.DataFrame], chance: float | None = None,
                       ax: plt.Axes | None = None) -> plt.Axes:
    """Distribution of the true label's score once the action is masked, one histogram per
    scorer (``probes``: name -> :func:`pcmci_edu.scm.masking_probe` frame), with each scorer's
    mean full-video score and the chance level as vertical lines."""
    ax = _axes(ax, (6.4, 3.4))
    bins = np.linspace(0, 1, 26)
    palette = plt.get_cmap("tab10")
    for index, (name, frame) in enumerate(probes.items()):
        colour = palette(index)
        ax.hist(frame["masked_score"], bins=bins, alpha=0.5, color=colour, label=f"{name}: action masked")
        ax.axvline(frame["score"].mean(), color=colour, lw=2, ls="-", label=f"{name}: mean score, full video")
    if chance is not None:
        ax.axvline(chance, color="black", lw=1.5, ls="--", label="chance")
    ax.set_xlabel("score of the true label")
    ax.set_ylabel("test videos")
    ax.legend(fontsize=7, loc="upper center")
    return ax


def plot_split_bars(frame: pd.DataFrame, columns: Mapping[str, str], ax: plt.Axes | None = None,
                    title: str = "", ylabel: str = "") -> plt.Axes:
    """Grouped bars, one group per row of ``frame`` (its ``split`` column), one bar per entry of
    ``columns`` (column name -> legend label)."""
    ax = _axes(ax, (6.0, 3.4))
    width = 0.8 / len(columns)
    positions = np.arange(len(frame))
    for index, (column, label) in enumerate(columns.items()):
        bars = ax.bar(positions + (index - (len(columns) - 1) / 2) * width, frame[column], width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(positions, frame["split"])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_risk_differences(frame: pd.DataFrame, highlight: int | None = None, ax: plt.Axes | None = None,
                          labels: tuple[str, str] | None = None) -> plt.Axes:
    """Naive (x) against scene-adjusted (y) risk differences, one dot per (object, action) pair
    (:func:`pcmci_edu.scm.all_stratified_risk_differences`); ``highlight`` is a row label."""
    ax = _axes(ax, (4.8, 4.6))
    ax.scatter(frame["naive"], frame["adjusted"], s=4, alpha=0.25, color="#4C72B0")
    low = float(np.nanmin(frame[["naive", "adjusted"]].to_numpy()))
    high = float(np.nanmax(frame[["naive", "adjusted"]].to_numpy()))
    ax.plot([low, high], [low, high], color="black", lw=1, ls="--", label="no confounding by scene")
    if highlight is not None:
        row = frame.loc[highlight]
        ax.scatter([row["naive"]], [row["adjusted"]], s=80, facecolor="none", edgecolor="#C44E52", lw=2,
                   label=" -> ".join(labels) if labels else "example")
    ax.set_xlabel("naive  P(a | o) - P(a | not o)")
    ax.set_ylabel("scene-adjusted difference")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def plot_scene_action(frequency: pd.DataFrame, action_names: Sequence[str], top: int = 25,
                      ax: plt.Axes | None = None) -> plt.Axes:
    """Heat map of ``P(action | scene)`` for the ``top`` actions whose rate varies most across
    scenes (``frequency``: scenes x actions, from :func:`pcmci_edu.scm.scene_predictiveness`)."""
    ax = _axes(ax, (10.0, 4.8))
    spread = frequency.max(axis=0) - frequency.min(axis=0)
    columns = spread.sort_values(ascending=False).index[:top]
    image = ax.imshow(frequency[columns].to_numpy(), cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(frequency.index)), [str(s).split(" (")[0] for s in frequency.index], fontsize=7)
    ax.set_xticks(range(len(columns)), [action_names[int(c)] for c in columns], rotation=90, fontsize=6)
    ax.set_title("P(action | scene), the actions whose rate varies most across scenes", fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    return ax


def plot_explorer(result: Mapping[str, object], figure=None):
    """The chapter-2 explorer's state (:func:`pcmci_edu.scm.explore`): the graph with its cut
    edges, dowhy's identification, and the estimates against the truth."""
    from pcmci_edu.scm import pcmci_graph

    if figure is None:
        figure = plt.figure(figsize=(11, 3.6))
    figure.clear()
    graph_ax, estimate_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    identifications = result["identifications"]
    lines = "\n".join(identification.describe() for identification in identifications.values())
    draw_scm(result["graph"], ax=graph_ax, reference=pcmci_graph(), title=lines)
    plot_estimates(result["estimates"], ax=estimate_ax)
    estimate_ax.set_title("simulated effects: naive vs dowhy-adjusted vs truth", fontsize=10)
    figure.tight_layout()
    return figure

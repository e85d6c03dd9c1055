"""Figures of the book: a flat module of plotting functions (matplotlib).

Each function draws on the ``ax`` it is given (or a new figure) and returns the axes or the
figure, so chapters can compose panels. Colours are fixed per role so the same variable looks
the same in every chapter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

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


def plot_progressive_graphs(stages: Sequence[tuple[str, nx.DiGraph]], titles: Mapping[str, str] | None = None,
                            columns: int = 2):
    """One panel per stage of :func:`pcmci_edu.scm.progressive_graphs`, cut edges crossed out.

    The panels sit on a grid of ``columns`` (two by default), each about 5 x 4 inches, so that
    in a page's column every graph is drawn large enough to read its labels.
    """
    titles = dict(titles or {})
    rows = math.ceil(len(stages) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.0 * columns, 4.0 * rows))
    axes = np.atleast_1d(axes).ravel()
    previous = None
    for ax, (name, graph) in zip(axes, stages):
        draw_scm(graph, ax=ax, reference=previous, title=titles.get(name, "base" if name == "base" else f"after {name.upper()}"))
        previous = graph
    for ax in axes[len(stages):]:
        figure.delaxes(ax)
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


# ---------------------------------------------------------------------------------------------
# Diagrams: the architecture, the front-door, the benchmark's graph beside the poster's
# ---------------------------------------------------------------------------------------------

MODULE_COLOURS = {"input": "#EEEEEE", "encoder": "#A1C9F4", "ich": "#FFB482", "ici": "#8DE5A1",
                  "ivc": "#D0BBFF", "output": "#FFFEA3"}

PCMCI_MODULES: tuple[tuple[str, str, str, str], ...] = (
    # (key, box title, what it computes, output shape)
    ("frames", "frames", "frozen vision encoder\nframe features V", "N x D"),
    ("encoder", "video encoder F(V)", "projection + temporal\ntransformer", "N x d"),
    ("ich", "ICH", "OT plan P* between T\nand V^P; H = P* V^P", "T' : K x d"),
    ("ici", "ICI", "R relation graphs\nG_r over the K labels", "T* : K x d"),
    ("ivc", "IVC", "front-door gate:\nV' = sigmoid(A(M, F(V))) F(V)", "V* : d"),
    ("logits", "logits", "scale x cos(V*, T*_k)", "K"),
)
"""The modules of PCMCi in the poster's order, with what each computes and the shape it outputs
(per video; ``N`` frames, ``D`` the frozen encoder's width, ``d`` the model's, ``K`` labels)."""


def _box(ax: plt.Axes, centre: tuple[float, float], size: tuple[float, float], colour: str, title: str,
         body: str = "", shape: str = "") -> None:
    x, y = centre
    w, h = size
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=colour, edgecolor="#555555", linewidth=1.2))
    ax.text(x, y + h / 2 - 0.17, title, ha="center", va="top", fontsize=10, fontweight="bold")
    if body:
        ax.text(x, y - 0.02, body, ha="center", va="center", fontsize=7.5)
    if shape:
        ax.text(x, y - h / 2 + 0.1, shape, ha="center", va="bottom", fontsize=8, family="monospace",
                color="#333333")


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], text: str = "",
           colour: str = "#333333", style: str = "-|>", rad: float = 0.0) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=colour, linewidth=1.4,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, text, ha="center", va="bottom",
                fontsize=7.5, color=colour)


def draw_pcmci_architecture(ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """PCMCi as a diagram: the modules of :data:`PCMCI_MODULES` in the poster's order (frames ->
    video encoder -> ICH -> ICI -> IVC -> logits) with the shape each outputs, and the label-text
    path (frozen text embeddings ``T_0``: K x D -> learnable ``T``) that feeds ICH, ICI and IVC.

    One box per module; its bold title is the module's name, so a test can find every module.
    """
    ax = _axes(ax, (12.0, 4.2))
    colours = {"frames": "input", "encoder": "encoder", "ich": "ich", "ici": "ici", "ivc": "ivc",
               "logits": "output"}
    width, height, gap = 1.75, 1.25, 0.35
    xs = [i * (width + gap) for i in range(len(PCMCI_MODULES))]
    for x, (key, name, body, shape) in zip(xs, PCMCI_MODULES):
        _box(ax, (x, 0.0), (width, height), MODULE_COLOURS[colours[key]], name, body, shape)
    for left, right in zip(xs, xs[1:]):
        _arrow(ax, (left + width / 2, 0.0), (right - width / 2, 0.0))
    # the text path: T0 -> T feeds ICH; T' -> ICI; T* is the mediator M of IVC and the logits' labels
    text_y = 1.9
    _box(ax, (xs[1], text_y), (width, 1.0), MODULE_COLOURS["input"], "label texts",
         "frozen text encoder T_0,\nlearnable T", "K x D -> K x d")
    _arrow(ax, (xs[1] + width / 2, text_y), (xs[2], height / 2), "T")
    ax.text(xs[3] + width / 2 + gap / 2, height / 2 + 0.55, "M = T*", ha="center", fontsize=8, color="#8172B2")
    _arrow(ax, (xs[3] + 0.3, height / 2), (xs[4] - 0.3, height / 2), colour="#8172B2", rad=-0.5)
    _arrow(ax, (xs[3] + 0.5, -height / 2), (xs[5] - 0.2, -height / 2), colour="#8172B2", rad=0.35)
    ax.text(xs[4] + width / 2 + gap / 2, -height / 2 - 0.75, "T* scores V*", ha="center", fontsize=8,
            color="#8172B2")
    _arrow(ax, (xs[0] + 0.4, -height / 2), (xs[2] - 0.2, -height / 2), colour="#DD8452", rad=0.35)
    ax.text(xs[1], -height / 2 - 0.75, "V^P: the frames' own tokens", ha="center", fontsize=8, color="#DD8452")
    ax.set_xlim(xs[0] - width / 2 - 0.1, xs[-1] + width / 2 + 0.1)
    ax.set_ylim(-height / 2 - 1.0, text_y + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or "PCMCi, per video: modules in the poster's order and the shapes they output", fontsize=11)
    return ax


def draw_frontdoor(ax: plt.Axes | None = None, treatment: str = "V", mediator: str = "M", outcome: str = "Y",
                   confounder: str = "C") -> plt.Axes:
    """The front-door path as a picture: ``treatment -> mediator -> outcome`` with a latent
    ``confounder`` of treatment and outcome, and the two steps of the formula written beside
    the arrows they use (``P(m | do(v)) = P(m | v)``; ``P(y | do(m))`` by back-door over ``v``)."""
    ax = _axes(ax, (7.0, 3.6))
    graph = nx.DiGraph()
    graph.add_node(confounder, latent=True)
    for node in (treatment, mediator, outcome):
        graph.add_node(node, latent=False)
    graph.add_edges_from([(treatment, mediator), (mediator, outcome), (confounder, treatment),
                          (confounder, outcome)])
    positions = {treatment: (0.0, 0.0), mediator: (1.5, 0.0), outcome: (3.0, 0.0), confounder: (1.5, 1.3)}
    colours = {treatment: ROLE_COLOURS["treatment"], mediator: ROLE_COLOURS["mediator"],
               outcome: ROLE_COLOURS["outcome"], confounder: ROLE_COLOURS["latent"]}
    for source, target in graph.edges:
        latent = source == confounder
        nx.draw_networkx_edges(graph, positions, edgelist=[(source, target)], ax=ax, arrows=True, arrowsize=16,
                               node_size=1100, style="dashed" if latent else "solid",
                               edge_color="#888888" if latent else "#333333", width=1.6)
    for node in graph.nodes:
        nx.draw_networkx_nodes(graph, positions, nodelist=[node], ax=ax, node_size=1100, node_color=colours[node],
                               edgecolors="#555555", linewidths=1.5)
        if node == confounder:
            ax.collections[-1].set_linestyle("--")
    nx.draw_networkx_labels(graph, positions, ax=ax, font_size=13, font_weight="bold")
    ax.text(0.75, -0.35, f"step 1: P({mediator.lower()} | do({treatment.lower()}))\n"
            f"= P({mediator.lower()} | {treatment.lower()})\n(no back-door path into {mediator})",
            ha="center", va="top", fontsize=8.5, color=ROLE_COLOURS["mediator"])
    ax.text(2.25, -0.35, f"step 2: P({outcome.lower()} | do({mediator.lower()}))\n"
            f"= sum over {treatment.lower()}' of\nP({outcome.lower()} | {mediator.lower()}, {treatment.lower()}') "
            f"P({treatment.lower()}')\n({treatment} blocks {mediator} <- {treatment} <- {confounder} -> {outcome})",
            ha="center", va="top", fontsize=8.5, color=ROLE_COLOURS["outcome"])
    ax.text(1.5, 1.75, f"{confounder}: latent, never measured", ha="center", fontsize=8.5, color="#666666")
    ax.set_xlim(-0.5, 3.5)
    ax.set_ylim(-1.45, 2.0)
    ax.axis("off")
    ax.set_title(f"The front-door: {treatment} acts on {outcome} only through {mediator}", fontsize=11)
    return ax


BENCHMARK_POSITIONS: dict[str, tuple[float, float]] = {
    "Y": (0.0, 0.0), "S": (0.9, 1.3), "Xa": (1.6, 0.6), "C": (1.2, -0.7), "O": (2.3, -1.1),
    "V": (3.2, 0.2), "T": (3.4, -1.3),
}

BENCHMARK_DESCRIPTIONS: dict[str, str] = {
    "Y": "label (activity)", "S": "script: its atomic actions (I)", "Xa": "action part of the frames",
    "C": "context: person, kitchen (C)", "O": "companion objects (H)", "V": "frame features",
    "T": "frozen label texts T_0",
}
"""The embedded benchmark's variables (:mod:`pcmci_edu.data.benchmark`); ``Xa`` is drawn as
:math:`X_a` (``A`` counts the activities in the book's notation)."""

SHIFT_BREAKS: dict[str, tuple[tuple[str, str], ...]] = {
    "test_shift_context": (("Y", "C"),),
    "test_shift_objects": (("Xa", "O"),),
    "test_shift_codependency": (("Y", "S"),),
    "test_shift": (("Y", "C"), ("Xa", "O")),
}
"""Which of the benchmark graph's arrows each shifted split redraws independently of the label
(``test_shift_codependency`` splices a chunk of another activity's script into each video, so
the script is no longer the activity's alone)."""


def benchmark_graph() -> nx.DiGraph:
    """The embedded benchmark's generating graph: the label causes the features.

    ``Y -> S`` (the activity's grammar draws its script), ``S -> Xa`` (the action part),
    ``Y -> C`` (the context is tied to the activity in training), ``Xa -> O`` (each action's
    companion object is visible while it is performed), ``Xa, C, O -> V`` (a frame is the sum of
    the parts plus noise) and ``O -> T`` (the frozen label texts are contaminated by companions).
    Nothing points into ``Y``: ``P(y | do(v)) = P(y)``.
    """
    graph = nx.DiGraph(name="embedded benchmark")
    for node, description in BENCHMARK_DESCRIPTIONS.items():
        graph.add_node(node, latent=False, label="$X_a$" if node == "Xa" else node, description=description)
    graph.add_edges_from([("Y", "S"), ("S", "Xa"), ("Y", "C"), ("Xa", "O"), ("Xa", "V"), ("C", "V"),
                          ("O", "V"), ("O", "T")], kind="causal")
    return graph


def plot_benchmark_and_poster(figure=None):
    """Two panels: the embedded benchmark's generating graph (:func:`benchmark_graph`, arrows each
    shifted split breaks coloured and labelled) beside the poster's SCM (:func:`draw_scm` of
    :func:`pcmci_edu.scm.pcmci_graph`). Returns the figure."""
    from pcmci_edu.scm import pcmci_graph

    figure = figure or plt.figure(figsize=(12.0, 4.8))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0]})
    graph = benchmark_graph()
    shift_colours = {"test_shift_context": "#C44E52", "test_shift_objects": "#DD8452",
                     "test_shift_codependency": "#55A868"}
    broken = {edge: split for split, edges in SHIFT_BREAKS.items() if split in shift_colours for edge in edges}
    for source, target in graph.edges:
        split = broken.get((source, target))
        nx.draw_networkx_edges(graph, BENCHMARK_POSITIONS, edgelist=[(source, target)], ax=left, arrows=True,
                               arrowsize=14, node_size=900, width=2.6 if split else 1.3,
                               edge_color=shift_colours.get(split, "#333333"))
        if split:
            middle = (np.asarray(BENCHMARK_POSITIONS[source]) + np.asarray(BENCHMARK_POSITIONS[target])) / 2
            left.text(middle[0], middle[1] + 0.12, split.replace("test_shift_", "shift: "), fontsize=8,
                      color=shift_colours[split], ha="center", fontweight="bold")
    colours = {"Y": ROLE_COLOURS["outcome"], "V": ROLE_COLOURS["treatment"], "T": ROLE_COLOURS["treatment"]}
    nx.draw_networkx_nodes(graph, BENCHMARK_POSITIONS, ax=left, node_size=900, edgecolors="#555555",
                           node_color=[colours.get(node, "#A1C9F4") for node in graph.nodes])
    nx.draw_networkx_labels(graph, BENCHMARK_POSITIONS, labels=dict(graph.nodes(data="label")), ax=left,
                            font_size=12, font_weight="bold")
    for node, (x, y) in BENCHMARK_POSITIONS.items():
        left.text(x, y - 0.3, BENCHMARK_DESCRIPTIONS[node], ha="center", va="top", fontsize=7.5, color="#444444")
    left.set_title("the embedded benchmark: the label causes the features", fontsize=11)
    left.axis("off")
    left.margins(0.15)
    draw_scm(pcmci_graph(), ax=right, title="the poster's SCM: text and video cause the label")
    scm_legend(right)
    figure.tight_layout()
    return figure


def relation_heatmaps(graphs: Mapping[str, np.ndarray] | Sequence[np.ndarray], names: Sequence[str],
                      order: Sequence[int] | str | None = "cluster", top: int | None = 30,
                      columns: int = 2, vmax: float | None = None, figure=None):
    """Relation graphs over labels as ordered heatmaps, one small multiple per graph.

    ``graphs``: ``R`` adjacency matrices of shape ``K x K`` (a mapping name -> matrix, or a
    sequence named ``G_1 .. G_R``); ``names``: the ``K`` label names. ``order``: ``"cluster"``
    orders the labels by average-linkage clustering of the graphs summed (related labels sit
    together, so blocks become visible), ``None`` keeps the given order, or pass the order
    itself. ``top``: keep only the ``top`` labels with the largest total weight (all when
    ``None``). Every panel shares the order and the colour scale. Returns the figure.
    """
    if not isinstance(graphs, Mapping):
        graphs = {f"G_{index + 1}": matrix for index, matrix in enumerate(graphs)}
    matrices = {name: np.asarray(matrix, dtype=float) for name, matrix in graphs.items()}
    if not matrices:
        raise ValueError("relation_heatmaps needs at least one relation graph")
    size = len(names)
    for name, matrix in matrices.items():
        if matrix.shape != (size, size):
            raise ValueError(f"relation graph {name!r} has shape {matrix.shape}; expected ({size}, {size}) "
                             f"for {size} label names")
    total = sum(np.abs(matrix) for matrix in matrices.values())
    keep = np.arange(size)
    if top is not None and top < size:
        weight = total.sum(0) + total.sum(1) - np.diag(total)
        keep = np.sort(np.argsort(-weight, kind="stable")[:top])
    if isinstance(order, str):
        if order != "cluster":
            raise ValueError(f"order must be 'cluster', None or a list of indices, got {order!r}")
        from scipy.cluster.hierarchy import leaves_list, linkage

        sub = total[np.ix_(keep, keep)]
        features = np.concatenate([sub, sub.T], axis=1)
        keep = keep[leaves_list(linkage(features, method="average"))] if len(keep) > 2 else keep
    elif order is not None:
        keep = np.asarray([index for index in order if index in set(keep.tolist())])
    labels = [names[index] for index in keep]
    rows = math.ceil(len(matrices) / columns)
    side = max(3.5, 0.16 * len(keep) + 1.5)
    figure = figure or plt.figure(figsize=(side * min(columns, len(matrices)) + 1.0, side * rows))
    axes = np.atleast_1d(figure.subplots(rows, min(columns, len(matrices)), squeeze=False)).ravel()
    scale = vmax if vmax is not None else max(float(np.abs(m[np.ix_(keep, keep)]).max()) for m in matrices.values()) or 1.0
    image = None
    for ax, (name, matrix) in zip(axes, matrices.items()):
        image = ax.imshow(matrix[np.ix_(keep, keep)], cmap="viridis", vmin=0.0, vmax=scale)
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(len(keep)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(keep)), labels, fontsize=6)
    for ax in axes[len(matrices):]:
        figure.delaxes(ax)
    figure.colorbar(image, ax=list(axes[:len(matrices)]), shrink=0.7, label="edge weight")
    return figure

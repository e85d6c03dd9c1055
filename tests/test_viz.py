"""Figures (pcmci_edu.viz) and the chapter-2 widget draw what they claim to draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pcmci_edu import scm, viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_draw_scm_marks_latent_nodes_and_cut_edges():
    base = scm.pcmci_graph()
    after = scm.intervene(base, "ich")
    ax = viz.draw_scm(after, reference=base)
    # one node collection per node; latent ones have a dashed outline
    nodes = [c for c in ax.collections if hasattr(c, "get_offsets") and len(c.get_offsets()) == 1]
    dashed = [c for c in nodes if c.get_linestyle()[0][1] is not None]
    assert len(nodes) == 7 and len(dashed) == 3
    crosses = [t for t in ax.texts if t.get_text() == "×"]
    assert len(crosses) == 2  # ICH cuts H -> T and H -> V
    assert "T'" in {t.get_text() for t in ax.texts}


def test_progressive_graphs_figure_has_one_panel_per_stage():
    figure = viz.plot_progressive_graphs(scm.progressive_graphs())
    assert len(figure.axes) == 4
    assert [ax.get_title() for ax in figure.axes] == ["base", "after ICH", "after ICI", "after IVC"]


def test_plot_estimates_draws_truth_and_both_estimates():
    frame = pd.DataFrame({"case": ["a", "a", "b"], "truth": [0.5, 0.5, 0.4],
                          "naive": [1.0, 1.1, 0.9], "adjusted": [0.5, 0.48, 0.41]})
    ax = viz.plot_estimates(frame)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"naive", "adjusted", "truth"}


def test_label_structure_figures():
    actions = np.array([[1, 1, 0], [1, 0, 1]])
    viz.plot_cooccurrence(scm.action_cooccurrence(actions), ["a", "b", "c"])
    viz.plot_activity_actions(np.array([[1.0, 0.5, 0.0]]), ["x"], ["a", "b", "c"])
    ax = viz.plot_timeline([(0, 0.0, 2.0), (2, 2.0, 5.0), (0, 5.0, 6.0)], ["a", "b", "c"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "c"]
    assert len(ax.patches) == 3


def test_masking_probe_and_risk_difference_figures():
    probe = pd.DataFrame({"score": [0.9, 0.5], "masked_score": [0.2, 0.6]})
    ax = viz.plot_masking_probe({"a": probe, "b": probe}, chance=0.1)
    assert len(ax.patches) == 2 * 25  # one histogram of 25 bins per scorer
    assert len(ax.lines) == 3  # two full-video means and chance
    table = pd.DataFrame({"naive": [0.1, 0.3], "adjusted": [0.0, 0.1]})
    ax = viz.plot_risk_differences(table, highlight=1, labels=("desk", "sit"))
    assert "desk -> sit" in {t.get_text() for t in ax.get_legend().get_texts()}


def test_confounding_explorer_widget_recomputes_on_toggle():
    widgets = pytest.importorskip("ipywidgets")
    from pcmci_edu.widgets import confounding_explorer

    panel = confounding_explorer(n=1000)
    assert isinstance(panel, widgets.VBox)
    assert not panel.result["identifications"]["T"].identified
    boxes = panel.children[0].children
    for box in boxes:
        if box.description in ("keep H -> T", "keep I -> T"):
            box.value = False
    assert panel.result["identifications"]["T"].backdoor_set == ()
    assert "back-door (H, I)" in panel.children[2].value

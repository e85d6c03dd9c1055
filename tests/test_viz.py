"""Figures (pcmci_edu.viz) and the chapter-2 widget draw what they claim to draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
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


def test_progressive_graphs_are_drawn_large_enough_to_read():
    figure = viz.plot_progressive_graphs(scm.progressive_graphs())
    width, height = figure.get_size_inches()
    # two panels a row, each at least 4.5 inches wide: in a ~7-inch column a panel keeps half its size
    assert width / 2 >= 4.5 and height >= 7


def test_pcmci_architecture_has_every_module_in_the_posters_order():
    ax = viz.draw_pcmci_architecture()
    texts = [t for t in ax.texts if t.get_fontweight() == "bold"]
    titles = [t.get_text() for t in texts]
    order = ["frames", "video encoder F(V)", "ICH", "ICI", "IVC", "logits"]
    assert all(name in titles for name in order)
    positions = [texts[titles.index(name)].get_position()[0] for name in order]
    assert positions == sorted(positions)  # left to right in the poster's order
    shapes = {t.get_text() for t in ax.texts}
    assert {"N x D", "N x d", "T' : K x d", "T* : K x d", "V* : d", "K"} <= shapes


def test_frontdoor_picture_draws_the_path_and_the_latent_confounder():
    ax = viz.draw_frontdoor()
    labels = {t.get_text() for t in ax.texts}
    assert {"V", "M", "Y", "C"} <= labels
    assert any("step 1" in text for text in labels) and any("step 2" in text for text in labels)
    dashed = [c for c in ax.collections if hasattr(c, "get_offsets") and len(c.get_offsets()) == 1
              and c.get_linestyle()[0][1] is not None]
    assert len(dashed) == 1  # only C is latent


def test_benchmark_graph_has_the_label_as_a_root_and_each_shift_breaks_an_arrow_of_it():
    graph = viz.benchmark_graph()
    assert graph.in_degree("Y") == 0  # the label causes the features
    assert not nx.has_path(graph, "V", "Y")
    for split, edges in viz.SHIFT_BREAKS.items():
        assert all(graph.has_edge(*edge) for edge in edges), split
    figure = viz.plot_benchmark_and_poster()
    assert len(figure.axes) == 2
    texts = {t.get_text() for t in figure.axes[0].texts}
    assert {"shift: context", "shift: objects", "shift: codependency"} <= texts


def test_relation_heatmaps_orders_labels_so_blocks_are_contiguous():
    rng = np.random.default_rng(0)
    blocks = np.kron(np.eye(3), np.ones((4, 4)))  # three groups of four related labels
    permutation = rng.permutation(12)
    shuffled = blocks[np.ix_(permutation, permutation)]
    names = [f"a{index}" for index in permutation]
    figure = viz.relation_heatmaps({"co-occurrence": shuffled, "noise": 0.1 * rng.random((12, 12))}, names, top=None)
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["co-occurrence", "noise"]
    shown = panels[0].images[0].get_array()
    # after ordering, each label's related labels are its neighbours: the matrix is block diagonal
    assert np.allclose(shown, np.kron(np.eye(3), np.ones((4, 4))))
    assert [t.get_text() for t in panels[0].get_xticklabels()] == [t.get_text() for t in panels[1].get_xticklabels()]
    with pytest.raises(ValueError, match="shape"):
        viz.relation_heatmaps([np.ones((3, 3))], ["a", "b"])


def test_relation_heatmaps_keeps_the_top_labels():
    matrix = np.zeros((10, 10))
    matrix[7, 8] = matrix[8, 7] = 1.0
    figure = viz.relation_heatmaps([matrix], [f"a{i}" for i in range(10)], top=2, order=None)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["a7", "a8"]


def test_static_gallery_embeds_every_setting_and_the_note_says_what_it_needs():
    from pcmci_edu import widgets

    html = widgets.static_gallery({"first": lambda: viz.draw_frontdoor(), "second": lambda: plt.subplots()[0]}).data
    assert html.count("<img") == 2 and "first" in html and "second" in html and "max-width:100%" in html
    assert not plt.get_fignums()  # every rendered figure was closed
    note = widgets.kernel_note("The checkbox").data
    assert "needs a live kernel" in note and "Colab" in note
    with pytest.raises(ValueError):
        widgets.static_gallery({})


def test_explorable_draws_live_and_static(monkeypatch):
    import ipywidgets
    from pcmci_edu import widgets

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    calls = []

    def draw(value):
        calls.append(value)
        figure, ax = plt.subplots()
        ax.set_title(f"value {value}")
        return figure

    slider = ipywidgets.FloatSlider(value=0.5, min=0, max=1)
    widgets.explorable(draw, "epsilon", slider, [0.1, 0.9])
    assert calls[0] == 0.5 and sorted(calls[1:3]) == [0.1, 0.9]
    slider.value = 0.7
    assert calls[-1] == 0.7
    html = [obj.data for obj in shown if "pcmci-static-gallery" in getattr(obj, "data", "")]
    assert len(html) == 1 and "epsilon = 0.1" in html[0] and "epsilon = 0.9" in html[0]
    assert any("needs a live kernel" in getattr(obj, "data", "") for obj in shown)

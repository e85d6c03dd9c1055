"""ipywidgets explorers of the book. Each returns a widget the chapter displays; the figure it
draws comes from :mod:`pcmci_edu.viz`, the numbers from the package."""

from __future__ import annotations

import matplotlib.pyplot as plt

from pcmci_edu import scm, viz


def confounding_explorer(n: int = 3000, seed: int = 0):
    """Cut or keep the confounding edges of the PCMCi SCM and watch identification and estimates.

    One checkbox per edge of :data:`pcmci_edu.scm.EXPLORER_EDGES`; every change reruns
    :func:`pcmci_edu.scm.explore` (dowhy identification on the edited graph, and naive versus
    adjusted estimates on the simulators with the cut arrows set to zero) and redraws
    :func:`pcmci_edu.viz.plot_explorer`. Returns an ``ipywidgets.VBox``; its ``result``
    attribute holds the latest :func:`~pcmci_edu.scm.explore` output.
    """
    import ipywidgets as widgets
    from IPython.display import display

    boxes = {
        name: widgets.Checkbox(value=kept, description=f"keep {name}", indent=False,
                               layout=widgets.Layout(width="130px"))
        for name, kept in scm.EXPLORER_DEFAULTS.items()
    }
    output = widgets.Output()
    table = widgets.HTML()
    panel = widgets.VBox([widgets.HBox(list(boxes.values())), output, table])

    def redraw(_change=None) -> None:
        result = scm.explore({name: box.value for name, box in boxes.items()}, n=n, seed=seed)
        panel.result = result
        estimates = result["estimates"].round(3)
        table.value = estimates.to_html(index=False, na_rep="not identified")
        with output:
            output.clear_output(wait=True)
            figure = viz.plot_explorer(result)
            display(figure)
            plt.close(figure)

    for box in boxes.values():
        box.observe(redraw, names="value")
    redraw()
    return panel

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


# ---------------------------------------------------------------------------------------------
# Controls that say what they need, with a static counterpart for the HTML book
# ---------------------------------------------------------------------------------------------

KERNEL_NOTE = ("<b>{what} needs a live kernel.</b> In this web page it is a picture of a control and "
               "does nothing: open the chapter in Colab (the rocket button at the top) or in Jupyter to use "
               "it. {static}")


def kernel_note(what: str = "This control", static: bool = True):
    """A visible note (an HTML admonition) saying that the control below needs a live kernel and,
    when ``static``, that the settings rendered at build time follow it."""
    from IPython.display import HTML

    after = "Below it, the same control at a few settings, rendered when the book was built." if static else ""
    return HTML(f'<div class="admonition note pcmci-kernel-note"><p class="admonition-title">Live control</p>'
                f"<p>{KERNEL_NOTE.format(what=what, static=after)}</p></div>")


def _png(figure) -> str:
    import base64
    import io

    if hasattr(figure, "get_figure") and not hasattr(figure, "savefig"):
        figure = figure.get_figure()  # an Axes
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def static_gallery(settings, columns: int = 2):
    """Pre-rendered settings side by side, as plain HTML that works without a kernel.

    ``settings``: a mapping caption -> a function of no arguments returning a matplotlib figure
    (or axes). Each figure is rendered to PNG, closed, and laid out ``columns`` to a row; the
    images scale down with the page (``max-width: 100%``), so nothing scrolls sideways.
    """
    from html import escape

    from IPython.display import HTML

    if not settings:
        raise ValueError("static_gallery needs at least one setting to render")
    cells = []
    for caption, draw in settings.items():
        cells.append(f'<figure style="margin:0;flex:1 1 {100 // columns - 2}%;min-width:0">'
                     f'<img src="data:image/png;base64,{_png(draw())}" style="max-width:100%;height:auto" '
                     f'alt="{escape(caption)}"/><figcaption style="font-size:0.85em">{escape(caption)}</figcaption>'
                     "</figure>")
    return HTML('<div class="pcmci-static-gallery" style="display:flex;flex-wrap:wrap;gap:1em;max-width:100%">'
                + "".join(cells) + "</div>")


def show_with_static(widget, settings, *, what: str = "This control", columns: int = 2) -> None:
    """Display ``widget`` under a note saying it needs a live kernel, then its static counterpart
    (:func:`static_gallery` of ``settings``), so that the HTML book shows every setting it lists.

    >>> # show_with_static(confounding_explorer(), {"all kept": lambda: viz.plot_explorer(scm.explore({}))})
    """
    from IPython.display import display

    display(kernel_note(what))
    display(widget)
    display(static_gallery(settings, columns))


def explorable(draw, name: str, control, values, *, what: str | None = None, columns: int = 3,
               caption: str = "{name} = {value:g}") -> None:
    """A one-parameter explorer that works live and in HTML: ``draw(value)`` returns a figure.

    Live: ``ipywidgets.interactive`` calls ``draw`` with ``control``'s value (a slider, say).
    Static: ``draw`` at each of ``values``, side by side (:func:`show_with_static`).

    Chapter 4's slider, for example::

        explorable(plan_figure, "epsilon", widgets.FloatLogSlider(value=EPSILON, base=10, min=-2.5, max=0,
                   step=0.1, description="epsilon"), [0.01, EPSILON, 0.5])
    """
    import ipywidgets as widgets
    from IPython.display import display

    output = widgets.Output()

    def update(change=None) -> None:
        with output:
            output.clear_output(wait=True)
            figure = draw(control.value)
            display(figure)
            plt.close(figure)

    control.observe(update, names="value")
    update()
    settings = {caption.format(name=name, value=value): (lambda value=value: draw(value)) for value in values}
    show_with_static(widgets.VBox([control, output]), settings,
                     what=what or f"The {name} control", columns=columns)

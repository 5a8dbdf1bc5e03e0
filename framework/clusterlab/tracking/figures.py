"""Figures as artifacts: saved at the experiment's resolution, their layout fixed once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clusterlab.tracking.store import Tracker


def lay_out_once(figure: Any) -> None:
    """Run a figure's layout engine (constrained, tight) once, keep the positions found and
    remove the engine.

    ``savefig`` on a figure with any layout engine, even matplotlib's placeholder for
    "none", draws it once to lay it out and again to render it: with the positions fixed
    and no engine left it draws once, and the saved image is the same.
    """
    import matplotlib

    get_engine = getattr(figure, "get_layout_engine", None)
    engine = get_engine() if get_engine is not None else None
    if engine is None:
        return
    engine.execute(figure)
    # No engine at all (``None``), unless the rc settings would put one back.
    with matplotlib.rc_context(
        {"figure.autolayout": False, "figure.constrained_layout.use": False}
    ):
        figure.set_layout_engine(None)


def log_figure(tracker: Tracker, run_id: str, figure: Any, path: str, dpi: float) -> None:
    """Save ``figure`` at ``dpi`` as the run's artifact ``path`` and close it.

    The image format follows ``path``'s extension (``.png``, ``.svg``, ``.pdf``). The
    figure is closed even when saving fails, so that a grid of trials leaks no figures.
    """
    import matplotlib
    from matplotlib import pyplot

    try:
        # The layout engines measure in pixels at the figure's dpi: set it before they
        # run. savefig's "figure" dpi is the one the figure was made with, not the one
        # set later, so the save is told the dpi through its own setting.
        figure.set_dpi(dpi)
        with matplotlib.rc_context({"savefig.dpi": dpi}):
            tracker.log_figure(run_id, figure, path)
    finally:
        pyplot.close(figure)

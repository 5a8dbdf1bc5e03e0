"""Figures as artifacts: a matplotlib figure's layout fixed once before it is saved."""

from __future__ import annotations

from typing import Any


def lay_out_once(figure: Any) -> None:
    """Run a figure's layout engine (constrained, tight) once and keep the positions found.

    ``savefig`` on a figure with a layout engine draws it once to lay it out and again to
    render it, and the engine runs on both draws: measuring every text twice costs about
    a third of the save. With the positions fixed first the saved image is the same.
    """
    get_engine = getattr(figure, "get_layout_engine", None)
    engine = get_engine() if get_engine is not None else None
    if engine is None:
        return
    engine.execute(figure)
    figure.set_layout_engine("none")

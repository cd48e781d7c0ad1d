"""Widgets with a static fallback.

Rendered HTML cannot run callbacks, so every interactive figure is drawn once at its default
values first (a plain figure the book shows and can number), and the live controls come after
it. The computation behind a widget is an ordinary function of the chapter package, so tests
call it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def static_figure(draw: Callable[..., Any], defaults: Mapping[str, Any]):
    """Call ``draw(**defaults)`` and return what it returns (usually a matplotlib figure)."""
    return draw(**defaults)


def live(draw: Callable[..., Any], controls: Mapping[str, Any], *, columns: int = 3):
    """Controls laid out above an output area that re-runs ``draw(**values)`` on every change.

    ``controls`` maps ``draw``'s keyword names to ipywidgets controls. Controls are set to
    ``continuous_update=False`` where they support it, so a slider recomputes when released.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    for c in controls.values():
        if hasattr(c, "continuous_update"):
            c.continuous_update = False

    def show(**values):
        out = draw(**values)
        if out is not None and hasattr(out, "savefig"):
            display(out)
            plt.close(out)
        elif out is not None:
            display(out)

    output = w.interactive_output(show, dict(controls))
    items = list(controls.values())
    rows = [w.HBox(items[i:i + columns]) for i in range(0, len(items), columns)]
    return w.VBox([*rows, output])

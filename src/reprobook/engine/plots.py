"""The book's figure style and small plotting helpers shared by all chapters."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt

# Colour-blind-safe palette (Okabe & Ito), in the order chapters use for their variants.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

STYLE = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.frameon": False,
}


def use_style() -> None:
    """Apply the book's style to matplotlib's global settings."""
    plt.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 3.4, height: float = 3.0, **kw):
    """``plt.subplots`` with the book's style and a per-panel size.

    Returns ``(fig, ax)`` for one panel, ``(fig, axes[ncols])`` for one row, ``(fig, axes[nrows])``
    for one column, else ``(fig, axes[nrows, ncols])``.
    """
    use_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                             layout="constrained", **kw)
    if nrows == ncols == 1:
        return fig, axes[0, 0]
    return fig, axes[0] if nrows == 1 else axes[:, 0] if ncols == 1 else axes


def plot_curves(ax, series: dict[str, tuple[Sequence[float], Sequence[float]]], *, xlabel: str = "step",
                ylabel: str = "", title: str = "", logy: bool = False) -> None:
    """Draw named ``(x, y)`` series on ``ax`` with a legend."""
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend()


def image_grid(ax, images, *, nrow: int = 8, title: str = "", cmap: str | None = None) -> None:
    """Show a batch ``[N, C, H, W]`` (values in [0, 1]) as one tiled image."""
    import torchvision

    grid = torchvision.utils.make_grid(images.detach().cpu().float().clamp(0, 1), nrow=nrow, padding=1, pad_value=1.0)
    ax.imshow(grid.permute(1, 2, 0).numpy() if grid.shape[0] == 3 else grid[0].numpy(), cmap=cmap or "gray",
              interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def glue(name: str, fig, *, display: bool = False) -> None:
    """Store ``fig`` under ``name`` for a numbered ``{glue:figure}`` in the book (myst-nb).

    Without myst-nb (a plain JupyterLab install) this only shows the figure.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - myst-nb comes with the book extra
        from IPython.display import display as _display

        _display(fig)
        return
    _glue(name, fig, display=display)
    plt.close(fig)

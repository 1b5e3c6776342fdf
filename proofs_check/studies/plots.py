"""The studies' figures: panels side by side and one legend under them (matplotlib's file backend)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["panels", "save_figure"]


def panels(count: int, sharey: bool = False):
    """A figure with ``count`` panels side by side (matplotlib's file backend, imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(5 * count, 4.8), squeeze=False, sharey=sharey)
    return fig, list(axes[0])


def save_figure(fig, axes, path: Path, columns: int, bottom: float) -> None:
    """One legend (the first panel's entries) under the panels, then the PNG."""
    import matplotlib.pyplot as plt

    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)

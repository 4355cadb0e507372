"""Figures in the style of the papers (matplotlib, no display needed)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.outputs import atomic_output


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike, *,
                inputs: Iterable[str | os.PathLike | None] = (),
                overwrite: bool = True) -> Path:
    """Save a matplotlib figure atomically (:func:`~interlingua.core.outputs.atomic_output`).

    The format comes from the suffix of ``path`` (PNG when there is none) and is
    passed explicitly, so the temporary file is written exactly where expected.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : path-like
        Destination (parent directories are created).
    inputs : iterable of path-like
        Files never to be written.
    overwrite : bool
        Replace an existing file (library default; the CLI checks first).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    with atomic_output(path, inputs=inputs, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format=fmt)
    return path


def plot_layer_curves(
    curves: Mapping[str, Sequence[float]],
    layers: Sequence[str | int],
    *,
    ylabel: str,
    title: str,
    path: str | os.PathLike,
    bold: Sequence[str] = (),
    xlabel: str = "layer",
    ylim: tuple[float, float] | None = None,
) -> Path:
    """One curve per entry of ``curves`` over ``layers`` (like seed 001 Figs 3–5).

    Curves named in ``bold`` are drawn thick and black (e.g. the mean over languages,
    seed 003 Fig. 3). Missing values (NaN/None) leave gaps.
    """
    plt = pyplot()
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    x = np.arange(len(layers))
    for label, values in curves.items():
        y = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        if label in bold:
            ax.plot(x, y, color="black", linewidth=2.8, label=label, zorder=3)
        else:
            ax.plot(x, y, marker="o", markersize=3, linewidth=1.3, label=label, alpha=0.9)
    ax.set_xticks(x)
    ax.set_xticklabels([str(layer) for layer in layers], rotation=45 if len(layers) > 14 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8, ncol=2 if len(curves) > 6 else 1, frameon=False)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


def plot_layer_panels(
    panels: Mapping[str, tuple[Sequence[str | int], Mapping[str, Sequence[float]]]],
    *,
    ylabel: str,
    title: str,
    path: str | os.PathLike,
    bold: Sequence[str] = (),
    dashed: Sequence[str] = (),
    ylim: tuple[float, float] | None = None,
) -> Path:
    """One panel per entry of ``panels`` (e.g. per model: its layers and one curve per
    language pair, like seed 001 Figs 3–5 and seed 000 Fig. 4), side by side, same
    colour for the same curve name in every panel.

    Curves named in ``bold`` are thick and black, those in ``dashed`` dashed (e.g.
    languages probed without context). Missing values (NaN/None) leave gaps.
    """
    plt = pyplot()
    path = Path(path)
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.0), dpi=120, squeeze=False,
                             sharey=ylim is not None)
    names = list(dict.fromkeys(k for _, curves in panels.values() for k in curves))
    colours = {k: plt.get_cmap("tab20")(i % 20) for i, k in enumerate(names)}
    for ax, (panel, (layers, curves)) in zip(axes[0], panels.items()):
        x = np.arange(len(layers))
        for label, values in curves.items():
            y = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
            if label in bold:
                ax.plot(x, y, color="black", linewidth=2.8, label=label, zorder=3)
            else:
                ax.plot(x, y, marker="o", markersize=3, linewidth=1.3, label=label,
                        alpha=0.9, color=colours[label],
                        linestyle="--" if label in dashed else "-")
        ax.set_xticks(x)
        ax.set_xticklabels([str(layer) for layer in layers],
                           rotation=45 if len(layers) > 14 else 0)
        ax.set_xlabel("layer")
        ax.set_title(panel)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    if len(names) > 1:
        axes[0][-1].legend(fontsize=7, ncol=2 if len(names) > 8 else 1, frameon=False,
                           loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


def plot_heatmap(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    title: str,
    path: str | os.PathLike,
    colorbar_label: str = "",
    fmt: str = ".2f",
) -> Path:
    """Annotated square heat map (e.g. pairwise fold enrichment between languages)."""
    plt = pyplot()
    path = Path(path)
    matrix = np.asarray(matrix, dtype=float)
    size = max(4.0, 0.5 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=120)
    image = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    if len(labels) <= 20:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                if np.isfinite(matrix[i, j]):
                    ax.text(j, i, format(matrix[i, j], fmt), ha="center", va="center",
                            color="white", fontsize=7)
    cbar = fig.colorbar(image, ax=ax)
    if colorbar_label:
        cbar.set_label(colorbar_label)
    ax.set_title(title)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path

"""Matplotlib charts logged with each training run (Agg canvas, no pyplot global state)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from training.labels import CLASS_NAMES


def feature_importance_figure(importance: pd.Series, top: int = 30) -> Figure:
    """Horizontal bars of the ``top`` features by total gain."""
    data = importance.sort_values(ascending=False).head(top)[::-1]
    fig = Figure(figsize=(7, max(3.0, 0.25 * len(data) + 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(list(data.index), data.to_numpy())
    ax.set_xlabel("total gain")
    ax.set_title(f"Feature importance (top {len(data)})")
    fig.tight_layout()
    return fig


def confusion_figure(matrix: np.ndarray, title: str = "Out-of-fold confusion matrix") -> Figure:
    """Counts with row-normalised shares; rows = true class, columns = predicted class."""
    fig = Figure(figsize=(4.5, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, f"{matrix[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig

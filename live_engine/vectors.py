"""Two helpers that let one rule be written once and run on a scalar (the decision core, one bar at a
time) and on numpy arrays (the parameter sweep, every candidate at once).

A rule written with arithmetic, comparisons, ``&`` and ``|`` already runs on both; a branch or a max
goes through :func:`pick` / :func:`maximum`, which keep plain Python values plain (the core's hot
path stays free of numpy scalars)."""

from __future__ import annotations

from typing import Any

import numpy as np


def pick(cond: Any, a: Any, b: Any) -> Any:
    """``a if cond else b``, element-wise when ``cond`` is an array."""
    if isinstance(cond, np.ndarray):
        return np.where(cond, a, b)
    return a if cond else b


def maximum(a: Any, b: Any) -> Any:
    """``max(a, b)``, element-wise when either is an array."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.maximum(a, b)
    return a if a >= b else b

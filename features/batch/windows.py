"""Vectorised window primitives for the batch features (exact or n-term accurate, never drifting).

- :func:`rolling_sum` sums each float window from its own n terms (two-block prefix/suffix sums), so
  its error is that of an n-term sum, independent of the series length; a window of zeros sums to 0.
- :func:`rolling_sum_int` uses int64 cumulative sums (exact).
- :func:`ema_seeded` runs the EMA/Wilder recursion in C (``scipy.signal.lfilter``) with the
  ``e = alpha*x + (1-alpha)*e_prev`` update, seeded with the mean of the first n inputs.
All return float64 (``rolling_sum_int``: int64) arrays aligned with the input, NaN (or 0 for ints)
where the window is not full.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter


def rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` values (NaN for the first n-1 and wherever the window holds a NaN)."""
    x = np.asarray(x, dtype=np.float64)
    size = len(x)
    out = np.full(size, np.nan)
    if size < n:
        return out
    if n == 1:
        return x.copy()
    blocks = -(-size // n)
    pad = np.zeros(blocks * n)
    pad[:size] = x
    mat = pad.reshape(blocks, n)
    prefix = np.cumsum(mat, axis=1).ravel()
    suffix = np.cumsum(mat[:, ::-1], axis=1)[:, ::-1]
    suffix[:, 0] = 0.0  # a window ending at a block's last position is that block alone
    # window ending at i = suffix of i's previous block from i-n+1 + prefix of i's block up to i
    out[n - 1 :] = suffix.ravel()[: size - n + 1] + prefix[n - 1 : size]
    return out


def rolling_sum_int(x: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sum of the last ``n`` values (0 where the window is not full; mask with :func:`full`)."""
    c = np.concatenate([[0], np.cumsum(np.asarray(x, dtype=np.int64))])
    out = np.zeros(len(x), dtype=np.int64)
    if len(x) >= n:
        out[n - 1 :] = c[n:] - c[: len(c) - n]
    return out


def full(size: int, n: int) -> np.ndarray:
    """True where a window of ``n`` bars ending at the position is complete."""
    return np.arange(size) >= n - 1


def none_known(unknown: np.ndarray, n_trades: np.ndarray, n: int) -> np.ndarray:
    """True where the ``n`` bars ending at the position hold trades and every one of them is unknown
    (``unknown`` = per-bar count of trades without the side / the broker ids): the feature is NaN there."""
    total = rolling_sum_int(n_trades, n)
    return (total > 0) & (rolling_sum_int(unknown, n) == total)


def nan_free(x: np.ndarray, n: int) -> np.ndarray:
    """True where the window of ``n`` ending at the position is complete and holds no NaN."""
    bad = rolling_sum_int(np.isnan(x).astype(np.int64), n)
    return full(len(x), n) & (bad == 0)


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Max of the last ``n`` values (NaN when not full or when the window holds a NaN)."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1 :] = sliding_window_view(np.asarray(x, dtype=np.float64), n).max(axis=1)
    return out


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Min of the last ``n`` values (NaN when not full or when the window holds a NaN)."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1 :] = sliding_window_view(np.asarray(x, dtype=np.float64), n).min(axis=1)
    return out


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` shifted by ``k`` bars (NaN for the first k)."""
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def first_valid(x: np.ndarray) -> int:
    """Index of the first non-NaN value (``len(x)`` when none)."""
    ok = np.flatnonzero(~np.isnan(x))
    return int(ok[0]) if len(ok) else len(x)


def ema_seeded(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """EMA with smoothing ``alpha`` starting at ``x``'s first valid value, seeded with the mean of n inputs.

    Inputs must be NaN only in a prefix. The value at the n-th valid input is the seed (sum / n); after
    it, ``e_t = alpha * x_t + (1 - alpha) * e_{t-1}``.
    """
    out = np.full(len(x), np.nan)
    f = first_valid(x)
    if len(x) - f < n:
        return out
    seed = float(np.add.reduce(x[f : f + n])) / n
    out[f + n - 1] = seed
    rest = x[f + n :]
    if len(rest):
        decay = 1.0 - alpha
        y, _ = lfilter([alpha], [1.0, -decay], rest, zi=[decay * seed])
        out[f + n :] = y
    return out

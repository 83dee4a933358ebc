"""Numeric rules shared by the batch and streaming executions of ``qt65_v1``.

Both executions must take the same fallback on the same bar even when their floating-point noise
differs, so every "is this denominator zero?" decision goes through these helpers:

- Sums of integer inputs (volumes, trade counts, quantities) are computed exactly in integers
  (int64 in batch, Python ``int`` in streaming); their zero tests are exact (``== 0``), and their
  sample variances use :func:`int_sample_var` (exact numerator, one rounding).
- Variances of log returns are snapped to exactly 0 at or below :data:`RET_VAR_ZERO` (a std of
  1e-9; a real std of tick-sized log returns is orders of magnitude larger), see :func:`snap_ret_var`.
- Any other denominator is zero when ``|den| <= ZERO_RTOL * scale`` where ``scale`` is the natural
  magnitude of the inputs (documented at each call; e.g. the mean |price| for a price std, the
  largest |H| or |L| for a high-low range).

Every helper has a scalar form (streaming, plain floats) and a ``_v`` vector form (batch, numpy);
each returns the fallback, never inf.
"""

from __future__ import annotations

import numpy as np

ZERO_RTOL = 1e-12
"""Relative tolerance below which a float denominator counts as zero (times its scale)."""

RET_VAR_ZERO = 1e-18
"""A variance of log returns at or below this is exactly 0 (std <= 1e-9)."""


def is_zero(den: float, scale: float = 1.0) -> bool:
    """True when ``|den| <= ZERO_RTOL * scale`` (``scale`` >= 0, the inputs' magnitude)."""
    return abs(den) <= ZERO_RTOL * scale


def is_zero_v(den: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Vector form of :func:`is_zero` (NaN is never zero)."""
    return np.abs(den) <= ZERO_RTOL * np.asarray(scale)


def div_or(num: float, den: float, fallback: float, scale: float = 1.0) -> float:
    """``num / den``, or ``fallback`` when ``den`` is zero by :func:`is_zero`."""
    if is_zero(den, scale):
        return fallback
    return num / den


def div_or_v(num: np.ndarray, den: np.ndarray, fallback: float, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Vector form of :func:`div_or`; NaN in ``num`` or ``den`` stays NaN."""
    zero = is_zero_v(den, scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(num, dtype=np.float64) / np.where(zero, 1.0, den)
    return np.where(zero, fallback, out)


def int_sample_var(n: int, s1: int, s2: int) -> float:
    """Sample variance (ddof 1) of ``n`` integers with sum ``s1`` and sum of squares ``s2``.

    The numerator ``n*s2 - s1*s1`` is exact; the result has a single rounding, so batch (int64) and
    streaming (int) agree bit for bit, and a constant window gives exactly 0.
    """
    return float(n * s2 - s1 * s1) / float(n * (n - 1))


def int_sample_var_v(n: int, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Vector form of :func:`int_sample_var` over int64 window sums."""
    num = n * s2.astype(np.int64) - s1.astype(np.int64) * s1.astype(np.int64)
    return num.astype(np.float64) / float(n * (n - 1))


def snap_ret_var(var: float) -> float:
    """A log-return variance, 0.0 when at or below :data:`RET_VAR_ZERO` (also absorbs negative noise)."""
    return 0.0 if var <= RET_VAR_ZERO else var


def snap_ret_var_v(var: np.ndarray) -> np.ndarray:
    """Vector form of :func:`snap_ret_var` (NaN stays NaN)."""
    return np.where(var <= RET_VAR_ZERO, 0.0, var)


def ret_sample_var(n: int, s1: float, s2: float) -> float:
    """Snapped sample variance of ``n`` log returns from their sum and sum of squares."""
    return snap_ret_var((s2 - s1 * s1 / n) / (n - 1))


def ret_sample_var_v(n: int, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Vector form of :func:`ret_sample_var`."""
    return snap_ret_var_v((s2 - s1 * s1 / n) / (n - 1))


def rsi_value(avg_gain: float, avg_loss: float) -> float:
    """``100 * g / (g + l)``; 50 when both are 0 (100 when only the loss is 0 follows from the formula)."""
    total = avg_gain + avg_loss
    if total == 0.0:  # g, l >= 0, so the sum is exactly 0 only when both are
        return 50.0
    return 100.0 * avg_gain / total


def rsi_value_v(avg_gain: np.ndarray, avg_loss: np.ndarray) -> np.ndarray:
    """Vector form of :func:`rsi_value`."""
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 * avg_gain / np.where(total == 0.0, 1.0, total)
    return np.where(total == 0.0, 50.0, out)

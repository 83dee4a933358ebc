"""The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, López de Prado & Zhu, "The probability of backtest overfitting" (J. Computational
Finance, 2017). A parameter study picks the best of ``N`` configurations on the days it has seen; PBO is
the probability that this pick is *below the median* of the same configurations on the days it has not.

CSCV: the ``T x N`` matrix of daily results (one column per configuration, days paired) is cut into ``S``
contiguous blocks of days (``S`` even; a remainder of ``T mod S`` days at the start is dropped). For each
of the ``C(S, S/2)`` ways to choose half the blocks as the in-sample set (the rest out of sample):

1. the configuration ``n*`` with the best in-sample metric is chosen;
2. ``w`` = its relative rank out of sample, ``rank / (N + 1)`` (rank 1 = worst, ties averaged);
3. the logit ``log(w / (1 - w))``: above 0 the pick is above the out-of-sample median.

``PBO`` = the share of logits ``<= 0``. Pure noise gives about 0.5; a configuration that is really better
gives about 0. Also returned: the slope of out-of-sample against in-sample metric of the picks (negative =
performance degradation) and the share of picks whose out-of-sample metric is below zero.

The metric is the per-day Sharpe (mean / sample standard deviation); a column without variation in a half
is ``-inf`` there (never picked; ranked last), so a configuration that never trades cannot win a split.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PBOResult:
    pbo: float                   # share of splits whose in-sample best is at or below the out-of-sample median
    n_splits: int                # C(S, S/2)
    n_blocks: int                # S
    n_configs: int               # N
    n_days: int                  # T used (after dropping the remainder)
    logits: np.ndarray           # one per split
    degradation_slope: float     # OLS slope of OOS metric on IS metric of the picks (nan when undefined)
    prob_oos_loss: float         # share of splits whose pick has an out-of-sample metric below 0

    def as_dict(self) -> dict[str, float | int]:
        return {"pbo": self.pbo, "n_splits": self.n_splits, "n_blocks": self.n_blocks, "n_configs": self.n_configs,
                "n_days": self.n_days, "degradation_slope": self.degradation_slope,
                "prob_oos_loss": self.prob_oos_loss, "logit_median": float(np.median(self.logits))}


def _sharpe_columns(block_sums: np.ndarray, block_sq: np.ndarray, block_n: np.ndarray,
                    chosen: np.ndarray) -> np.ndarray:
    """Per-day Sharpe of every column over the chosen blocks, from per-block sums (no re-reading of days)."""
    n = float(block_n[chosen].sum())
    s = block_sums[chosen].sum(axis=0)
    q = block_sq[chosen].sum(axis=0)
    mean = s / n
    var = np.maximum(q - n * mean * mean, 0.0) / (n - 1.0)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 1e-12 * np.maximum(1.0, np.abs(mean)), mean / sd, -np.inf)
    return out


def _relative_rank(values: np.ndarray, index: int) -> float:
    """``rank / (N + 1)`` of ``values[index]`` among ``values`` (1 = lowest; ties share the average rank)."""
    v = values[index]
    below = float(np.sum(values < v))
    equal = float(np.sum(values == v))
    rank = below + (equal + 1.0) / 2.0
    return rank / (len(values) + 1.0)


def probability_of_backtest_overfitting(matrix: np.ndarray, n_blocks: int = 16) -> PBOResult:
    """PBO of choosing the best column of ``matrix`` (days x configurations) by CSCV over ``n_blocks`` blocks.

    Needs at least 2 configurations, an even ``n_blocks`` >= 2 and at least 2 days per block."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"a days x configurations matrix is needed, got shape {m.shape}")
    t_all, n_cfg = m.shape
    if n_cfg < 2:
        raise ValueError(f"PBO compares configurations: got {n_cfg}, give at least 2")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks={n_blocks}: an even number >= 2 is needed (the halves are symmetric)")
    if not np.isfinite(m).all():
        raise ValueError("the matrix holds NaN or infinite values: give every configuration a result on every day")
    per = t_all // n_blocks
    if per < 2:
        raise ValueError(f"{t_all} days cannot make {n_blocks} blocks of at least 2 days: "
                         f"give more days or fewer blocks")
    m = m[t_all - per * n_blocks:]
    blocks = m.reshape(n_blocks, per, n_cfg)
    sums, sq = blocks.sum(axis=1), (blocks * blocks).sum(axis=1)
    counts = np.full(n_blocks, per, dtype=float)
    logits, is_best, oos_best = [], [], []
    every = np.arange(n_blocks)
    for combo in itertools.combinations(range(n_blocks), n_blocks // 2):
        ins = np.array(combo)
        oos = np.setdiff1d(every, ins, assume_unique=True)
        sr_in = _sharpe_columns(sums, sq, counts, ins)
        sr_out = _sharpe_columns(sums, sq, counts, oos)
        best = int(np.argmax(sr_in))
        w = _relative_rank(sr_out, best)
        logits.append(math.log(w / (1.0 - w)))
        is_best.append(sr_in[best])
        oos_best.append(sr_out[best])
    lg = np.array(logits)
    x, y = np.array(is_best), np.array(oos_best)
    ok = np.isfinite(x) & np.isfinite(y)
    slope = math.nan
    if ok.sum() >= 3 and float(np.var(x[ok])) > 0:
        slope = float(np.polyfit(x[ok], y[ok], 1)[0])
    return PBOResult(pbo=float(np.mean(lg <= 0.0)), n_splits=len(lg), n_blocks=n_blocks, n_configs=n_cfg,
                     n_days=per * n_blocks, logits=lg, degradation_slope=slope,
                     prob_oos_loss=float(np.mean(y < 0.0)))

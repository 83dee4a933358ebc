"""Statistics of daily PnL that do not flatter: Sharpe with its day count, Sortino on a proper downside
deviation, block-bootstrap intervals and probabilities, and the deflated Sharpe ratio.

Pure functions over 1-D arrays of daily values (R$ or returns; each function says which it needs).
Undefined is ``nan`` (shown as "n/a"), never 0: a Sharpe from one day, a Sortino with no losing day.

- :func:`sharpe` — mean / sample standard deviation (ddof 1) per day; ``annualised`` multiplies by
  sqrt(252) and is labelled as such wherever it is shown, with the number of days beside it.
- :func:`sortino` — mean / downside deviation, where the downside deviation is
  ``sqrt(mean(min(r, 0)^2))`` over *every* day (Sortino & Price's target semideviation, target 0),
  not the standard deviation of the losing days only.
- :func:`block_bootstrap` — circular block bootstrap (Politis & Romano 1992) of any statistic of the
  series; the block length defaults to ``ceil(n ** (1/3))`` days so that runs of correlated days stay
  together. Deterministic for a seed.
- :func:`interval` — the equal-tailed percentile interval of the replicates.
- :func:`prob_positive` / :func:`prob_greater` — the share of bootstrap replicates in which the mean
  daily PnL is above zero / in which ``a``'s mean daily PnL beats ``b``'s on the same days (paired:
  the days are resampled together, so a market that was good for both is not counted as skill).
- :func:`deflated_sharpe` — Bailey & López de Prado (2014): the probability that the true Sharpe is
  above the best Sharpe that ``n_trials`` configurations of pure noise would have shown, correcting
  for skewness, kurtosis and the number of days. With one trial it is the probabilistic Sharpe ratio
  against 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

ANNUALISATION_DAYS = 252
EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def _arr(x: np.ndarray | list[float]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def sharpe(daily: np.ndarray | list[float], *, annualised: bool = False) -> float:
    """Mean / sample standard deviation of the daily series; nan with fewer than 2 days or no variation."""
    a = _arr(daily)
    if len(a) < 2:
        return math.nan
    sd = float(a.std(ddof=1))
    if not sd > 0:
        return math.nan
    sr = float(a.mean()) / sd
    return sr * math.sqrt(ANNUALISATION_DAYS) if annualised else sr


def downside_deviation(daily: np.ndarray | list[float], target: float = 0.0) -> float:
    """``sqrt(mean(min(r - target, 0)^2))`` over every day; nan for an empty series."""
    a = _arr(daily)
    if not len(a):
        return math.nan
    return float(np.sqrt(np.mean(np.square(np.minimum(a - target, 0.0)))))


def sortino(daily: np.ndarray | list[float], *, annualised: bool = False) -> float:
    """Mean / downside deviation; nan with fewer than 2 days or when no day was below 0."""
    a = _arr(daily)
    if len(a) < 2:
        return math.nan
    dd = downside_deviation(a)
    if not dd > 0:
        return math.nan
    s = float(a.mean()) / dd
    return s * math.sqrt(ANNUALISATION_DAYS) if annualised else s


def default_block(n: int) -> int:
    """Block length of the circular block bootstrap: ``ceil(n ** (1/3))`` days, at least 1."""
    return max(1, math.ceil(n ** (1.0 / 3.0))) if n > 0 else 1


def bootstrap_indices(n: int, *, n_boot: int = 2000, block: int | None = None, seed: int = 0) -> np.ndarray:
    """``(n_boot, n)`` day indices of circular-block-bootstrap resamples of a series of ``n`` days."""
    if n <= 0:
        return np.zeros((n_boot, 0), dtype=np.int64)
    b = block or default_block(n)
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(n / b)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]) % n
    return idx.reshape(n_boot, n_blocks * b)[:, :n]


def block_bootstrap(daily: np.ndarray | list[float], statistic: Callable[[np.ndarray], float] = np.mean, *,
                    n_boot: int = 2000, block: int | None = None, seed: int = 0) -> np.ndarray:
    """Replicates of ``statistic`` over circular-block-bootstrap resamples (empty for < 2 days)."""
    a = _arr(daily)
    if len(a) < 2:
        return np.zeros(0)
    idx = bootstrap_indices(len(a), n_boot=n_boot, block=block, seed=seed)
    if statistic is np.mean:
        return np.asarray(a[idx].mean(axis=1), dtype=np.float64)
    return np.array([statistic(a[row]) for row in idx], dtype=np.float64)


def interval(replicates: np.ndarray, level: float = 0.90) -> tuple[float, float]:
    """Equal-tailed percentile interval; ``(nan, nan)`` without finite replicates."""
    r = _arr(replicates)
    if not len(r):
        return math.nan, math.nan
    lo, hi = np.quantile(r, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def prob_positive(daily: np.ndarray | list[float], *, n_boot: int = 2000, block: int | None = None,
                  seed: int = 0) -> float:
    """Share of bootstrap replicates whose mean daily value is above 0; nan with fewer than 2 days."""
    reps = block_bootstrap(daily, n_boot=n_boot, block=block, seed=seed)
    return float(np.mean(reps > 0)) if len(reps) else math.nan


def prob_greater(a: np.ndarray | list[float], b: np.ndarray | list[float], *, n_boot: int = 2000,
                 block: int | None = None, seed: int = 0) -> float:
    """Paired: share of replicates (the same days drawn for both) in which ``a``'s mean beats ``b``'s.

    ``a`` and ``b`` are the daily values of two strategies on the same days, in the same order."""
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if len(x) != len(y):
        raise ValueError(f"paired series differ in length: {len(x)} and {len(y)} days")
    return prob_positive(x - y, n_boot=n_boot, block=block, seed=seed)


def deflated_sharpe(daily: np.ndarray | list[float], n_trials: int = 1) -> float:
    """Probability that the true (per-day) Sharpe exceeds the expected maximum of ``n_trials`` noise trials.

    ``SR0 = sigma_SR * ((1 - g) * z(1 - 1/N) + g * z(1 - 1/(N e)))`` with ``g`` Euler's constant and
    ``sigma_SR`` the standard error of a zero Sharpe over these days, ``1 / sqrt(T - 1)``; then
    ``DSR = Phi((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2))``.
    nan with fewer than 3 days or no variation.
    """
    a = _arr(daily)
    t = len(a)
    sr = sharpe(a)
    if t < 3 or not math.isfinite(sr):
        return math.nan
    n = max(1, int(n_trials))
    sd = float(a.std(ddof=0))
    z = (a - a.mean()) / sd
    skew, kurt = float(np.mean(z**3)), float(np.mean(z**4))
    sigma0 = 1.0 / math.sqrt(t - 1)
    sr0 = 0.0 if n == 1 else sigma0 * ((1 - EULER_GAMMA) * _N.inv_cdf(1 - 1 / n)
                                       + EULER_GAMMA * _N.inv_cdf(1 - 1 / (n * math.e)))
    denom = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    if not denom > 0:
        return math.nan
    return float(_N.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(denom)))

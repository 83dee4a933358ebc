"""Batch features from prices: volatility (1-10), returns (11-20) and technical (37-44)."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from features.batch.inputs import BarArrays
from features.batch.windows import ema_seeded, lag, rolling_max, rolling_min, rolling_sum
from features.numerics import ZERO_RTOL, div_or_v, ret_sample_var_v, rsi_value_v

LN2 = math.log(2.0)
GK_K = 2.0 * LN2 - 1.0


def log_returns(c: np.ndarray) -> np.ndarray:
    """r_b = ln(C_b / C_{b-1}); NaN for the first bar and while C is NaN."""
    r = np.full(len(c), np.nan)
    if len(c) > 1:
        r[1:] = np.log(c[1:] / c[:-1])
    return r


def _ret_std(r: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, snapped sample std) of r over n."""
    s1 = rolling_sum(r, n)
    s2 = rolling_sum(r * r, n)
    return s1 / n, np.sqrt(ret_sample_var_v(n, s1, s2))


def _range_zero(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = hi - lo
    return rng, rng <= ZERO_RTOL * np.maximum(np.abs(hi), np.abs(lo))


def volatility(a: BarArrays, r: np.ndarray) -> dict[str, np.ndarray]:
    o, h, l, c = (a.f[k] for k in ("open", "high", "low", "close"))
    out: dict[str, np.ndarray] = {}
    vols = {n: _ret_std(r, n)[1] for n in (10, 20, 50, 100, 200)}
    for n in (10, 20, 50, 100):
        out[f"vol_{n}"] = vols[n]
    for x, y in ((10, 20), (20, 50), (50, 100), (100, 200)):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"vol_ratio_{x}_{y}"] = np.where(vols[y] == 0.0, 1.0, vols[x] / vols[y])
    hl = np.log(h / l)
    co = np.log(c / o)
    gk = 0.5 * hl * hl - GK_K * co * co
    out["garman_klass_20"] = np.sqrt(np.maximum(rolling_sum(gk, 20) / 20, 0.0))
    out["parkinson_20"] = np.sqrt(rolling_sum(hl * hl, 20) / 20 / (4.0 * LN2))
    return out


def _session_first_price(a: BarArrays) -> tuple[np.ndarray, np.ndarray]:
    """(first trade price of the session so far, whether the session has traded yet) per bar."""
    traded = a.i["n_trades"] > 0
    sid = a.session_id
    first_bar = np.full(int(sid[-1]) + 1 if a.size else 0, -1, dtype=np.int64)
    nz = np.flatnonzero(traded)
    # first non-empty bar of each session: reverse assignment keeps the earliest index
    first_bar[sid[nz][::-1]] = nz[::-1]
    fb = first_bar[sid]
    started = (fb >= 0) & (np.arange(a.size) >= fb)
    p0 = np.where(fb >= 0, a.f["first_price"][np.maximum(fb, 0)], np.nan)
    return p0, started


def _session_cumsum(x: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """Sequential cumulative sum restarting at each session (same order as a running sum)."""
    import pandas as pd

    return pd.Series(x).groupby(sid).cumsum().to_numpy()


def returns(a: BarArrays, r: np.ndarray) -> dict[str, np.ndarray]:
    c, h, l = a.f["close"], a.f["high"], a.f["low"]
    out: dict[str, np.ndarray] = {}
    for n in (1, 2, 5, 10, 20, 50, 100):
        out[f"ret_{n}"] = np.log(c / lag(c, n))
    p0, started = _session_first_price(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ret_session"] = np.where(started, np.log(c / np.where(started, p0, 1.0)), 0.0)
    pq = _session_cumsum(a.f["pq_sum"], a.session_id)
    vol = _session_cumsum(a.i["volume"], a.session_id)
    has_vol = vol > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = pq / np.where(has_vol, vol, 1)
        out["vwap_dev_session"] = np.where(has_vol, (c - vwap) / vwap, 0.0)
    hi, lo = rolling_max(h, 20), rolling_min(l, 20)
    rng, zero = _range_zero(hi, lo)
    out["range_pos_20"] = div_or_v(c - lo, np.where(zero, 0.0, rng), 0.5, 0.0)
    return out


def _bb_pos(c: np.ndarray, n: int = 20, chunk: int = 200_000) -> np.ndarray:
    """(C - SMA) / (2 std_pop) with a two-pass std over each window; 0 when std <= 1e-12 * mean."""
    out = np.full(len(c), np.nan)
    if len(c) < n:
        return out
    win = sliding_window_view(c, n)
    for s in range(0, len(win), chunk):
        w = win[s : s + chunk]
        mean = w.sum(axis=1) / n
        dev = w - mean[:, None]
        std = np.sqrt((dev * dev).sum(axis=1) / n)
        zero = std <= ZERO_RTOL * np.abs(mean)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = (w[:, -1] - mean) / (2.0 * std)
        out[n - 1 + s : n - 1 + s + len(w)] = np.where(zero, 0.0, val)
    return out


def technical(a: BarArrays, r: np.ndarray) -> dict[str, np.ndarray]:
    h, l, c = a.f["high"], a.f["low"], a.f["close"]
    out: dict[str, np.ndarray] = {}
    sma = {n: rolling_sum(c, n) / n for n in (5, 20, 50)}
    out["ma_ratio_5_20"] = sma[5] / sma[20] - 1.0
    out["ma_ratio_20_50"] = sma[20] / sma[50] - 1.0
    d = np.full(len(c), np.nan)
    if len(c) > 1:
        d[1:] = c[1:] - c[:-1]
    gain = ema_seeded(np.where(np.isnan(d), np.nan, np.maximum(d, 0.0)), 14, 1.0 / 14)
    loss = ema_seeded(np.where(np.isnan(d), np.nan, np.maximum(-d, 0.0)), 14, 1.0 / 14)
    out["rsi_14"] = np.where(np.isnan(gain), np.nan, rsi_value_v(gain, loss))
    macd = ema_seeded(c, 12, 2.0 / 13) - ema_seeded(c, 26, 2.0 / 27)
    signal = ema_seeded(macd, 9, 2.0 / 10)
    out["macd_hist"] = (macd - signal) / c
    out["bb_pos_20"] = _bb_pos(c)
    pc = lag(c, 1)
    tr = np.maximum(np.maximum(h - l, np.abs(h - pc)), np.abs(l - pc))  # NaN for bar 0: starts at bar 1
    out["atr_14_rel"] = ema_seeded(tr, 14, 1.0 / 14) / c
    hi, lo = rolling_max(h, 14), rolling_min(l, 14)
    rng, zero = _range_zero(hi, lo)
    out["stoch_k_14"] = div_or_v(100.0 * (c - lo), np.where(zero, 0.0, rng), 50.0, 0.0)
    mean, std = _ret_std(r, 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["sharpe_20"] = np.where(std == 0.0, 0.0, mean / std)
    return out

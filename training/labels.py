"""Labels: what the model learns to predict at each bar's close.

Classes are ``-1`` (down), ``0`` (flat) and ``1`` (up). Both methods look only at bars of the same
session: a bar without ``horizon`` further bars before its session ends gets no label and is dropped,
so no label ever spans an overnight gap.

Every label frame has the bar's ``close_ts`` as index and the columns

- ``label``: the class,
- ``fwd_ret``: forward log return from the bar's close to the exit,
- ``fwd_ticks``: the same move in ticks (what a one-contract trade would gain, before costs),
- ``pos`` / ``end_pos``: positions of the decision bar and of the last bar the label reads, in the
  bar series given (cross-validation purges on these).

Costs are the paper broker's: the flat band is never below
:func:`live_engine.execution.costs.round_trip_cost_ticks` of the same ``costs:`` config the broker and
the sweep fill with, and a triple-barrier target counts as reached under the broker's limit rule
(the tape trades through it, or touches it with ``costs.touch_fills``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from live_engine.execution.config import CostConfig
from live_engine.execution.costs import round_trip_cost_ticks
from market.instruments import Instrument
from quantumtrader.errors import InputError

CLASSES: tuple[int, int, int] = (-1, 0, 1)
CLASS_NAMES: tuple[str, str, str] = ("down", "flat", "up")
LABEL_COLUMNS = ["label", "fwd_ret", "fwd_ticks", "pos", "end_pos"]


def default_flat_band_ticks(cost_ticks: float) -> float:
    """The smallest whole number of ticks that covers the round-trip cost."""
    return float(max(1, math.ceil(cost_ticks - 1e-9)))


def _check_bars(bars: pd.DataFrame) -> None:
    for col in ("session", "close"):
        if col not in bars.columns:
            raise InputError(f"bars have no {col!r} column (columns: {list(bars.columns)[:10]}...)")
    if not bars.index.is_monotonic_increasing:
        raise InputError("bars must be sorted by close_ts")
    if not np.isfinite(bars["close"].to_numpy(dtype=float)).all() or (bars["close"] <= 0).any():
        raise InputError("bars column 'close' has non-finite or non-positive prices")


def _forward(values: np.ndarray, session_codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Value k bars ahead and whether that bar is in the same session."""
    n = len(values)
    ahead = np.full(n, np.nan)
    same = np.zeros(n, dtype=bool)
    if k < n:
        ahead[: n - k] = values[k:]
        same[: n - k] = session_codes[k:] == session_codes[: n - k]
    return ahead, same


def fixed_horizon_labels(bars: pd.DataFrame, *, horizon: int, flat_band_ticks: float, tick_size: float) -> pd.DataFrame:
    """Three classes on the move from close_t to close_{t+horizon} within the session.

    Up when the move is at least ``flat_band_ticks`` ticks, down when it is at most minus that,
    flat otherwise. On log returns this is the band ln((C ± band·tick) / C) around 0.
    """
    _check_bars(bars)
    close = bars["close"].to_numpy(dtype=float)
    codes = pd.factorize(bars["session"])[0]
    ahead, same = _forward(close, codes, horizon)
    keep = same & np.isfinite(ahead)
    move_ticks = (ahead - close) / tick_size
    # Tick moves are whole numbers in exact arithmetic: round away float noise before comparing.
    move_ticks = np.round(move_ticks, 6)
    label = np.where(move_ticks >= flat_band_ticks, 1, np.where(move_ticks <= -flat_band_ticks, -1, 0))
    pos = np.arange(len(bars))
    out = pd.DataFrame(
        {
            "label": label.astype(np.int64),
            "fwd_ret": np.log(ahead / close),
            "fwd_ticks": move_ticks,
            "pos": pos,
            "end_pos": pos + horizon,
        },
        index=bars.index,
    )
    return out[keep]


def triple_barrier_labels(
    bars: pd.DataFrame, *, time_limit: int, stop_ticks: float, target_ticks: float, tick_size: float,
    touch_fills: bool,
) -> pd.DataFrame:
    """First barrier reached within ``time_limit`` bars: target -> up, stop -> down, time -> flat.

    Barriers are checked on each later bar's high and low: the stop is reached when the low touches
    it; the target (a resting limit order) when the high trades strictly through it, or touches it
    with ``touch_fills`` (the broker's limit rule, ``live_engine.execution.costs.limit_triggered``).
    When one bar reaches both, the bar's close decides (above the entry -> up, below -> down, equal ->
    flat): the order inside a bar is unknown. ``fwd_ticks`` is the exit move (+target, -stop, or the
    close-to-close move at the limit). ``end_pos`` is always the time limit, so purging treats every
    label as reading the full window.
    """
    _check_bars(bars)
    for col in ("high", "low"):
        if col not in bars.columns:
            raise InputError(f"triple-barrier labels need bars column {col!r}")
    close = bars["close"].to_numpy(dtype=float)
    high = bars["high"].to_numpy(dtype=float)
    low = bars["low"].to_numpy(dtype=float)
    codes = pd.factorize(bars["session"])[0]
    n = len(bars)
    up_px = close + target_ticks * tick_size
    dn_px = close - stop_ticks * tick_size
    label = np.zeros(n, dtype=np.int64)
    exit_px = np.full(n, np.nan)
    done = np.zeros(n, dtype=bool)
    _, keep = _forward(close, codes, time_limit)
    for k in range(1, time_limit + 1):
        h, _ = _forward(high, codes, k)
        lo, _ = _forward(low, codes, k)
        c, _ = _forward(close, codes, k)
        hit_up = ~done & ((h >= up_px - 1e-9) if touch_fills else (h > up_px + 1e-9))
        hit_dn = ~done & (lo <= dn_px + 1e-9)
        both = hit_up & hit_dn
        only_up = hit_up & ~hit_dn
        only_dn = hit_dn & ~hit_up
        label[only_up] = 1
        exit_px[only_up] = up_px[only_up]
        label[only_dn] = -1
        exit_px[only_dn] = dn_px[only_dn]
        label[both] = np.sign(np.round(c[both] - close[both], 9)).astype(np.int64)
        exit_px[both] = c[both]
        done |= hit_up | hit_dn
        if k == time_limit:
            last = ~done
            exit_px[last] = c[last]
    move_ticks = np.round((exit_px - close) / tick_size, 6)
    pos = np.arange(n)
    out = pd.DataFrame(
        {
            "label": label,
            "fwd_ret": np.log(exit_px / close),
            "fwd_ticks": move_ticks,
            "pos": pos,
            "end_pos": pos + time_limit,
        },
        index=bars.index,
    )
    return out[keep]


def make_labels(
    bars: pd.DataFrame,
    *,
    method: str,
    horizon: int,
    instrument: Instrument,
    flat_band_ticks: float | None,
    costs: CostConfig,
    stop_ticks: float,
    target_ticks: float,
) -> pd.DataFrame:
    """Labels by ``method`` with the instrument's tick and the broker's ``costs`` (the flat band never below
    the round-trip cost)."""
    cost = round_trip_cost_ticks(instrument, costs)
    band = default_flat_band_ticks(cost) if flat_band_ticks is None else flat_band_ticks
    if band < cost:
        raise InputError(f"labels.flat_band_ticks={band} is below the round-trip cost of {cost:.3f} ticks")
    if method == "fixed_horizon":
        return fixed_horizon_labels(bars, horizon=horizon, flat_band_ticks=band, tick_size=instrument.tick_size)
    if method == "triple_barrier":
        return triple_barrier_labels(
            bars, time_limit=horizon, stop_ticks=stop_ticks, target_ticks=target_ticks, tick_size=instrument.tick_size,
            touch_fills=costs.touch_fills,
        )
    raise InputError(f"unknown label method {method!r}")

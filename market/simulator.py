"""A vectorised simulator of WDO-like sessions: trades with aggressor type and brokers, plus a 5-level book.

One session is generated in a handful of numpy passes (no per-trade Python loop), from an RNG seeded
by ``(seed, symbol, day)``, so the same arguments always give byte-identical DataFrames.

What is simulated
-----------------
* **Clock.** Trades fall strictly inside the regular session (``market.calendar.session_bounds``),
  with strictly increasing millisecond timestamps. Arrival intensity follows an intraday U-shape
  (busy open, quiet lunch, busy close) multiplied by the volatility regime. The first trade is the
  opening auction print (trade type 4) 1 ms after the open.
* **Volatility regimes.** A Markov chain per minute over calm / normal / volatile scales the trade
  intensity, the probability that a trade moves the price, jump sizes (1-3 ticks) and the chance
  of a wide (3-tick) spread.
* **Price.** The mid price is a symmetric random walk on the tick grid: each trade moves it with a
  regime-dependent probability (scaled so that clock-time volatility does not depend on
  ``trades_per_session``), up or down. The direction is tilted towards the trade's aggressor side
  (price impact), but with balanced flow every increment has mean zero and is independent of the
  past, so **with planted_strength = 0 the mid price is a martingale** and nothing observable
  predicts its future returns. The spread is 1 tick, widened symmetrically to 3 ticks at times
  (the mid does not change). Sessions chain: the next session opens at the previous close plus a
  small symmetric overnight gap (pulled back only if the price leaves 4,900-5,600 points).
* **Trades.** About 95.5 % are aggressive buys (2) or sells (3); 1.5 % cross (1) and 3 % RLP (13),
  both with the same broker on both sides, as on B3. An aggressive buy prints at ``ask_px_1`` and an
  aggressive sell at ``bid_px_1`` of the book snapshot that precedes it. Sizes are heavy tailed:
  ``floor(U ** (-1/1.2))`` capped at 500 (median 1, ~6 % of trades >= 10 contracts).
  ``fin_volume = price * qty * point_value``.
* **Brokers.** 60 broker ids with Zipf weights (rank ** -1): a few brokers dominate. Buyer and seller
  of an aggressive trade always differ.
* **Book.** One 5-level snapshot after every trade, timestamped with the trade (so the snapshot
  "before" trade i is the row of trade i-1). Levels sit on consecutive ticks, so bids strictly
  descend, asks strictly ascend and ``bid_px_1 < ask_px_1`` always. Quantities are lognormal around
  a level profile times a per-minute depth factor (thinner in volatile regimes), and level 1 on
  both sides always holds at least the next trade's size.

The planted predictable component (``planted_strength`` = s in [0, 1])
-----------------------------------------------------------------------
A latent *informed-flow* state ``z(t)`` is an Ornstein-Uhlenbeck process in clock time (stationary
N(0, 1), time constant 300 s, sampled every second). Let ``tilt(t) = s * tanh(z(t))``. It acts at
once on two observable things and on the price:

1. aggressor mix: ``P(aggressive buy | aggressive trade) = 0.5 + 0.35 * tilt``;
2. book imbalance: every bid quantity is multiplied by ``exp(0.5 * tilt)`` and every ask quantity by
   ``exp(-0.5 * tilt)``;
3. price drift: ``P(up | the trade moves the price) = 0.5 + 0.2 * side + 0.1 * tilt`` (side = +1 for
   an aggressive buy, -1 for a sell, 0 otherwise), so the mid drifts in the direction of ``tilt``
   both through the tilted flow's impact and directly.

Because ``z`` persists (expected remaining life 5 minutes), the order-flow imbalance and book
imbalance seen at a bar's close reveal ``tilt`` now, and the mid keeps drifting the same way over
the next ~1-10 minutes: ``E[mid(t+h) - mid(t) | z(t)]`` has the sign of ``z(t)`` and grows roughly
like ``300 s * (1 - exp(-h / 300 s))``. A model on 60 s bars can therefore predict the 5-bar forward
return direction. With s = 0 every term vanishes and the tape is a martingale with balanced,
unpredictable flow. Measured on 20 sessions x 12,000 trades (60 s bars; LightGBM on book imbalance
L1/L5, 5-bar order-flow imbalance, signed volume, 1- and 5-bar returns; label = sign of the 5-bar
forward last-price change beyond +-2 ticks; 5 folds by session; seeds 1-4): out-of-fold AUC
0.50-0.52 at s = 0 (noise: overlapping 5-bar labels leave ~1,300 independent samples), 0.68-0.70 at
s = 0.6. Side effect: at s > 0 sessions trend more (mean daily
range ~50 points at s = 0, ~95 at s = 0.6).
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from market.calendar import next_trading_days, session_bounds
from market.instruments import get_instrument
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY, TradeType
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

_log = get_logger("market.simulator")

# ---- model constants (documented in the module docstring) ---------------------------------------
CALM, NORMAL, VOLATILE = 0, 1, 2
_REGIME_P = np.array([[0.97, 0.03, 0.00], [0.02, 0.96, 0.02], [0.00, 0.06, 0.94]])  # per minute
_REGIME_START = np.array([0.2, 0.5, 0.3])
_INTENSITY_MULT = np.array([0.6, 1.0, 1.7])
_MOVE_MULT = np.array([0.6, 1.0, 1.8])
_JUMP2 = np.array([0.03, 0.08, 0.18])  # P(jump >= 2 ticks | move)
_JUMP3 = np.array([0.005, 0.015, 0.05])  # P(jump == 3 ticks | move)
_WIDE = np.array([0.01, 0.03, 0.12])  # P(spread widened to 3 ticks)
_MOVES_PER_SESSION = 3_000.0  # target price moves per session in the normal regime
_MAX_MOVE_P = 0.9
_P_CROSS, _P_RLP = 0.015, 0.03
_SIZE_ALPHA, _SIZE_CAP = 1.2, 500
_N_BROKERS = 60
_LEVEL_PROFILE = np.array([120.0, 160.0, 190.0, 210.0, 220.0])
_QTY_SIGMA = 0.5
_Z_TAU_S = 300.0
_AR_BLOCK = 64
_FLOW_TILT, _BOOK_TILT, _IMPACT, _DRIFT = 0.35, 0.5, 0.2, 0.1
_START_PRICE, _START_SD = 5_250.0, 60.0
_GAP_SD_TICKS = 6.0
_BAND = (4_900.0, 5_600.0)
_MAX_TRADES = 5_000_000


@dataclass(frozen=True, eq=False)
class SimSession:
    """One simulated session: trades (``TRADE_SCHEMA``) and book snapshots (``BOOK_SNAPSHOT_SCHEMA``).

    ``trades`` is sorted by ``ts`` with strictly increasing ``trade_id``; ``book`` has one row per
    trade (the book right after it, same ``ts``), sorted by ``ts`` (no row at all when simulated
    with ``book=False``).
    """

    day: date
    symbol: str
    trades: pd.DataFrame
    book: pd.DataFrame

    @property
    def close_price(self) -> float:
        """Last trade price of the session."""
        return float(self.trades["price"].iloc[-1])


def _rng(seed: int, symbol: str, day: date) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(symbol.encode()), day.toordinal()]))


@lru_cache(maxsize=1)
def _brokers() -> tuple[np.ndarray, np.ndarray]:
    """60 fixed broker ids and their Zipf cumulative weights (rank 1 = the biggest broker)."""
    ids = np.sort(np.random.default_rng(20260101).choice(np.arange(1, 1000), _N_BROKERS, replace=False))
    ranked = np.random.default_rng(20260102).permutation(ids).astype(np.int32)
    weights = 1.0 / np.arange(1, _N_BROKERS + 1)
    cdf = np.cumsum(weights / weights.sum())
    ranked.flags.writeable = False
    cdf.flags.writeable = False
    return ranked, cdf


@lru_cache(maxsize=4)
def _seasonality(n_seconds: int) -> np.ndarray:
    """Relative trade intensity of each second of the session: U-shape with a lunch dip."""
    u = (np.arange(n_seconds) + 0.5) / n_seconds
    out = (
        0.55
        + 1.6 * np.exp(-u / 0.05)
        + 1.0 * np.exp(-(1.0 - u) / 0.07)
        - 0.25 * np.exp(-(((u - 0.4) / 0.1) ** 2))
    )
    out.flags.writeable = False
    return out


def _regimes(rng: np.random.Generator, n_minutes: int) -> np.ndarray:
    cum = np.cumsum(_REGIME_P, axis=1).tolist()
    draws = rng.random(n_minutes).tolist()
    start = np.cumsum(_REGIME_START).tolist()
    out = np.empty(n_minutes, dtype=np.int64)
    state = next((k for k, c in enumerate(start) if draws[0] < c), VOLATILE)
    for m in range(1, n_minutes):  # ~540 steps per session, plain Python is fastest here
        out[m - 1] = state
        row = cum[state]
        state = CALM if draws[m] < row[0] else (NORMAL if draws[m] < row[1] else VOLATILE)
    out[n_minutes - 1] = state
    return out


def _latent_flow(rng: np.random.Generator, n_seconds: int) -> np.ndarray:
    """Stationary OU process ``z`` (N(0, 1), time constant ``_Z_TAU_S``) sampled every second.

    The AR(1) recursion ``z[k] = phi * z[k-1] + sqrt(1 - phi^2) * eps[k]`` runs exactly, vectorised in
    blocks of ``_AR_BLOCK`` steps (a triangular matrix product) with a short loop carrying the state.
    """
    phi = float(np.exp(-1.0 / _Z_TAU_S))
    n_blocks = -(-n_seconds // _AR_BLOCK)
    z0 = rng.standard_normal()
    eps = rng.standard_normal(n_blocks * _AR_BLOCK) * np.sqrt(1.0 - phi * phi)
    powers = phi ** np.arange(_AR_BLOCK + 1)
    lag = np.subtract.outer(np.arange(_AR_BLOCK), np.arange(_AR_BLOCK))
    kernel = np.where(lag >= 0, powers[np.clip(lag, 0, _AR_BLOCK)], 0.0)  # kernel[k, j] = phi^(k-j), j <= k
    local = eps.reshape(n_blocks, _AR_BLOCK) @ kernel.T  # each block started from z = 0
    carry = np.empty(n_blocks)
    state = z0
    for b in range(n_blocks):  # ~500 steps per session
        carry[b] = state
        state = powers[_AR_BLOCK] * state + local[b, -1]
    z = local + carry[:, None] * powers[1:]
    return z.reshape(-1)[:n_seconds]


def _trade_times_ms(rng: np.random.Generator, n: int, n_seconds: int, regime: np.ndarray) -> np.ndarray:
    """Strictly increasing trade times in ms after the open, in [1, session length - 1]."""
    sec = np.arange(n_seconds)
    intensity = _seasonality(n_seconds) * _INTENSITY_MULT[regime[sec // 60]]
    cdf = np.concatenate(([0.0], np.cumsum(intensity)))
    cdf /= cdf[-1]
    gaps = rng.standard_exponential(n + 1)
    x = np.cumsum(gaps)[:n] / gaps.sum()  # n sorted uniforms in O(n)
    t = np.interp(x, cdf, np.arange(n_seconds + 1, dtype=np.float64)) / n_seconds
    session_ms = n_seconds * 1000
    raw = np.minimum((t * (session_ms - n)).astype(np.int64), session_ms - n - 1)
    raw[0] = 0  # opening auction print
    return raw + np.arange(1, n + 1, dtype=np.int64)  # +i makes them strictly increasing


def _trade_id_base(day: date) -> int:
    return int(day.strftime("%Y%m%d")) * 10_000_000


def _start_tick(rng: np.random.Generator, tick: float, prev_close: float | None) -> int:
    if prev_close is None:
        return round(float(_START_PRICE + _START_SD * rng.standard_normal()) / tick)
    gap = _GAP_SD_TICKS * rng.standard_normal()
    lo, hi = _BAND
    if prev_close < lo:
        gap += 0.2 * (lo - prev_close) / tick
    elif prev_close > hi:
        gap -= 0.2 * (prev_close - hi) / tick
    return round(float(prev_close / tick + gap))


def simulate_session(
    day: date,
    *,
    symbol: str = "WDO",
    seed: int = 7,
    trades_per_session: int = 12_000,
    planted_strength: float = 0.0,
    prev_close: float | None = None,
    book: bool = True,
) -> SimSession:
    """Simulate one session of ``symbol`` on ``day`` (see the module docstring for the model).

    ``prev_close`` chains sessions (the open is the previous close plus an overnight gap); without
    it the session starts near 5,250 points. Deterministic for ``(seed, symbol, day, arguments)``.
    ``book=False`` returns the same trades with an empty book (a trades-only history, as ProfitDLL's).
    """
    if not 2 <= trades_per_session <= _MAX_TRADES:
        raise InputError(f"trades_per_session must be in [2, {_MAX_TRADES}], got {trades_per_session}")
    if not 0.0 <= planted_strength <= 1.0:
        raise InputError(f"planted_strength must be in [0, 1], got {planted_strength}")
    inst = get_instrument(symbol)
    tick = inst.tick_size
    n = int(trades_per_session)
    rng = _rng(seed, symbol, day)
    open_utc, close_utc = session_bounds(day, symbol)
    n_seconds = int((close_utc - open_utc).total_seconds())
    regime_min = _regimes(rng, -(-n_seconds // 60))

    t_ms = _trade_times_ms(rng, n, n_seconds, regime_min)
    regime = regime_min[t_ms // 60_000]
    tilt = planted_strength * np.tanh(_latent_flow(rng, n_seconds)[t_ms // 1000])

    # trade types and aggressor sides
    u_type = rng.random(n)
    trade_type = np.where(
        u_type < _P_CROSS,
        int(TradeType.CROSS),
        np.where(u_type < _P_CROSS + _P_RLP, int(TradeType.RLP), int(TradeType.AGGRESSIVE_BUY)),
    ).astype(np.int8)
    trade_type[0] = int(TradeType.AUCTION)
    aggressive = trade_type == int(TradeType.AGGRESSIVE_BUY)
    buy = rng.random(n) < 0.5 + _FLOW_TILT * tilt
    trade_type[aggressive & ~buy] = int(TradeType.AGGRESSIVE_SELL)
    side = np.where(aggressive, np.where(buy, 1, -1), 0)

    # mid-price moves caused by trade i, applied to the book after it (core bid in ticks)
    base_p = min(0.5, _MOVES_PER_SESSION / n)
    moves = rng.random(n) < np.minimum(_MAX_MOVE_P, base_p * _MOVE_MULT[regime])
    up = rng.random(n) < 0.5 + _IMPACT * side + _DRIFT * tilt
    u_jump = rng.random(n)
    size = 1 + (u_jump < _JUMP2[regime]) + (u_jump < _JUMP3[regime])
    delta = np.where(moves, np.where(up, size, -size), 0)
    delta[0] = 0
    core_bid = _start_tick(rng, tick, prev_close) + np.concatenate(([0], np.cumsum(delta)))  # n + 1 states
    wide = (rng.random(n + 1) < _WIDE[np.concatenate(([NORMAL], regime))]).astype(np.int64)
    bid1 = core_bid - wide
    ask1 = core_bid + 1 + wide

    # sizes (heavy tailed) and prices (state i is the book before trade i)
    qty = np.minimum(np.floor(rng.random(n) ** (-1.0 / _SIZE_ALPHA)), _SIZE_CAP).astype(np.int64)
    qty[0] = np.minimum(20 + 10 * qty[0], 2_000)
    at_ask = np.where(side != 0, side > 0, rng.random(n) < 0.5)
    price_ticks = np.where(at_ask, ask1[:n], bid1[:n])
    price = price_ticks * tick

    buyer, seller = _draw_brokers(rng, n, trade_type)

    # book after every trade: states 1..n; arrays are (level, trade) so that columns are contiguous
    depth = np.exp(0.25 * np.repeat(rng.standard_normal(len(regime_min)), 60)[t_ms // 1000])
    depth *= np.array([1.3, 1.0, 0.8])[regime]
    noise = np.exp(_QTY_SIGMA * rng.standard_normal((10, n), dtype=np.float32) - np.float32(0.5 * _QTY_SIGMA**2))
    bid_scale = (depth * np.exp(_BOOK_TILT * tilt)).astype(np.float32)
    ask_scale = (depth * np.exp(-_BOOK_TILT * tilt)).astype(np.float32)
    profile = _LEVEL_PROFILE.astype(np.float32)[:, None]
    bid_q = np.maximum(1, (noise[:5] * bid_scale * profile).astype(np.int64))
    ask_q = np.maximum(1, (noise[5:] * ask_scale * profile).astype(np.int64))
    # snapshot k (after trade k) is the book that trade k + 1 hits: its level 1 holds that trade
    np.maximum(bid_q[0, :-1], qty[1:], out=bid_q[0, :-1])
    np.maximum(ask_q[0, :-1], qty[1:], out=ask_q[0, :-1])
    bid1_px = bid1[1:] * tick
    ask1_px = ask1[1:] * tick

    ts = pd.DatetimeIndex(open_utc.value + t_ms * 1_000_000, tz="UTC")
    sym = np.full(n, symbol, dtype=object)
    trades = pd.DataFrame(
        {
            "ts": ts,
            "symbol": sym,
            "trade_id": _trade_id_base(day) + np.arange(1, n + 1, dtype=np.int64),
            "price": price.astype(np.float64),
            "qty": qty,
            "fin_volume": price * qty * inst.point_value,
            "buyer": buyer,
            "seller": seller,
            "trade_type": trade_type,
        },
        copy=False,
    )
    book_cols: dict[str, object] = {"ts": ts, "symbol": sym}
    book_cols.update({c: bid1_px - i * tick for i, c in enumerate(BID_PX)})
    book_cols.update({c: bid_q[i] for i, c in enumerate(BID_QTY)})
    book_cols.update({c: ask1_px + i * tick for i, c in enumerate(ASK_PX)})
    book_cols.update({c: ask_q[i] for i, c in enumerate(ASK_QTY)})
    snapshots = pd.DataFrame(book_cols, copy=False)
    return SimSession(day=day, symbol=symbol, trades=trades, book=snapshots if book else snapshots.iloc[:0])


def _draw_brokers(rng: np.random.Generator, n: int, trade_type: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Buyer and seller ids: Zipf-weighted; the same broker on both sides for cross and RLP trades."""
    ids, cdf = _brokers()
    buyer_rank = np.minimum(np.searchsorted(cdf, rng.random(n)), _N_BROKERS - 1)
    seller_rank = np.minimum(np.searchsorted(cdf, rng.random(n)), _N_BROKERS - 1)
    clash = seller_rank == buyer_rank
    redraw = np.minimum(np.searchsorted(cdf, rng.random(n)), _N_BROKERS - 1)
    seller_rank = np.where(clash, redraw, seller_rank)
    clash = seller_rank == buyer_rank
    seller_rank = np.where(clash, (seller_rank + 1) % _N_BROKERS, seller_rank)
    same = (trade_type == int(TradeType.CROSS)) | (trade_type == int(TradeType.RLP))
    seller_rank = np.where(same, buyer_rank, seller_rank)
    return ids[buyer_rank], ids[seller_rank]


def simulate(
    n_sessions: int,
    start: date,
    *,
    symbol: str = "WDO",
    seed: int = 7,
    trades_per_session: int = 12_000,
    planted_strength: float = 0.0,
    book: bool = True,
) -> Iterator[SimSession]:
    """Yield ``n_sessions`` sessions on the B3 trading days from ``start``, price continuous across them
    (``book=False``: trades only, see :func:`simulate_session`)."""
    prev_close: float | None = None
    for day in next_trading_days(start, n_sessions, symbol):
        session = simulate_session(
            day,
            symbol=symbol,
            seed=seed,
            trades_per_session=trades_per_session,
            planted_strength=planted_strength,
            prev_close=prev_close,
            book=book,
        )
        prev_close = session.close_price
        yield session


def _write_parquet(df: pd.DataFrame, target: Path) -> None:
    """Write ``df`` to ``target`` atomically (temporary file in the same folder, then ``os.replace``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_simulation(sessions: Iterable[SimSession], out_dir: Path) -> list[Path]:
    """Write each session to ``out_dir/trades/{symbol}_{day}.parquet`` and ``out_dir/book/...``.

    Streams: one session in memory at a time. Returns the paths written (trades, book, trades, ...).
    """
    out_dir = Path(out_dir)
    paths: list[Path] = []
    for s in sessions:
        name = f"{s.symbol}_{s.day.isoformat()}.parquet"
        for kind, df in (("trades", s.trades), ("book", s.book)):
            if df.empty:  # a trades-only session has no book file
                continue
            target = out_dir / kind / name
            _write_parquet(df, target)
            paths.append(target)
        _log.info(
            "simulated session written",
            data={"day": s.day.isoformat(), "symbol": s.symbol, "trades": len(s.trades), "dir": str(out_dir)},
        )
    return paths

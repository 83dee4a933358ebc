"""Replay = backtest: the streaming feature engine and the decision core driven by recorded sessions.

:func:`replay` is the pure-ish event loop (arrays in, a filled :class:`DecisionCore` out; no files).
It first warms the feature engine and the coordinator on the warm-up sessions
(:func:`live_engine.decision.warmup.warm_up`, no trading, nothing recorded), then replays the
evaluated ones. :func:`load_lake_sessions` and :func:`load_warmup_sessions` read them from the lake;
``runner.run_backtest`` is the shell around all of it.
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from features.streaming import BarClose, FeatureEngine
from features.streaming_session import NS, SessionLocator
from live_engine.config import LiveConfig
from live_engine.decision.agents import Agent, load_agents
from live_engine.decision.coordinator import HedgeCoordinator
from live_engine.decision.core import ConsensusDecider, DecisionCore, ProbaModel, ScriptedDecider
from live_engine.decision.warmup import WarmupPlan, bars_in_session, plan_warmup, warm_up
from live_engine.execution.costs import aggressor_sides
from live_engine.feeds.replay import lake_days, read_lake_day
from live_engine.feeds.tape import Tape
from market.instruments import get_instrument
from quantumtrader.clock import SimulatedClock
from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

log = get_logger("live_engine.backtest.replay")


@dataclass
class SessionData:
    """One session's recorded tape: trades (TRADE_SCHEMA) and 5-level book snapshots."""

    day: date
    trades: pd.DataFrame
    book: pd.DataFrame | None


@dataclass
class ReplayStats:
    """Counts of the evaluated sessions (warm-up sessions are counted apart, in ``warmup_*``)."""

    trades: int = 0
    book_events: int = 0
    bars: int = 0
    warmup_sessions: int = 0
    warmup_bars: int = 0
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # this thread's CPU time: the work itself, without preemption by other jobs
    bar_latency_ns: list[int] = field(default_factory=list)  # wall clock, per bar
    bar_latency_cpu_ns: list[int] = field(default_factory=list)  # thread CPU time, per bar



@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one session's event loop.

    The loop allocates no reference cycles (reference counting frees everything it creates), but the
    replay's inputs and outputs hold millions of tracked objects: a full collection triggered by the
    loop's own allocations costs tens of ms and, before this, about a fifth of the replay's time.
    The collector is restored after each session."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_core(
    settings: Settings,
    *,
    model: ProbaModel | None = None,
    scripted: Callable[[int], int] | dict[int, int] | None = None,
    agents: Sequence[Agent] | None = None,
    clock: SimulatedClock | None = None,
    id_prefix: str = "BT",
    config: LiveConfig | None = None,
) -> DecisionCore:
    """The decision core for ``settings.market.symbol``: model + agents, or a scripted decider."""
    cfg = config or settings.live
    symbol = settings.market.symbol
    inst = get_instrument(symbol)
    spec = settings.market.bars.spec
    if not spec.startswith("time:"):
        raise InputError(f"the replay needs time bars (stale-data guard, holding times); got {spec!r}")
    bar_ns = int(spec.removeprefix("time:").removesuffix("s")) * NS
    locator = SessionLocator(inst)

    def bounds(day: date) -> tuple[int, int]:
        s = locator.bounds(day)
        return s.open_ns, s.close_ns

    decider: ConsensusDecider | ScriptedDecider
    if scripted is not None:
        decider = ScriptedDecider(scripted)
    else:
        if model is None:
            raise InputError("build_core needs a model or a scripted decider")
        agent_list = list(agents) if agents is not None else load_agents(cfg.backtest.agents_dir)
        coordinator = HedgeCoordinator([a.name for a in agent_list], cfg.coordinator)
        decider = ConsensusDecider(model, agent_list, coordinator, cfg)
    return DecisionCore(instrument=inst, config=cfg, decider=decider, clock=clock or SimulatedClock(),
                        bar_ns=bar_ns, session_bounds=bounds, id_prefix=id_prefix, costs=settings.costs)


def replay(core: DecisionCore, sessions: Sequence[SessionData], settings: Settings, *,
           warmup: Sequence[SessionData] = (), coordinator_sessions: int | None = None,
           measure_latency: bool = False, progress: Callable[[int], None] | None = None) -> ReplayStats:
    """Drive a :class:`FeatureEngine` and ``core`` over ``warmup`` (no trading, nothing recorded; the
    coordinator learns on the last ``coordinator_sessions``, default ``live.backtest.warmup_coordinator_sessions``)
    and then ``sessions``, in time order (trades before the book snapshot that shares their timestamp).
    The clock moves to each bar's close before the decision (the time a live timer would fire), and to
    each session's close at its end."""
    clock = core.clock
    assert isinstance(clock, SimulatedClock)
    stats = ReplayStats()
    perf, cpu = time.perf_counter_ns, time.thread_time_ns
    lat, lat_cpu = stats.bar_latency_ns, stats.bar_latency_cpu_ns

    bars_cfg = settings.market.bars
    advance = clock.advance_to
    handle_bar = core.handle_bar

    def on_bar(bar: BarClose) -> None:
        advance(bar.close_ts_ns)  # the clock reads the decision time: the bar's close
        handle_bar(bar)

    engine = FeatureEngine(settings.market.symbol, bar_spec=bars_cfg.spec, large_trade_qty=bars_cfg.large_trade_qty,
                           on_bar=on_bar)
    e_trade, e_book = engine.on_trade, engine.on_book_levels
    if measure_latency:  # time the events that close bars: features + model + agents + consensus + risk
        def e_trade(*args: Any) -> int:  # type: ignore[misc]
            c0, t0 = cpu(), perf()
            n = engine.on_trade(*args)
            if n:
                t1, c1 = perf(), cpu()
                lat.append((t1 - t0) // n)
                lat_cpu.append((c1 - c0) // n)
            return n

        def e_book(*args: Any) -> int:  # type: ignore[misc]
            c0, t0 = cpu(), perf()
            n = engine.on_book_levels(*args)
            if n:
                t1, c1 = perf(), cpu()
                lat.append((t1 - t0) // n)
                lat_cpu.append((c1 - c0) // n)
            return n
    locator = SessionLocator(core.instrument)

    def play(s: SessionData) -> tuple[int, int]:
        with _gc_paused():
            nt, nb = _play(s, e_trade, e_book, core.on_trade, core.on_book_levels)
        close_ns = locator.bounds(s.day).close_ns
        engine.advance_to(close_ns)
        if close_ns > clock.now_ns():
            advance(close_ns)
        return nt, nb

    if coordinator_sessions is None:
        coordinator_sessions = settings.live.backtest.warmup_coordinator_sessions
    warm_up(core, warmup, play, coordinator_sessions=coordinator_sessions)
    stats.warmup_sessions, stats.warmup_bars = len(warmup), engine.n_bars
    lat.clear()
    lat_cpu.clear()
    t_start, c_start = time.perf_counter(), time.thread_time()
    for k, s in enumerate(sessions):
        nt, nb = play(s)
        stats.trades += nt
        stats.book_events += nb
        if progress is not None:
            progress(k + 1)
    stats.bars = engine.n_bars - stats.warmup_bars
    stats.seconds = time.perf_counter() - t_start
    stats.cpu_seconds = time.thread_time() - c_start
    return stats


def _play(s: SessionData, e_trade: Callable[..., int], e_book: Callable[[int, list[float]], int],
          c_trade: Callable[[int, float, int], None], c_book: Callable[[int, list[float]], None]) -> tuple[int, int]:
    """Feed one session's trades and book snapshots, merged in time order (:meth:`Tape.runs`, the order
    the feeds play too), to the feature engine (``e_*``) and the core (``c_*``: each print with its
    aggressor side, each snapshot as its packed row). Returns (trades, book snapshots)."""
    tape = Tape.of(s.trades, s.book)
    t_ts_l, t_px, t_q, t_tt, t_b, t_s = tape.ts, tape.price, tape.qty, tape.trade_type, tape.buyer, tape.seller
    t_side = aggressor_sides(s.trades["trade_type"].to_numpy(np.int64)).tolist()
    b_ts_l, levels = tape.book_ts, tape.levels
    for start, stop, j in tape.runs():
        for i in range(start, stop):
            ts, px = t_ts_l[i], t_px[i]
            e_trade(ts, px, t_q[i], t_tt[i], t_b[i], t_s[i])
            c_trade(ts, px, t_side[i])
        if j >= 0:
            ts = b_ts_l[j]
            e_book(ts, levels[j])
            c_book(ts, levels[j])
    return len(t_ts_l), len(b_ts_l)


def order_list_hash(core: DecisionCore) -> str:
    """SHA-256 over every order and fill (ids, times, sides, sizes, prices, tags): the determinism check."""
    h = hashlib.sha256()
    for o in core.broker.orders:
        h.update(f"O|{o.client_id}|{o.ts_ns}|{o.side}|{o.qty}|{o.kind}|{o.price!r}|{o.tag}|{o.status}\n".encode())
    for f in core.broker.fills:
        h.update(f"F|{f.fill_id}|{f.ts_ns}|{f.side}|{f.qty}|{f.price!r}|{f.fee!r}\n".encode())
    return h.hexdigest()


def _read_sessions(settings: Settings, days: Sequence[date]) -> list[SessionData]:
    from market.lake import Lake

    lake, symbol = Lake(settings.lake_root), settings.market.symbol
    book_days = set(lake.days("book", symbol))
    return [SessionData(d, *read_lake_day(lake, symbol, d, d in book_days)) for d in days]


def load_lake_sessions(settings: Settings, sessions: Sequence[date] | int) -> list[SessionData]:
    """Sessions from the lake: explicit dates, or the last N days that have trades."""
    return _read_sessions(settings, lake_days(settings, sessions))


def load_warmup_sessions(settings: Settings, first_day: date) -> tuple[WarmupPlan, list[SessionData]]:
    """The warm-up before ``first_day`` (``live.backtest.warmup_sessions``, default derived): its plan
    and the lake sessions it names. A lake with fewer earlier sessions gives fewer (``plan.short``)."""
    from market.lake import Lake

    cfg, symbol = settings.live.backtest, settings.market.symbol
    inst = get_instrument(symbol)
    spec = settings.market.bars.spec
    bar_s = int(spec.removeprefix("time:").removesuffix("s")) if spec.startswith("time:") else 60
    plan = plan_warmup(Lake(settings.lake_root).days("trades", symbol), lambda d: bars_in_session(inst, d, bar_s),
                       first_day, configured=cfg.warmup_sessions, coordinator_sessions=cfg.warmup_coordinator_sessions)
    return plan, _read_sessions(settings, plan.days)


def run_stamp() -> str:
    """A run folder name from the wall clock (the shell, not the core)."""
    return "bt-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

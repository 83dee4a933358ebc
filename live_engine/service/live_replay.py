"""Live = replay: the engine's own recording of a session, replayed through the backtest, must give the
decisions and orders the engine made live (issue 12, bullet 10).

:func:`compare_day` reads what the engine recorded for a day (its events, its decision log and the
orders in its journal), replays the recorded events through ``live_engine.backtest.replay`` with the
same bundle and the same warm-up (the lake's sessions before that day), and lists every difference:
``qtml engine replay-check --day D`` prints it; an empty list is the expected result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from quantumtrader.config import Settings
from quantumtrader.errors import InputError


@dataclass
class DayComparison:
    day: date
    bars_live: int = 0
    bars_replay: int = 0
    orders_live: int = 0
    orders_replay: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        head = (f"{self.day}: {self.bars_live} live bars vs {self.bars_replay} replayed, {self.orders_live} live "
                f"orders vs {self.orders_replay} replayed")
        if self.equal:
            return [head, "live = replay: the same decisions and orders"]
        return [head, f"{len(self.differences)} difference(s):", *(f"  {d}" for d in self.differences[:50])]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return bool(a == b)


def compare_day(settings: Settings, day: date, *, model_uri: str | None = None, journal: Any = None) -> DayComparison:
    """Replay ``day``'s recording with the engine's bundle and compare (module docstring)."""
    from live_engine.backtest.replay import SessionData, build_core, load_warmup_sessions, replay
    from live_engine.service.recording import read_decisions, read_recorded
    from serving.bundle import load_bundle

    symbol = settings.market.symbol
    trades, book = read_recorded(settings.lake_root, symbol, day)
    live = read_decisions(settings.lake_root, symbol, day)
    if trades is None or live is None:
        raise InputError(f"the engine recorded nothing for {day} under {settings.lake_root / 'recorded'}: "
                         "give a day the engine traded (`ls` that folder)")
    trades = trades.sort_values("ts", kind="stable").reset_index(drop=True)
    book = None if book is None else book.sort_values("ts", kind="stable").reset_index(drop=True)
    versions = sorted(set(live["model_version"].astype(str)))
    if len(versions) != 1 and model_uri is None:
        raise InputError(f"{day} was traded by versions {versions} (a hot-swap): give --model-uri for one")
    name = settings.live.service.model_uri.split("@")[0].split("/")[1]
    bundle = load_bundle(model_uri or f"models:/{name}/{versions[0]}", settings.mlflow_tracking_uri)
    core = build_core(settings, model=bundle.predictor, agents=list(bundle.agents),
                      config=bundle.live_config(settings.live), id_prefix="QT")
    _plan, warm = load_warmup_sessions(settings, day)
    replay(core, [SessionData(day, trades, book)], settings, warmup=warm)
    out = DayComparison(day, bars_live=int(live["traded"].sum()), bars_replay=len(core.decisions))
    live_rows = live[live["traded"]].sort_values("ts_ns").to_dict("records")
    for a, b in zip(live_rows, core.decisions, strict=False):
        for k in ("ts_ns", "direction", "action", "reason", "position"):
            if not _same(a.get(k), b.get(k)):
                out.differences.append(f"bar {b['ts_ns']}: {k} live {a.get(k)!r}, replay {b.get(k)!r}")
                break
    if out.bars_live != out.bars_replay:
        out.differences.append(f"{out.bars_live} live decisions, {out.bars_replay} replayed")
    if journal is not None:
        start, end = day, day
        live_orders = [o for o in journal.orders() if _order_day(settings, o) in (start, end)]
        out.orders_live, out.orders_replay = len(live_orders), len(core.broker.orders)
        for a, o in zip(live_orders, core.broker.orders, strict=False):
            mine = (int(a["ts_ns"]), int(a["side"]), int(a["qty"]), str(a["kind"]), str(a["tag"]))
            theirs = (o.ts_ns, o.side, o.qty, o.kind, o.tag)
            if mine != theirs:
                out.differences.append(f"order live {mine}, replay {theirs}")
        if out.orders_live != out.orders_replay:
            out.differences.append(f"{out.orders_live} live orders, {out.orders_replay} replayed")
    return out


def _order_day(settings: Settings, order: dict[str, Any]) -> date:
    from features.streaming_session import SessionLocator
    from market.instruments import get_instrument

    return SessionLocator(get_instrument(settings.market.symbol)).local_day(int(order["ts_ns"]))

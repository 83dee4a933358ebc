"""A small world for the drift tests: a lake of simulated sessions, its features in the feature Parquet
and Feast, a champion trained on them by the ``train`` flow, and engine recordings of new sessions.

The "current" side is written as the engine writes it: the new sessions' events go through the
streaming feature engine (``features.streaming.FeatureEngine``, warmed up on the lake's last sessions as
the engine warms up at start) and every bar close's 65-feature vector, and every event, go through the
engine's own :class:`live_engine.service.recording.Recorder` into ``lake/recorded/<SYMBOL>/<day>/``.
A *shifted* session is one simulated with other simulator parameters (more trades per session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from features.streaming import BarClose, FeatureEngine
from live_engine.feeds.replay import lake_tapes
from live_engine.feeds.tape import Tape
from live_engine.service.recording import Recorder
from market.calendar import next_trading_days, session_bounds_ns
from market.lake import Lake
from market.simulator import simulate_session
from quantumtrader.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
SYMBOL = "WDO"
FIRST_DAY = date(2026, 1, 5)
LAKE_SESSIONS = 6
TRADES = 3000  # per session, the lake's (the champion's training data)
SEED = 11


def small_settings(var: Path) -> Settings:
    return load_settings(
        root=var.parent,
        stores={"var_dir": str(var), "feast_repo": str(REPO / "feature_repo")},
        market={"simulator": {"sessions": LAKE_SESSIONS, "start": FIRST_DAY.isoformat(), "seed": SEED,
                              "trades_per_session": TRADES, "planted_strength": 0.8}},
        training={"holdout_sessions": 2, "cv": {"n_folds": 3},
                  "tuning": {"num_leaves": [7], "learning_rate": [0.1], "n_estimators": [40]}},
        drift={"trigger": "subflow", "min_current_rows": 100},
    )


@dataclass
class World:
    settings: Settings
    champion_version: str


def build_world(var: Path) -> World:
    """Ingest -> features -> train (the real flows) -> the first champion through the gate (forced: no
    champion exists to compare with and the lake is too small for the evidence)."""
    from flows.features import features_flow
    from flows.ingest import ingest_flow
    from flows.train import train_flow
    from training.promotion.gate import promote

    settings = small_settings(var)
    ingest_flow(source="simulate", settings=settings)
    features_flow(settings=settings)
    trained = train_flow(settings=settings)
    version = trained["registered"]["version"]
    promote(settings, version=version, force=True, reason="drift tests: the first champion")
    return World(settings, version)


def next_days(settings: Settings, n: int, after: date | None = None) -> list[date]:
    lake = Lake(settings.lake_root)
    last = after or max(lake.days("trades", SYMBOL))
    return next_trading_days(last + timedelta(days=1), n, SYMBOL)


def record_sessions(settings: Settings, days: list[date], *, trades_per_session: int, seed: int,
                    warmup_sessions: int = 2) -> int:
    """Play ``days`` (simulated with ``trades_per_session``) through the streaming features into the
    engine's recording; returns the number of decision rows written."""
    lake = Lake(settings.lake_root)
    history = lake.days("trades", SYMBOL)[-warmup_sessions:]
    recorder = Recorder(settings.lake_root, SYMBOL, epoch="drifttest", flush_s=3600.0)
    live = {"on": False, "rows": 0}

    def on_bar(bar: BarClose) -> None:
        if live["on"]:
            recorder.decision(bar.close_ts_ns, bar.session.isoformat(), bar.features.copy(), None, "streaming")
            live["rows"] += 1

    bars = settings.market.bars
    engine = FeatureEngine(SYMBOL, bar_spec=bars.spec, large_trade_qty=bars.large_trade_qty, on_bar=on_bar)
    for tape in lake_tapes(settings, history, SYMBOL):  # the engine's warm-up on the lake's recent history
        _play(engine, tape, None)
    engine.advance_to(session_bounds_ns(history[-1], SYMBOL)[1])  # the warm-up's last bar closes before going live
    prev_close = float(lake.read_day("trades", SYMBOL, history[-1]).sort_values("ts")["price"].iloc[-1])
    live["on"] = True
    for day in days:
        s = simulate_session(day, symbol=SYMBOL, seed=seed, trades_per_session=trades_per_session,
                             planted_strength=settings.market.simulator.planted_strength, prev_close=prev_close)
        prev_close = s.close_price
        _play(engine, Tape.of(s.trades, s.book), recorder)
    _, close_ns = session_bounds_ns(days[-1], SYMBOL)
    engine.advance_to(close_ns)  # the session's last bar closes at the close, as the engine's clock does
    recorder.close()
    return int(live["rows"])


def _play(engine: FeatureEngine, tape: Tape, recorder: Recorder | None) -> None:
    from live_engine.feeds.events import Trade

    for ev in tape.events(SYMBOL):
        if recorder is not None:
            recorder.add(ev)
        if isinstance(ev, Trade):
            engine.on_trade(ev.ts_ns, ev.price, ev.qty, ev.trade_type, ev.buyer, ev.seller)
        else:
            engine.on_book_levels(ev.ts_ns, ev.levels)

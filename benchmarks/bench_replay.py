"""Replay throughput and per-bar decision latency of the decision core (issue 5 targets).

Simulates 20 sessions (market.simulator defaults, ~12k trades each), trains a LightGBM Booster of
realistic size (100 rounds x 3 classes, 31 leaves; the demo challenger has 63 trees) in memory,
wraps it in the serving predictor, and
replays every session through FeatureEngine + model + 4 agents + consensus + risk + paper broker.

- throughput: trades/s and bars/s over the whole replay (book snapshots are replayed too: one per trade),
  by the wall clock and by the thread's CPU time (the machine is shared: wall time includes preemption);
- decision latency per bar: the event that closes a bar, timed end to end (65 features + model + agents +
  consensus + risk + broker), p50 / p99, wall clock and thread CPU time; plus the core alone
  (``DecisionCore.on_bar``) and the model alone.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np

from benchmarks.report import BenchResult

GROUP = "Decision core and replay (issue 5)"


def _model():  # type: ignore[no-untyped-def]
    import lightgbm as lgb

    from features.spec import FEATURE_NAMES, spec_hash
    from serving.predictor import Predictor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, len(FEATURE_NAMES)))
    y = np.digitize(X[:, 20] + 0.5 * X[:, 47] + rng.normal(size=len(X)), [-0.7, 0.7])
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 31, "verbose": -1,
                         "num_threads": 1, "min_data_in_leaf": 5}, lgb.Dataset(X, y), num_boost_round=100)
    from features.contract import all_present, feature_contract

    meta = {"qt_model_contract": 2, "feature_set": "qt65_v1", "feature_spec_hash": spec_hash(),
            "feature_names": list(FEATURE_NAMES), "classes": [-1, 0, 1], "class_names": ["down", "flat", "up"],
            "calibration": {"method": "temperature", "temperature": 1.2}, "horizon": 5,
            "dataset_hash": "bench", "bar_spec": "time:60s",
            "feature_contract": feature_contract(bar_spec="time:60s", large_trade_qty=10, tick_size=0.5,
                                                 input_groups=all_present())}
    return Predictor.from_booster(booster, meta)


def run(n_sessions: int = 20) -> list[BenchResult]:
    from live_engine.backtest.replay import SessionData, build_core, replay
    from market.simulator import simulate
    from quantumtrader.config import load_settings

    settings = load_settings()
    cfg = settings.market.simulator
    sessions = [SessionData(s.day, s.trades, s.book)
                for s in simulate(n_sessions, date(2026, 1, 5), seed=cfg.seed,
                                  trades_per_session=cfg.trades_per_session, planted_strength=cfg.planted_strength)]
    model = _model()

    core = build_core(settings, model=model)
    stats = replay(core, sessions, settings)  # throughput run: no timers
    core2 = build_core(settings, model=model)
    stats2 = replay(core2, sessions, settings, measure_latency=True)
    lat = np.asarray(stats2.bar_latency_ns) / 1e3
    lat_cpu = np.asarray(stats2.bar_latency_cpu_ns) / 1e3

    # the core alone, re-deciding the recorded bars (features already computed)
    core3 = build_core(settings, model=model)
    from dataclasses import dataclass

    @dataclass
    class _Bar:
        close_ts_ns: int
        session: str
        close: float
        features: np.ndarray

    core_lat = []
    for (ts, sess, close, _pos, _pnl), x in zip(core.equity, core.features, strict=True):
        core3.on_book(ts - 1, close - 0.5, close + 0.5)  # so that its orders can fill, as in the replay
        core3.on_trade(ts - 1, close)
        t0 = time.perf_counter_ns()
        core3.on_bar(_Bar(ts, sess, close, x))
        core_lat.append(time.perf_counter_ns() - t0)
    core_us = np.asarray(core_lat) / 1e3
    rows = np.vstack(core.features[-2000:])
    t0 = time.perf_counter_ns()
    for r in rows:
        model.predict_proba(r)
    model_us = (time.perf_counter_ns() - t0) / len(rows) / 1e3

    # the core's own per-event work (broker book/tape, stale-data clock), no resting orders
    core4 = build_core(settings, model=model)
    n = 200_000
    t0 = time.perf_counter_ns()
    for k in range(n):
        core4.on_book(k, 5000.0, 5000.5)
        core4.on_trade(k, 5000.5)
    per_event_us = (time.perf_counter_ns() - t0) / (2 * n) / 1e3

    tps = stats.trades / stats.seconds
    tps_cpu = stats.trades / stats.cpu_seconds
    p99 = float(np.percentile(lat, 99))
    p99_cpu = float(np.percentile(lat_cpu, 99))
    note = f"{n_sessions} sessions, {stats.trades:,} trades + {stats.book_events:,} book snapshots, {stats.bars:,} bars"
    return [
        BenchResult(GROUP, "replay throughput (trades)", tps, "trades/s", ">= 100000", tps >= 100_000, note),
        BenchResult(GROUP, "replay throughput (trades), CPU time", tps_cpu, "trades/s", ">= 100000",
                    tps_cpu >= 100_000, "thread CPU time: the work itself, without preemption on a loaded machine"),
        BenchResult(GROUP, "replay throughput (events: trades + book)", (stats.trades + stats.book_events)
                    / stats.seconds, "events/s"),
        BenchResult(GROUP, "replay throughput (bars)", stats.bars / stats.seconds, "bars/s"),
        BenchResult(GROUP, "decision latency per bar p50 (features+model+agents+consensus+risk)",
                    float(np.percentile(lat, 50)), "µs"),
        BenchResult(GROUP, "decision latency per bar p99 (features+model+agents+consensus+risk)", p99, "µs",
                    "<= 1000", p99 <= 1000),
        BenchResult(GROUP, "decision latency per bar CPU p50", float(np.percentile(lat_cpu, 50)), "µs",
                    notes="thread CPU time"),
        BenchResult(GROUP, "decision latency per bar CPU p99", p99_cpu, "µs", "<= 1000", p99_cpu <= 1000,
                    "thread CPU time: the work itself, without preemption on a loaded machine"),
        BenchResult(GROUP, "core only (model+agents+consensus+risk+broker) p50", float(np.percentile(core_us, 50)),
                    "µs"),
        BenchResult(GROUP, "core only p99", float(np.percentile(core_us, 99)), "µs"),
        BenchResult(GROUP, "core per-event work (on_trade / on_book), mean", per_event_us, "µs",
                    notes="excludes the FeatureEngine's bar accumulators"),
        BenchResult(GROUP, "model predict_proba (Booster, 1 thread, numpy row), mean", model_us, "µs",
                    notes="100 rounds x 3 classes = 300 trees, 31 leaves; LightGBM single-row fast path"),
    ]


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: {r.value:,.2f} {r.unit} {r.target} {r.notes}")

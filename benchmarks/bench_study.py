"""Parameter studies (issue 14): the sweep's speed against vectorbt on the same signals, and what one
candidate's confirmation on the replay costs.

- **Sweep vs vectorbt.** 20 simulated sessions (the simulator's defaults) give the tape; each candidate's
  direction per bar comes from one persistent random score thresholded per candidate
  (``benchmarks.sweep_compare.random_signals``: a ``min_confidence``-like sweep). Ours:
  ``live_engine.backtest.sweep.sweep`` over all candidates at once, every risk rule and the cost model
  on (latency fills, brackets on the tape); vectorbt 1.2 (Numba) ``Portfolio.from_signals`` on the same
  closes and entries/exits, fixed fee per contract, fills at the bar's close, in its own environment
  (``benchmarks/vectorbt/requirements.txt``; "not measured" when it cannot be built offline). Both: the
  median of 5 calls after a warm one (vectorbt's compile time apart); bar-candidates per second.
  The two do not compute the same PnL: ours applies the risk rules and fills after the latency.
- **Study stages.** One tape build (once per study), one decision replay (once per agent/coordinator
  setting), one confirmation replay per candidate (the bench model: 100 rounds x 3 classes), wall clock.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np

from benchmarks.report import BenchResult

GROUP = "Parameter studies (issue 14)"


def run(n_sessions: int = 20) -> list[BenchResult]:
    from benchmarks.bench_replay import _model
    from benchmarks.sweep_compare import compare, random_signals, signals_from_direction
    from features.streaming_session import SessionLocator
    from live_engine.backtest.replay import SessionData, build_core, replay
    from live_engine.backtest.sweep import sweep
    from live_engine.backtest.sweep_tape import decision_inputs, sweep_tape
    from market.instruments import get_instrument
    from market.simulator import simulate
    from quantumtrader.config import load_settings

    settings = load_settings()
    cfg = settings.market.simulator
    sessions = [SessionData(s.day, s.trades, s.book)
                for s in simulate(n_sessions, date(2026, 1, 5), seed=cfg.seed,
                                  trades_per_session=cfg.trades_per_session, planted_strength=cfg.planted_strength)]
    model = _model()
    results: list[BenchResult] = []
    t0 = time.perf_counter()
    core = build_core(settings, model=model)
    core.keep_features = False
    replay(core, sessions, settings)
    replay_s = time.perf_counter() - t0
    inputs = decision_inputs(core.decisions)
    inst = get_instrument(settings.market.symbol)
    loc = SessionLocator(inst)
    t0 = time.perf_counter()
    tape = sweep_tape(inputs["ts_ns"], inputs["session"], inputs["close"], [(s.trades, s.book) for s in sessions],
                      costs=settings.costs, instrument=inst, bar_ns=60 * 10**9,
                      bounds=lambda d: (loc.bounds(d).open_ns, loc.bounds(d).close_ns))
    tape_s = time.perf_counter() - t0
    n_bars = tape.n_bars
    results += [
        BenchResult(GROUP, "tape lookups (once per study)", tape_s, "s", "", None,
                    f"{n_sessions} sessions, {n_bars:,} bars, {len(tape.events.ts):,} events"),
        BenchResult(GROUP, "replay per confirmed candidate (also: per agent/coordinator setting)", replay_s, "s", "",
                    None, f"{n_sessions} sessions, {n_bars:,} bars; features + model + agents + risk + broker"),
    ]
    for k in (50, 500):
        sig = random_signals(n_bars, k, seed=1)
        dirs = sig.direction
        risks = [settings.live.risk] * k
        el, xl, es, xs = signals_from_direction(dirs)
        out = compare(tape.close, el, xl, es, xs, fees=inst.fee_per_contract, point_value=inst.point_value,
                      ours=lambda dirs=dirs, risks=risks: sweep(tape, dirs, risks).pnl[-1], repeats=5)
        ours = out["ours"]
        results.append(BenchResult(GROUP, f"sweep, {k} candidates", ours["bar_candidates_per_s"], "bar-candidates/s",
                                   "", None, f"{n_bars:,} bars x {k}: median {ours['seconds_median']:.3f} s "
                                             f"(CPU {ours['cpu_seconds_median']:.3f} s) of 5 after a warm call"))
        vbt = out["vectorbt"]
        if vbt is not None:
            results.append(BenchResult(
                GROUP, f"vectorbt from_signals, {k} candidates", vbt["bar_candidates_per_s"], "bar-candidates/s", "",
                None, f"median {vbt['seconds_median']:.3f} s of 5; Numba compile {vbt['compile_s']:.1f} s apart; "
                      f"vectorbt {vbt.get('vectorbt_version', '?')}"))
            results.append(BenchResult(GROUP, f"vectorbt / sweep time, {k} candidates", out["ratio"], "x", "", None,
                                       "> 1: the sweep is faster"))
        else:
            results.append(BenchResult(GROUP, f"vectorbt, {k} candidates", float("nan"), "", "", None,
                                       str(out["vectorbt_status"])))
        per_candidate_replays = replay_s * k
        results.append(BenchResult(GROUP, f"replaying all {k} candidates instead (estimate)", per_candidate_replays,
                                   "s", "", None, f"{k} x the replay above; the sweep took "
                                                  f"{ours['seconds_median']:.2f} s "
                                                  f"({per_candidate_replays / ours['seconds_median']:,.0f}x)"))
    return results + verdicts()


def _ofi_model():  # type: ignore[no-untyped-def]
    """A small model whose opinion follows ofi_5 (as the tests' model): enough to find a planted signal."""
    import lightgbm as lgb

    from features.contract import all_present, feature_contract
    from features.spec import FEATURE_NAMES, spec_hash
    from serving.predictor import Predictor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, len(FEATURE_NAMES)))
    ofi = X[:, FEATURE_NAMES.index("ofi_5")]
    y = np.where(ofi > 0.5, 2, np.where(ofi < -0.5, 0, 1))
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 7, "learning_rate": 0.3,
                         "verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True},
                        lgb.Dataset(X, y), num_boost_round=8)
    meta = {"qt_model_contract": 2, "feature_set": "qt65_v1", "feature_spec_hash": spec_hash(),
            "feature_names": list(FEATURE_NAMES), "classes": [-1, 0, 1], "class_names": ["down", "flat", "up"],
            "calibration": {"method": "temperature", "temperature": 1.5}, "horizon": 5, "dataset_hash": "bench",
            "bar_spec": "time:60s", "feature_contract": feature_contract(bar_spec="time:60s", large_trade_qty=10,
                                                                         tick_size=0.5, input_groups=all_present())}
    return Predictor.from_booster(booster, meta)


def verdicts() -> list[BenchResult]:
    """The manual's min_confidence study (0.50..0.75 by 0.05) on 20 simulated sessions after 2 of warm-up,
    without and with a planted signal: what the study concludes, and what it cost."""
    import tempfile
    from pathlib import Path

    from live_engine.backtest.replay import SessionData
    from market.simulator import simulate
    from quantumtrader.config import load_settings
    from research.study.config import StudyConfig
    from research.study.run import run_study

    out: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="qt-bench-study-") as tmp:
        settings = load_settings(root=Path(tmp))
        for strength in (0.0, 0.8):
            sims = [SessionData(s.day, s.trades, s.book)
                    for s in simulate(22, date(2026, 2, 2), seed=5, trades_per_session=3000, planted_strength=strength)]
            cfg = StudyConfig(params={"consensus.min_confidence": "0.50:0.75:0.05"}, log_to_mlflow=False)
            t0 = time.perf_counter()
            res = run_study(settings, cfg, data=sims[2:], warmup=sims[:2], model=_ofi_model(), study_id=str(strength))
            seconds = time.perf_counter() - t0
            v = res.verdict
            wf = v["walk_forward"]
            ci = f"[{wf['sharpe_per_day_lo']:.2f}, {wf['sharpe_per_day_hi']:.2f}]"
            out.append(BenchResult(
                GROUP, f"min_confidence study, planted_strength {strength:g}: deflated Sharpe of the best",
                v["deflated_sharpe"], "", "", None,
                f"{v['n_trials']} trials, 20 sessions; best {v['best_name']}; PBO {v['pbo']['pbo']:.2f}; walk-forward "
                f"Sharpe/day {wf['sharpe_per_day']:.2f} {ci}; "
                f"{v['conclusion'].split(':')[0]}; {seconds:.1f} s in all"))
    return out

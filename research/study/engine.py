"""A study's two stages: the screen (every candidate through the parameter sweep) and the confirmation
(the best candidates, and each walk-forward pick, through the replay itself).

**Screen.** Candidates that cast the same votes (same agents and coordinator) share one replay of the
sessions with the real decision core, whose decision records give the model's probabilities and the
agents' weighted vote at every bar; the consensus directions of every candidate follow from them
(``consensus.directions``) and the risk rules and fills from the sweep (``live_engine/backtest/sweep.py``),
all candidates at once. Output: the screening table and the (sessions x candidates) daily PnL matrix.

**Confirmation.** The ``top_k`` candidates of the screen, the baseline and each walk-forward pick are
replayed in full. Walk-forward: the sessions are cut into ``folds`` contiguous folds; fold ``f`` (from
the second on) is traded by the candidate whose screen metric is best on the folds before it, and its
result is that candidate's *replayed* PnL on fold ``f``: a series no selection has seen. Each replay
is also checked against the sweep (the largest daily difference is reported; 0 when they agree).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.streaming_session import SessionLocator
from live_engine.backtest import stats
from live_engine.backtest.metrics import daily_pnl
from live_engine.backtest.replay import SessionData, build_core, replay
from live_engine.backtest.runner import summarize
from live_engine.backtest.sweep import SweepBatch, sweep
from live_engine.backtest.sweep_tape import SweepTape, decision_inputs, last_event_ns, sweep_tape
from live_engine.decision.agents import Agent, agent_from_config, default_feature_names
from live_engine.decision.consensus import directions
from live_engine.decision.core import DecisionCore, ProbaModel
from market.instruments import get_instrument
from quantumtrader.config import Settings
from research.study.space import Candidate

NS = 1_000_000_000


def agents_of(candidate: Candidate) -> list[Agent]:
    names = default_feature_names()
    return [agent_from_config(doc, names) for doc in candidate.agent_configs.values()]


def metric_values(daily: np.ndarray, metric: str) -> np.ndarray:
    """The selection metric of every column of a (days x candidates) matrix; NaN when undefined."""
    d = np.asarray(daily, dtype=np.float64)
    if metric == "pnl":
        return d.sum(axis=0)
    if metric == "daily_pnl_mean":
        return d.mean(axis=0) if len(d) else np.full(d.shape[1], np.nan)
    if len(d) < 2:
        return np.full(d.shape[1], np.nan)
    sd = d.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 0, d.mean(axis=0) / np.where(sd > 0, sd, 1.0), np.nan)


def ranking(values: np.ndarray) -> np.ndarray:
    """Candidate indices best first (NaN last; ties keep the search's order)."""
    v = np.where(np.isfinite(values), values, -np.inf)
    return np.argsort(-v, kind="stable")


@dataclass
class Screen:
    candidates: list[Candidate]
    batch: SweepBatch
    table: pd.DataFrame
    groups: int
    replay_seconds: float  # the decision replays (one per group)
    sweep_seconds: float
    tape_seconds: float

    @property
    def tape(self) -> SweepTape:
        return self.batch.tape

    @property
    def daily(self) -> np.ndarray:
        return self.batch.daily()

    @property
    def sessions(self) -> list[str]:
        return list(self.tape.sessions)


def _core(settings: Settings, model: ProbaModel, candidate: Candidate) -> DecisionCore:
    core = build_core(settings, model=model, agents=agents_of(candidate), config=candidate.live)
    core.keep_features = False
    return core


def screen(settings: Settings, model: ProbaModel, candidates: Sequence[Candidate], data: Sequence[SessionData],
           warm: Sequence[SessionData], coordinator_sessions: int, *,
           progress: Callable[[str], None] | None = None) -> Screen:
    """Every candidate through the sweep (see the module docstring)."""
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.decider_key, []).append(c)
    inst = get_instrument(settings.market.symbol)
    locator = SessionLocator(inst)
    spec = settings.market.bars.spec
    bar_ns = int(spec.removeprefix("time:").removesuffix("s")) * NS
    tape: SweepTape | None = None
    dirs: np.ndarray | None = None
    t_replay = t_tape = 0.0
    for members in groups.values():
        t0 = time.perf_counter()
        core = _core(settings, model, members[0])
        replay(core, data, settings, warmup=warm, coordinator_sessions=coordinator_sessions)
        inputs = decision_inputs(core.decisions)
        t_replay += time.perf_counter() - t0
        if tape is None:
            t0 = time.perf_counter()
            tape = sweep_tape(inputs["ts_ns"], inputs["session"], inputs["close"],
                              [(s.trades, s.book) for s in data], costs=settings.costs, instrument=inst,
                              bounds=lambda d: (locator.bounds(d).open_ns, locator.bounds(d).close_ns), bar_ns=bar_ns,
                              prior_last_data_ns=last_event_ns([(s.trades, s.book) for s in warm[-1:]]))
            t_tape = time.perf_counter() - t0
            dirs = np.zeros((tape.n_bars, len(candidates)), dtype=np.int8)
        elif not np.array_equal(inputs["ts_ns"], tape.ts_ns):  # pragma: no cover - bars do not depend on agents
            raise RuntimeError("the decision replays of two candidate groups closed different bars")
        assert dirs is not None
        cols = [c.index for c in members]
        dirs[:, cols] = directions(inputs["probs"], inputs["agents_signal"], inputs["agents_confidence"],
                                   inputs["decided"], [c.live.consensus for c in members])
        if progress is not None:
            progress(f"{len(members)} candidates decided")
    assert tape is not None and dirs is not None
    t0 = time.perf_counter()
    batch = sweep(tape, dirs, [c.live.risk for c in candidates])
    t_sweep = time.perf_counter() - t0
    table = batch.screen(n_trials=len(candidates))
    table.insert(0, "name", [c.name for c in candidates])
    table.insert(1, "baseline", [c.baseline for c in candidates])
    for name in dict.fromkeys(k for c in candidates for k, _ in c.overrides):
        table[name] = [dict(c.overrides).get(name) for c in candidates]
    return Screen(list(candidates), batch, table, len(groups), t_replay, t_sweep, t_tape)


@dataclass
class Replayed:
    """A candidate replayed in full: its metrics, daily PnL and how far the sweep was from it."""

    index: int
    metrics: dict[str, Any]
    daily: np.ndarray
    seconds: float
    sweep_max_daily_diff: float
    sweep_trades: int


@dataclass
class Confirmation:
    top: list[int]
    picks: list[int]  # per walk-forward fold from the second on
    folds: list[list[int]]  # session indices of each fold
    replayed: dict[int, Replayed]
    oos_daily: np.ndarray  # the walk-forward series: each fold traded by its pick, replayed
    oos: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_candidate(self) -> float:
        return float(np.mean([r.seconds for r in self.replayed.values()])) if self.replayed else float("nan")


def confirm(settings: Settings, model: ProbaModel, scr: Screen, data: Sequence[SessionData],
            warm: Sequence[SessionData], coordinator_sessions: int, *, top_k: int, folds: int, metric: str,
            progress: Callable[[str], None] | None = None) -> Confirmation:
    """Replay the screen's best, the baseline and each walk-forward pick (see the module docstring)."""
    daily = scr.daily
    n_days, k = daily.shape
    top = ranking(metric_values(daily, metric))[:top_k].tolist()
    cuts = [list(map(int, a)) for a in np.array_split(np.arange(n_days), min(folds, n_days)) if len(a)]
    picks = []
    for f in range(1, len(cuts)):
        seen = daily[: cuts[f][0]]
        picks.append(int(ranking(metric_values(seen, metric))[0]))
    baseline = [c.index for c in scr.candidates if c.baseline]
    wanted = list(dict.fromkeys([*top, *picks, *baseline]))
    replayed: dict[int, Replayed] = {}
    for i in wanted:
        t0 = time.perf_counter()
        core = _core(settings, model, scr.candidates[i])
        st = replay(core, data, settings, warmup=warm, coordinator_sessions=coordinator_sessions)
        seconds = time.perf_counter() - t0
        d = daily_pnl([e[1] for e in core.equity], [e[4] for e in core.equity])
        diff = float(np.max(np.abs(d - daily[:, i]))) if len(d) == n_days else float("inf")
        m = summarize(core, st, n_trials=k)
        replayed[i] = Replayed(i, m, d, seconds, diff, int(scr.table.loc[i, "n_trades"]))
        if progress is not None:
            progress(f"candidate {i} replayed")
    oos = np.concatenate([replayed[p].daily[cuts[f + 1]] for f, p in enumerate(picks)]) if picks else np.zeros(0)
    return Confirmation(top, picks, cuts, replayed, oos, oos_summary(oos))


def oos_summary(oos: np.ndarray) -> dict[str, float]:
    """The walk-forward series' headline numbers with their 90 % intervals (block bootstrap, small-sample
    expanded, as the backtest's)."""
    n = len(oos)
    if n == 0:
        return {"days": 0.0}
    n_eff = stats.effective_n(n)
    lo, hi = stats.interval(stats.sharpe_replicates(oos, n_boot=2000, seed=0), 0.90, n_eff=n_eff)
    mlo, mhi = stats.interval(stats.block_bootstrap(oos, n_boot=2000, seed=0), 0.90, n_eff=n_eff)
    return {"days": float(n), "pnl": float(oos.sum()), "daily_pnl_mean": float(oos.mean()),
            "daily_pnl_mean_lo": mlo, "daily_pnl_mean_hi": mhi, "sharpe_per_day": stats.sharpe(oos),
            "sharpe_per_day_lo": lo, "sharpe_per_day_hi": hi,
            "prob_daily_pnl_positive": stats.prob_positive(oos, n_boot=2000, seed=0, expanded=True)}

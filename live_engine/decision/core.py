"""The decision core shared by the live engine and the backtest.

Per market event the core only forwards the event to the paper broker (book, stop and target
triggers) and remembers when data last arrived. Once per bar close, :meth:`DecisionCore.on_bar`
runs model + agents (through a decider), consensus, the risk rules and the broker, and appends one
decision record. No I/O, no pandas, no wall clock: time comes from the bar and the injected clock.

The model's input groups (``Predictor.input_groups``, from its feature contract) reach the decision
path through the decider: an agent reading a group the model's history lacked abstains on every bar
(the liquidity agent without book), and the model itself is fed NaN in that group's positions.

A row training would have dropped (``features.contract.complete_rows``: a NaN outside the absent
groups) is never shown to the model or the agents: the decision is "no trade", reason ``incomplete``.

While :attr:`DecisionCore.warming` is set (``live_engine.decision.warmup.warm_up``) a bar close only
lets the coordinator score and cast votes (:meth:`DecisionCore.warm_bar`): no model, no risk, no order,
no record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np

from features.contract import complete_rows, required_positions
from features.spec import FEATURE_NAMES
from live_engine.config import LiveConfig
from live_engine.decision.agents import ABSTAIN, Agent, is_valid_vote
from live_engine.decision.consensus import DEGRADED, INCOMPLETE, TRADE, ConsensusResult, decide, no_trade
from live_engine.decision.coordinator import HedgeCoordinator
from live_engine.execution.broker import PaperBroker
from live_engine.execution.config import CostConfig
from live_engine.risk.engine import HALTED, OrderIntent, RiskContext, RiskEngine
from market.instruments import Instrument
from quantumtrader.clock import Clock

BOOK_STALE_NS = 12 * 3600 * 10**9
"""A book snapshot older than this (longer than any session: it is an earlier session's) is no quote."""
_NEVER = 2**63 - 1


class Bar(Protocol):
    """What the core reads from a closed bar (``features.streaming.BarClose`` satisfies it)."""

    close_ts_ns: int
    session: Any  # date or ISO string
    close: float
    features: np.ndarray


class ProbaModel(Protocol):
    def predict_proba(self, row: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decider's output for one bar."""

    result: ConsensusResult
    probs: tuple[float, float, float]
    votes: tuple[tuple[float, float], ...]
    agents_signal: float
    agents_confidence: float
    degraded: bool = False
    error: str = ""


_NAN3 = (math.nan, math.nan, math.nan)
Vote = tuple[float, float]  # (signal, confidence)


def _has_view(agent: Agent, groups: dict[str, bool] | None) -> bool:
    """``agent.has_view(groups)``; an agent without the method (a duck-typed test agent) always has one."""
    has_view = getattr(agent, "has_view", None)
    return bool(has_view(groups)) if callable(has_view) else True


class ConsensusDecider:
    """Model + agents + Hedge coordinator + consensus: the production decider."""

    def __init__(self, model: ProbaModel, agents: Sequence[Agent], coordinator: HedgeCoordinator,
                 config: LiveConfig) -> None:
        self.model = model
        self.agents = list(agents)
        self.coordinator = coordinator
        self.config = config.consensus
        # The model's input groups (its feature contract; a model without them has every group) decide
        # which agents have a view and the one incomplete-row rule (features.contract): _use_model.
        self.input_groups: dict[str, bool] | None = None
        self._has_view: list[bool] = []
        self.abstaining: tuple[str, ...] = ()
        self._prev_signals: list[float] | None = None
        self._prev_regime = 0  # the coordinator's regime when _prev_signals were cast
        self._use_model(model)

    def _use_model(self, model: ProbaModel) -> None:
        groups = getattr(model, "input_groups", None)
        self.model = model
        self.input_groups = dict(groups) if isinstance(groups, Mapping) else None
        self._has_view = [_has_view(a, self.input_groups) for a in self.agents]
        self.abstaining = tuple(a.name for a, v in zip(self.agents, self._has_view, strict=True) if not v)
        self._required = np.asarray(required_positions(FEATURE_NAMES, self.input_groups), dtype=np.intp)
        # a model that can return the 3 probabilities as floats skips building an array per bar
        fast = getattr(model, "predict_proba3", None)
        self._proba3: Callable[[np.ndarray], tuple[float, float, float]] = fast if callable(fast) else self._proba

    def swap_model(self, model: ProbaModel) -> None:
        """Decide with ``model`` from the next bar on (the engine's hot-swap, between decisions); the
        coordinator's weights and the pending votes carry over."""
        self._use_model(model)

    @property
    def agent_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.agents)

    def new_session(self) -> None:
        """Do not score votes on the overnight return."""
        self._prev_signals = None

    def _proba(self, x: np.ndarray) -> tuple[float, float, float]:
        p = self.model.predict_proba(x)
        return float(p[0]), float(p[1]), float(p[2])

    def reset_learning(self) -> None:
        """Equal coordinator weights and no pending votes (the start of a warm-up's learning span)."""
        self.coordinator.reset()
        self._prev_signals = None

    def observe(self, x: np.ndarray, bar_return: float | None) -> None:
        """A warm-up bar: score the previous votes and cast this bar's, as :meth:`decide` does, without the model."""
        self._vote(x, bar_return)

    def _vote(self, x: np.ndarray, bar_return: float | None) -> Verdict | tuple[list[Vote], float, float]:
        """Score the previous bar's votes, then the agents' votes on ``x`` combined by the coordinator;
        or the no-trade :class:`Verdict` that ends the decision (an incomplete row, a failing agent)."""
        coord = self.coordinator
        if self._prev_signals is not None and bar_return is not None:
            coord.update(self._prev_signals, bar_return, self._prev_regime)  # the regime they were cast in
        self._prev_signals = None
        if coord.n_regimes > 1:
            coord.select_regime(x)  # before any early return: the record logs this bar's regime and weights
        if not complete_rows(x, self._required):
            return Verdict(no_trade(INCOMPLETE), _NAN3, (), math.nan, math.nan)
        votes: list[Vote] = []
        for agent, has_view in zip(self.agents, self._has_view, strict=True):
            if not has_view:  # its inputs are absent from the model's history: no view, not a vote
                votes.append(ABSTAIN)
                continue
            try:
                s, c = agent.vote(x)
                s, c = float(s), float(c)
            except Exception as err:  # an agent bug must not stop the engine: no trade, degraded
                return Verdict(no_trade(DEGRADED), _NAN3, tuple(votes), math.nan, math.nan, True,
                               f"agent {agent.name} raised {type(err).__name__}: {err}")
            votes.append((s, c))
            if not is_valid_vote(s, c):
                return Verdict(no_trade(DEGRADED), _NAN3, tuple(votes), math.nan, math.nan, True,
                               f"agent {agent.name} returned an invalid vote ({s}, {c})")
        signals = [v[0] for v in votes]
        a_sig, a_conf = coord.combine(signals, [v[1] for v in votes])
        self._prev_signals = signals
        self._prev_regime = coord.regime
        return votes, a_sig, a_conf

    def decide(self, x: np.ndarray, bar_return: float | None) -> Verdict:
        voted = self._vote(x, bar_return)
        if isinstance(voted, Verdict):
            return voted
        votes, a_sig, a_conf = voted
        try:
            probs = self._proba3(x)
        except Exception as err:
            return Verdict(no_trade(DEGRADED), _NAN3, tuple(votes), a_sig, a_conf, True,
                           f"model raised {type(err).__name__}: {err}")
        if not all(math.isfinite(q) for q in probs):
            return Verdict(no_trade(DEGRADED), probs, tuple(votes), a_sig, a_conf, True, "model returned NaN")
        result = decide(probs[0], probs[1], probs[2], a_sig, a_conf, self.config)
        return Verdict(result, probs, tuple(votes), a_sig, a_conf)


class ScriptedDecider:
    """Directions given in advance (tests, the sweep-vs-replay check): ``direction(close_ts_ns)``."""

    agent_names: tuple[str, ...] = ()

    def __init__(self, direction: Callable[[int], int] | Mapping[int, int]) -> None:
        self._direction = direction
        self.coordinator: HedgeCoordinator | None = None

    def new_session(self) -> None:
        pass

    def reset_learning(self) -> None:
        pass

    def observe(self, x: np.ndarray, bar_return: float | None) -> None:
        pass

    def decide_at(self, ts_ns: int) -> Verdict:
        d = self._direction(ts_ns) if callable(self._direction) else self._direction.get(ts_ns, 0)
        res = ConsensusResult(float(d), 1.0, float(d), 1.0, "strong", int(d), TRADE if d else "no_signal")
        return Verdict(res, _NAN3, (), math.nan, math.nan)

    def decide(self, x: np.ndarray, bar_return: float | None) -> Verdict:  # pragma: no cover - unused
        raise NotImplementedError


class DecisionCore:
    """Bar-close decisions for one instrument, plus the broker fed by every event."""

    def __init__(self, *, instrument: Instrument, config: LiveConfig, decider: ConsensusDecider | ScriptedDecider,
                 clock: Clock, bar_ns: int, session_bounds: Callable[[date], tuple[int, int]],
                 id_prefix: str = "QT", keep_features: bool = True, costs: CostConfig | None = None) -> None:
        self.instrument = instrument
        self.config = config
        self.decider = decider
        self.clock = clock
        self.bar_ns = bar_ns
        self.session_bounds = session_bounds
        self.broker = PaperBroker(instrument, costs or CostConfig(), id_prefix)
        self.risk = RiskEngine(config.risk, instrument.tick_size)
        self.keep_features = keep_features
        self.last_data_ns = 0
        self.decisions: list[dict[str, Any]] = []
        self.equity: list[tuple[int, str, float, int, float]] = []  # ts, session, close, position, pnl R$
        self.features: list[np.ndarray] = []
        self.trade_attribution: list[dict[str, float]] = []
        self.degraded = False
        self.degraded_bars = 0
        self.warming = False  # set by live_engine.decision.warmup.warm_up: bars only warm the coordinator
        self.block_entries: str | None = None  # a reason code set by the engine (a stale feed): no new entries
        self.warm_bars = 0
        self._session: str | None = None
        self._bounds = (0, 0)
        self._prev_close = math.nan
        self._bars_held = 0
        self._seen_trades = 0
        self._book_expiry_ns = _NEVER  # a print after this finds the standing book stale (no book: never)
        self._entry_components: dict[str, dict[str, float]] = {}

    # ---- per event (hot path) ---------------------------------------------------------------
    def on_trade(self, ts_ns: int, price: float, side: int = 0) -> None:
        """A print; ``side`` is its aggressor (+1 buy, -1 sell, 0 unknown: ``costs.aggressor_side``).

        A book recorded more than :data:`BOOK_STALE_NS` before the print (an earlier session's, e.g. a
        trades-only session after a recorded one) is no quote: the broker forgets it and fills from prints."""
        self.last_data_ns = ts_ns
        if ts_ns > self._book_expiry_ns:
            self.broker.forget_book()
            self._book_expiry_ns = _NEVER
        self.broker.on_trade(ts_ns, price, side)

    def on_book(self, ts_ns: int, bid: float, ask: float) -> None:
        self.last_data_ns = ts_ns
        self._book_expiry_ns = ts_ns + BOOK_STALE_NS
        self.broker.on_book(ts_ns, bid, ask)

    def on_book_levels(self, ts_ns: int, row: Sequence[float]) -> None:
        """A 5-level book snapshot as one packed row (``live_engine.execution.costs``); the broker walks it."""
        self.last_data_ns = ts_ns
        self._book_expiry_ns = ts_ns + BOOK_STALE_NS
        self.broker.on_book_levels(ts_ns, row)

    # ---- per bar ----------------------------------------------------------------------------
    def handle_bar(self, bar: Bar) -> dict[str, Any] | None:
        """What a bar close does: :meth:`warm_bar` while warming up, else :meth:`on_bar` (its record)."""
        if self.warming:
            self.warm_bar(bar)
            return None
        return self.on_bar(bar)

    def warm_bar(self, bar: Bar) -> None:
        """A warm-up bar: the coordinator scores the previous votes and casts this bar's (when the row is
        complete). No model, no risk check, no order, no record, no equity point."""
        session = bar.session if isinstance(bar.session, str) else bar.session.isoformat()
        close = float(bar.close)
        if session != self._session:
            self._session = session
            self.decider.new_session()
            bar_return = None
        else:
            bar_return = math.log(close / self._prev_close) if self._prev_close > 0 else None
        self._prev_close = close
        self.decider.observe(bar.features, bar_return)
        self.warm_bars += 1

    def on_bar(self, bar: Bar) -> dict[str, Any]:
        """Decide at the close of ``bar``; returns the decision record (also kept in ``decisions``)."""
        ts = int(bar.close_ts_ns)
        session = bar.session if isinstance(bar.session, str) else bar.session.isoformat()
        close = float(bar.close)
        if session != self._session:
            self._start_session(session, close)
            bar_return = None
        else:
            bar_return = math.log(close / self._prev_close) if self._prev_close > 0 else None
        self._prev_close = close
        x = bar.features
        if isinstance(self.decider, ScriptedDecider):
            verdict = self.decider.decide_at(ts)
        else:
            verdict = self.decider.decide(x, bar_return)
        self.degraded = verdict.degraded
        self.degraded_bars += verdict.degraded

        total_pnl = self.broker.equity_pnl(close)
        self._close_trades(ts)
        ctx = RiskContext(ts, self._bounds[0], self._bounds[1], self.last_data_ns or ts, self.bar_ns)
        state_before = self.risk.state
        state = self.risk.mark(ctx, total_pnl)
        action, denial = self._act(ctx, verdict, close, state_before)
        pos = self.broker.position
        # bars since the entry decision (its fill comes after the latency): the time exit lands on the
        # label horizon counted from the decision bar, as in training
        self._bars_held = self._bars_held + 1 if pos else (1 if self.broker.has_pending else 0)
        self.equity.append((ts, session, close, pos, total_pnl))
        if self.keep_features:
            self.features.append(np.array(x, dtype=np.float64, copy=True))
        r = verdict.result
        names = self.decider.agent_names
        coord = getattr(self.decider, "coordinator", None)
        record: dict[str, Any] = {
            "ts_ns": ts, "session": session, "feature_row": len(self.decisions), "close": close,
            "p_down": verdict.probs[0], "p_flat": verdict.probs[1], "p_up": verdict.probs[2],
            "model_signal": r.model_signal, "agents_signal": verdict.agents_signal,
            "agents_confidence": verdict.agents_confidence, "combined": r.combined,
            "confidence": r.confidence, "band": r.band, "direction": r.direction, "reason": r.reason,
            "votes": {n: list(v) for n, v in zip(names, verdict.votes, strict=False)},
            "weights": coord.weight_map() if coord is not None else {},
            "action": action, "denial": denial, "state": state, "position": pos,
            "degraded": verdict.degraded, "error": verdict.error,
        }
        if coord is not None and coord.n_regimes > 1:
            record["regime"] = coord.regime  # the regime whose weights are logged (and were used)
        self.decisions.append(record)
        return record

    def _start_session(self, session: str, close: float) -> None:
        self._session = session
        self._bounds = self.session_bounds(date.fromisoformat(session))
        self._prev_close = math.nan
        self.decider.new_session()
        self.risk.start_session(self.broker.equity_pnl(close))

    def _close_trades(self, ts: int) -> None:
        trades = self.broker.trades
        while self._seen_trades < len(trades):
            rt = trades[self._seen_trades]
            self._seen_trades += 1
            self.risk.record_closed_trade(rt.pnl, ts)
            comps = self._entry_components.pop(rt.entry_client_id, None)
            if comps:
                self.trade_attribution.append({k: rt.pnl * v for k, v in comps.items()})

    def _act(self, ctx: RiskContext, verdict: Verdict, close: float, state_before: str) -> tuple[str, str]:
        broker, risk = self.broker, self.risk
        pos = broker.position
        if ctx.state == HALTED:
            if state_before != HALTED:  # the transition flattens once; afterwards no order at all
                broker.cancel_all()
                if pos:
                    broker.submit_market(ctx.now_ns, -1 if pos > 0 else 1, abs(pos), "halt")
                    return "halt_flatten", ""
            return "none", ""
        if broker.has_pending:
            return "wait_fill", ""
        direction = verdict.result.direction
        if pos:
            side = -1 if pos > 0 else 1
            if risk.must_flatten(ctx):
                tag = "flatten"
            elif self.config.risk.max_holding_bars and self._bars_held >= self.config.risk.max_holding_bars:
                tag = "time_exit"
            elif direction == side:
                tag = "signal_exit"
            else:
                return "hold", ""
            denial = risk.check(ctx, OrderIntent(side, abs(pos), pos))
            if denial is not None:
                return "denied", denial.code
            broker.cancel_resting()
            broker.submit_market(ctx.now_ns, side, abs(pos), tag)
            return tag, ""
        if direction == 0:
            return "none", ""
        if self.block_entries:
            return "denied", self.block_entries
        qty = 1
        denial = risk.check(ctx, OrderIntent(direction, qty, 0))
        if denial is not None:
            return "denied", denial.code
        stop, target = risk.bracket_ticks(close)
        order = broker.submit_market(ctx.now_ns, direction, qty, "entry", stop_ticks=stop, target_ticks=target)
        risk.record_entry()
        self._entry_components[order.client_id] = self._components(verdict)
        return "enter_long" if direction > 0 else "enter_short", ""

    def _components(self, verdict: Verdict) -> dict[str, float]:
        """Each source's share of the combined signal at entry (shares sum to 1)."""
        names = self.decider.agent_names
        coord = getattr(self.decider, "coordinator", None)
        r = verdict.result
        if not names or coord is None or not math.isfinite(r.combined) or r.combined == 0:
            return {"model": 1.0}
        cfg = self.config.consensus
        comps = {"model": cfg.model_weight * r.model_signal}
        # abstaining agents are no vote: the coordinator renormalised the others' weights over the voters
        abstained = any(not math.isfinite(s) for s, _c in verdict.votes)
        voting = sum(w for w, (s, _c) in zip(coord.weights, verdict.votes, strict=False) if math.isfinite(s))
        scale = 1.0 / voting if abstained and voting > 0 else 1.0
        for n, w, (s, _c) in zip(names, coord.weights, verdict.votes, strict=False):
            comps[n] = cfg.agents_weight * w * s * scale if math.isfinite(s) else 0.0
        return {k: v / r.combined for k, v in comps.items()}

    # ---- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Restorable state: coordinator weights and risk counters."""
        coord = getattr(self.decider, "coordinator", None)
        return {"coordinator": coord.state() if coord is not None else None, "risk": self.risk.state_dict(),
                "degraded": self.degraded}

    def reset_learning(self) -> None:
        """Start the coordinator's learning afresh (equal weights): the start of a warm-up's learning span."""
        self.decider.reset_learning()

    def restore(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state` (e.g. the live engine after a restart, or a backtest's ``state.json``)."""
        coord = getattr(self.decider, "coordinator", None)
        if coord is not None and state.get("coordinator") is not None:
            coord.restore(state["coordinator"])
        self.risk.restore(state["risk"])

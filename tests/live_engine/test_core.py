"""The decision core at bar close: degraded agents, halts, forced flat, one record per bar."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from tiny_model import Bar, contract, train_booster

from features.spec import FEATURE_INDEX, FEATURE_NAMES
from live_engine.config import LiveConfig
from live_engine.decision.agents import load_agents
from live_engine.decision.consensus import DEGRADED
from live_engine.decision.coordinator import HedgeCoordinator
from live_engine.decision.core import ConsensusDecider, DecisionCore, ScriptedDecider
from live_engine.risk.engine import HALTED, MINUTE_NS
from market.instruments import get_instrument
from quantumtrader.clock import SimulatedClock
from serving.predictor import Predictor

DAY = date(2026, 1, 5)
OPEN = 1_767_614_400 * 10**9  # 2026-01-05 12:00 UTC = 09:00 São Paulo
CLOSE = OPEN + 540 * MINUTE_NS


def bullish_row() -> np.ndarray:
    x = np.zeros(len(FEATURE_NAMES))
    for k, v in {"ofi_5": 2.0, "ofi_20": 0.6, "large_trade_imbalance_20": 0.5, "book_imb_l1": 0.6,
                 "book_imb_l5": 0.6, "microprice_dev": 0.3, "spread_ticks": 1.0, "aggr_buy_ratio_20": 0.9,
                 "trade_intensity_ratio_50": 1.5, "ofi_10": 0.6, "range_pos_20": 0.9}.items():
        x[FEATURE_INDEX[k]] = v
    return x


@pytest.fixture(scope="module")
def model() -> Predictor:
    return Predictor.from_booster(train_booster(), contract())


def make_core(decider, config: LiveConfig | None = None) -> DecisionCore:
    return DecisionCore(instrument=get_instrument("WDO"), config=config or LiveConfig(), decider=decider,
                        clock=SimulatedClock(), bar_ns=MINUTE_NS, session_bounds=lambda d: (OPEN, CLOSE))


def consensus_core(model, agents=None, config: LiveConfig | None = None) -> DecisionCore:
    cfg = config or LiveConfig()
    agents = agents if agents is not None else load_agents()
    return make_core(ConsensusDecider(model, agents, HedgeCoordinator([a.name for a in agents], cfg.coordinator),
                                      cfg), cfg)


def feed_bar(core: DecisionCore, minute: int, price: float, x: np.ndarray) -> dict:
    ts = OPEN + minute * MINUTE_NS
    core.on_book(ts - 1, price - 0.5, price)
    core.on_trade(ts - 1, price)
    return core.on_bar(Bar(ts, DAY, price, x))


def settle(core: DecisionCore, minute: int, price: float) -> None:
    """A print 200 ms after the close of ``minute``: the orders decided there (100 ms latency) fill."""
    core.on_trade(OPEN + minute * MINUTE_NS + 200 * 10**6, price)


def test_bullish_bar_enters_long_with_a_bracket_and_records_one_decision(model):
    core = consensus_core(model)
    rec = feed_bar(core, 30, 5000.0, bullish_row())
    assert rec["reason"] == "trade" and rec["action"] == "enter_long", rec
    assert core.broker.position == 0 and core.broker.has_pending  # it fills after the latency, not at the close
    settle(core, 30, 5000.0)
    assert core.broker.position == 1 and len(core.broker.resting) == 2
    assert set(rec["votes"]) == {"order_flow", "liquidity", "tape_reading", "footprint"}
    assert sum(rec["weights"].values()) == pytest.approx(1.0)
    assert len(core.decisions) == 1 and rec["feature_row"] == 0


class Boom:
    name = "boom"
    feature_indices = (0,)

    def vote(self, x):
        raise RuntimeError("agent bug")


class NaNAgent:
    name = "nan"
    feature_indices = (0,)

    def vote(self, x):
        return math.nan, 0.5


@pytest.mark.parametrize("bad", [Boom(), NaNAgent()])
def test_agent_that_raises_or_returns_nan_means_no_trade_and_degraded(model, bad):
    agents = [*load_agents(), bad]
    core = consensus_core(model, agents)
    rec = feed_bar(core, 30, 5000.0, bullish_row())
    assert rec["reason"] == DEGRADED and rec["direction"] == 0 and rec["degraded"] is True
    assert core.degraded and core.broker.orders == []
    assert bad.name in rec["error"]


class CountingModel:
    """A model that counts the rows it is asked about."""

    def __init__(self, model: Predictor) -> None:
        self.model, self.rows = model, []
        self.input_groups = model.input_groups

    def predict_proba(self, row: np.ndarray) -> np.ndarray:
        self.rows.append(np.array(row))
        return self.model.predict_proba(row)


@pytest.mark.parametrize("feature", ["ofi_20", "vol_ratio_100_200", "macd_hist"])
def test_an_incomplete_row_is_never_shown_to_the_model_and_means_no_trade(model, feature):
    counting = CountingModel(model)
    core = consensus_core(counting)
    x = bullish_row()
    x[FEATURE_INDEX[feature]] = math.nan  # an agent's input, or only the model's (the slowest warm-up)
    rec = feed_bar(core, 30, 5000.0, x)
    assert rec["reason"] == "incomplete" and rec["direction"] == 0 and not core.degraded
    assert core.broker.orders == [] and counting.rows == []
    feed_bar(core, 31, 5000.0, bullish_row())
    assert len(counting.rows) == 1  # a complete row is asked about


def test_position_is_closed_before_the_session_end():
    core = make_core(ScriptedDecider(lambda ts: 1))
    feed_bar(core, 500, 5000.0, np.zeros(65))
    settle(core, 500, 5000.0)
    assert core.broker.position == 1
    rec = feed_bar(core, 535, 5001.0, np.zeros(65))  # 5 minutes before the close
    settle(core, 535, 5001.0)
    assert rec["action"] == "flatten" and core.broker.position == 0


def test_max_holding_bars_exits_the_position_five_bars_after_each_entry_decision():
    core = make_core(ScriptedDecider(lambda ts: 1))
    actions = [feed_bar(core, 100 + i, 5000.0, np.zeros(65))["action"] for i in range(12)]
    # the entry fills after the latency; the time exit still comes 5 bars after the entry decision (the
    # label horizon), and again for the next entry, decided on the bar after the exit
    assert actions == ["enter_long", *["hold"] * 4, "time_exit", "enter_long", *["hold"] * 4, "time_exit"]


def test_drawdown_halts_flattens_once_and_then_sends_nothing():
    cfg = LiveConfig.model_validate({"risk": {"account_capital": 1000.0, "use_brackets": False,
                                              "max_holding_bars": 0}})
    core = make_core(ScriptedDecider(lambda ts: 1), cfg)
    feed_bar(core, 10, 5000.0, np.zeros(65))
    settle(core, 10, 5000.0)
    assert core.broker.position == 1
    rec = feed_bar(core, 11, 4985.0, np.zeros(65))  # -15 points = -R$150 > 10 % of R$1000
    settle(core, 11, 4985.0)
    assert rec["state"] == HALTED and rec["action"] == "halt_flatten" and core.broker.position == 0
    n = len(core.broker.orders)
    for m in range(12, 40):
        assert feed_bar(core, m, 4990.0, np.zeros(65))["state"] == HALTED
    assert len(core.broker.orders) == n


def test_core_state_holds_weights_and_risk_counters(model):
    core = consensus_core(model)
    feed_bar(core, 30, 5000.0, bullish_row())
    st = core.state()
    assert st["coordinator"]["names"] == ["order_flow", "liquidity", "tape_reading", "footprint"]
    assert st["risk"]["daily_entries"] == 1


def test_a_new_core_resumes_weights_and_counters_from_state(model):
    core = consensus_core(model)
    feed_bar(core, 30, 5000.0, bullish_row())
    feed_bar(core, 31, 5001.0, bullish_row())
    fresh = consensus_core(model)
    fresh.restore(core.state())
    assert fresh.state() == core.state()


REGIME_CFG = LiveConfig.model_validate({"coordinator": {"regime_feature": "atr_14_rel",
                                                        "regime_thresholds": [0.0004]}})


def regime_row(atr: float) -> np.ndarray:
    x = bullish_row()
    x[FEATURE_INDEX["range_pos_20"]] = 0.1  # footprint votes against the other three, so weights can move
    x[FEATURE_INDEX["atr_14_rel"]] = atr
    return x


def test_regimes_off_records_carry_no_regime(model):
    rec = feed_bar(consensus_core(model), 30, 5000.0, bullish_row())
    assert "regime" not in rec and "regime" not in consensus_core(model).state()["coordinator"]


def test_votes_are_scored_in_the_regime_they_were_cast_in(model):
    core = consensus_core(model, config=REGIME_CFG)
    coord = core.decider.coordinator
    start = list(coord.regime_weights[0])
    first = feed_bar(core, 30, 5000.0, regime_row(0.0008))  # votes cast in the high regime
    assert first["regime"] == 1 and first["weights"] == dict(zip(coord.names, start, strict=True))
    second = feed_bar(core, 31, 5002.0, regime_row(0.0001))  # the return they earned arrives in the low regime
    assert second["regime"] == 0
    assert coord.regime_weights[1] != start  # the high regime learned from the bullish votes on an up bar
    assert coord.regime_weights[0] == start and second["weights"] == dict(zip(coord.names, start, strict=True))
    nan_bar = feed_bar(core, 32, 5001.0, regime_row(math.nan))  # NaN regime feature: keep the previous regime
    assert nan_bar["regime"] == 0 and coord.regime_weights[0] != start


def test_a_new_core_resumes_every_regime_from_state(model):
    core = consensus_core(model, config=REGIME_CFG)
    for m, (price, atr) in enumerate([(5000.0, 0.0008), (5002.0, 0.0001), (5001.0, 0.0009), (5003.0, 0.0002)]):
        feed_bar(core, 30 + m, price, regime_row(atr))
    fresh = consensus_core(model, config=REGIME_CFG)
    fresh.restore(core.state())
    assert fresh.state() == core.state() and fresh.state()["coordinator"]["regime"] == 0
    with pytest.raises(ValueError, match="regime"):
        consensus_core(model).restore(core.state())


def test_a_book_from_an_earlier_session_is_no_quote_for_the_next_sessions_first_fill():
    from live_engine.decision.core import ScriptedDecider

    core = make_core(ScriptedDecider({}))
    core.on_book(OPEN, 5000.0, 5000.5)  # yesterday's last book
    next_day = OPEN + 24 * 3600 * 10**9
    core.broker.submit_market(next_day, 1, 1, "entry")
    core.on_trade(next_day + 200 * 10**6, 5400.0, 1)  # today's first print: an aggressive buy at 5400
    assert core.broker.book is None and core.broker.fills[-1].price == 5400.0  # not yesterday's 5000.5 ask
    core.on_book(next_day + 300 * 10**6, 5399.5, 5400.0)  # a fresh snapshot is the quote again
    core.broker.submit_market(next_day + 400 * 10**6, -1, 1, "exit")
    core.on_trade(next_day + 600 * 10**6, 5400.0, 1)
    assert core.broker.fills[-1].price == 5399.5  # the sell hit today's bid

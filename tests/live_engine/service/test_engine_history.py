"""The engine loop holds no per-bar history: the decision core's lists (the backtest's report) are emptied
after each bar, since the recorder and the journal keep that record on disk. Without this a run of weeks grows
by every bar's record, feature vector and equity point (``test_engine_soak`` measures the process's RSS)."""

from __future__ import annotations

import pytest
from engine_env import make_env

from live_engine.feeds.replay import ReplayFeed
from live_engine.journal.journal import Journal
from live_engine.journal.paper_venue import PaperVenueStore
from live_engine.service.startup import build_engine

pytestmark = pytest.mark.slow


def test_the_engine_keeps_no_per_bar_history_in_memory(tmp_path):
    env = make_env(tmp_path, sessions=3, trades_per_session=2000)
    s = env.settings
    journal = Journal.open(s.stores.journal_db_url, mode="paper")
    venue = PaperVenueStore.for_settings(s)
    published: list[str] = []
    try:
        engine, _ = build_engine(s, ReplayFeed(s, sessions=1, speed=0), epoch="history-test", journal=journal,
                                 venue=venue, quarantined=None, alert=lambda *a: None,
                                 publish=lambda topic, data: published.append(topic))
        assert engine.run() == 0
    finally:
        journal.close()
        venue.close()
    core = engine.core
    assert engine.bars >= 500 and published.count("decisions") == engine.bars  # one session decided
    assert core.decisions == [] and core.features == [] and core.equity == [] and core.trade_attribution == []
    assert core.broker.fills or core.broker.orders  # it traded: the broker's book of orders is kept

"""Live = replay (issue 12 bullet 10): the engine's own recording of a session, replayed through the
backtest with the same bundle and warm-up, gives the decisions and orders the engine made live."""

from __future__ import annotations

import pytest
from engine_env import make_env
from tiny_model import contract, register, train_booster

from market.lake import Lake

pytestmark = pytest.mark.slow


def test_a_recorded_sim_session_replays_to_the_engines_decisions_and_orders(tmp_path):
    env = make_env(tmp_path, QT_LIVE__FEEDS__SIM_SESSIONS="1", QT_LIVE__SERVICE__SHADOW_CHALLENGER="true")
    register(env.settings, train_booster(seed=5), contract(), alias="challenger")  # scored in shadow, never traded
    from live_engine.service.recording import read_recorded
    p = env.start("--feed", "sim", "--speed", "0")
    assert p.wait(300) == 0, env.log()[-3000:]  # the sim feed plays out: a safe stop
    from live_engine.service.live_replay import compare_day
    from live_engine.service.recording import read_decisions, recorded_days

    days = recorded_days(env.settings.lake_root, "WDO")
    assert len(days) == 1 and days[0] > max(Lake(env.settings.lake_root).days("trades", "WDO"))  # a new day
    decisions = read_decisions(env.settings.lake_root, "WDO", days[0])
    assert decisions is not None and decisions["traded"].sum() > 100
    assert decisions["shadow_p_up"].notna().sum() > 100  # the challenger's view of every bar, logged
    journal = env.journal()
    assert journal.orders(), "the tiny model placed no order: the comparison would prove little"
    cmp = compare_day(env.settings, days[0], journal=journal)
    assert cmp.equal, "\n".join(cmp.lines())
    assert cmp.bars_live == cmp.bars_replay and cmp.orders_live == cmp.orders_replay > 0
    out = env.qtml("engine", "replay-check", "--day", days[0].isoformat())
    assert out.returncode == 0 and "live = replay" in out.stdout, out.stdout + out.stderr
    # the recording is the user's only book history: a recorded day ingests into the lake, book included
    day_dir = env.settings.lake_root / "recorded" / "WDO" / days[0].isoformat()
    ing = env.qtml("ingest", str(day_dir), "--symbol", "WDO", "--json")
    assert ing.returncode == 0, ing.stdout + ing.stderr
    lake = Lake(env.settings.lake_root)
    assert days[0] in lake.days("trades", "WDO") and days[0] in lake.days("book", "WDO")
    recorded_trades, _book = read_recorded(env.settings.lake_root, "WDO", days[0])
    assert recorded_trades is not None and len(lake.read_day("trades", "WDO", days[0])) == len(recorded_trades)

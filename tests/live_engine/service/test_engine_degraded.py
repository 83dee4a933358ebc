"""RELIABILITY.md 11 on a real engine process: a champion whose agent returns NaN on every bar makes
every decision "no trade" with the ``degraded`` reason, the engine reports DEGRADED, and it sends nothing."""

from __future__ import annotations

import os
import shutil
import signal

import pytest
import yaml
from engine_env import make_env
from tiny_model import contract, register, train_booster

from live_engine.decision.agents import AGENTS_DIR
from quantumtrader.config import load_settings

pytestmark = pytest.mark.slow


def test_an_agent_returning_nan_in_the_running_engine_means_degraded_and_no_order(tmp_path):
    env = make_env(tmp_path, sessions=3)
    agents = tmp_path / "agents"
    shutil.copytree(AGENTS_DIR, agents)
    doc = yaml.safe_load((agents / "order_flow.yaml").read_text())
    doc["params"].update(full_scale=float("nan"), dead_zone=0.0)  # raw / NaN on every bar: a NaN signal
    (agents / "order_flow.yaml").write_text(yaml.safe_dump(doc))
    broken = load_settings(stores={"var_dir": str(env.var), "feast_repo": str(env.settings.stores.feast_repo)},
                           live={"backtest": {"agents_dir": str(agents)}})
    register(broken, train_booster(), contract(), alias="champion")  # version 2 becomes the champion
    try:
        p = env.start("--feed", "replay", "--speed", "600")
        st = env.wait_status(lambda s: s["state"] != "WARMING" and s["bars"] > 20, what="20 live bars")
        assert st["model_version"] == "2" and st["state"] == "DEGRADED", st
        assert st["position"] == 0 and st["day_trades"] == 0
        os.killpg(p.pid, signal.SIGTERM)
        assert p.wait(60) == 0  # degraded is not a crash: the safe stop still exits 0
        assert env.journal().orders() == []
        from live_engine.service.recording import read_decisions

        days = sorted(d.name for d in (env.settings.lake_root / "recorded" / "WDO").iterdir())
        rows = read_decisions(env.settings.lake_root, "WDO", __import__("datetime").date.fromisoformat(days[-1]))
        assert rows is not None and (rows["reason"] == "degraded").sum() >= 20
        assert set(rows["reason"]) <= {"degraded", "incomplete"}
    finally:
        env.sigkill_all()

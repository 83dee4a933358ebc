"""Drift -> retrain -> gate, as real flow runs on a small world (tests/monitoring/drift_env.py).

One champion (trained by the ``train`` flow on six simulated sessions) serves every test of the module.
The current side is always engine-recorded vectors: simulated sessions played through the streaming
features into the engine's recorder; a shifted session has four times the trades per session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from drift_env import TRADES, World, build_world, next_days, record_sessions

from quantumtrader.config import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("drift") / "var")


def _with(settings: Settings, **drift: object) -> Settings:
    return settings.model_copy(update={"drift": settings.drift.model_copy(update=drift)})


def _promotions(settings: Settings) -> list[dict]:
    from quantumtrader.db import create_engine
    from training.promotion import ledger

    assert settings.stores.promotions_db_url is not None
    return ledger.rows(create_engine(settings.stores.promotions_db_url), settings.training.registered_model_name)


def test_an_unshifted_session_is_no_drift_and_starts_no_retrain(world: World) -> None:
    from flows.drift import drift_flow

    day = next_days(world.settings, 1)[0]
    assert record_sessions(world.settings, [day], trades_per_session=TRADES, seed=101) > 500
    before = len(_promotions(world.settings))
    v = drift_flow(day=day.isoformat(), settings=world.settings)
    assert v["status"] == "no_drift" and v["drift_detected"] is False and v["retrain_triggered"] is False
    assert v["share_drifted"] < world.settings.drift.drift_share
    assert v["n_current"] > 500 and v["n_reference"] > 1000 and len(v["features"]) == 59
    from live_engine.service.recording import recorded_days

    assert recorded_days(world.settings.lake_root, "WDO", "decisions") == [day]  # only the live session logged
    assert v["skipped_features"]["day_of_week"] == "excluded by config"
    assert len(_promotions(world.settings)) == before  # no retrain ran: no gate decision
    # the verdict as stored: the layout and keys the daily report reads
    path = Path(v["path"])
    assert path.parent.parent.name == day.isoformat() and len(path.parent.name) == 6
    stored = json.loads(path.read_text())
    assert {"checked_at", "day", "drift_detected", "share_drifted", "threshold", "n_reference", "n_current",
            "features", "report_html", "mlflow_run_id", "retrain_triggered"} <= set(stored)
    assert Path(stored["report_html"]).stat().st_size > 100_000
    f = next(iter(stored["features"].values()))
    assert {"drifted", "score", "method"} <= set(f)
    import mlflow

    run = mlflow.MlflowClient(world.settings.mlflow_tracking_uri).get_run(stored["mlflow_run_id"])
    assert run.data.metrics["share_drifted"] == pytest.approx(stored["share_drifted"])


def test_a_day_with_too_few_logged_decisions_is_not_enough_data_not_drift(world: World) -> None:
    from flows.drift import drift_flow

    v = drift_flow(day="2026-03-02", settings=world.settings)  # nothing recorded that day
    assert v["status"] == "not_enough_data" and v["drift_detected"] is False and v["retrain_triggered"] is False
    assert "not enough logged decisions (n=0 < min 100)" in v["message"]
    assert Path(v["path"]).is_file()


def test_the_hourly_run_outside_the_session_is_skipped_saying_why(world: World) -> None:
    from flows.drift import drift_flow

    sat = drift_flow(at="2026-01-10T15:00:00+00:00", settings=world.settings)  # a Saturday
    assert sat["skipped"] is True and "not a WDO trading day" in sat["why"]
    night = drift_flow(at="2026-01-13T23:30:00+00:00", settings=world.settings)  # 20:30 in Sao Paulo
    assert night["skipped"] is True and "outside the WDO session" in night["why"]
    assert not (world.settings.reports_dir / "drift" / "2026-01-10").exists()
    # inside the session the hourly run checks that session's day (12:00 in Sao Paulo on the recorded day)
    inside = drift_flow(at="2026-01-13T15:00:00+00:00", settings=world.settings)
    assert inside["day"] == "2026-01-13" and inside["status"] == "no_drift" and inside["n_current"] > 500


def test_the_deployment_trigger_without_that_deployment_says_so_and_starts_nothing(world: World) -> None:
    from flows.drift import trigger_retrain

    out = trigger_retrain(_with(world.settings, trigger="deployment", retrain_deployment="retrain/nowhere"), "WDO")
    assert out["started"] is False and "could not run deployment 'retrain/nowhere'" in out["error"]


def test_a_second_retrain_while_one_holds_the_lock_is_skipped(world: World) -> None:
    from flows.retrain import retrain_flow
    from monitoring.retrain import retrain_lock

    with retrain_lock(world.settings) as held:
        assert held
        out = retrain_flow(reason="schedule", settings=world.settings)
    assert out["reason"] == "schedule" and "skipped" in out


def test_a_shifted_session_is_drift_and_starts_a_retrain_that_reaches_the_gate(world: World) -> None:
    from flows.drift import drift_flow

    s = world.settings
    from live_engine.service.recording import recorded_days

    day = next_days(s, 1, after=max(recorded_days(s.lake_root, "WDO", "decisions")))[0]
    assert record_sessions(s, [day], trades_per_session=4 * TRADES, seed=202) > 500
    before = len(_promotions(s))
    v = drift_flow(day=day.isoformat(), settings=s)
    assert v["status"] == "drift" and v["drift_detected"] is True
    assert v["share_drifted"] >= s.drift.drift_share
    assert v["features"]["trade_intensity"]["drifted"] is True  # four times the trades: the obvious one
    assert v["retrain_triggered"] is True and v["retrain"]["mode"] == "subflow"
    result = v["retrain"]["result"]
    assert result["reason"] == "drift"
    assert day.isoformat() in result["ingested_days"] and result["ingested_trades"] > 0
    assert result["trained"]["version"] != world.champion_version
    rows = _promotions(s)
    assert len(rows) > before  # the gate's decision on the retrained challenger is recorded
    gate = [r for r in rows[before:] if r["version"] == result["trained"]["version"]]
    assert len(gate) == 1 and gate[0]["decision"] == result["promotion"]["decision"]
    assert json.loads(Path(v["path"]).read_text())["retrain_triggered"] is True


def test_a_day_that_is_no_date_is_one_clear_input_error(world: World) -> None:
    from flows.drift import drift_flow
    from quantumtrader.errors import InputError

    with pytest.raises(InputError, match=r"drift day '2026-13-01' is not a date: give it as YYYY-MM-DD"):
        drift_flow.fn(day="2026-13-01", settings=world.settings)


def test_qtml_drift_check_prints_the_days_verdict(world: World) -> None:
    import os
    import subprocess
    import sys

    from drift_env import REPO

    from live_engine.service.recording import recorded_days

    day = recorded_days(world.settings.lake_root, "WDO", "decisions")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PREFECT_"))}
    env.update(QT_STORES__VAR_DIR=str(world.settings.var_dir), COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "quantumtrader.cli", "drift", "check", "--day", day.isoformat(),
                          "--trigger", "none", "--json"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    v = json.loads(out.stdout[out.stdout.index("{"):])
    assert v["day"] == day.isoformat() and v["status"] in ("drift", "no_drift") and v["n_current"] > 500
    assert Path(v["path"]).is_file() and v["retrain_triggered"] is False


def test_the_deployment_trigger_schedules_a_retrain_run_with_reason_drift(world: World) -> None:
    """A deployment named like prefect.yaml's on the test API (no worker runs it): the trigger creates its run."""
    import asyncio

    from prefect.client.orchestration import get_client

    from flows.retrain import retrain_flow

    retrain_flow.to_deployment(name="retrain-monthly").apply()
    out = _deployment_trigger(world)
    assert out["started"] is True and out["deployment"] == "retrain/retrain-monthly"

    async def read() -> object:
        async with get_client() as client:
            return await client.read_flow_run(out["flow_run_id"])

    run = asyncio.run(read())
    assert run.parameters == {"reason": "drift", "symbol": "WDO"}  # type: ignore[attr-defined]


def _deployment_trigger(world: World) -> dict:
    from flows.drift import trigger_retrain

    return trigger_retrain(_with(world.settings, trigger="deployment"), "WDO")

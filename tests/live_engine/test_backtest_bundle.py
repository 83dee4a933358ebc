"""A backtest of a model version runs that version's agents and limits, whatever the working tree says
now; the working-tree override is explicit and recorded on the run."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from tiny_model import contract, register, train_booster

from live_engine.backtest.runner import run_backtest
from live_engine.decision.agents import AGENTS_DIR
from market.lake import Lake
from market.simulator import simulate
from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from serving.predictor import ModelRefused


def _with_live(settings: Settings, **sections: dict) -> Settings:
    live = settings.live.model_dump()
    for key, values in sections.items():
        live[key].update(values)
    return settings.model_copy(update={"live": type(settings.live).model_validate(live)})


@pytest.fixture
def trained(settings: Settings, tmp_path):
    """A lake of 3 simulated sessions, a copy of the agent YAMLs as the working tree's, and a bundle
    registered with them."""
    lake = Lake(settings.lake_root)
    for s in simulate(3, date(2026, 1, 5), seed=3, trades_per_session=2500, planted_strength=0.6):
        lake.write_day("trades", "WDO", s.day, s.trades)
        lake.write_day("book", "WDO", s.day, s.book)
    agents = tmp_path / "agents"
    shutil.copytree(AGENTS_DIR, agents)
    settings = _with_live(settings, backtest={"agents_dir": agents})
    uri = register(settings, train_booster(), contract())
    return settings, uri, agents


def _entries_per_session(result) -> int:
    orders = pd.read_parquet(result.run_dir / "orders.parquet")
    entries = orders[orders["tag"] == "entry"] if len(orders) else orders
    return int(entries.groupby(pd.to_datetime(entries["ts_ns"], utc=True).dt.date).size().max()) if len(entries) else 0


@pytest.mark.slow
def test_backtest_of_a_version_uses_its_own_agents_and_limits_after_the_working_tree_changes(trained, monkeypatch):
    settings, uri, agents = trained
    before = run_backtest(settings, model_uri=uri, sessions=2, run_name="before")
    assert before.config_from == "bundle" and before.metrics["n_trades"] > 2
    assert _entries_per_session(before) > 1

    # the working tree moves on: a stricter order-flow threshold and one entry a day
    path = agents / "order_flow.yaml"
    path.write_text(path.read_text().replace("dead_zone: 0.05", "dead_zone: 0.25"))
    changed = _with_live(settings, risk={"max_daily_trades": 1})

    after = run_backtest(changed, model_uri=uri, sessions=2, run_name="after")
    assert after.order_hash == before.order_hash and after.config_from == "bundle"
    assert after.config_differs_from_bundle == ()

    override = run_backtest(changed, model_uri=uri, sessions=2, run_name="override", config_from="working-tree")
    assert override.config_from == "working-tree" and override.order_hash != before.order_hash
    assert _entries_per_session(override) == 1
    assert override.config_differs_from_bundle == ("agents.order_flow.params.dead_zone", "risk.max_daily_trades")

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    for res, source in ((after, "bundle"), (override, "working-tree")):
        run = client.get_run(res.mlflow_run_id)
        assert run.data.tags["config_from"] == source and run.data.params["config_from"] == source
        assert run.data.tags["bundle_uri"] == "models:/quantumtrader/1"
    assert client.get_run(override.mlflow_run_id).data.tags["config_differs_from_bundle"] == \
        "agents.order_flow.params.dead_zone,risk.max_daily_trades"
    mv = client.get_model_version("quantumtrader", "1")
    assert mv.tags["last_backtest_run_id"] == override.mlflow_run_id
    assert mv.tags["last_backtest_config_from"] == "working-tree"
    for res, limit in ((after, 10), (override, 1)):  # the run's info in full, logged with the run
        info = json.loads(Path(client.download_artifacts(res.mlflow_run_id, "run.json", str(res.run_dir.parent)))
                          .read_text())
        assert info["live_config"]["risk"]["max_daily_trades"] == limit
        assert info["agents"]["order_flow"]["params"]["dead_zone"] == (0.05 if limit == 10 else 0.25)

    # the same through `qtml backtest`: the bundle by default, the working tree on request
    from typer.testing import CliRunner

    from quantumtrader.cli import app
    from quantumtrader.config import get_settings

    monkeypatch.setenv("QT_ROOT", str(settings.root))
    monkeypatch.setenv("QT_LIVE__BACKTEST__AGENTS_DIR", str(agents))
    monkeypatch.setenv("QT_LIVE__RISK__MAX_DAILY_TRADES", "1")
    results = {}
    for flag in ("bundle", "working-tree"):
        get_settings.cache_clear()
        try:
            out = CliRunner().invoke(app, ["backtest", "--sessions", "2", "--no-mlflow", "--json",
                                           "--config-from", flag, "--run-name", f"cli-{flag}"])
        finally:
            get_settings.cache_clear()
        assert out.exit_code == 0, out.output
        results[flag] = json.loads(out.stdout)
    assert results["bundle"]["order_hash"] == before.order_hash and results["bundle"]["config_from"] == "bundle"
    assert results["working-tree"]["order_hash"] == override.order_hash
    assert results["working-tree"]["config_differs_from_bundle"] == ["agents.order_flow.params.dead_zone",
                                                                     "risk.max_daily_trades"]
    get_settings.cache_clear()
    try:
        bad = CliRunner().invoke(app, ["backtest", "--config-from", "mine"])
    finally:
        get_settings.cache_clear()
    assert bad.exit_code != 0


def test_an_unknown_config_source_is_refused_before_anything_loads(settings):
    with pytest.raises(InputError, match=r"config source 'mine' \(--config-from, config_from\): give one of "
                                         r"\['bundle', 'working-tree'\]"):
        run_backtest(settings, model_uri="models:/nothing@challenger", config_from="mine")


@pytest.mark.slow
def test_a_backtest_whose_bars_differ_from_the_models_is_refused_naming_the_field(trained):
    settings, uri, _ = trained
    bars = settings.market.model_dump()
    bars["bars"]["spec"] = "time:300s"
    other = settings.model_copy(update={"market": type(settings.market).model_validate(bars)})
    with pytest.raises(ModelRefused, match=r"bar_spec: model was trained with 'time:60s', this engine runs "
                                           r"'time:300s': the model reads time:60s bars"):
        run_backtest(other, model_uri=uri, sessions=2, log_mlflow=False)

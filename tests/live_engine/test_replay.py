"""End to end: registered challenger + lake sessions -> replay -> outputs, report, MLflow run."""

from __future__ import annotations

import json
from datetime import date

import mlflow
import pandas as pd
import pytest
from tiny_model import contract, register, train_booster

from live_engine.backtest.replay import load_lake_sessions
from live_engine.backtest.runner import run_backtest
from live_engine.cli import parse_sessions
from market.lake import Lake
from market.simulator import simulate


@pytest.fixture
def lake_settings(settings):
    lake = Lake(settings.lake_root)
    for s in simulate(3, date(2026, 1, 5), seed=3, trades_per_session=2500, planted_strength=0.6):
        lake.write_day("trades", "WDO", s.day, s.trades)
        lake.write_day("book", "WDO", s.day, s.book)
    return settings


@pytest.mark.slow
def test_backtest_of_the_challenger_writes_outputs_and_links_the_model_version(lake_settings, monkeypatch):
    settings = lake_settings
    uri = register(settings, train_booster(), contract())
    res = run_backtest(settings, model_uri=uri, sessions=2, run_name="t1")
    d = res.run_dir
    for name in ("orders", "fills", "trades", "equity", "features"):
        assert (d / f"{name}.parquet").exists(), name
    decisions = [json.loads(line) for line in (d / "decisions.jsonl").read_text().splitlines()]
    assert len(decisions) == res.stats.bars == len(pd.read_parquet(d / "equity.parquet"))
    assert {"votes", "weights", "reason", "feature_row", "p_up"} <= set(decisions[-1])
    html = res.report_path.read_text()
    assert html.count("data:image/png;base64,") == 4
    metrics = json.loads((d / "metrics.json").read_text())
    for key in ("pnl", "win_rate", "profit_factor", "sharpe_per_day", "sharpe_annualised", "sortino_per_day",
                "daily_pnl_mean_lo", "deflated_sharpe", "max_drawdown", "exposure", "trades_per_day",
                "avg_holding_minutes", "signals_denied", "exit_share_time_exit"):
        assert key in metrics
    assert "sharpe_daily" not in metrics  # the old name held an annualised number: gone, not redefined
    assert (d / "run.json").exists()
    assert res.metrics["sessions"] == 2 and res.stats.trades == 5000
    assert res.sample == "unknown"  # this model's run carries no training window
    # the lake has one session before the two evaluated ones, of the two the warm-up wants: used, and said
    assert (res.warmup.wanted, res.warmup.days) == (2, (date(2026, 1, 5),)) and res.stats.warmup_sessions == 1
    decided = {o.client_id: o.ts_ns for o in res.core.broker.orders}
    closes = {d["ts_ns"]: d["close"] for d in decisions}
    for f in res.core.broker.fills:  # lake data: no fill at its decision's time (nor at that bar's close there)
        assert f.ts_ns > decided[f.client_id] and not (f.ts_ns in closes and f.price == closes[f.ts_ns])
    assert metrics["fill_vs_close_ticks"] == metrics["fill_vs_close_ticks"]  # measured, not NaN

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(res.mlflow_run_id)
    assert run.data.tags["model_version"] == "1" and run.data.tags["order_hash"] == res.order_hash
    assert run.data.params["warmup_sessions_used"] == "1" and run.data.params["warmup_sessions_wanted"] == "2"
    mv = client.get_model_version("quantumtrader", "1")
    assert mv.tags["last_backtest_run_id"] == res.mlflow_run_id

    # the same through `qtml backtest` (dates given explicitly, no MLflow run)
    from typer.testing import CliRunner

    from quantumtrader.cli import app
    from quantumtrader.config import get_settings

    monkeypatch.setenv("QT_ROOT", str(settings.root))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["backtest", "--sessions", "2026-01-06,2026-01-07", "--run-name", "cli",
                                       "--no-mlflow"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert "report" in out.output and (settings.reports_dir / "backtests" / "cli" / "report.html").exists()
    cli_metrics = json.loads((settings.reports_dir / "backtests" / "cli" / "metrics.json").read_text())
    assert cli_metrics["pnl"] == pytest.approx(res.metrics["pnl"])  # same sessions, same model, same result


def test_sessions_option_takes_a_count_or_dates():
    assert parse_sessions("5") == 5
    assert parse_sessions("2026-01-05, 2026-01-06") == [date(2026, 1, 5), date(2026, 1, 6)]
    assert parse_sessions(None) is None


def test_unknown_session_dates_name_the_missing_days(lake_settings):
    from quantumtrader.errors import InputError

    with pytest.raises(InputError, match="2027-01-04"):
        load_lake_sessions(lake_settings, [date(2027, 1, 4)])
    assert [s.day for s in load_lake_sessions(lake_settings, 2)] == [date(2026, 1, 6), date(2026, 1, 7)]


def test_sessions_are_classified_against_the_models_training_window():
    from datetime import date

    from live_engine.backtest.runner import sample_kind

    window = ("2026-01-05", "2026-01-26")
    assert sample_kind([date(2026, 1, 27), date(2026, 1, 28)], window) == "out-of-sample"
    assert sample_kind([date(2026, 1, 26), date(2026, 1, 27)], window) == "in-sample"
    assert sample_kind([date(2026, 1, 2)], window) == "out-of-sample"
    assert sample_kind([date(2026, 1, 27)], None) == "unknown"

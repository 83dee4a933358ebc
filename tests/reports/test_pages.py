"""The page and the workbook of a day with nothing to show (no trade, no decision logged) and of a day
logged by an engine from before votes, weights, denials and latency were recorded: nothing undefined
is shown as 0, nothing crashes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from reports import numbers as nb
from reports.daily import DayReport
from reports.excel import write_workbook
from reports.html import daily_html

EMPTY_FEATURES = pd.DataFrame(columns=["feature", "mean_abs", "up_minus_down", "rows"])
LIMITS = {"max_daily_trades": 10, "daily_loss_limit": 1500.0}


def _doc(trades: pd.DataFrame, dec: pd.DataFrame | None, equity: pd.DataFrame) -> dict:
    orders = pd.DataFrame(columns=["tag", "status"])
    return {"kind": "daily", "day": "2026-01-08", "symbol": "WDO", "journal": "sqlite:///x", "model_versions": [],
            "summary": {**nb.trade_summary(trades, level=0.9, small=30), "max_drawdown_marked": 0.0},
            "risk": {**nb.risk_usage(orders, dec, trades, equity, LIMITS), "limits_from": "configuration"},
            "latency_ms": nb.latency(dec),
            "data_quality": {"bars": 0, "degraded_bars": 0, "reasons": {}, "quarantined_rows": None,
                             "ingest_validation": None, "ingested": False, "engine_counters": None},
            "drift": {"checked": False, "path": None},
            "live_vs_replay": {"checked": False, "why": "no decision log for the day"}, "agents": [],
            "features_top": []}


def test_a_day_without_trades_or_decisions_shows_dashes_not_zeros(tmp_path: Path) -> None:
    no_fills = pd.DataFrame(columns=["ts_ns", "side", "qty", "price", "fee", "tag"])
    trades, equity = nb.round_trips(no_fills, 10.0), nb.equity_curve(no_fills, None, 10.0)
    doc = _doc(trades, None, equity)
    rep = DayReport(date(2026, 1, 8), doc, trades, equity, EMPTY_FEATURES, [], pd.DataFrame(columns=["ts_ns"]))
    page = daily_html(rep, "America/Sao_Paulo", 15)
    assert "no trade closed" in page and "drift</th><td class=\"l w\">not checked" in page
    assert "not checked: no decision log for the day" in page and "No decided bar logged" in page
    assert doc["summary"]["win_rate"]["rate"] is None and doc["latency_ms"]["p50"] is None
    path = write_workbook(tmp_path / "r.xlsx", doc, trades=trades, agents=[], features=EMPTY_FEATURES)
    wb = load_workbook(path)
    summary = {k: v for k, v in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["summary.trades"] == 0 and summary["summary.win_rate.rate"] is None
    assert wb["Trades"].max_row == 1


def test_an_older_decision_log_without_denials_or_latency_says_so() -> None:
    dec = pd.DataFrame({"ts_ns": [1, 2], "action": ["denied", "none"], "reason": ["trade", "weak_band"],
                        "state": ["ACTIVE", "ACTIVE"]})
    u = nb.risk_usage(pd.DataFrame({"tag": ["entry"]}), dec, pd.DataFrame({"pnl": []}),
                      pd.DataFrame({"marked": []}), LIMITS)
    assert u["denials"] == {} and not u["denials_recorded"] and u["entries"] == 1
    assert nb.latency(dec) == {"n": 0, "p50": None, "p99": None, "max": None}
    assert nb.agent_names(dec) == []

"""The daily and weekly reports of sessions the real engine traded (a sim feed, two sessions of one ISO week),
checked against the journal's own rows, read here with plain SQL; the Excel file, the MLflow run, the
drift status, bad input, ``qtml report`` / ``qtml analyze`` and the page in headless Chromium."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live_engine" / "service"))  # the engine fixtures
from engine_env import EngineEnv, make_env
from page_checks import ARTIFACTS, CHROMIUM, VIEWPORT, overflow_js

pytestmark = pytest.mark.slow

PV = 10.0  # WDO R$ per point per contract


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> tuple[EngineEnv, list[date]]:
    """Three lake sessions (Mon-Wed) for warm-up, then the engine trades two sim sessions (Thu, Fri) and stops."""
    env = make_env(tmp_path_factory.mktemp("engine"), sessions=3, QT_LIVE__FEEDS__SIM_SESSIONS="2")
    p = env.start("--feed", "sim", "--speed", "0")
    assert p.wait(300) == 0, env.log()[-3000:]
    from live_engine.service.recording import recorded_days

    days = recorded_days(env.settings.lake_root, "WDO", "decisions")
    assert days == [date(2026, 1, 8), date(2026, 1, 9)]
    return env, days


def journal_trades(env: EngineEnv, day: date) -> list[float]:
    """Net PnL per flat-to-flat trade of ``day``, by cash flow over the journal's fill rows."""
    path = env.settings.stores.journal_db_url.removeprefix("sqlite:///")  # type: ignore[union-attr]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT ts_ns, side, qty, price, fee FROM fills ORDER BY ts_ns, fill_id").fetchall()
    sp = ZoneInfo("America/Sao_Paulo")
    pnls, pos, cash = [], 0, 0.0
    for ts, side, qty, price, fee in rows:
        if pd.Timestamp(ts, tz="UTC").tz_convert(sp).date() != day:
            continue
        pos += side * qty
        cash += -side * qty * price * PV - fee
        if pos == 0:
            pnls.append(cash)
            cash = 0.0
    assert pos == 0
    return pnls


def drawdown(pnls: list[float]) -> float:
    peak = cum = worst = 0.0
    for p in pnls:
        cum += p
        peak = max(peak, cum)
        worst = max(worst, peak - cum)
    return worst


def summary_sheet(path: Path) -> dict[str, Any]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    out = {str(k): v for k, v in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    out["_sheets"] = wb.sheetnames
    out["_trades_pnl"] = [r[8] for r in wb["Trades"].iter_rows(min_row=2, values_only=True)] \
        if "Trades" in wb.sheetnames else None
    out["_days"] = [r for r in wb["Days"].iter_rows(min_row=2, values_only=True)] if "Days" in wb.sheetnames else None
    out["_agents"] = [r[0] for r in wb["Agents"].iter_rows(min_row=2, values_only=True)]
    out["_features"] = [r[0] for r in wb["Features"].iter_rows(min_row=2, values_only=True)]
    wb.close()
    return out


def test_the_daily_report_of_a_traded_session_holds_the_journals_numbers(traded: tuple[EngineEnv, list[date]]
                                                                         ) -> None:
    from mlflow import MlflowClient

    from reports.daily import build_daily

    env, days = traded
    day = days[0]
    pnls = journal_trades(env, day)
    assert len(pnls) >= 3, "the tiny model traded too little for the check to mean much"
    rep = build_daily(env.settings, day)
    s = rep.doc["summary"]
    assert s["trades"] == len(pnls)
    assert s["pnl"] == pytest.approx(sum(pnls), abs=1e-6)
    assert s["win_rate"]["wins"] == sum(p > 0 for p in pnls) and s["win_rate"]["n"] == len(pnls)
    assert s["max_drawdown"] == pytest.approx(drawdown(pnls), abs=1e-6)
    assert s["win_rate"]["small_sample"] and s["win_rate"]["lo"] < s["win_rate"]["rate"] < s["win_rate"]["hi"]
    assert rep.doc["live_vs_replay"]["checked"] and rep.doc["live_vs_replay"]["equal"], rep.doc["live_vs_replay"]
    assert rep.doc["drift"] == {"checked": False, "path": None}
    assert rep.doc["latency_ms"]["n"] == rep.doc["data_quality"]["bars"] > 100
    assert 0 < rep.doc["latency_ms"]["p50"] <= rep.doc["latency_ms"]["p99"]
    assert {a["agent"] for a in rep.agents} == {"order_flow", "liquidity", "tape_reading", "footprint"}
    # the last day's last logged weights are the ones the journal holds (the engine stopped after it)
    last = build_daily(env.settings, days[1], replay_check=False, log_mlflow=False)
    assert last.doc["weights_journal"]["weights"] == pytest.approx(
        {a["agent"]: a["weight_last"] for a in last.agents}, abs=1e-12)
    assert len(rep.features) == 65 and rep.features["mean_abs"].iloc[0] > 0
    # files: the JSON and the workbook hold the same numbers
    out = env.settings.reports_dir / "daily" / day.isoformat()
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.html", "report.xlsx"}
    doc = json.loads((out / "report.json").read_text())
    assert doc["summary"]["pnl"] == pytest.approx(sum(pnls), abs=1e-6)
    x = summary_sheet(out / "report.xlsx")
    assert x["_sheets"] == ["Summary", "Trades", "Agents", "Features"]
    assert x["summary.trades"] == len(pnls) and x["summary.pnl"] == pytest.approx(sum(pnls), abs=1e-6)
    assert x["summary.win_rate.wins"] == sum(p > 0 for p in pnls)
    assert x["summary.max_drawdown"] == pytest.approx(drawdown(pnls), abs=1e-6)
    assert x["_trades_pnl"] == pytest.approx(pnls, abs=1e-6)
    assert len(x["_agents"]) == 4 and len(x["_features"]) == env.settings.reports.top_features
    # the MLflow run carries the numbers and the files
    client = MlflowClient(env.settings.mlflow_tracking_uri)
    run = client.get_run(doc["mlflow_run_id"])
    assert run.data.metrics["summary.pnl"] == pytest.approx(sum(pnls), abs=1e-6)
    assert run.data.tags["report.kind"] == "daily"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"report.json", "report.html", "report.xlsx"}


def test_the_weekly_report_sums_the_weeks_sessions(traded: tuple[EngineEnv, list[date]]) -> None:
    env, days = traded
    out = env.qtml("report", "weekly", "--date", days[1].isoformat())
    assert out.returncode == 0, out.stdout + out.stderr
    folder = env.settings.reports_dir / "weekly" / "2026-W02"
    doc = json.loads((folder / "report.json").read_text())
    per_day = [journal_trades(env, d) for d in days]
    allp = [p for d in per_day for p in d]
    assert doc["sessions"] == 2 and doc["skipped"] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert [d["trades"] for d in doc["days"]] == [len(p) for p in per_day]
    assert doc["summary"]["trades"] == len(allp) and doc["summary"]["pnl"] == pytest.approx(sum(allp), abs=1e-6)
    assert doc["summary"]["max_drawdown"] == pytest.approx(drawdown(allp), abs=1e-6)
    assert f"trades {len(allp)}" in out.stdout
    x = summary_sheet(folder / "report.xlsx")
    assert x["_sheets"] == ["Summary", "Days", "Agents", "Features"]
    assert [r[2] for r in x["_days"]] == pytest.approx([sum(p) for p in per_day], abs=1e-6)


def test_the_newest_drift_verdict_of_the_day_is_shown(traded: tuple[EngineEnv, list[date]]) -> None:
    from reports.daily import day_report
    from reports.html import daily_html
    from reports.journal_day import open_journal

    env, days = traded
    base = env.settings.reports_dir / "drift" / days[1].isoformat()
    for hhmmss, detected in (("090000", False), ("174500", True)):
        (base / hhmmss).mkdir(parents=True)
        (base / hhmmss / "verdict.json").write_text(json.dumps({
            "checked_at": f"2026-01-09T{hhmmss[:2]}:{hhmmss[2:4]}:00+00:00", "day": days[1].isoformat(),
            "drift_detected": detected, "share_drifted": 0.6 if detected else 0.1, "threshold": 0.5,
            "n_reference": 5000, "n_current": 570, "features": {"ofi_5": {"drifted": detected}},
            "report_html": "x.html", "mlflow_run_id": "abc", "retrain_triggered": detected}))
    journal = open_journal(env.settings)
    try:
        rep = day_report(env.settings, days[1], journal, replay_check=False)
    finally:
        journal.close()
    d = rep.doc["drift"]
    assert d["checked"] and d["drift_detected"] is True and d["share_drifted"] == 0.6
    assert d["features_drifted"] == ["ofi_5"] and d["verdicts_that_day"] == 2
    assert "share drifted / threshold" in daily_html(rep, "America/Sao_Paulo", 15)


def test_a_date_without_an_engine_session_or_without_a_journal_is_one_clear_line(
        traded: tuple[EngineEnv, list[date]], tmp_path: Path) -> None:
    env, _days = traded
    out = env.qtml("report", "daily", "--date", "2026-01-05")  # a lake session the engine only warmed up on
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no engine session on 2026-01-05" in lines[0] and "give a date" in lines[0], lines
    empty = env.qtml("report", "daily", "--date", "2026-01-08", QT_STORES__VAR_DIR=str(tmp_path / "var"))
    assert empty.returncode == 2 and "error: no journal at" in empty.stderr and "qtml engine start" in empty.stderr
    assert not (tmp_path / "var" / "journal" / "paper.db").exists()  # the report never creates a journal


def test_analyze_agents_and_features_over_a_range(traded: tuple[EngineEnv, list[date]]) -> None:
    from reports.analyze import analyze_features

    env, days = traded
    res = analyze_features(env.settings, days[0], days[1])
    assert res["days"] == 2 and res["bars"] > 200 and len(res["features"]) == 65
    out = env.qtml("analyze", "agents", "--from", "2026-01-08", "--to", "2026-01-09", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["days"] == 2 and doc["bars"] == res["bars"]
    assert {a["agent"] for a in doc["agents"]} == {"order_flow", "liquidity", "tape_reading", "footprint"}
    bad = env.qtml("analyze", "agents", "--from", "2026-02-01", "--to", "2026-02-05")
    assert bad.returncode == 2 and "no recorded session between 2026-02-01 and 2026-02-05" in bad.stderr


OVERFLOW_JS = overflow_js(open_details=False)


def test_the_report_pages_fit_a_1280_px_screen_in_headless_chromium(traded: tuple[EngineEnv, list[date]]) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
    from playwright.sync_api import sync_playwright

    env, days = traded
    daily = env.settings.reports_dir / "daily" / days[0].isoformat() / "report.html"
    weekly = env.settings.reports_dir / "weekly" / "2026-W02" / "report.html"
    if not daily.exists():
        from reports.daily import build_daily

        build_daily(env.settings, days[0], replay_check=False, log_mlflow=False)
    if not weekly.exists():
        from reports.weekly import build_weekly

        build_weekly(env.settings, days[1], log_mlflow=False)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            for page_file, shot, texts in ((daily, "report-daily.png", ("PnL after costs", "Risk-limit usage",
                                                                        "Live vs replay", "Features that drove")),
                                           (weekly, "report-weekly.png", ("Sessions", "Agents over the week"))):
                page = browser.new_page(viewport={"width": VIEWPORT, "height": 900})
                page.goto(page_file.as_uri())
                layout = page.evaluate(OVERFLOW_JS)
                page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
                assert layout["scrollWidth"] <= VIEWPORT and not layout["wide"], layout
                for text in texts:
                    assert page.get_by_text(text, exact=False).first.is_visible(), text
                images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.clientWidth])")
                assert images and all(nat > 0 and 0 < shown <= VIEWPORT for nat, shown in images)
                page.evaluate("document.body.insertAdjacentHTML('beforeend', '<div style=\"width:1500px\">x</div>')")
                assert page.evaluate(OVERFLOW_JS)["wide"]  # the check can fail
                page.close()
        finally:
            browser.close()

"""A real small backtest: its metrics add up, MLflow holds only finite metrics, the deflated Sharpe reads
the tuning run's configurations, and the HTML report is rendered from the run folder's files alone."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import mlflow
import pandas as pd
import pytest
from backtest_run import TUNING_COMBOS, small_backtest
from page_checks import ARTIFACTS, CHROMIUM, VIEWPORT, overflow_js
from tiny_model import contract, register, train_booster

from live_engine.backtest.metrics import daily_pnl
from live_engine.backtest.presentation import fmt
from live_engine.backtest.report import NOT_EVALUATED, render_report
from live_engine.backtest.runner import BacktestResult, tuning_trials
from quantumtrader.config import Settings
from quantumtrader.errors import InputError

VERDICT = {"decision": "refused", "challenger": "quantumtrader v2", "champion": "quantumtrader v1",
           "checks": [{"name": "min_trades", "passed": True, "value": 31, "threshold": 30, "detail": "31 trades"},
                      {"name": "prob_beats_champion", "passed": False, "value": 0.6123, "threshold": 0.9,
                       "detail": "P(challenger's mean daily PnL > champion's) 61.2 % < 90 %"},
                      {"name": "data_validation", "passed": True, "value": "passed", "threshold": None,
                       "detail": "GE suite passed"}]}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, BacktestResult]:
    return small_backtest(tmp_path_factory.mktemp("bt"), sessions=3, run_name="small", log_mlflow=True)


@pytest.mark.slow
def test_metrics_of_a_real_replay_add_up(run: tuple[Settings, BacktestResult]) -> None:
    _settings, res = run
    m, core = res.metrics, res.core
    eq = pd.read_parquet(res.run_dir / "equity.parquet")
    daily = daily_pnl([str(s) for s in eq["session"]], eq["pnl"].to_numpy())
    assert m["sessions"] == len(daily) == 3 and daily.sum() == pytest.approx(m["pnl"])
    assert m["daily_pnl_mean"] == pytest.approx(daily.mean())
    assert m["sharpe_annualised"] == pytest.approx(m["sharpe_per_day"] * math.sqrt(252))
    trades = pd.read_parquet(res.run_dir / "trades.parquet")
    assert m["n_trades"] == len(trades) > 0
    assert m["pnl_per_trade"] == pytest.approx(trades["pnl"].mean())
    assert trades["pnl"].sum() == pytest.approx(m["pnl"])  # flat at every close: equity = closed trades
    entries = sum(o.tag == "entry" for o in core.broker.orders)
    assert m["signals_taken"] == entries and m["signals"] == m["signals_taken"] + m["signals_denied"]
    per_reason = {k.removeprefix("signals_denied_"): v for k, v in m.items()
                  if k.startswith("signals_denied_") and k != "signals_denied_share"}
    assert sum(per_reason.values()) == m["signals_denied"]
    for code, n in per_reason.items():
        assert n <= core.risk.denials.get(code, 0)  # every denied signal is a denial the risk engine counted
    assert m["signals_denied_share"] == pytest.approx(m["signals_denied"] / m["signals"])
    assert sum(v for k, v in m.items() if k.startswith("exits_")) == len(trades)
    assert m["exits_time_exit"] == (trades["exit_tag"] == "time_exit").sum()
    assert m["deflated_sharpe_trials"] == TUNING_COMBOS and "configurations_tried" in res.trials_source


@pytest.mark.slow
def test_mlflow_holds_only_the_finite_metrics_and_the_file_keeps_undefined_as_null(
        run: tuple[Settings, BacktestResult]) -> None:
    settings, res = run
    on_file = json.loads((res.run_dir / "metrics.json").read_text())
    finite = {k for k, v in on_file.items() if isinstance(v, int | float) and math.isfinite(v)}
    undefined = {k for k, v in on_file.items() if v is None}
    logged = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(res.mlflow_run_id).data.metrics
    assert set(logged) == finite and not (undefined & set(logged))
    for k in ("pnl", "n_trades", "daily_pnl_mean", "signals_denied", "exit_share_time_exit"):
        assert logged[k] == pytest.approx(on_file[k])
    assert all(on_file[k] is None or isinstance(on_file[k], float) for k in on_file)


def test_the_configurations_tried_come_from_the_bundle_lineage_or_are_said_to_be_unknown(settings: Settings) -> None:
    from serving.bundle import load_bundle

    uri = register(settings, train_booster(), contract())
    n, source = tuning_trials(load_bundle(uri, settings.mlflow_tracking_uri))
    assert n == 1 and source.startswith("unknown") and "does not record it" in source
    uri = register(settings, train_booster(), contract(), lineage={"tuning": {"configurations_tried": 7}})
    bundle = load_bundle(uri, settings.mlflow_tracking_uri)
    n, source = tuning_trials(bundle)
    assert n == 7 and bundle.uri in source
    assert tuning_trials(None)[0] == 1 and tuning_trials(None)[1].startswith("unknown")


@pytest.mark.slow
def test_the_report_is_rendered_from_the_run_folder_alone_and_reads_as_a_trader_expects(
        run: tuple[Settings, BacktestResult], tmp_path: Path) -> None:
    _settings, res = run
    copy = tmp_path / "copied-run"
    shutil.copytree(res.run_dir, copy)
    (copy / "report.html").unlink()
    page = render_report(copy).read_text()
    trades = pd.read_parquet(copy / "trades.parquet")
    m = res.metrics
    sides = re.findall(r"<td class='side'>([^<]*)</td>", page)
    assert len(sides) == len(trades) and set(sides) <= {"BUY", "SELL"}
    first = pd.Timestamp(int(trades["entry_ts_ns"].iat[0]), tz="UTC").tz_convert(ZoneInfo("America/Sao_Paulo"))
    assert first.strftime("%Y-%m-%d %H:%M:%S") in page and "America/Sao_Paulo" in page
    assert f"<td>Trades</td><td class='num'>{len(trades)}</td>" in page  # a count, not 12.0000
    assert fmt(m["pnl"], "money") in page and "Sharpe per day (3 days)" in page
    assert f"[{fmt(m['daily_pnl_mean_lo'], 'money')} … {fmt(m['daily_pnl_mean_hi'], 'money')}]" in page
    assert page.count("<details>") >= 2 and '{"coordinator"' not in page  # configs folded, not a JSON wall
    assert NOT_EVALUATED in page
    last_day = str(pd.read_parquet(copy / "equity.parquet")["session"].iat[-1])
    assert f"One session: {last_day}" in page and page.count("data:image/png;base64,") == 4

    (copy / "verdict.json").write_text(json.dumps(VERDICT))
    page = render_report(copy).read_text()
    assert NOT_EVALUATED not in page and "refused" in page and "prob_beats_champion" in page
    assert "✘ failed" in page and "61.2 % &lt; 90 %" in page and "quantumtrader v1" in page


def test_a_malformed_verdict_or_a_folder_without_metrics_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no metrics\.json"):
        render_report(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"pnl": 0.0, "n_trades": 0.0, "sharpe_per_day": None}))
    (tmp_path / "verdict.json").write_text(json.dumps({**VERDICT, "decision": "maybe"}))
    with pytest.raises(InputError, match=r"verdict\.json has decision 'maybe'"):
        render_report(tmp_path)
    (tmp_path / "verdict.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        render_report(tmp_path)
    (tmp_path / "verdict.json").unlink()
    page = render_report(tmp_path).read_text()  # a run without trades or bars still renders, with n/a
    assert "n/a" in page and NOT_EVALUATED in page and "no trades" in page


OVERFLOW_JS = overflow_js(open_details=True)


@pytest.mark.slow
def test_the_report_fits_a_1280_px_screen_in_headless_chromium(run: tuple[Settings, BacktestResult],
                                                               tmp_path: Path) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (.ci/run does)"
    from playwright.sync_api import sync_playwright

    _settings, res = run
    m = res.metrics
    with_verdict = tmp_path / "with-verdict"
    shutil.copytree(res.run_dir, with_verdict)
    (with_verdict / "verdict.json").write_text(json.dumps(VERDICT))
    render_report(with_verdict)
    ARTIFACTS.mkdir(exist_ok=True)
    trades = pd.read_parquet(res.run_dir / "trades.parquet")
    first_side = "BUY" if trades["side"].iat[0] > 0 else "SELL"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            for folder, shot, gate_text in ((res.run_dir, "backtest-report.png", NOT_EVALUATED),
                                            (with_verdict, "backtest-report-verdict.png", "prob_beats_champion")):
                page = browser.new_page(viewport={"width": VIEWPORT, "height": 900})
                page.goto((folder / "report.html").as_uri())
                layout = page.evaluate(OVERFLOW_JS)
                page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
                assert layout["scrollWidth"] <= VIEWPORT and not layout["wide"], layout
                for text in (fmt(m["pnl"], "money"), "Sharpe per day (3 days)", "Sharpe annualised (×√252, 3 days)",
                             fmt(m["daily_pnl_mean"], "money"), gate_text, "Entry signals"):
                    assert page.get_by_text(text, exact=False).first.is_visible(), text
                assert page.locator("td.side").first.inner_text() == first_side
                images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.clientWidth])")
                assert len(images) == 4 and all(nat > 0 and 0 < shown <= VIEWPORT for nat, shown in images)
                # the check can fail: one element wider than the screen is caught
                page.evaluate("document.body.insertAdjacentHTML('beforeend', '<div style=\"width:1500px\">x</div>')")
                assert page.evaluate(OVERFLOW_JS)["wide"]
                page.close()
        finally:
            browser.close()
    assert (ARTIFACTS / "backtest-report.png").stat().st_size > 50_000

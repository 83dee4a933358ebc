"""A min_confidence study on simulated sessions: screened by the sweep, confirmed on the replay, judged
by the deflated Sharpe and the probability of backtest overfitting. On sessions without planted signal
(planted_strength 0) it must find nothing significant."""

from __future__ import annotations

import json
from datetime import date

import pytest
from tiny_model import contract, train_booster

from live_engine.backtest.replay import SessionData
from market.simulator import simulate
from research.study.config import StudyConfig
from research.study.run import run_study
from serving.predictor import Predictor


@pytest.fixture(scope="module")
def noise() -> list[SessionData]:
    return [SessionData(s.day, s.trades, s.book)
            for s in simulate(14, date(2026, 2, 2), seed=5, trades_per_session=2000, planted_strength=0.0)]


def test_a_min_confidence_study_on_noise_finds_nothing_significant(settings, noise):
    model = Predictor.from_booster(train_booster(), contract())
    cfg = StudyConfig(params={"consensus.min_confidence": "0.50:0.75:0.05"}, folds=3, top_k=2, pbo_blocks=6,
                      log_to_mlflow=True)
    res = run_study(settings, cfg, data=noise[2:], warmup=noise[:2], model=model, study_id="noise")
    v = res.verdict
    assert v["n_trials"] == 6 and v["sessions"] == 12
    assert 0.0 <= v["deflated_sharpe"] <= 1.0 and 0.0 <= v["pbo"]["pbo"] <= 1.0 and v["pbo"]["n_splits"] == 20
    assert not v["significant"] and not v["confirmed"]
    assert v["conclusion"].startswith("no evidence")
    # every replayed candidate agrees with its sweep, day by day
    assert all(r.sweep_max_daily_diff < 1e-6 for r in res.confirmation.replayed.values())
    assert len(res.confirmation.picks) == 2 and res.confirmation.oos_daily.shape == (8,)
    doc = json.loads((res.out_dir / "study.json").read_text())
    assert doc["verdict"]["deflated_sharpe"] == pytest.approx(v["deflated_sharpe"])
    html = res.report_path.read_text()
    assert "no evidence" in html and html.count("data:image/png;base64,") == 3
    import mlflow

    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(res.mlflow_run_id)
    assert run.data.tags["kind"] == "study" and "deflated_sharpe" in run.data.metrics and "pbo" in run.data.metrics
    _fits_a_screen(res.report_path, v["conclusion"])


def _fits_a_screen(report, conclusion: str) -> None:
    """The report as a person sees it: headless Chromium at 1280 px, verdict visible, charts loaded, nothing wider."""
    from page_checks import ARTIFACTS, CHROMIUM, VIEWPORT, overflow_js
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (.ci/run does)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": VIEWPORT, "height": 900})
            page.goto(report.as_uri())
            page.screenshot(path=str(ARTIFACTS / "study-report.png"), full_page=True)
            layout = page.evaluate(overflow_js())
            assert layout["scrollWidth"] <= VIEWPORT and not layout["wide"], layout
            assert page.locator("p.verdict").inner_text().strip() == conclusion
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.clientWidth])")
            assert len(images) == 3 and all(nat > 0 and 0 < shown <= VIEWPORT for nat, shown in images)
        finally:
            browser.close()


@pytest.mark.slow
def test_qtml_study_on_the_lake_reports_logs_and_records_in_the_knowledge_base(settings, monkeypatch):
    """The command as a user runs it: a registered model's bundle, the lake's last sessions, the verdict
    printed, the study in MLflow and in the knowledge base (with the validation ideas it tried linked)."""
    from tiny_model import register
    from typer.testing import CliRunner

    from market.lake import Lake
    from quantumtrader.cli import app
    from quantumtrader.config import get_settings
    from research.kb.store import KnowledgeBase

    lake = Lake(settings.lake_root)
    for s in simulate(6, date(2026, 1, 5), seed=3, trades_per_session=2000, planted_strength=0.0):
        lake.write_day("trades", "WDO", s.day, s.trades)
        lake.write_day("book", "WDO", s.day, s.book)
    uri = register(settings, train_booster(), contract())
    with KnowledgeBase.for_settings(settings) as kb:  # an idea about the deflated Sharpe, from some paper
        pid = kb.upsert_paper(arxiv_id="1234.56789", version=1, title="The deflated Sharpe ratio", authors=["A"],
                              abstract="...", categories=["q-fin.ST"], primary_category="q-fin.ST", pdf_url="")
        idea = kb.add_idea(pid, "validation", "deflated_sharpe", "deflated_sharpe", title="Deflated Sharpe", score=0.9)
    monkeypatch.setenv("QT_ROOT", str(settings.root))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["study", "--model-uri", uri, "--sessions", "4", "-p",
                                       "consensus.min_confidence=0.55,0.65", "-p", "risk.max_holding_bars=3,5",
                                       "--top-k", "1", "--folds", "2", "--study-id", "cli"])
        bad = CliRunner().invoke(app, ["study", "--model-uri", uri, "-p", "risk.no_such=1,2"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    # 2 x 2 grid + the bundle's own config (min_confidence 0.60, max_holding_bars 5): 5 trials
    assert "no evidence" in out.output and "deflated Sharpe of the best for 5 trials" in out.output
    assert (settings.reports_dir / "studies" / "cli" / "report.html").exists()
    from quantumtrader.errors import InputError  # qtml's main() turns it into exit code 2 and this one line

    assert isinstance(bad.exception, InputError) and "risk.no_such: not a live.* setting" in str(bad.exception)
    with KnowledgeBase.for_settings(settings) as kb:
        exp = kb.experiment("study:cli")
        assert {r["metric"] for r in exp["results"]} >= {"deflated_sharpe", "pbo", "n_trials"}
        assert [i["id"] for i in kb.ideas_of(int(exp["id"]))] == [idea]

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

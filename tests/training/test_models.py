"""Models: no test-fold row reaches any fitting step; calibration is the documented softmax rule."""

from __future__ import annotations

import json
from collections.abc import Callable

import lightgbm as lgb
import numpy as np
import pytest

from quantumtrader.config import Settings
from training.calibration import fit_temperature, softmax
from training.dataset import Dataset
from training.metrics import auc_direction, brier, score, trading_proxy
from training.models import predict_proba_from_booster
from training.pipeline import plan_training
from training.tuning import run_jobs


def test_no_test_fold_row_is_seen_by_fitting_early_stopping_or_calibration(
    make_dataset: Callable[..., Dataset], small_settings: Settings
) -> None:
    ds = make_dataset(strength=1.0, n_sessions=6)
    plan = plan_training(ds, small_settings)
    results = run_jobs(ds, plan.jobs, small_settings.training.lgbm, plan.cost_ticks, max_workers=2)
    folds = {f.k: f for f in plan.folds}
    assert len(results) == len(plan.folds) * (len(plan.combos) + 2)
    for r in results:
        f = folds[r.fold]
        assert np.array_equal(r.test_rows, f.test)
        assert np.intersect1d(r.audit.all_rows(), f.test).size == 0, f"{r.model} fold {r.fold} read test rows"
        seen = r.audit.seen
        if r.model == "lgbm":
            assert np.array_equal(seen["lgbm_fit"], f.fit)
            assert np.array_equal(seen["early_stopping"], f.val)
            assert np.array_equal(seen["calibration"], f.val)
        elif r.model == "logreg":
            assert np.array_equal(seen["scaler"], np.sort(f.train))
        # and the training rows all lie before the test block with the purge + embargo gap
        assert ds.pos[r.audit.all_rows()].max() < ds.pos[f.test[0]] - small_settings.training.embargo


def test_calibrated_probabilities_are_softmax_of_raw_scores_over_temperature() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = rng.integers(0, 3, 300)
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbosity": -1}, lgb.Dataset(X, y), 5)
    calibration = json.loads(json.dumps({"method": "temperature", "temperature": 1.7}))  # JSON round trip
    p = predict_proba_from_booster(booster, X, calibration)
    expected = softmax(booster.predict(X, raw_score=True) / 1.7)
    assert np.allclose(p, expected)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(predict_proba_from_booster(booster, X, {"method": "none"}), booster.predict(X))
    one = predict_proba_from_booster(booster, X[0], calibration)  # a single row works too
    assert one.shape == (1, 3) and np.allclose(one, expected[:1])


def test_temperature_tames_overconfident_scores() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 2000)
    logits = rng.standard_normal((2000, 3))
    logits[np.arange(2000), y] += 1.0  # a weak true signal ...
    raw = logits * 5.0  # ... reported five times too confidently
    t = fit_temperature(raw, y)
    assert 3.0 < t < 8.0


def test_metrics_score_a_perfect_and_a_useless_forecast() -> None:
    y = np.array([-1, 0, 1, 1, -1, 0])
    perfect = np.eye(3)[y + 1]
    s = score(y, perfect, fwd_ticks=np.array([-4.0, 0.0, 3.0, 5.0, -2.0, 1.0]), cost_ticks=1.0)
    assert s["auc_ovr"] == 1.0 and s["balanced_accuracy"] == 1.0 and s["brier"] == 0.0
    assert s["auc_direction"] == 1.0
    # signals: sell, buy, buy, sell on rows 0, 2, 3, 4 -> moves 4, 3, 5, 2 minus cost 1 each
    assert trading_proxy(perfect, np.array([-4.0, 0.0, 3.0, 5.0, -2.0, 1.0]), 1.0) == (pytest.approx(2.5), 4)
    flat = np.full((6, 3), 1 / 3)
    assert brier(y, flat) == pytest.approx(2 / 3)
    assert auc_direction(y, flat) == 0.5

"""The ``train`` flow as a real Prefect flow run: threads and a local Dask cluster as task runners."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import FEATURE_NAMES, spec_hash
from live_engine.execution.config import CostConfig
from market.instruments import get_instrument
from quantumtrader.config import Settings
from training.dataset import Dataset, assemble
from training.labels import make_labels


def _dataset(n_sessions: int = 5, bars: int = 300, seed: int = 3) -> Dataset:
    """A small labelled dataset on the qt65_v1 columns; the first column leads the next moves."""
    rng = np.random.default_rng(seed)
    n = n_sessions * bars
    signal = rng.standard_normal(n)
    drift = sum(np.concatenate([np.zeros(lag), 1.5 * signal[:-lag]]) for lag in range(1, 6))
    steps = np.round(rng.standard_normal(n) * 2.0 + drift)
    close = 5000.0 + 0.5 * np.cumsum(steps)
    days = pd.date_range("2026-02-02", periods=n_sessions, freq="B")
    idx = pd.DatetimeIndex(
        np.concatenate([(d + pd.Timedelta(hours=12) + pd.to_timedelta(np.arange(1, bars + 1), unit="min")).to_numpy()
                        for d in days]), name="close_ts").tz_localize("UTC")
    frame = pd.DataFrame({"session": np.repeat(days.strftime("%Y-%m-%d"), bars), "close": close,
                          "high": close + 0.5, "low": close - 0.5}, index=idx)
    labels = make_labels(frame, method="fixed_horizon", horizon=5, instrument=get_instrument("WDO"),
                         flat_band_ticks=None, costs=CostConfig(), stop_ticks=4, target_ticks=4)
    feats = pd.DataFrame(rng.standard_normal((n, len(FEATURE_NAMES))), index=idx, columns=list(FEATURE_NAMES))
    feats[FEATURE_NAMES[0]] = signal
    ds = assemble(feats, labels, list(FEATURE_NAMES))
    ds.info.update({"symbol": "WDO", "feature_spec_hash": spec_hash()})
    return ds


def _small(settings: Settings, runner: str) -> Settings:
    tr = settings.training.model_dump()
    tr.update({"task_runner": runner, "max_workers": 2})
    tr["cv"].update({"n_folds": 3})
    tr["tuning"].update({"num_leaves": [7], "learning_rate": [0.1], "n_estimators": [40]})
    return settings.model_copy(update={"training": type(settings.training).model_validate(tr)})


@pytest.mark.slow
def test_train_flow_on_threads_registers_the_challenger(prefect_harness: None, settings: Settings) -> None:
    from flows.train import train_flow

    summary = train_flow(settings=_small(settings, "thread"), dataset=_dataset())
    assert summary["registered"]["version"] == "1"
    assert summary["registered"]["uri"] == "models:/quantumtrader@challenger"
    assert summary["folds"] == 3 and summary["combos"] == 1
    assert summary["oof_auc_ovr"] > 0.55
    assert set(summary["cv"]) >= {"lgbm", "logreg", "majority"}


@pytest.mark.slow
def test_train_flow_runs_its_folds_on_a_local_dask_cluster(prefect_harness: None, settings: Settings) -> None:
    from flows.train import train_flow

    summary = train_flow(settings=_small(settings, "dask"), dataset=_dataset(n_sessions=4), register=False)
    assert summary["registered"] is None
    assert summary["folds"] == 3
    assert summary["oof_auc_ovr"] > 0.55


@pytest.mark.slow
def test_train_flow_reads_its_features_from_feast_point_in_time(prefect_harness: None, settings: Settings) -> None:
    """Simulated sessions -> bars in the lake -> features -> feast apply -> the flow loads them through Feast."""
    from datetime import date

    import mlflow

    from features import offline
    from features.store import apply_repo
    from flows.train import train_flow
    from market.bars import build_bars
    from market.lake import Lake, bars_dataset
    from market.simulator import simulate

    settings = _small(settings, "thread")
    training = settings.training.model_copy(update={"holdout_sessions": 2})
    settings = settings.model_copy(update={"training": training})
    lake = Lake(settings.lake_root)
    for s in simulate(6, date(2026, 1, 5), seed=11, trades_per_session=4000, planted_strength=1.0):
        bars = build_bars(s.trades, s.book, spec="time:60s", symbol="WDO", large_trade_qty=10)
        lake.write_day(bars_dataset("time:60s"), "WDO", s.day, bars, index=True)
    offline.write_features(settings, offline.compute_features(settings, "WDO"))
    apply_repo(settings)

    summary = train_flow(settings=settings, symbol="WDO")
    assert summary["registered"]["version"] == "1"
    assert summary["rows"] > 1800
    assert summary["oof_auc_ovr"] > 0.55
    info = mlflow.models.get_model_info("models:/quantumtrader@challenger")
    # the two newest sessions (2026-01-09, 2026-01-12) were held out for an out-of-sample backtest
    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(info.run_id)
    assert run.data.tags["train_first_session"] == "2026-01-05"
    assert run.data.tags["train_last_session"] == "2026-01-08"
    assert info.metadata["dataset_hash"] == summary["dataset_hash"]
    assert len(info.metadata["feature_names"]) == 65

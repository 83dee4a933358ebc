"""Fixtures of the training tests: small labelled datasets with a planted signal (no Feast)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from features.spec import FEATURE_NAMES, spec_hash
from live_engine.execution.config import CostConfig
from market.instruments import get_instrument
from quantumtrader.config import Settings
from training.dataset import Dataset, assemble
from training.labels import make_labels


def synthetic_bars_and_features(
    n_sessions: int = 8,
    bars_per_session: int = 300,
    *,
    strength: float = 1.0,
    names: list[str] | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Bars (index close_ts, session, open/high/low/close) and features; ``f0`` predicts the next moves.

    ``names`` default to ``f0..f7``; the first name carries the signal.
    The close moves by whole ticks (0.5): noise plus ``strength`` times a signal that it observes
    at the bar's close and that drives the next bars' drift.
    """
    rng = np.random.default_rng(seed)
    n = n_sessions * bars_per_session
    days = pd.date_range("2026-01-05", periods=n_sessions, freq="B").strftime("%Y-%m-%d")
    sessions = np.repeat(days, bars_per_session)
    signal = rng.standard_normal(n)
    drift = np.zeros(n)
    drift[1:] = strength * 1.5 * signal[:-1]  # the bar after the signal drifts with it
    for lag in range(2, 6):
        drift[lag:] += strength * 1.5 * signal[:-lag]
    steps = np.round(rng.standard_normal(n) * 2.0 + drift)
    close = 5000.0 + 0.5 * np.cumsum(steps)
    ts = []
    for day in pd.unique(sessions):
        start = pd.Timestamp(day + " 12:00", tz="UTC")
        ts.append(start + pd.to_timedelta(np.arange(1, bars_per_session + 1) * 60, unit="s"))
    index = pd.DatetimeIndex(ts[0].append(ts[1:]), name="close_ts")
    prev = np.concatenate([[close[0]], close[:-1]])
    bars = pd.DataFrame(
        {
            "session": sessions,
            "open": prev,
            "high": np.maximum(prev, close) + 0.5,
            "low": np.minimum(prev, close) - 0.5,
            "close": close,
        },
        index=index,
    )
    names = list(names) if names is not None else [f"f{i}" for i in range(8)]
    feats = pd.DataFrame(rng.standard_normal((n, len(names))), index=index, columns=names)
    feats[names[0]] = signal + 0.3 * rng.standard_normal(n)
    feats.iloc[:3] = np.nan  # a warm-up
    return bars, feats, names


def synthetic_dataset(
    strength: float = 1.0, n_sessions: int = 8, bars_per_session: int = 300, seed: int = 0
) -> Dataset:
    """A dataset over the 65 qt65_v1 column names whose first column predicts the next moves."""
    bars, feats, names = synthetic_bars_and_features(
        n_sessions, bars_per_session, strength=strength, names=list(FEATURE_NAMES), seed=seed
    )
    labels = make_labels(
        bars, method="fixed_horizon", horizon=5, instrument=get_instrument("WDO"), flat_band_ticks=None,
        costs=CostConfig(), stop_ticks=4, target_ticks=4,
    )
    ds = assemble(feats, labels, names)
    ds.info.update({"symbol": "WDO", "feature_spec_hash": spec_hash()})
    return ds


@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    """Test settings with a 2-combination grid and 3 folds (fast)."""
    tr = settings.training.model_dump()
    tr["cv"].update({"n_folds": 3})
    tr["tuning"].update({"num_leaves": [7, 15], "learning_rate": [0.1], "n_estimators": [60]})
    return settings.model_copy(update={"training": type(settings.training).model_validate(tr)})


@pytest.fixture
def make_dataset() -> Callable[..., Dataset]:
    """Factory of synthetic datasets: ``make_dataset(strength=1.0, n_sessions=8, bars_per_session=300)``."""
    return synthetic_dataset

"""Session-wide worlds of the gate's tests (each costs a real ingest, feature build and training)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from worlds import PLANTED_SEED, World, build_world, train


@pytest.fixture(scope="session")
def shared_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="session")
def planted_world(tmp_path_factory: pytest.TempPathFactory, shared_mlflow: Path) -> World:
    """The demo's data: planted_strength 0.6, seed 7."""
    return build_world(tmp_path_factory.mktemp("planted"), shared_mlflow, strength=0.6, seed=PLANTED_SEED)


@pytest.fixture(scope="session")
def noise_world(tmp_path_factory: pytest.TempPathFactory, shared_mlflow: Path) -> Callable[[int], World]:
    """``noise_world(seed)``: planted_strength 0 (no predictable component), built once per seed."""
    built: dict[int, World] = {}

    def get(seed: int) -> World:
        if seed not in built:
            built[seed] = build_world(tmp_path_factory.mktemp(f"noise{seed}"), shared_mlflow, strength=0.0,
                                      seed=seed)
        return built[seed]

    return get


@pytest.fixture(scope="session")
def invalid_data_model(planted_world: World) -> World:
    """A model trained on the planted lake after one batch failed its validation (negative prices).

    The failed day (2026-01-02, before the first session) leaves only its quarantine and its failed
    ``_validation.json``: the lake's sessions are unchanged, the training run records the failure.
    """
    from market.ingest import ingest_frames
    from market.simulator import simulate

    settings = planted_world.settings
    (bad,) = simulate(1, date(2026, 1, 2), seed=99, trades_per_session=2000, planted_strength=0.6)
    trades = bad.trades.copy()
    trades.loc[trades.index[::10], "price"] = -1.0  # 10 % of the rows: far above max_bad_share (1 %)
    report = ingest_frames(trades, None, symbol="WDO", settings=settings, check=False)
    assert [o.passed for o in report.trades] == [False], "the corrupted batch must fail its validation"
    return train(settings)

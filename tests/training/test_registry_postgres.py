"""The same registry round trip against an MLflow backend store on the real PostgreSQL (127.0.0.1:5432)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from quantumtrader.config import Settings
from training.dataset import Dataset
from training.pipeline import train

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG = "postgresql://postgres@127.0.0.1:5432"
RELOAD = (
    "import sys, mlflow, numpy as np\n"
    "from training.models import predict_proba_from_booster\n"
    "mlflow.set_tracking_uri(sys.argv[1])\n"
    "info = mlflow.models.get_model_info('models:/quantumtrader@challenger')\n"
    "booster = mlflow.lightgbm.load_model('models:/quantumtrader@challenger')\n"
    "np.save(sys.argv[3], predict_proba_from_booster(booster, np.load(sys.argv[2]), info.metadata['calibration']))\n"
)


@pytest.fixture
def pg_tracking_uri() -> Iterator[str]:
    """A fresh database for this test run, dropped afterwards."""
    import psycopg2

    name = f"qt_mlflow_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg2.connect(f"{PG}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as err:  # a test that needs a server fails when it is not running
        pytest.fail(f"PostgreSQL not reachable at {PG}: {err}; start it (127.0.0.1:5432, trust auth)")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def test_registry_round_trip_on_a_postgresql_backend_store(
    make_dataset: Callable[..., Dataset], small_settings: Settings, pg_tracking_uri: str, tmp_path: Path
) -> None:
    import mlflow

    settings = small_settings.model_copy(
        update={"stores": small_settings.stores.model_copy(update={"mlflow_tracking_uri": pg_tracking_uri})}
    )
    assert settings.mlflow_tracking_uri.startswith("postgresql://")
    ds = make_dataset(strength=1.0, n_sessions=6)
    result = train(settings, ds)
    assert result.registered is not None
    client = mlflow.MlflowClient(pg_tracking_uri)
    assert str(client.get_model_version_by_alias("quantumtrader", "challenger").version) == result.registered.version
    X = ds.X.to_numpy()[-100:]
    np.save(tmp_path / "x.npy", X)
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD, pg_tracking_uri, str(tmp_path / "x.npy"), str(tmp_path / "p.npy")],
        capture_output=True, text=True, timeout=180, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.allclose(np.load(tmp_path / "p.npy"), result.final.predict_proba(X), atol=1e-12)
    assert mlflow.models.get_model_info("models:/quantumtrader@challenger").metadata["dataset_hash"] == ds.snapshot_hash

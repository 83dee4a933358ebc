"""The MLflow experiment every run logs to, created with the configured artifact root.

Shared by training (``training/tracking.py``) and the backtest (``live_engine/backtest/runner.py``),
which must not import ``training/`` (``DESIGN.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quantumtrader.config import Settings


def ensure_experiment(settings: Settings, name: str | None = None) -> str:
    """Point MLflow at the configured store; create the experiment with the configured artifact root."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    name = name or settings.training.experiment
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    root = settings.stores.mlflow_artifact_root
    assert root is not None
    root.mkdir(parents=True, exist_ok=True)
    return str(client.create_experiment(name, artifact_location=(root / name).as_uri()))

"""Decision-core test helpers: a tiny native LightGBM Booster that honours the model contract, and
a plain closed bar.

Trained in a second on synthetic rows whose label follows ``ofi_5`` (so the model has a real, if
trivial, opinion); registered to a real MLflow (sqlite under the test's tmp folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np

from features.spec import FEATURE_NAMES, spec_hash


@dataclass
class Bar:
    """A closed bar as the decision core reads it (``live_engine.decision.core.Bar``), built by hand in tests."""

    close_ts_ns: int
    session: date
    close: float
    features: np.ndarray


def contract(input_groups: dict[str, bool] | None = None, **overrides: Any) -> dict[str, Any]:
    """Model metadata as training writes it (every input group present unless ``input_groups`` says)."""
    from features.contract import all_present, feature_contract

    groups = {**all_present(), **(input_groups or {})}
    meta: dict[str, Any] = {
        "qt_model_contract": 2, "feature_set": "qt65_v1", "feature_spec_hash": spec_hash(),
        "feature_names": list(FEATURE_NAMES), "classes": [-1, 0, 1], "class_names": ["down", "flat", "up"],
        "calibration": {"method": "temperature", "temperature": 1.5}, "horizon": 5,
        "dataset_hash": "test", "bar_spec": "time:60s",
        "feature_contract": feature_contract(bar_spec="time:60s", large_trade_qty=10, tick_size=0.5,
                                             input_groups=groups),
    }
    meta.update(overrides)
    return meta


def train_booster(seed: int = 0, rounds: int = 8) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    n = 600
    X = rng.normal(size=(n, len(FEATURE_NAMES)))
    ofi = X[:, FEATURE_NAMES.index("ofi_5")]
    y = np.where(ofi > 0.5, 2, np.where(ofi < -0.5, 0, 1))
    params = {"objective": "multiclass", "num_class": 3, "num_leaves": 7, "learning_rate": 0.3,
              "verbose": -1, "num_threads": 1, "seed": seed, "deterministic": True}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)


def _experiment(settings: Any) -> str:
    import mlflow

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    exp = client.get_experiment_by_name("tests")
    return str(exp.experiment_id if exp else client.create_experiment(
        "tests", artifact_location=(settings.var_dir / "mlflow" / "artifacts" / "tests").as_uri()))


def register(settings: Any, booster: Any, metadata: dict[str, Any], *, name: str = "quantumtrader",
             alias: str = "challenger", lineage: dict[str, Any] | None = None) -> str:
    """Log ``booster`` as a bundle (``serving.bundle_writer.log_bundle``: the agents and live config of
    ``settings``), register it with its hashes, set ``alias``; return ``models:/name@alias``."""
    import mlflow

    from serving.bundle_writer import log_bundle

    with mlflow.start_run(experiment_id=_experiment(settings)):
        log_bundle(booster, settings=settings, metadata=metadata, lineage=lineage or {"dataset": "tiny_model"},
                   registered_model_name=name, alias=alias)
    return f"models:/{name}@{alias}"


def register_plain(settings: Any, model: Any, metadata: dict[str, Any], *, name: str = "quantumtrader",
                   alias: str = "plain") -> str:
    """Log ``model`` with MLflow's LightGBM flavor only (no bundle files, no hashes) and register it."""
    import mlflow

    with mlflow.start_run(experiment_id=_experiment(settings)):
        info = mlflow.lightgbm.log_model(model, name="model", metadata=metadata, pip_requirements=["lightgbm"])
    version = mlflow.register_model(info.model_uri, name)
    mlflow.MlflowClient(settings.mlflow_tracking_uri).set_registered_model_alias(name, alias, version.version)
    return f"models:/{name}@{alias}"

"""Real worlds for the gate's tests: simulated sessions ingested, features built, a model trained.

A *world* is a lake at the demo's scale (25 sessions of ~12,000 trades from 2026-01-05, the newest 10
held out of training, as ``make demo``) plus a model trained on it by the real pipeline (ingest with
its validation, batch features and their suite, Feast point-in-time dataset, purged CV with a
2-combination grid, MLflow). Every world's model is logged to one shared MLflow store, so a test can
register models of different worlds under one fresh name and replay them on one world's sessions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from quantumtrader.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
SESSIONS, HOLDOUT, TRADES = 25, 10, 12_000
PLANTED_SEED = 7  # the demo's seed
NOISE_SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class World:
    settings: Settings
    model_uri: str  # the logged model (models:/m-...), registrable under any name
    run_id: str


def world_settings(root: Path, mlflow_dir: Path) -> Settings:
    """Settings of a world under ``root`` whose MLflow store is the shared one in ``mlflow_dir``."""
    s = load_settings(root=root, stores={"feast_repo": str(REPO_ROOT / "feature_repo"),
                                         "mlflow_tracking_uri": f"sqlite:///{mlflow_dir / 'mlflow.db'}",
                                         "mlflow_artifact_root": str(mlflow_dir / "artifacts")})
    tr = s.training.model_dump()
    tr.update({"holdout_sessions": HOLDOUT})
    tr["cv"].update({"n_folds": 3})
    tr["tuning"].update({"num_leaves": [7, 15], "learning_rate": [0.1], "n_estimators": [80]})
    return s.model_copy(update={"training": type(s.training).model_validate(tr)})


def ingest(settings: Settings, *, strength: float, seed: int, n: int = SESSIONS, start: date = date(2026, 1, 5),
           trades: int = TRADES) -> None:
    """Simulate and ingest sessions as the demo's ingest flow does (validation, quarantine, bars)."""
    from market.ingest import IngestReport, ingest_frames
    from market.simulator import simulate

    report = IngestReport(symbol="WDO", lake_root=settings.lake_root)
    for s in simulate(n, start, seed=seed, trades_per_session=trades, planted_strength=strength):
        report.extend(ingest_frames(s.trades, s.book, symbol="WDO", settings=settings, seen=report.seen, check=False))
    report.raise_for_failures()


def build_features(settings: Settings) -> None:
    from features import offline
    from features.store import apply_repo

    table = offline.compute_features(settings)
    offline.write_features(settings, table, offline.validate_features(table))
    apply_repo(settings)


def train(settings: Settings) -> World:
    """Train on the world's lake through Feast and register (the pipeline's own registration)."""
    from training.dataset import load_dataset
    from training.pipeline import train as run_training

    result = run_training(settings, load_dataset(settings))
    assert result.registered is not None
    return World(settings, result.registered.model_uri, result.registered.run_id)


def build_world(root: Path, mlflow_dir: Path, *, strength: float, seed: int) -> World:
    settings = world_settings(root, mlflow_dir)
    ingest(settings, strength=strength, seed=seed)
    build_features(settings)
    return train(settings)


def fresh_registry(world: World, tmp: Path, *models: str, settings: Settings | None = None,
                   challenger: int | None = None) -> Settings:
    """``world``'s settings with a new registered model holding ``models`` as versions 1, 2, ...

    ``@challenger`` goes to the last version (or version ``challenger``); the promotions table and the
    replay outputs live under ``tmp``.
    """
    import mlflow

    from serving.bundle_writer import register_logged_bundle

    s = settings or world.settings
    name = f"qt_{uuid.uuid4().hex[:10]}"
    mlflow.set_tracking_uri(s.mlflow_tracking_uri)
    client = mlflow.MlflowClient(s.mlflow_tracking_uri)
    versions = []
    for uri in models or (world.model_uri,):
        versions.append(register_logged_bundle(uri, name, tracking_uri=s.mlflow_tracking_uri))
    client.set_registered_model_alias(name, "challenger", versions[-1] if challenger is None else str(challenger))
    stores = s.stores.model_copy(update={"promotions_db_url": f"sqlite:///{tmp / 'promotions.db'}",
                                         "reports_dir": tmp / "reports"})
    training = s.training.model_copy(update={"registered_model_name": name})
    return s.model_copy(update={"stores": stores, "training": training})


def env_for(settings: Settings) -> dict[str, str]:
    """``QT_`` variables that make a ``qtml`` process see ``settings``' stores and registered model."""
    st = settings.stores
    out: dict[str, Any] = {
        "QT_ROOT": settings.root, "QT_STORES__VAR_DIR": st.var_dir, "QT_STORES__LAKE_ROOT": st.lake_root,
        "QT_STORES__MLFLOW_TRACKING_URI": st.mlflow_tracking_uri,
        "QT_STORES__MLFLOW_ARTIFACT_ROOT": st.mlflow_artifact_root, "QT_STORES__REPORTS_DIR": st.reports_dir,
        "QT_STORES__PROMOTIONS_DB_URL": st.promotions_db_url, "QT_STORES__FEAST_REPO": st.feast_repo,
        "QT_STORES__FEAST_DIR": st.feast_dir,
        "QT_TRAINING__REGISTERED_MODEL_NAME": settings.training.registered_model_name,
        "QT_TRAINING__HOLDOUT_SESSIONS": settings.training.holdout_sessions,
        "QT_LOGGING__LEVEL": "WARNING",
    }
    return {k: str(v) for k, v in out.items()}

"""MLflow tracking and registry: one run per training, the final Booster registered as a bundle.

The model is logged as a native LightGBM Booster (text ``model.lgb``, never pickle) with a signature,
an input example and the *model contract* as MLflow model metadata, together with the rest of its
bundle (feature contract, agent YAMLs, live config, :func:`lineage_doc`) by
:func:`serving.bundle_writer.log_bundle`, which records every file's SHA-256 on the version.
Serving loads it back with :func:`serving.bundle.load_bundle` (``docs/bundle.md``).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from quantumtrader.logging import get_logger
from serving.bundle_writer import log_bundle
from serving.tracking import ensure_experiment
from training.labels import CLASS_NAMES, CLASSES

if TYPE_CHECKING:
    from quantumtrader.config import Settings
    from training.dataset import Dataset
    from training.models import CalibratedBooster
    from training.tuning import CVSummary

log = get_logger("training.tracking")

MODEL_CONTRACT_VERSION = 2  # 2: the feature_contract (bar spec, large_trade_qty, tick size, input groups)


@dataclass(frozen=True)
class Registered:
    """Where the trained model went."""

    run_id: str
    experiment_id: str
    model_uri: str  # models:/m-... (the logged model)
    name: str
    version: str
    alias: str
    bundle_sha256: dict[str, str] = field(default_factory=dict)  # every bundle file, as tagged on the version

    @property
    def alias_uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def git_commit(root: Path) -> str:
    """The checked-out commit (``+dirty`` when the tree has changes), or ``unknown`` without git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def validation_results(lake_root: Path, symbol: str) -> dict[str, Any]:
    """Every ``_validation.json`` the lake holds for ``symbol``, by dataset, with a success summary."""
    from market.lake import VALIDATION

    by_dataset: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(lake_root).glob(f"**/symbol={symbol}/date=*/{VALIDATION}")):
        dataset = path.parent.parent.parent.relative_to(lake_root).as_posix()
        day = path.parent.name.removeprefix("date=")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            payload = {"success": False, "error": f"unreadable: {err}"}
        by_dataset.setdefault(dataset, {})[day] = payload
    failed = sorted(
        f"{ds}/{day}" for ds, days in by_dataset.items() for day, p in days.items() if p.get("success") is False
    )
    n = sum(len(d) for d in by_dataset.values())
    return {"files": n, "failed": failed, "success": (not failed) if n else None, "results": by_dataset}


def model_contract(
    *,
    feature_names: list[str],
    feature_spec_hash: str,
    feature_set: str,
    calibration: dict[str, Any],
    horizon: int,
    dataset_hash: str,
    bar_spec: str,
    feature_contract: dict[str, Any],
) -> dict[str, Any]:
    """The metadata the serving side relies on (keep the keys exact).

    ``feature_contract`` (built by :func:`features.contract.feature_contract`) holds everything the
    inputs depend on, one key per item; serving refuses any difference by name.
    """
    return {
        "qt_model_contract": MODEL_CONTRACT_VERSION,
        "feature_set": feature_set,
        "feature_spec_hash": feature_spec_hash,
        "feature_names": list(feature_names),
        "classes": list(CLASSES),
        "class_names": list(CLASS_NAMES),
        "calibration": dict(calibration),
        "horizon": int(horizon),
        "dataset_hash": dataset_hash,
        "bar_spec": bar_spec,
        "feature_contract": dict(feature_contract),
    }


def configurations_tried(summary: CVSummary) -> int:
    """How many LightGBM parameter combinations the search cross-validated (the deflated Sharpe's trials)."""
    return sum(1 for name in summary.aggregate if name.startswith("lgbm_combo_"))


def lineage_doc(ds: Dataset, summary: CVSummary, validation: dict[str, Any], *, commit: str, run_id: str,
                experiment_id: str, contract: dict[str, Any]) -> dict[str, Any]:
    """``lineage.json`` of the bundle: where the model came from and what its selection saw.

    Dataset snapshot hash, the Great Expectations summary of the lake files it read, CV metrics
    (mean per model, out-of-fold AUCs, best parameters), git commit, training window (first / last
    session; null when the dataset does not record them) and the number of configurations tried.
    """
    return {
        "dataset": {"snapshot_hash": ds.snapshot_hash, "rows": len(ds), "symbol": ds.info.get("symbol"),
                    "feature_set": contract.get("feature_set"), "feature_spec_hash": contract.get("feature_spec_hash"),
                    "class_counts": {str(k): int(v) for k, v in ds.class_counts().items()}},
        "data_validation": {"success": validation["success"], "files": validation["files"],
                            "failed": list(validation["failed"])},
        "cv": {"aggregate": summary.aggregate, "oof_auc_ovr": summary.oof_auc_ovr,
               "oof_auc_direction": summary.oof_auc_direction, "best_params": summary.best_params,
               "folds": len({int(r["fold"]) for r in summary.per_fold})},
        "tuning": {"configurations_tried": configurations_tried(summary)},
        "git_commit": commit,
        "training_window": {"first_session": ds.info.get("first_session"), "last_session": ds.info.get("last_session")},
        "training_run": {"run_id": run_id, "experiment_id": experiment_id},
    }


def _flat(prefix: str, d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flat(key, v))
        else:
            out[key] = v
    return out


def _finite(x: float) -> bool:
    return bool(np.isfinite(x))


def log_and_register(
    settings: Settings,
    ds: Dataset,
    summary: CVSummary,
    final: CalibratedBooster,
    *,
    contract: dict[str, Any],
    importance_fig: Any,
    confusion_fig: Any,
    extra_tags: dict[str, str] | None = None,
) -> Registered:
    """Log params, metrics, charts and lineage in one run; log + register the Booster; set the alias."""
    import mlflow
    from mlflow.models import infer_signature

    cfg = settings.training
    experiment_id = ensure_experiment(settings)
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    validation = validation_results(settings.lake_root, str(ds.info.get("symbol", settings.market.symbol)))
    commit = git_commit(settings.root)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{ds.snapshot_hash[:8]}") as run:
        params = {
            **{f"best.{k}": v for k, v in summary.best_params.items()},
            **_flat("training", cfg.model_dump(mode="json", exclude={"tuning"})),
            **{f"tuning.{k}": str(v) for k, v in cfg.tuning.model_dump(mode="json").items()},
            "tuning.combos": configurations_tried(summary),
            "bar_spec": contract["bar_spec"],
            "rows": len(ds),
            "best_iteration": final.best_iteration,
            "temperature": round(float(final.calibration.get("temperature", 1.0)), 6),
        }
        mlflow.log_params(params)
        mlflow.set_tags(
            {
                "dataset_hash": ds.snapshot_hash,
                "feature_spec_hash": contract["feature_spec_hash"],
                "feature_set": contract["feature_set"],
                "git_commit": commit,
                "data_validation_success": str(validation["success"]),
                "train_first_session": str(ds.info.get("first_session", "")),
                "train_last_session": str(ds.info.get("last_session", "")),
                **{f"input_group.{g}": str(v).lower()
                   for g, v in contract.get("feature_contract", {}).get("input_groups", {}).items()},
                **(extra_tags or {}),
            }
        )
        for name, agg in summary.aggregate.items():
            mlflow.log_metrics({f"cv_{name}_{m}": v for m, v in agg.items() if _finite(v)})
        for row in summary.per_fold:
            metrics = {f"fold_{row['model']}_{m}": float(v) for m, v in row.items() if m not in ("model", "fold")}
            mlflow.log_metrics({k: v for k, v in metrics.items() if _finite(v)}, step=int(row["fold"]))
        mlflow.log_metrics({"oof_auc_ovr": summary.oof_auc_ovr, "oof_auc_direction": summary.oof_auc_direction})
        mlflow.log_dict(validation, "data_validation.json")
        mlflow.log_dict(
            {"per_fold": summary.per_fold, "aggregate": summary.aggregate, "best_params": summary.best_params,
             "dataset": ds.info, "class_counts": ds.class_counts()},
            "cv_results.json",
        )
        mlflow.log_figure(importance_fig, "charts/feature_importance.png")
        mlflow.log_figure(confusion_fig, "charts/confusion_matrix.png")
        example = ds.X.head(5)
        signature = infer_signature(example, final.booster.predict(example.to_numpy()))
        lineage = lineage_doc(ds, summary, validation, commit=commit, run_id=run.info.run_id,
                              experiment_id=experiment_id, contract=contract)
        bundle = log_bundle(final.booster, settings=settings, metadata=contract, lineage=lineage,
                            registered_model_name=cfg.registered_model_name, alias=None, signature=signature,
                            input_example=example, pip_requirements=_pip_requirements())
        client.set_model_version_tag(cfg.registered_model_name, bundle.version, "dataset_hash", ds.snapshot_hash)
        cv_loss = f"{summary.aggregate['lgbm']['log_loss']:.6f}"
        client.set_model_version_tag(cfg.registered_model_name, bundle.version, "cv_lgbm_log_loss", cv_loss)
        client.set_registered_model_alias(cfg.registered_model_name, cfg.alias, bundle.version)
        reg = Registered(
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            model_uri=bundle.model_uri,
            name=cfg.registered_model_name,
            version=bundle.version,
            alias=cfg.alias,
            bundle_sha256=dict(bundle.hashes),
        )
    log.info(
        "model registered", data={"name": reg.name, "version": reg.version, "alias": reg.alias, "run_id": reg.run_id}
    )
    return reg


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"lightgbm=={version('lightgbm')}", f"numpy=={version('numpy')}", f"pandas=={version('pandas')}"]

"""Training end to end on synthetic data: MLflow run, registry alias, model contract, fresh-process reload."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from features.spec import FEATURE_NAMES, spec_hash
from live_engine.decision.agents import agent_configs
from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from serving.predictor import Predictor
from training.dataset import Dataset
from training.pipeline import train

RELOAD = textwrap.dedent(
    """
    import json, sys
    import mlflow, numpy as np
    from serving.bundle import load_bundle
    from training.models import predict_proba_from_booster
    uri, x_path, out_path, bundle_out = sys.argv[1:5]
    mlflow.set_tracking_uri(uri)
    model_uri = "models:/quantumtrader@challenger"
    info = mlflow.models.get_model_info(model_uri)
    booster = mlflow.lightgbm.load_model(model_uri)
    X = np.load(x_path)
    np.save(out_path, predict_proba_from_booster(booster, X, info.metadata["calibration"]))
    bundle = load_bundle(model_uri, uri)  # verified against the version's hashes, in this fresh process
    np.save(bundle_out, np.array([bundle.predictor.predict_proba3(row) for row in X]))
    print(json.dumps({"metadata": info.metadata, "bundle": bundle.describe()}))
    """
)


def _registered_versions(settings: Settings) -> list[str]:
    import mlflow

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    return [v.version for v in client.search_model_versions("name='quantumtrader'")]


def _reload_in_fresh_process(settings: Settings, X: np.ndarray, tmp_path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    import json

    np.save(tmp_path / "x.npy", X)
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD, settings.mlflow_tracking_uri, str(tmp_path / "x.npy"), str(tmp_path / "p.npy"),
         str(tmp_path / "b.npy")],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(tmp_path / "p.npy"), np.load(tmp_path / "b.npy"), json.loads(proc.stdout.strip().splitlines()[-1])


def test_registered_model_reloads_in_a_fresh_process_and_reproduces_predictions(
    make_dataset: Callable[..., Dataset], small_settings: Settings, tmp_path: Path
) -> None:

    import mlflow

    ds = make_dataset(strength=1.0, n_sessions=6)
    result = train(small_settings, ds)
    reg = result.registered
    assert reg is not None and reg.version == "1" and reg.alias == "challenger"
    X = ds.X.to_numpy()[-300:]
    p_fresh, p_bundle, fresh = _reload_in_fresh_process(small_settings, X, tmp_path)
    assert np.allclose(p_fresh, result.final.predict_proba(X), atol=1e-12)
    # the bundle, verified and loaded in a fresh process, predicts bit for bit what the trained model does here
    here = Predictor.from_booster(result.final.booster, result.contract)
    assert np.array_equal(p_bundle, np.array([here.predict_proba3(row) for row in X]))
    bundle = fresh["bundle"]
    assert bundle["uri"] == "models:/quantumtrader/1" and bundle["files"] == reg.bundle_sha256
    assert bundle["agents"] == agent_configs() and bundle["feature_contract"] == result.contract["feature_contract"]
    assert bundle["live"]["risk"] == small_settings.live.risk.model_dump(mode="json")
    assert set(bundle["live"]) == {"coordinator", "consensus", "risk", "costs"}
    assert bundle["live"]["costs"] == small_settings.costs.model_dump(mode="json")
    lineage = bundle["lineage"]
    assert lineage["dataset"]["snapshot_hash"] == ds.snapshot_hash and lineage["git_commit"]
    assert lineage["tuning"]["configurations_tried"] == 2 and lineage["cv"]["folds"] == 3
    assert lineage["cv"]["oof_auc_ovr"] == pytest.approx(result.summary.oof_auc_ovr)
    assert lineage["data_validation"] == {"success": None, "files": 0, "failed": []}  # no lake: unknown, not passed
    assert lineage["training_run"]["run_id"] == reg.run_id
    meta = fresh["metadata"]
    assert meta["qt_model_contract"] == 2
    fc = meta["feature_contract"]
    assert fc["input_groups"] == {"book": True, "brokers": True, "side": True}
    assert fc["bar_spec"] == "time:60s" and fc["large_trade_qty"] == 10 and fc["tick_size"] == 0.5
    assert fc["feature_spec_hash"] == spec_hash()
    assert meta["feature_set"] == "qt65_v1"
    assert meta["feature_spec_hash"] == spec_hash()
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["classes"] == [-1, 0, 1] and meta["class_names"] == ["down", "flat", "up"]
    assert meta["calibration"]["method"] == "temperature" and meta["calibration"]["temperature"] > 0
    assert meta["horizon"] == 5 and meta["dataset_hash"] == ds.snapshot_hash and meta["bar_spec"] == "time:60s"
    # the run carries lineage, metrics and charts; the model is LightGBM text, not a pickle
    client = mlflow.MlflowClient(small_settings.mlflow_tracking_uri)
    run = client.get_run(reg.run_id)
    assert run.data.tags["dataset_hash"] == ds.snapshot_hash
    assert run.data.tags["feature_spec_hash"] == spec_hash()
    assert "git_commit" in run.data.tags
    assert run.data.metrics["cv_lgbm_auc_ovr"] > 0.55
    assert {"cv_logreg_log_loss", "cv_majority_log_loss", "oof_auc_ovr"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(reg.run_id, "charts")}
    assert artifacts == {"charts/feature_importance.png", "charts/confusion_matrix.png"}
    uri = f"models:/quantumtrader/{reg.version}"
    model_dir = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "m")))
    assert (model_dir / "model.lgb").read_text().startswith("tree")
    assert not list(model_dir.glob("*.pkl"))
    # a second training moves the alias to the new version
    train(small_settings, ds)
    assert str(client.get_model_version_by_alias("quantumtrader", "challenger").version) == "2"


def test_too_few_rows_is_an_input_error_and_nothing_is_registered(
    make_dataset: Callable[..., Dataset], small_settings: Settings
) -> None:
    ds = make_dataset(n_sessions=1, bars_per_session=200)
    with pytest.raises(InputError, match="too few rows for the folds"):
        train(small_settings, ds)
    assert not Path(small_settings.mlflow_tracking_uri.removeprefix("sqlite:///")).exists()


def test_a_class_missing_in_a_fold_is_an_input_error_and_nothing_is_registered(
    make_dataset: Callable[..., Dataset], small_settings: Settings
) -> None:
    ds = make_dataset(n_sessions=6)
    y = ds.y.copy()
    y[len(y) // 2 :] = np.where(y[len(y) // 2 :] == 1, 0, y[len(y) // 2 :])  # "up" never happens later
    broken = Dataset(**{**ds.__dict__, "y": y})
    with pytest.raises(InputError, match=r"class \['up'\] missing"):
        train(small_settings, broken)
    assert not Path(small_settings.mlflow_tracking_uri.removeprefix("sqlite:///")).exists()


def test_features_of_another_spec_are_an_input_error_and_nothing_is_registered(
    make_dataset: Callable[..., Dataset], small_settings: Settings
) -> None:
    ds = make_dataset(n_sessions=6)
    ds.info["feature_spec_hash"] = "0" * 64
    with pytest.raises(InputError, match="feature spec hash"):
        train(small_settings, ds)
    assert not Path(small_settings.mlflow_tracking_uri.removeprefix("sqlite:///")).exists()

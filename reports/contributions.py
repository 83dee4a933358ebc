"""Which features drove the model on a set of logged decisions: LightGBM's own contributions
(``Booster.predict(X, pred_contrib=True)``, TreeSHAP in raw-score units) on the feature vectors the engine
logged, with the booster of the model version that made those decisions (``serving.bundle.load_bundle``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantumtrader.config import Settings
from quantumtrader.errors import InputError

CLASSES = ("down", "flat", "up")  # serving.predictor.EXPECTED_CLASSES = [-1, 0, 1]


def model_uri_of(settings: Settings, version: str) -> str:
    """``models:/<name>/<version>`` for the registered model the engine trades (``live.service.model_uri``)."""
    uri = settings.live.service.model_uri
    name = uri.removeprefix("models:/").split("@")[0].split("/")[0]
    return f"models:/{name}/{version}"


def load_booster(settings: Settings, version: str) -> tuple[Any, Any]:
    """(booster, bundle) of the model version the engine ran, verified by the bundle loader."""
    from serving.bundle import load_bundle

    try:
        bundle = load_bundle(model_uri_of(settings, version), settings.mlflow_tracking_uri)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"cannot load model version {version} that the engine traded from "
                         f"{settings.mlflow_tracking_uri}: {type(err).__name__}: {err}; is the registry reachable "
                         "(stores.mlflow_tracking_uri)?") from None
    return bundle.predictor.booster, bundle


def contributions(booster: Any, X: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Per feature over the rows of ``X``: mean |contribution| summed over the three classes (how much it moved
    the model), and the mean signed contribution to up minus down (which way it pushed). Sorted by the first."""
    if not len(X):
        return pd.DataFrame(columns=["feature", "mean_abs", "up_minus_down", "rows"])
    raw = np.asarray(booster.predict(np.asarray(X, dtype=np.float64), pred_contrib=True, num_threads=1))
    nf = len(names)
    k = raw.shape[1] // (nf + 1)
    per = raw.reshape(len(X), k, nf + 1)[:, :, :nf]  # drop each class's bias column
    mean_abs = np.abs(per).sum(axis=1).mean(axis=0)
    signed = (per[:, k - 1, :] - per[:, 0, :]).mean(axis=0) if k >= 2 else per[:, 0, :].mean(axis=0)
    df = pd.DataFrame({"feature": names, "mean_abs": mean_abs, "up_minus_down": signed, "rows": len(X)})
    return df.sort_values("mean_abs", ascending=False, kind="stable").reset_index(drop=True)


def decision_contributions(settings: Settings, decisions: pd.DataFrame) -> tuple[pd.DataFrame, list[str], Any]:
    """Contributions over the decided bars in ``decisions``, each version's rows with its own booster; the
    per-version tables are combined weighted by rows. Returns (table, versions, the last version's bundle)."""
    from features.spec import FEATURE_NAMES

    names = list(FEATURE_NAMES)
    parts = []
    bundle = None
    versions = sorted(set(decisions["model_version"].astype(str)))
    for v in versions:
        rows = decisions[decisions["model_version"].astype(str) == v]
        booster, bundle = load_booster(settings, v)
        parts.append(contributions(booster, rows[names].to_numpy(dtype=np.float64), names))
    if not parts:
        return contributions(None, np.empty((0, len(names))), names), versions, bundle
    return combine(parts), versions, bundle


def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-weighted mean of contribution tables (several versions, or several days)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["feature", "mean_abs", "up_minus_down", "rows"])
    allp = pd.concat(parts, ignore_index=True)
    allp["w_abs"] = allp["mean_abs"] * allp["rows"]
    allp["w_sig"] = allp["up_minus_down"] * allp["rows"]
    g = allp.groupby("feature", sort=False).agg(w_abs=("w_abs", "sum"), w_sig=("w_sig", "sum"), rows=("rows", "sum"))
    out = pd.DataFrame({"feature": g.index, "mean_abs": g["w_abs"] / g["rows"],
                        "up_minus_down": g["w_sig"] / g["rows"], "rows": g["rows"]})
    return out.sort_values("mean_abs", ascending=False, kind="stable").reset_index(drop=True)

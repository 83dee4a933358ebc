"""``drift:``: what the drift check compares, its thresholds and how a detected drift starts a retrain
(docs/drift.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class DriftConfig(FrozenModel):
    """Thresholds of the hourly drift check (Evidently) and what a detected drift does."""

    drift_share: float = Field(0.6, gt=0.0, le=1.0,
                               description="Dataset drift when at least this share of the compared features drifted.")
    method: str | None = Field(None, description="Evidently stattest of every feature (e.g. ks, wasserstein, psi); "
                                                 "null = Evidently's choice by column type and size.")
    threshold: float | None = Field(None, gt=0.0,
                                    description="Per-feature threshold of that method; null = the method's default.")
    exclude_groups: tuple[str, ...] = Field(
        ("temporal",), description="Feature groups never compared: one day's clock and calendar features "
                                   "(day_of_week, session_progress, ...) differ from a month's by construction.")
    exclude_features: tuple[str, ...] = Field((), description="Further features never compared, by name.")
    min_current_rows: int = Field(100, gt=0,
                                  description="Fewer logged decisions than this: no verdict on drift, 'not enough'.")
    max_reference_rows: int = Field(20000, gt=0,
                                    description="The reference is sampled down to this many training rows (seeded).")
    seed: int = 0
    model_uri: str | None = Field(None, description="The model whose training data is the reference; null = "
                                                    "models:/<training.registered_model_name>@<promotion.champion_alias>.")
    experiment: str = Field("quantumtrader-drift", min_length=1, description="MLflow experiment of the drift runs.")
    log_to_mlflow: bool = True
    trigger: Literal["deployment", "subflow", "none"] = Field(
        "deployment", description="On drift: run the deployment retrain_deployment, the retrain flow in-process, or "
                                  "nothing.")
    retrain_deployment: str = Field("retrain/retrain-monthly", min_length=3)
    retrain_lock_timeout_s: float = Field(0.0, ge=0.0,
                                          description="A second retrain waits this long for the first, then skips.")

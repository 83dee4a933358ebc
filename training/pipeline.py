"""Training end to end as plain functions: plan -> cross-validate + tune -> final fit -> log + register.

``flows/train.py`` wraps these steps in Prefect tasks (folds in parallel on the configured task
runner); tests and the benchmark call them directly. Every input check runs in :func:`plan_training`,
before anything is fitted, logged or registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from live_engine.execution.costs import round_trip_cost_ticks
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger
from training.cv import Fold, check_folds, final_split, walk_forward_folds
from training.dataset import Dataset
from training.models import CalibratedBooster, FitAudit, feature_importance, fit_lightgbm
from training.tuning import CVJob, CVSummary, cv_jobs, param_combos, run_jobs, summarise

if TYPE_CHECKING:
    from quantumtrader.config import Settings
    from training.tracking import Registered

log = get_logger("training.pipeline")


@dataclass(frozen=True)
class TrainPlan:
    """Validated folds, parameter combinations and jobs for one training."""

    folds: list[Fold]
    final: Fold
    combos: list[dict[str, Any]]
    jobs: list[CVJob]
    cost_ticks: float


@dataclass(frozen=True)
class TrainResult:
    """What a training produced."""

    summary: CVSummary
    final: CalibratedBooster
    registered: Registered | None
    contract: dict[str, Any]
    final_audit: FitAudit


def plan_training(ds: Dataset, settings: Settings) -> TrainPlan:
    """Check the dataset against the feature spec and the folds against the config; build the jobs.

    Raises :class:`InputError` (nothing fitted, nothing registered) when the data's feature spec hash
    differs from the code's, when the folds have too few rows or when a class is missing in a slice.
    """
    from features.spec import FEATURE_NAMES, check_spec_hash
    from market.instruments import get_instrument

    data_hash = ds.info.get("feature_spec_hash")
    if not data_hash:
        raise InputError("the dataset does not say which feature spec built it (info['feature_spec_hash'])")
    check_spec_hash(str(data_hash), what="the training features")
    if list(ds.feature_names) != list(FEATURE_NAMES):
        raise InputError(
            f"dataset columns are not the {len(FEATURE_NAMES)} features of the spec in order "
            f"(got {len(ds.feature_names)} columns, first {ds.feature_names[:3]})"
        )
    cfg = settings.training
    folds = walk_forward_folds(
        ds.pos, ds.end_pos, n_folds=cfg.cv.n_folds, embargo=cfg.embargo, inner_val_fraction=cfg.cv.inner_val_fraction
    )
    final = final_split(ds.pos, ds.end_pos, embargo=cfg.embargo, inner_val_fraction=cfg.cv.inner_val_fraction)
    check_folds(
        [*folds, final],
        ds.y,
        min_train_rows=cfg.cv.min_train_rows,
        min_val_rows=cfg.cv.min_val_rows,
        min_test_rows=cfg.cv.min_test_rows,
    )
    combos = param_combos(cfg.tuning)
    instrument = get_instrument(str(ds.info.get("symbol", settings.market.symbol)))
    cost = round_trip_cost_ticks(instrument, settings.costs)
    return TrainPlan(folds=folds, final=final, combos=combos, jobs=cv_jobs(folds, combos), cost_ticks=cost)


def fit_final(
    ds: Dataset, plan: TrainPlan, params: dict[str, Any], settings: Settings
) -> tuple[CalibratedBooster, FitAudit]:
    """Refit the winning parameters on all rows; early stopping and calibration on the purged tail."""
    f = plan.final
    audit = FitAudit()
    X, y = ds.X, ds.y
    model = fit_lightgbm(X.iloc[f.fit], y[f.fit], X.iloc[f.val], y[f.val], params, settings.training.lgbm, audit)
    return model, audit


def training_feature_contract(ds: Dataset, settings: Settings) -> dict[str, Any]:
    """The feature contract of a model trained on ``ds``: the one place it is built for training.

    The input groups are the dataset's (``ds.info['input_groups']``, detected from the data); a
    dataset without them (assembled before groups were recorded) counts as having every group.
    """
    from features.contract import all_present, feature_contract

    return feature_contract(
        bar_spec=settings.market.bars.spec,
        large_trade_qty=settings.market.bars.large_trade_qty,
        symbol=str(ds.info.get("symbol", settings.market.symbol)),
        input_groups=ds.info.get("input_groups") or all_present(),
    )


def build_contract(ds: Dataset, model: CalibratedBooster, settings: Settings) -> dict[str, Any]:
    """The model contract the serving side loads by (see :func:`training.tracking.model_contract`)."""
    from features.spec import VERSION, spec_hash
    from training.tracking import model_contract

    return model_contract(
        feature_contract=training_feature_contract(ds, settings),
        feature_names=ds.feature_names,
        feature_spec_hash=spec_hash(),
        feature_set=VERSION,
        calibration=model.calibration,
        horizon=settings.training.horizon,
        dataset_hash=ds.snapshot_hash,
        bar_spec=settings.market.bars.spec,
    )


def log_and_register(
    settings: Settings, ds: Dataset, summary: CVSummary, model: CalibratedBooster, contract: dict[str, Any]
) -> Registered:
    """Charts + MLflow run + registration with the alias."""
    from training.charts import confusion_figure, feature_importance_figure
    from training.tracking import log_and_register as _log

    return _log(
        settings,
        ds,
        summary,
        model,
        contract=contract,
        importance_fig=feature_importance_figure(feature_importance(model.booster)),
        confusion_fig=confusion_figure(summary.oof_confusion),
    )


def train(settings: Settings, ds: Dataset, *, register: bool = True) -> TrainResult:
    """The whole training on ``ds``: every check first, then CV + tuning (a local thread pool of
    ``training.max_workers``; the flow uses its Prefect task runner instead), final fit, log and register."""
    plan = plan_training(ds, settings)
    cfg = settings.training
    results = run_jobs(ds, plan.jobs, cfg.lgbm, plan.cost_ticks, max_workers=cfg.max_workers)
    summary = summarise(results, plan.combos, ds.y)
    model, audit = fit_final(ds, plan, summary.best_params, settings)
    contract = build_contract(ds, model, settings)
    registered = log_and_register(settings, ds, summary, model, contract) if register else None
    log.info(
        "training done",
        data={"oof_auc_ovr": round(summary.oof_auc_ovr, 4), "best": summary.best_params,
              "version": registered.version if registered else None},
    )
    return TrainResult(summary=summary, final=model, registered=registered, contract=contract, final_audit=audit)

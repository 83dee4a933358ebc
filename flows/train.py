"""Prefect flow ``train``: dataset -> purged walk-forward CV + tuning -> final fit -> MLflow log -> register the bundle.

A thin wrapper over :mod:`training.pipeline`: the dataset comes from Feast point-in-time retrieval
(:func:`training.dataset.load_dataset`), every (parameter combination, fold) pair and every fold's
baselines is one task submitted to the configured task runner (``training.task_runner``: threads, or
a local Dask cluster as the scale-out path), and the winner is refitted, logged and registered with
the alias ``training.alias``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from rich.console import Console
from rich.table import Table

from quantumtrader.config import Settings, get_settings
from quantumtrader.progress import STARTUP, step, until_next_step
from training import pipeline
from training.config import LGBMConfig
from training.dataset import Dataset, load_dataset
from training.models import CalibratedBooster
from training.tracking import Registered
from training.tuning import CVJob, FoldResult, run_job, summarise


@task(name="load training dataset", cache_policy=NO_CACHE)
def dataset_task(settings: Settings, symbol: str) -> Dataset:
    return load_dataset(settings, symbol=symbol)


@task(name="plan folds", cache_policy=NO_CACHE)
def plan_task(ds: Dataset, settings: Settings) -> pipeline.TrainPlan:
    return pipeline.plan_training(ds, settings)


@task(name="cv fold", cache_policy=NO_CACHE)
def cv_task(ds: Dataset, job: CVJob, lgbm_cfg: LGBMConfig, cost_ticks: float) -> list[FoldResult]:
    return run_job(ds, job, lgbm_cfg, cost_ticks)


@task(name="final fit", cache_policy=NO_CACHE)
def final_task(ds: Dataset, plan: pipeline.TrainPlan, params: dict[str, Any], settings: Settings) -> CalibratedBooster:
    return pipeline.fit_final(ds, plan, params, settings)[0]


@task(name="log and register", cache_policy=NO_CACHE)
def register_task(
    settings: Settings, ds: Dataset, summary: Any, model: CalibratedBooster, contract: dict[str, Any]
) -> Registered:
    return pipeline.log_and_register(settings, ds, summary, model, contract)


def task_runner(settings: Settings) -> Any:
    """The configured Prefect task runner: a thread pool, or a local Dask cluster of worker processes."""
    cfg = settings.training
    if cfg.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={"n_workers": cfg.max_workers, "threads_per_worker": 1, "processes": True,
                            "dashboard_address": None},
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=cfg.max_workers)


def cv_lgbm_config(settings: Settings) -> LGBMConfig:
    """LightGBM config of the CV tasks. Threads: the fits take turns in LightGBM (one process-wide
    lock, :mod:`quantumtrader.lgbm_section`), each on ``training.lgbm.num_threads`` (0 = all cores).
    Dask: each of the ``max_workers`` worker processes has its own lock, so they share the cores."""
    cfg = settings.training
    return cfg.lgbm.shared_by(cfg.max_workers) if cfg.task_runner == "dask" else cfg.lgbm


@flow(name="train", validate_parameters=False, log_prints=False)
def _train_flow(
    settings: Settings,
    symbol: str,
    register: bool = True,
    console: Console | None = None,
    dataset: Dataset | None = None,
) -> dict[str, Any]:
    # Datasets go to tasks unwrapped: prefect's ``quote`` does not survive pickling to Dask workers
    # (it arrives as a tuple); a Dataset is a dataclass of arrays, cheap for Prefect to inspect.
    with step("train", "dataset loaded through Feast", console=console) as s:
        ds = dataset if dataset is not None else dataset_task(settings, symbol)
        s.done(f"dataset of {len(ds):,} labelled rows " + ("given" if dataset is not None else "loaded through Feast"))
    plan = plan_task(ds, settings)
    cfg = settings.training
    lgbm_cfg = cv_lgbm_config(settings)
    futures = [cv_task.submit(ds, job, lgbm_cfg, plan.cost_ticks) for job in plan.jobs]
    results: list[FoldResult] = []
    label = f"CV of {len(plan.combos)} combos x {len(plan.folds)} folds + baselines ({cfg.task_runner}), jobs"
    with step("train", label, total=len(futures), console=console) as progress:
        for fut in as_completed(futures) if console is not None else futures:
            results.extend(fut.result())
            progress.advance()
    summary = summarise(results, plan.combos, ds.y)
    with step("train", "final model fitted on all rows", console=console):
        model = final_task(ds, plan, summary.best_params, settings)
    contract = pipeline.build_contract(ds, model, settings)
    registered = None
    if register:
        with step("train", "logged to MLflow and registered", console=console):
            registered = register_task(settings, ds, summary, model, contract)
    return {
        "rows": len(ds),
        "dataset_hash": ds.snapshot_hash,
        "classes": ds.class_counts(),
        "folds": len(plan.folds),
        "combos": len(plan.combos),
        "best_params": summary.best_params,
        "best_iteration": model.best_iteration,
        "temperature": model.calibration.get("temperature"),
        "cv": summary.aggregate,
        "oof_auc_ovr": summary.oof_auc_ovr,
        "oof_auc_direction": summary.oof_auc_direction,
        "registered": None if registered is None else {
            "name": registered.name, "version": registered.version, "alias": registered.alias,
            "run_id": registered.run_id, "uri": registered.alias_uri,
            "bundle_files": len(registered.bundle_sha256),
        },
    }


def train_flow(
    settings: Settings | None = None,
    symbol: str | None = None,
    *,
    register: bool = True,
    console: Console | None = None,
    dataset: Dataset | None = None,
) -> dict[str, Any]:
    """Run the ``train`` flow on the configured task runner; ``dataset`` skips Feast (benchmarks)."""
    settings = settings or get_settings()
    symbol = symbol or settings.market.symbol
    runner = task_runner(settings)
    return _train_flow.with_options(task_runner=runner)(
        settings=settings, symbol=symbol, register=register, console=console, dataset=dataset
    )


def cv_table(summary: dict[str, Any]) -> Table:
    """Mean CV metrics of the winner and the two baselines."""
    table = Table(title="purged walk-forward CV (mean over folds)")
    table.add_column("model")
    cols = [("log_loss", "log loss"), ("balanced_accuracy", "bal. acc"), ("auc_ovr", "AUC ovr"),
            ("auc_direction", "AUC dir"), ("brier", "Brier"), ("proxy_net_ticks", "net ticks/signal")]
    for _, title in cols:
        table.add_column(title, justify="right")
    for name in ("lgbm", "logreg", "majority"):
        agg = summary["cv"].get(name)
        if agg:
            table.add_row(name, *(f"{agg[k]:.4f}" for k, _ in cols))
    return table


def demo_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """``make demo``: train on the ingested sessions' features, register the challenger, show CV metrics."""
    with until_next_step("train", STARTUP, console=console):
        summary = train_flow(settings=settings, console=console)
    reg = summary["registered"]
    console.print(
        f"{summary['rows']:,} labelled rows (dataset {summary['dataset_hash'][:12]}), classes {summary['classes']}; "
        f"best {summary['best_params']}"
    )
    console.print(cv_table(summary))
    console.print(
        f"out-of-fold AUC (ovr) {summary['oof_auc_ovr']:.4f} · direction AUC {summary['oof_auc_direction']:.4f}"
    )
    console.print(
        f"registered [bold]{reg['name']}[/bold] version [bold]{reg['version']}[/bold] as @{reg['alias']} "
        f"({reg['uri']}), run {reg['run_id']}; bundle of {reg['bundle_files']} files, each SHA-256 recorded on "
        "the version (docs/bundle.md)"
    )
    console.print("open the MLflow UI on this store: [bold]make mlflow-ui[/bold] "
                  f"(or [bold].venv/bin/qtml ui mlflow[/bold]; store {settings.mlflow_tracking_uri})")
    return summary


@flow(name="train-scheduled", log_prints=False)
def scheduled_train_flow(symbol: str | None = None, register_model: bool = True) -> dict[str, Any]:
    """Deployable entry point (``prefect.yaml``): JSON-only parameters, settings from config + ``QT_`` env.

    Runs :func:`train_flow` (the ``train`` flow on the configured task runner) as a subflow.
    """
    return train_flow(symbol=symbol, register=register_model)

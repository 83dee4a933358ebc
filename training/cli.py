"""CLI command ``qtml train``."""

from __future__ import annotations

import typer


def train(
    symbol: str = typer.Option(None, "--symbol", help="Instrument (default: market.symbol)."),
    task_runner: str = typer.Option(None, "--task-runner", help="thread | dask (default: training.task_runner)."),
    no_register: bool = typer.Option(False, "--no-register", help="Cross-validate and fit, but register nothing."),
) -> None:
    """Train on the Feast features of the lake's bars: purged walk-forward CV, tuning, MLflow, registry."""
    from rich.console import Console

    from flows.train import cv_table, train_flow
    from quantumtrader.config import get_settings

    settings = get_settings()
    if task_runner and task_runner not in ("thread", "dask"):
        raise typer.BadParameter(f"--task-runner must be thread or dask, not {task_runner!r}")
    if task_runner:
        training = settings.training.model_validate({**settings.training.model_dump(), "task_runner": task_runner})
        settings = settings.model_copy(update={"training": training})
    console = Console()
    summary = train_flow(settings=settings, symbol=symbol, register=not no_register, console=console)
    console.print(cv_table(summary))
    console.print(f"out-of-fold AUC (ovr) {summary['oof_auc_ovr']:.4f}; best {summary['best_params']}")
    reg = summary["registered"]
    if reg:
        console.print(f"registered {reg['name']} v{reg['version']} as @{reg['alias']} (run {reg['run_id']})")

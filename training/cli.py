"""CLI command ``qtml train``."""

from __future__ import annotations

import typer


def train(
    symbol: str = typer.Option(None, "--symbol", help="Instrument (default: market.symbol)."),
    task_runner: str = typer.Option(None, "--task-runner", help="thread | dask (default: training.task_runner)."),
    no_register: bool = typer.Option(False, "--no-register", help="Cross-validate and fit, but register nothing."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result as one JSON object on stdout (logs and progress go to stderr)."
    ),
) -> None:
    """Train on the Feast features of the lake's bars: purged walk-forward CV, tuning, MLflow, registry."""
    from rich.console import Console

    from quantumtrader.config import get_settings
    from quantumtrader.progress import STARTUP, err_console, print_json, until_next_step

    settings = get_settings()
    if task_runner and task_runner not in ("thread", "dask"):
        raise typer.BadParameter(f"--task-runner must be thread or dask, not {task_runner!r}")
    if task_runner:
        training = settings.training.model_validate({**settings.training.model_dump(), "task_runner": task_runner})
        settings = settings.model_copy(update={"training": training})
    console = err_console()
    with until_next_step("train", STARTUP, console=console):
        from flows.train import cv_table, train_flow

        summary = train_flow(settings=settings, symbol=symbol, register=not no_register, console=console)
    if as_json:
        print_json(summary)
        return
    console = Console()
    console.print(f"{summary['rows']:,} labelled rows (dataset {summary['dataset_hash'][:12]}), "
                  f"classes {summary['classes']}", highlight=False)
    console.print(cv_table(summary))
    console.print(f"out-of-fold AUC (ovr) {summary['oof_auc_ovr']:.4f}; best {summary['best_params']}")
    reg = summary["registered"]
    if reg:
        console.print(f"registered {reg['name']} v{reg['version']} as @{reg['alias']} ({reg['uri']}, "
                      f"run {reg['run_id']})")
    else:
        console.print("nothing registered (--no-register)")

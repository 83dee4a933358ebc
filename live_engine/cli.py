"""CLI command ``qtml backtest`` and the demo stage: replay sessions through the decision core.

Heavy imports stay inside the functions so that ``qtml --help`` stays fast.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import typer

from quantumtrader.progress import step

if TYPE_CHECKING:
    from rich.console import Console

    from live_engine.backtest.runner import BacktestResult
    from quantumtrader.config import Settings


def parse_sessions(text: str | None) -> list[date] | int | None:
    """``"5"`` -> the last 5 sessions; ``"2026-01-05,2026-01-06"`` -> those dates; None -> the default."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text.isdigit():
        n = int(text)
        if n <= 0:
            raise typer.BadParameter("--sessions must be a positive count or a list of dates")
        return n
    try:
        return [date.fromisoformat(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"--sessions {text!r}: give a count (5) or dates (2026-01-05,2026-01-06)") from None


SHOWN = ("pnl", "n_trades", "win_rate", "profit_factor", "sharpe_daily", "sortino_daily", "max_drawdown",
         "max_drawdown_pct", "exposure", "trades_per_day", "avg_holding_minutes", "degraded_bars",
         "fill_vs_close_ticks", "replay_trades_per_s")


def run_with_progress(settings: Settings, console: Console | None, *, model_uri: str | None = None,
                      sessions: list[date] | int | None = None, run_name: str | None = None,
                      log_mlflow: bool = True) -> BacktestResult:
    """Resolve and load the model first (a bad URI fails before anything else), then load and replay
    the sessions; each step prints its progress line on ``console`` (None: silent)."""
    from serving.predictor import Predictor

    uri = model_uri or settings.live.backtest.model_uri
    with step("backtest", f"model {uri} loaded", console=console):
        model = Predictor.from_model_uri(uri, tracking_uri=settings.mlflow_tracking_uri)
    from live_engine.backtest.replay import load_lake_sessions
    from live_engine.backtest.runner import run_backtest

    with step("backtest", "sessions loaded from the lake", console=console) as s:
        data = load_lake_sessions(settings, sessions if sessions is not None else settings.live.backtest.sessions)
        s.done(f"{len(data)} sessions loaded from the lake")
    with step("backtest", "sessions replayed", total=len(data), console=console) as replayed:
        return run_backtest(settings, model_uri=uri, model=model, data=data, run_name=run_name,
                            log_mlflow=log_mlflow, progress=lambda k: replayed.update(k),
                            step=lambda label: step("backtest", label, console=console))


def print_summary(result: BacktestResult, console: Console) -> None:
    from rich.table import Table

    table = Table(title="Backtest metrics", show_header=False)
    for key in SHOWN:
        v = result.metrics.get(key)
        if v is not None:
            table.add_row(key, f"{v:,.4f}" if isinstance(v, float) else str(v))
    contrib = {k: v for k, v in result.metrics.items() if k.startswith("contribution_")}
    for k, v in contrib.items():
        table.add_row(k, f"{v:,.2f} R$")
    console.print(table)
    console.print(f"order-list hash {result.order_hash[:16]}…  bars {result.stats.bars:,}  "
                  f"trades replayed {result.stats.trades:,} in {result.stats.seconds:.1f} s")
    console.print(f"report → [bold]{result.report_path}[/bold]")
    if result.warmup is not None:
        w = result.warmup
        days = f" ({w.days[0]} … {w.days[-1]})" if w.days else ""
        console.print(f"warm-up: {w.used} of {w.wanted} earlier sessions replayed without trading{days}"
                      + (" [bold red]short: the first evaluated bars may be incomplete[/bold red]" if w.short else ""))
    style = {"out-of-sample": "green", "in-sample": "bold red"}.get(result.sample, "yellow")
    console.print(f"sessions vs the model's training window: [{style}]{result.sample}[/{style}]")
    if result.mlflow_run_id:
        console.print(f"MLflow run {result.mlflow_run_id} (tagged with the model version)")


def demo_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """``make demo`` stage: replay the last simulated sessions with the challenger; print metrics and report."""
    cfg = settings.live.backtest
    console.print(f"Backtesting {cfg.model_uri} on the last {cfg.sessions} sessions of the lake "
                  "(streaming features → model + 4 agents → consensus → risk → paper broker)…")
    result = run_with_progress(settings, console, model_uri=cfg.model_uri, sessions=cfg.sessions)
    print_summary(result, console)
    return {"run_dir": str(result.run_dir), "report": str(result.report_path), "mlflow_run_id": result.mlflow_run_id,
            "sample": result.sample,
            **{k: result.metrics[k] for k in SHOWN if k in result.metrics}}


def backtest(
    model_uri: str | None = typer.Option(
        None, "--model-uri",
        help="MLflow model URI (default: live.backtest.model_uri = models:/quantumtrader@challenger).",
    ),
    sessions: str | None = typer.Option(
        None, "--sessions", help="A count of the last N lake sessions, or comma-separated dates YYYY-MM-DD."
    ),
    run_name: str | None = typer.Option(None, "--run-name", help="Output folder name under reports/backtests."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log the run to MLflow."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result as one JSON object on stdout (logs and progress go to stderr)."
    ),
) -> None:
    """Replay recorded sessions through the decision core (the live code) and report the metrics."""
    from rich.console import Console

    from quantumtrader.config import get_settings
    from quantumtrader.progress import err_console, print_json

    settings = get_settings()
    result = run_with_progress(settings, err_console(), model_uri=model_uri, sessions=parse_sessions(sessions),
                               run_name=run_name, log_mlflow=not no_mlflow)
    if as_json:
        print_json(result_dict(result))
    else:
        print_summary(result, Console())


def result_dict(result: BacktestResult) -> dict[str, Any]:
    """The JSON-ready result of a backtest: where its outputs are and every metric."""
    return {"run_dir": str(result.run_dir), "report": str(result.report_path), "mlflow_run_id": result.mlflow_run_id,
            "sample": result.sample, "order_hash": result.order_hash, "bars": result.stats.bars,
            "trades_replayed": result.stats.trades, "replay_seconds": result.stats.seconds,
            "warmup_sessions_used": result.warmup.used if result.warmup else 0,
            "warmup_sessions_wanted": result.warmup.wanted if result.warmup else 0,
            "metrics": {k: v for k, v in result.metrics.items() if k != "order_hash"}}

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


SHOWN = ("pnl", "n_trades", "pnl_per_trade", "win_rate", "profit_factor", "daily_pnl_mean", "daily_pnl_mean_lo",
         "daily_pnl_mean_hi", "prob_daily_pnl_positive", "sharpe_per_day", "sharpe_per_day_lo", "sharpe_per_day_hi",
         "sharpe_annualised", "sortino_per_day", "deflated_sharpe", "deflated_sharpe_trials", "sessions",
         "max_drawdown", "max_drawdown_pct", "exposure", "trades_per_day", "avg_holding_minutes", "signals",
         "signals_denied", "signals_denied_share", "exit_share_time_exit", "degraded_bars", "fill_vs_close_ticks",
         "replay_trades_per_s")


def run_with_progress(settings: Settings, console: Console | None, *, model_uri: str | None = None,
                      sessions: list[date] | int | None = None, run_name: str | None = None,
                      log_mlflow: bool = True, config_from: str = "bundle") -> BacktestResult:
    """Resolve, verify and load the model's bundle first (a bad URI or a tampered file fails before
    anything else), then load and replay the sessions; each step prints its progress line on
    ``console`` (None: silent). ``config_from``: ``bundle`` (the version's agents and config) or
    ``working-tree`` (the explicit override, recorded on the run)."""
    from live_engine.backtest.run_config import check_config_from
    from serving.bundle import load_bundle

    check_config_from(config_from)
    uri = model_uri or settings.live.backtest.model_uri
    with step("backtest", f"bundle {uri} verified and loaded", console=console) as s:
        bundle = load_bundle(uri, settings.mlflow_tracking_uri)
        s.done(f"bundle {uri} ({bundle.uri}) verified: {len(bundle.hashes)} files match the registry's hashes")
    from live_engine.backtest.replay import load_lake_sessions
    from live_engine.backtest.runner import run_backtest

    with step("backtest", "sessions loaded from the lake", console=console) as s:
        data = load_lake_sessions(settings, sessions if sessions is not None else settings.live.backtest.sessions)
        s.done(f"{len(data)} sessions loaded from the lake")
    with step("backtest", "sessions replayed", total=len(data), console=console) as replayed:
        return run_backtest(settings, bundle=bundle, data=data, run_name=run_name, config_from=config_from,
                            log_mlflow=log_mlflow, progress=lambda k: replayed.update(k),
                            step=lambda label: step("backtest", label, console=console))


def print_summary(result: BacktestResult, console: Console) -> None:
    """The metrics as the report shows them (labels with units and days, 90 % intervals, n/a), then the
    warnings a trader should read first, then where the outputs are."""
    from rich.markup import escape
    from rich.table import Table

    from live_engine.backtest.presentation import notes, sections

    info = {"sample": result.sample, "deflated_sharpe_trials": result.trials_source}
    table = Table(title="Backtest metrics", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("90 % interval / share", justify="right")
    for title, rows in sections(result.metrics, info):
        table.add_row(f"[bold]{title}[/bold]", "", "")
        for row in rows:
            table.add_row(f"  {escape(row.label)}", escape(row.value), escape(row.interval))
    console.print(table)
    for line in notes(result.metrics, info):
        console.print(f"[yellow]![/yellow] {escape(line)}")
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
    if result.config_from == "bundle" and result.bundle is not None:
        console.print(f"agents, coordinator, consensus and risk config: the bundle's ({result.bundle.uri})")
    elif result.bundle is not None:
        differs = ", ".join(result.config_differs_from_bundle) or "nothing"
        console.print(f"agents, coordinator, consensus and risk config: [bold yellow]the working tree's[/bold yellow] "
                      f"(override; differs from {result.bundle.uri} in: {differs})")
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
            "sample": result.sample, "bundle": result.bundle.uri if result.bundle is not None else None,
            "config_from": result.config_from, **{k: result.metrics[k] for k in SHOWN if k in result.metrics}}


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
    config_from: str = typer.Option(
        "bundle", "--config-from",
        help="Whose agents and coordinator / consensus / risk config to run: 'bundle' (the model version's, "
             "as trained) or 'working-tree' (live_engine/decision/agents and live.* now; recorded on the run).",
    ),
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
                               run_name=run_name, log_mlflow=not no_mlflow, config_from=config_from)
    if as_json:
        print_json(result_dict(result))
    else:
        print_summary(result, Console())


def result_dict(result: BacktestResult) -> dict[str, Any]:
    """The JSON-ready result of a backtest: where its outputs are and every metric."""
    return {"run_dir": str(result.run_dir), "report": str(result.report_path), "mlflow_run_id": result.mlflow_run_id,
            "sample": result.sample, "order_hash": result.order_hash, "bars": result.stats.bars,
            "bundle": result.bundle.uri if result.bundle is not None else None, "config_from": result.config_from,
            "config_differs_from_bundle": list(result.config_differs_from_bundle),
            "trades_replayed": result.stats.trades, "replay_seconds": result.stats.seconds,
            "warmup_sessions_used": result.warmup.used if result.warmup else 0,
            "warmup_sessions_wanted": result.warmup.wanted if result.warmup else 0,
            "metrics": {k: v for k, v in result.metrics.items() if k != "order_hash"}}

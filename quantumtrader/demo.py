"""``make demo``: the main job end to end on embedded defaults, with a short summary per stage.

Stages: ingest -> features -> train -> backtest -> promote (the gate decides whether the challenger
becomes ``@champion`` and prints its checks).

Each stage is a plain function ``stage(settings, console) -> dict`` owned by its domain's flow module;
this module only runs them in order and prints where the outputs are.

``qtml demo --trades-only`` runs the same stages on a history without book, the only history a
ProfitDLL user has: the simulated sessions are written as trade files only and ingested through the
file path (``qtml ingest <folder>``'s flow), the model is trained without the book features (its
contract says ``book: false``) and the backtest runs with the liquidity agent abstaining.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console

from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from quantumtrader.progress import STARTUP, step, until_next_step

Stage = Callable[[Settings, Console], dict[str, Any]]


def _stages(trades_only: bool = False) -> list[tuple[str, Stage]]:
    from flows.features import demo_stage as features_stage
    from flows.ingest import demo_stage as ingest_stage
    from flows.promote import demo_stage as promote_stage
    from flows.train import demo_stage as train_stage
    from live_engine.cli import demo_stage as backtest_stage

    stages: list[tuple[str, Stage]] = [
        ("ingest", trades_only_ingest_stage if trades_only else ingest_stage),
        ("features", features_stage),
        ("train", train_stage),  # after features: trains on their Feast point-in-time features
        ("backtest", backtest_stage),  # it replays with the challenger the earlier stages registered
    ]
    if trades_only:
        stages.append(("trades-only check", trades_only_summary_stage))  # reads the backtest stage's run
    stages.append(("promote", promote_stage))  # the gate on the challenger: @champion only on its evidence
    return stages


def trades_only_ingest_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """Simulate ``market.simulator.sessions`` sessions without book, write them as trade files under
    ``<var_dir>/sim-trades-only/trades`` and ingest that folder through the flow 'ingest'."""
    from flows.ingest import ingest_flow
    from market.lake import Lake
    from market.simulator import simulate, write_simulation

    cfg, symbol = settings.market.simulator, settings.market.symbol
    book_days = Lake(settings.lake_root).days("book", symbol)
    if book_days:
        raise InputError(
            f"the lake at {settings.lake_root} already holds book for {len(book_days)} {symbol} days: a trades-only "
            "demo needs a lake without book; point QT_STORES__VAR_DIR at a fresh folder"
        )
    out = settings.var_dir / "sim-trades-only"
    shutil.rmtree(out, ignore_errors=True)  # the demo's own scratch folder: no stale days from an earlier run
    console.print(f"Simulating {cfg.sessions} {symbol} sessions from {cfg.start} [bold]without book[/bold] "
                  f"(seed {cfg.seed}, ~{cfg.trades_per_session:,} trades each) into {out / 'trades'}…")
    with step("ingest", "sessions simulated and written without book", console=console):
        write_simulation(simulate(cfg.sessions, cfg.start, symbol=symbol, seed=cfg.seed,
                                  trades_per_session=cfg.trades_per_session, planted_strength=cfg.planted_strength,
                                  book=False), out)
    with until_next_step("ingest", STARTUP, console=console):
        summary = ingest_flow(source="path", path=str(out), symbol=symbol, settings=settings, console=console)
    console.print(f"sessions [bold]{summary['sessions']}[/bold] · trades [bold]{summary['trades_written']:,}[/bold] · "
                  f"book snapshots {summary['book_snapshots']:,} · bars {summary['bars']:,} · "
                  f"quarantined rows [bold]{summary['quarantined_rows']}[/bold]")
    return summary


def trades_only_summary_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """What the trades-only run proved: the challenger's input groups and the agents' abstentions."""
    import mlflow
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    uri = settings.live.backtest.model_uri
    groups = (get_model_info(uri).metadata or {}).get("feature_contract", {}).get("input_groups", {})
    runs = sorted((settings.reports_dir / "backtests").glob("*/decisions.jsonl"), key=lambda p: p.stat().st_mtime)
    abstained: dict[str, int] = {}
    bars = 0
    if runs:
        for line in runs[-1].read_bytes().splitlines():
            rec = orjson.loads(line)
            bars += 1
            for name, vote in rec.get("votes", {}).items():
                if vote and vote[0] is None:
                    abstained[name] = abstained.get(name, 0) + 1
    console.print(f"{uri} input groups: {groups}; agents abstaining (bars): {abstained or 'none'} of {bars} bars")
    return {"input_groups": groups, "abstained": abstained, "bars": bars}


def run_demo(settings: Settings, *, trades_only: bool = False) -> dict[str, dict[str, Any]]:
    """Run every stage; return each stage's summary (``trades_only``: on a history without book)."""
    console = Console()
    results: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for name, stage in _stages(trades_only):
        console.rule(f"[bold]{name}")
        t = time.perf_counter()
        results[name] = stage(settings, console)
        console.print(f"[dim]{name} stage: {time.perf_counter() - t:.1f} s wall, start-up included[/dim]")
    console.rule(f"[bold green]demo finished in {time.perf_counter() - t0:.1f} s")
    console.print(f"All outputs are under [bold]{settings.var_dir}[/bold].")
    if (results.get("promote") or {}).get("champion_after"):  # there is a @champion for the engine to trade
        console.print("Next, the live engine on paper: [bold].venv/bin/qtml engine start --feed sim --speed 60 "
                      "--detach[/bold], then [bold].venv/bin/qtml engine status[/bold] (docs/engine.md).")
    return results

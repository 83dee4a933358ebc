"""``make demo``: the main job end to end on embedded defaults, with a short summary per stage.

Each stage is a plain function ``stage(settings, console) -> dict`` owned by its domain's flow module;
this module only runs them in order and prints where the outputs are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from quantumtrader.config import Settings

Stage = Callable[[Settings, Console], dict[str, Any]]


def _stages() -> list[tuple[str, Stage]]:
    from flows.features import demo_stage as features_stage
    from flows.ingest import demo_stage as ingest_stage
    from flows.train import demo_stage as train_stage
    from live_engine.cli import demo_stage as backtest_stage

    return [
        ("ingest", ingest_stage),
        ("features", features_stage),
        ("train", train_stage),  # after features: trains on their Feast point-in-time features
        ("backtest", backtest_stage),  # keep last: it replays with the challenger the earlier stages registered
    ]


def run_demo(settings: Settings) -> dict[str, dict[str, Any]]:
    """Run every stage; return each stage's summary."""
    console = Console()
    results: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for name, stage in _stages():
        console.rule(f"[bold]{name}")
        t = time.perf_counter()
        results[name] = stage(settings, console)
        console.print(f"[dim]{name} took {time.perf_counter() - t:.1f} s[/dim]")
    console.rule(f"[bold green]demo finished in {time.perf_counter() - t0:.1f} s")
    console.print(f"All outputs are under [bold]{settings.var_dir}[/bold].")
    return results

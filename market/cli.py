"""CLI commands of the market domain: ``qtml simulate`` and ``qtml ingest``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer


def simulate(
    sessions: int = typer.Option(20, "--sessions", min=1, help="Number of B3 trading sessions to simulate."),
    start: str = typer.Option("2026-01-05", "--start", help="First calendar date (YYYY-MM-DD)."),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives identical output."),
    out: Path = typer.Option(Path("var/sim"), "--out", help="Output folder."),
) -> None:
    """Simulate WDO-like sessions (trades + 5-level book) into OUT."""
    raise NotImplementedError("owned by the market-sources work")


def ingest(
    path: Path = typer.Argument(..., help="A file or folder: Profit export, ProfitDLL recording or CSV/Parquet."),
    symbol: str = typer.Option("WDO", "--symbol", help="Instrument symbol."),
) -> None:
    """Load, validate and write trades into the data lake, then build bars."""
    raise NotImplementedError("owned by the ingest work")


_ = date  # used by implementations

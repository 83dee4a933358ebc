"""CLI commands of the market domain: ``qtml simulate`` and ``qtml ingest``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import cast

import typer


def simulate(
    sessions: int | None = typer.Option(
        None, "--sessions", min=1, help="Number of B3 trading sessions (default: config market.simulator)."
    ),
    start: str | None = typer.Option(
        None, "--start", help="First calendar date, YYYY-MM-DD; holidays are skipped (default: config "
        "market.simulator)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Random seed; the same seed gives identical output (default: config market.simulator)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: <var_dir>/sim)."),
    trades: int | None = typer.Option(
        None, "--trades-per-session", min=2, help="Trades per session (default: config market.simulator)."
    ),
    strength: float | None = typer.Option(
        None, "--strength", min=0.0, max=1.0,
        help="Planted predictable component, 0 = none (default: config market.simulator).",
    ),
) -> None:
    """Simulate WDO-like sessions (trades + 5-level book) into OUT/trades and OUT/book (Parquet)."""
    from rich.console import Console
    from rich.table import Table

    from market.simulator import simulate as run_simulation
    from market.simulator import write_simulation
    from quantumtrader.config import get_settings
    from quantumtrader.progress import step

    settings = get_settings()
    cfg = settings.market.simulator
    try:
        first = date.fromisoformat(start) if start is not None else cfg.start
    except ValueError:
        raise typer.BadParameter(f"--start {start!r} is not a YYYY-MM-DD date") from None
    n = sessions if sessions is not None else cfg.sessions
    out_dir = out if out is not None else settings.var_dir / "sim"
    symbol = settings.market.symbol
    strength_value = strength if strength is not None else cfg.planted_strength
    sims = run_simulation(
        n, first, symbol=symbol,
        seed=seed if seed is not None else cfg.seed,
        trades_per_session=trades if trades is not None else cfg.trades_per_session,
        planted_strength=strength_value,
    )
    console = Console()
    n_trades, days = 0, []
    with step("simulate", "sessions simulated and written", total=n) as progress:
        for session in sims:
            write_simulation([session], out_dir)
            n_trades += len(session.trades)
            days.append(session.day)
            progress.advance()
    table = Table(title=f"simulated {symbol}", show_header=False)
    table.add_row("sessions", f"{len(days)} ({days[0]} .. {days[-1]})")
    table.add_row("trades", f"{n_trades:,}")
    table.add_row("planted strength", f"{strength_value:g}")
    table.add_row("trades files", str(out_dir / "trades"))
    table.add_row("book files", str(out_dir / "book"))
    console.print(table)


def ingest(
    path: Path = typer.Argument(
        ..., help="A trades file (Profit export, ProfitDLL recording, CSV/Parquet) or a folder (e.g. `qtml simulate` "
        "output with trades/ and book/)."
    ),
    symbol: str | None = typer.Option(None, "--symbol", help="Instrument symbol (default: market.symbol)."),
    fmt: str | None = typer.Option(
        None, "--format", help="profit | profitdll | generic | canonical (default: detected from the header; "
        "generic when --column-map is given)."
    ),
    tz: str | None = typer.Option(
        None, "--tz", help="IANA zone of timestamps without a UTC offset, e.g. UTC or America/New_York (default: "
        "the instrument's zone, America/Sao_Paulo, with a warning). Timestamps with an offset ignore it."
    ),
    column_map: str | None = typer.Option(
        None, "--column-map", help="Our column names = the file's headers, e.g. ts=DateTime,price=Price,qty=Volume "
        "(headers match ignoring case; with --format profit the names are Profit fields: date=Data,time=Hora)."
    ),
    side_rule: str = typer.Option(
        "none", "--side-rule", help="none: a file without a side column has unknown sides (trade type 32); tick: "
        "infer them by the tick rule (recorded in the day's _source.json)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace the days the file covers instead of appending to them (merge, de-duplicated)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result as one JSON object on stdout (logs and progress go to stderr)."
    ),
) -> None:
    """Load, validate (Great Expectations gates), write the lake day by day, then build bars."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from market.gates import GateOutcome
    from market.ingest import IngestReport, ingest_file, plan_files
    from market.instruments import canonical_symbol
    from market.loaders.options import LoaderOptions, SideRule, parse_column_map
    from quantumtrader.config import get_settings
    from quantumtrader.errors import InputError
    from quantumtrader.progress import print_json, step

    settings = get_settings()
    symbol = canonical_symbol(symbol or settings.market.symbol)
    if side_rule not in ("none", "tick"):
        raise InputError(f"--side-rule {side_rule!r} is not one of none, tick")
    options = LoaderOptions(tz=tz, column_map=parse_column_map(column_map) if column_map is not None else None,
                            side_rule=cast(SideRule, side_rule))
    console = Console()
    plan = plan_files(path, symbol)
    report = IngestReport(symbol=symbol, lake_root=settings.lake_root)
    with step("ingest", "files validated and written", total=len(plan)) as progress:

        def on_day(o: GateOutcome) -> None:
            if o.dataset == "trades":
                progress.update(description=f"{o.day}: {o.rows:,} trades, {o.bad_rows} quarantined")

        for kind, file in plan:
            progress.update(description=f"{kind} {file.name}")
            report.extend(ingest_file(file, kind, symbol=symbol, settings=settings, fmt=fmt, seen=report.seen,
                                      on_day=on_day, options=options, replace=replace))
            progress.advance()
    s = report.summary()
    if as_json:
        print_json({**s, "path": str(path), "days": [d.isoformat() for d in report.days],
                    "notes": list(dict.fromkeys(report.notes)), "appended": report.append_lines()})
        report.raise_for_failures()
        return
    table = Table(title=f"ingested {symbol} from {path}", show_header=False)
    days = report.days
    table.add_row("sessions", f"{len(days)}" + (f" ({days[0]} .. {days[-1]})" if days else ""))
    table.add_row("trades", f"{s['trades_written']:,} written of {s['trades_read']:,} read")
    table.add_row("quarantined rows", f"{s['quarantined_rows']:,} (max bad share "
                  f"{settings.market.validation.max_bad_share:.2%} per day)")
    table.add_row("bars", f"{s['bars']:,} ({settings.market.bars.spec})")
    table.add_row("lake", str(settings.lake_root))
    table.add_row("quarantine", str(settings.lake_root / "quarantine"))
    for note in dict.fromkeys(report.notes):  # also logged as warnings
        table.add_row("[yellow]warning[/yellow]", f"[yellow]{escape(note)}[/yellow]")
    console.print(table)
    for line in report.append_lines():
        console.print(line)
    report.raise_for_failures()

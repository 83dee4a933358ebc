"""Prefect flow ``ingest``: simulate or load -> validate -> lake -> bars.

Thin on purpose: each task calls a plain function of :mod:`market.ingest` (which the CLI and tests
call too). Tasks are coarse (one simulated session or one file each); only a
:class:`~quantumtrader.errors.TransientError` is retried, never bad input. Runs on Prefect's local
ephemeral API unless ``stores.prefect_api_url`` points at a server.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE
from rich.console import Console

from market.ingest import IngestReport, ingest_file, ingest_frames, plan_files
from market.lake import bars_dataset
from market.loaders.options import LoaderOptions
from quantumtrader.config import Settings, get_settings
from quantumtrader.errors import InputError, TransientError
from quantumtrader.progress import STARTUP, step, until_next_step


def only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry a failed task only when it raised :class:`TransientError`."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            exc = state.result(raise_on_failure=False)
        except Exception as err:  # the stored result itself may be the exception
            exc = err
    return isinstance(exc, TransientError)


_TASK_OPTS: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": 1,
    "retry_condition_fn": only_transient,
    "cache_policy": NONE,
    "persist_result": False,
}


@task(name="simulate-sessions", **_TASK_OPTS)
def simulate_task(settings: Settings, symbol: str, sessions: int, start: date, seed: int) -> list[Any]:
    """Simulate ``sessions`` sessions (kept in memory: the demo's sizes are small)."""
    from market.simulator import simulate

    cfg = settings.market.simulator
    return list(simulate(sessions, start, symbol=symbol, seed=seed, trades_per_session=cfg.trades_per_session,
                         planted_strength=cfg.planted_strength))


@task(name="ingest-session", **_TASK_OPTS)
def ingest_session_task(session: Any, settings: Settings, seen: dict[Any, bool]) -> IngestReport:
    """Validate one simulated session, write trades, book and bars."""
    return ingest_frames(session.trades, session.book, symbol=session.symbol, settings=settings, seen=seen,
                         check=False)


@task(name="ingest-file", **_TASK_OPTS)
def ingest_file_task(path: Path, kind: str, settings: Settings, symbol: str, fmt: str | None,
                     seen: dict[Any, bool], options: LoaderOptions | None = None) -> IngestReport:
    """Load, validate and write one trades or book file (streamed)."""
    return ingest_file(path, kind, symbol=symbol, settings=settings, fmt=fmt, seen=seen, options=options)


@flow(name="ingest", validate_parameters=False, log_prints=False)
def ingest_flow(
    source: str = "simulate",
    path: str | None = None,
    *,
    symbol: str | None = None,
    sessions: int | None = None,
    start: date | None = None,
    seed: int | None = None,
    fmt: str | None = None,
    options: LoaderOptions | None = None,
    settings: Settings | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Ingest simulated sessions (``source="simulate"``) or a file/folder (``source="path"``).

    ``options`` (files only): time zone, column map and side rule, as ``qtml ingest`` takes them.

    Returns the :meth:`IngestReport.summary`; raises ``DataValidationError`` after processing every
    day when any day crossed the bad-share threshold.
    """
    settings = settings or get_settings()
    symbol = symbol or settings.market.symbol
    report = IngestReport(symbol=symbol, lake_root=settings.lake_root)
    if source == "simulate":
        cfg = settings.market.simulator
        n = sessions or cfg.sessions
        with step("ingest", f"{n} sessions simulated", console=console):
            sims = simulate_task(settings, symbol, n, start or cfg.start, cfg.seed if seed is None else seed)
        with step("ingest", "sessions validated and written", total=len(sims), console=console) as progress:
            for session in sims:
                report.extend(ingest_session_task(session, settings, report.seen))
                progress.advance()
    elif source == "path":
        if not path:
            raise InputError("ingest_flow(source='path') needs path=")
        plan = plan_files(Path(path), symbol)
        with step("ingest", "files validated and written", total=len(plan), console=console) as progress:
            for kind, file in plan:
                report.extend(ingest_file_task(file, kind, settings, symbol, fmt, report.seen, options))
                progress.advance()
    else:
        raise InputError(f"ingest_flow: source must be 'simulate' or 'path', not {source!r}")
    report.raise_for_failures()
    return report.summary()


def demo_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """``make demo`` stage: simulate ``market.simulator.sessions`` sessions and ingest them in a flow run."""
    cfg = settings.market.simulator
    console.print(f"Simulating and ingesting {cfg.sessions} {settings.market.symbol} sessions from {cfg.start} "
                  f"(seed {cfg.seed}, ~{cfg.trades_per_session:,} trades each) through the Prefect flow 'ingest'…")
    with until_next_step("ingest", STARTUP, console=console):
        summary = ingest_flow(source="simulate", settings=settings, console=console)
    lake = settings.lake_root
    console.print(
        f"sessions [bold]{summary['sessions']}[/bold] · trades [bold]{summary['trades_written']:,}[/bold] · "
        f"book snapshots {summary['book_snapshots']:,} · bars ({settings.market.bars.spec}) {summary['bars']:,} · "
        f"quarantined rows [bold]{summary['quarantined_rows']}[/bold]"
    )
    console.print(f"trades  → {lake / 'trades'}  (validation result: _validation.json beside each day)")
    console.print(f"book    → {lake / 'book'}")
    console.print(f"bars    → {lake / bars_dataset(settings.market.bars.spec)}")
    console.print(f"quarantine → {lake / 'quarantine'}")
    return summary

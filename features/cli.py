"""CLI commands of the feature domain: ``qtml features build|apply|materialize|show|env``.

Heavy libraries (Feast, Prefect, Great Expectations, pandas) are imported inside the commands.
Each command ends with a short human summary on stdout; ``--json`` prints one JSON object instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import typer

from quantumtrader.config import Settings, get_settings
from quantumtrader.progress import print_json

if TYPE_CHECKING:
    from datetime import datetime

    from rich.table import Table

app = typer.Typer(no_args_is_help=True)
JSON_HELP = "Print the result as one JSON object on stdout (logs and progress go to stderr)."


def format_value(value: float) -> str:
    """6 significant digits; NaN as ``NaN``."""
    return "NaN" if math.isnan(value) else f"{value:.6g}"


def as_of_text(as_of: datetime | None, timezone: str) -> str:
    """``as of 2026-01-30 18:30:00 -03 local (21:30:00 UTC)``: the vector's event time, local and UTC."""
    if as_of is None:
        return "as of: unknown (the online store returned no event timestamp)"
    from zoneinfo import ZoneInfo

    local = as_of.astimezone(ZoneInfo(timezone))
    utc_fmt = "%H:%M:%S" if local.date() == as_of.date() else "%Y-%m-%d %H:%M:%S"
    return f"as of {local:%Y-%m-%d %H:%M:%S} {local:%Z} local ({as_of:{utc_fmt}} UTC)"


def vector_table(values: Mapping[str, float], *, names: list[str] | None = None) -> Table:
    """One row per feature (name, value, group), in spec order; ``names`` shows only those."""
    from rich import box
    from rich.table import Table

    from features.spec import SPEC

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("feature", style="cyan", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("group", no_wrap=True)
    for f in SPEC:
        if f.name in values and (names is None or f.name in names):
            table.add_row(f.name, format_value(values[f.name]), f.group)
    return table


def online_result(symbol: str, settings: Settings) -> tuple[dict[str, Any], dict[str, float]]:
    """The online vector of ``symbol`` as a JSON-ready dict (NaN -> null) and as name -> float."""
    from features.spec import SPEC, VERSION
    from features.store import online_vector
    from market.instruments import get_instrument

    values, as_of = online_vector(symbol, settings)
    timezone = get_instrument(symbol).timezone
    local = None if as_of is None else as_of.tz_convert(timezone)
    return {
        "symbol": symbol,
        "feature_set": VERSION,
        "as_of": None if as_of is None else as_of.isoformat(),
        "as_of_local": None if local is None else local.isoformat(),
        "timezone": timezone,
        "nan_count": sum(1 for v in values.values() if math.isnan(v)),
        "features": {n: None if math.isnan(v) else v for n, v in values.items()},
        "groups": {f.name: f.group for f in SPEC},
    }, values


def vector_header(result: dict[str, Any]) -> str:
    """``WDO qt65_v1 online vector as of ... local (... UTC)``, from :func:`online_result`."""
    from datetime import datetime

    as_of = None if result["as_of"] is None else datetime.fromisoformat(result["as_of"])
    return f"{result['symbol']} {result['feature_set']} online vector {as_of_text(as_of, result['timezone'])}"


def print_vector(result: dict[str, Any], values: Mapping[str, float]) -> None:
    from rich.console import Console

    console = Console()
    console.print(vector_header(result), highlight=False)
    console.print(vector_table(values))
    console.print(f"{len(values)} features, {result['nan_count']} NaN (a value not computable at that bar)",
                  highlight=False)


@app.command("build")
def build(
    symbol: str = typer.Option(None, "--symbol", help="Instrument (default: market.symbol)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run the features flow: bars -> features -> GE suite -> Parquet -> feast apply -> materialize."""
    from quantumtrader.progress import STARTUP, err_console, until_next_step

    settings = get_settings()
    console = err_console()
    with until_next_step("features", STARTUP, console=console):
        from flows.features import features_flow

        summary = features_flow(settings=settings, symbol=symbol, console=console)
    summary = {**summary, **_places(settings)}
    if as_json:
        print_json(summary)
        return
    from flows.features import summary_lines

    for line in summary_lines(summary):
        typer.echo(line)


def _places(settings: Settings) -> dict[str, str]:
    from features.offline import FEATURES_DATASET
    from features.store import feast_dir

    return {"features_dir": str(settings.lake_root / FEATURES_DATASET), "feast_dir": str(feast_dir(settings))}


@app.command("apply")
def apply(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Register the Feast repo (entity, source, feature view, service qt65_v1) like `feast apply`."""
    from features.store import apply_repo
    from quantumtrader.progress import step

    settings = get_settings()
    with step("features", "feast apply"):
        summary = {**apply_repo(settings), **_places(settings)}
    if as_json:
        print_json(summary)
        return
    typer.echo(f"Feast project {summary['project']}: registered {', '.join(summary['objects'])}")
    typer.echo(f"online store {summary['online_store']}; registry and online store under {summary['feast_dir']}")


@app.command("materialize")
def materialize(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Load the newest stored feature rows into the online store (backfill first, then incremental)."""
    from features.store import materialize_online
    from quantumtrader.progress import step

    settings = get_settings()
    with step("features", "feast materialize"):
        summary = {**materialize_online(settings), "online_store": settings.features.online_store,
                   **_places(settings)}
    if as_json:
        print_json(summary)
        return
    typer.echo(f"materialized ({summary['mode']}) {summary['rows_stored']:,} stored rows up to {summary['until']} "
               f"into the {summary['online_store']} online store ({summary['feast_dir']})")


@app.command("show")
def show(
    symbol: str = typer.Option(None, "--symbol", help="Instrument (default: market.symbol)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Print the online feature vector of SYMBOL: name, value, group and its as-of time."""
    settings = get_settings()
    symbol = symbol or settings.market.symbol
    result, values = online_result(symbol, settings)
    if as_json:
        print_json(result)
    else:
        print_vector(result, values)


@app.command("env")
def env() -> None:
    """Print `export` lines for a bare `feast` CLI run: eval "$(qtml features env)"; cd feature_repo; feast apply."""
    import shlex

    from features.store import feast_dir, feast_env

    settings = get_settings()
    feast_dir(settings).mkdir(parents=True, exist_ok=True)  # Feast's file registry does not create it
    for key, value in feast_env(settings).items():
        typer.echo(f"export {key}={shlex.quote(value)}")

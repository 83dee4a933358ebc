"""CLI commands of the feature domain: ``qtml features build|apply|materialize|show|env``.

Heavy libraries (Feast, Prefect, Great Expectations) are imported inside the commands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import typer
from rich.console import Console
from rich.table import Table

from quantumtrader.config import get_settings

app = typer.Typer(no_args_is_help=True)
_VALUE_COLUMNS = 3


def vector_table(symbol: str, values: Mapping[str, float]) -> Table:
    """A compact table of one feature vector: three name/value pairs per row, in spec order."""
    table = Table(title=f"online qt65_v1 features of {symbol}", show_lines=False, pad_edge=False)
    for _ in range(_VALUE_COLUMNS):
        table.add_column("feature", style="cyan", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
    items = list(values.items())
    for i in range(0, len(items), _VALUE_COLUMNS):
        row: list[str] = []
        for name, value in items[i : i + _VALUE_COLUMNS]:
            row += [name, "NaN" if math.isnan(value) else f"{value:.6g}"]
        table.add_row(*row)
    return table


@app.command("build")
def build(symbol: str = typer.Option(None, "--symbol", help="Instrument (default: market.symbol).")) -> None:
    """Run the features flow: bars -> features -> GE suite -> Parquet -> feast apply -> materialize."""
    from flows.features import features_flow

    summary = features_flow(settings=get_settings(), symbol=symbol)
    Console().print(summary)


@app.command("apply")
def apply() -> None:
    """Register the Feast repo (entity, source, feature view, service qt65_v1) like `feast apply`."""
    from features.store import apply_repo

    Console().print(apply_repo(get_settings()))


@app.command("materialize")
def materialize() -> None:
    """Load the newest stored feature rows into the online store (backfill first, then incremental)."""
    from features.store import materialize_online

    Console().print(materialize_online(get_settings()))


@app.command("show")
def show(symbol: str = typer.Option(None, "--symbol", help="Instrument (default: market.symbol).")) -> None:
    """Print the online feature vector of SYMBOL."""
    from features.store import get_online_features

    settings = get_settings()
    symbol = symbol or settings.market.symbol
    Console().print(vector_table(symbol, get_online_features(symbol, settings)))


@app.command("env")
def env() -> None:
    """Print `export` lines for a bare `feast` CLI run: eval "$(qtml features env)"; cd feature_repo; feast apply."""
    import shlex

    from features.store import feast_dir, feast_env

    settings = get_settings()
    feast_dir(settings).mkdir(parents=True, exist_ok=True)  # Feast's file registry does not create it
    for key, value in feast_env(settings).items():
        typer.echo(f"export {key}={shlex.quote(value)}")

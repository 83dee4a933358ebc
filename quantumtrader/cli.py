"""``qtml``: the single entry point, one subcommand per stage of the platform.

Each domain owns its commands (``market/cli.py``, ``features/cli.py``, ...); this module only
assembles them and loads the configuration once. Commands import heavy libraries lazily so that
``qtml --help`` stays fast.
"""

from __future__ import annotations

import faulthandler
import sys

import typer

from features.cli import app as features_app
from live_engine.cli import backtest
from market.cli import ingest, simulate
from quantumtrader.config import get_settings
from quantumtrader.errors import ConfigError, InputError
from quantumtrader.ui import app as ui_app
from training.cli import train

app = typer.Typer(
    name="qtml",
    help="QuantumTrader: ingest market data, build features, train, backtest and run the engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    json_logs: bool = typer.Option(False, "--json-logs", help="Print JSON log lines instead of the console format."),
) -> None:
    """Load and validate the configuration before any command runs."""
    from quantumtrader.runtime import bootstrap

    try:
        settings = get_settings()
    except ConfigError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    bootstrap(settings, json_console=json_logs)


@app.command("config")
def show_config() -> None:
    """Print the resolved configuration (every store path and URI) as YAML."""
    import yaml

    data = get_settings().model_dump(mode="json")
    typer.echo(yaml.safe_dump(data, sort_keys=False))


@app.command("demo")
def demo(
    trades_only: bool = typer.Option(
        False, "--trades-only", help="Simulate a history without book (as ProfitDLL's) and run on it."
    ),
) -> None:
    """Run the main job on embedded defaults: simulate, ingest, features, train, backtest."""
    from quantumtrader.demo import run_demo

    run_demo(get_settings(), trades_only=trades_only)


app.command("simulate")(simulate)
app.command("ingest")(ingest)
app.add_typer(features_app, name="features", help="Build qt65_v1 features and manage the Feast store.")
app.command("train")(train)
app.command("backtest")(backtest)
app.add_typer(ui_app, name="ui")


def main() -> None:
    # A crash in native code (LightGBM, DuckDB, BLAS) still prints the Python stack of every thread.
    faulthandler.enable()
    try:
        app()
    except InputError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

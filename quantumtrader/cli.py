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
from live_engine.feeds.cli import app as feed_app
from live_engine.service.cli import app as engine_app
from market.cli import ingest, simulate
from monitoring.cli import app as drift_app
from ops.cli import backup_cmd, check_cmd, clean_cmd, restore_cmd
from quantumtrader.config import Settings, get_settings
from quantumtrader.errors import ConfigError, InputError, QTError, TransientError
from quantumtrader.ui import app as ui_app
from reports.cli import analyze_app, report_app
from research.cli import app as kb_app
from research.study.cli import study
from training.cli import train
from training.promotion.cli import app as model_app

app = typer.Typer(
    name="qtml",
    help="QuantumTrader: ingest market data, build features, train, backtest, promote and run the engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Commands that run Prefect flows, and the modules they import: the local Prefect API server (~9 s to
# start) is launched first and comes up on the other core while these imports run (quantumtrader.prefect_api).
# ``qtml ingest`` is not one: it calls market.ingest directly (the flow ``ingest`` is for deployments and the
# demo), and a server it never talks to cost ~9 s of CPU on the core the ingest's reader and writers use.
_FLOW_COMMANDS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("train",): ("flows.train",),
    ("features", "build"): ("flows.features",),
    ("demo",): ("flows.ingest", "flows.features", "flows.train", "live_engine.cli", "flows.promote"),
    ("drift", "check"): ("flows.drift",),
}
_DEBUG = {"on": False}


@app.callback()
def _main(
    ctx: typer.Context,
    json_logs: bool = typer.Option(False, "--json-logs", help="Print JSON log lines instead of the console format."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and third-party logs on the console."),
) -> None:
    """Load and validate the configuration before any command runs."""
    from quantumtrader.runtime import bootstrap

    _DEBUG["on"] = debug
    try:
        settings = get_settings()
    except ConfigError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    bootstrap(settings, json_console=json_logs, debug=debug)
    words = (ctx.invoked_subcommand, *(a for a in ctx.args[:1] if not a.startswith("-")))
    if "--help" not in ctx.args:
        _preflight(settings, words)
    modules = next((mods for cmd, mods in _FLOW_COMMANDS.items() if words[: len(cmd)] == cmd), None)
    if modules is not None and "--help" not in ctx.args:
        import importlib

        from quantumtrader import prefect_api

        prefect_api.start(settings.var_dir / "logs")
        for module in modules:
            importlib.import_module(module)
        prefect_api.wait_ready()


@app.command("config")
def show_config() -> None:
    """Print the resolved configuration (every store path and URI) as YAML, passwords masked."""
    import yaml

    from quantumtrader.logging import redact

    data = get_settings().model_dump(mode="json")
    typer.echo(redact(yaml.safe_dump(data, sort_keys=False)))


@app.command("demo")
def demo(
    trades_only: bool = typer.Option(
        False, "--trades-only", help="Simulate a history without book (as ProfitDLL's) and run on it."
    ),
) -> None:
    """Run the main job on embedded defaults: simulate, ingest, features, train, backtest, promote."""
    from quantumtrader.demo import run_demo

    run_demo(get_settings(), trades_only=trades_only)


@app.command("monitor")
def monitor(
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: live.service.monitor.port)."),
    host: str = typer.Option(None, "--host", help="Address (default: live.service.monitor.host, 127.0.0.1)."),
    token: str = typer.Option(None, "--token", help="Required beyond loopback (or set the env variable "
                                                    "QT_LIVE__SERVICE__MONITOR__TOKEN)."),
) -> None:
    """A live web page of the engine's broadcast; prints `ready: <url>`; Ctrl-C stops it."""
    from live_engine.service.monitor import serve

    settings = get_settings()
    cfg = settings.live.service.monitor
    serve(settings.live.zmq_pub_endpoint, host or cfg.host, port or cfg.port, token or cfg.token,
          echo=lambda line: typer.echo(line))


app.command("simulate")(simulate)
app.command("ingest")(ingest)
app.add_typer(features_app, name="features", help="Build qt65_v1 features and manage the Feast store.")
app.command("train")(train)
app.command("backtest")(backtest)
app.add_typer(model_app, name="model")
app.add_typer(engine_app, name="engine")
app.add_typer(feed_app, name="feed", help="Market data feeds: publish lake sessions to the engine's ZMQ ingress.")
app.add_typer(ui_app, name="ui")
app.add_typer(report_app, name="report", help="Daily and weekly trading reports from the journal (HTML, Excel, JSON).")
app.add_typer(analyze_app, name="analyze", help="Feature contributions and agent performance over any days.")
# housekeeping (ops/, docs/housekeeping.md)
app.command("backup")(backup_cmd)
app.command("restore")(restore_cmd)
app.command("clean")(clean_cmd)
app.command("check")(check_cmd)
app.add_typer(drift_app, name="drift")
app.add_typer(kb_app, name="kb")
app.command("study")(study)


def _stores_of(settings: Settings, words: tuple[str | None, ...]) -> dict[str, str]:
    """The server stores (setting -> URI) the command about to run relies on."""
    stores = settings.stores
    head = words[0]
    out: dict[str, str] = {}
    if (head in ("train", "backtest", "demo", "model", "report", "analyze", "study")
            or words[:2] in (("ui", "mlflow"), ("kb", "fetch"))):
        out["stores.mlflow_tracking_uri"] = settings.mlflow_tracking_uri
    if head in ("model", "demo") and stores.promotions_db_url:
        out["stores.promotions_db_url"] = stores.promotions_db_url
    if head in ("kb", "study") and stores.kb_db_url:
        out["stores.kb_db_url"] = stores.kb_db_url
    if words[:2] == ("ui", "prefect") and stores.prefect_api_database_url:
        out["stores.prefect_api_database_url"] = stores.prefect_api_database_url
    if any(words[: len(cmd)] == cmd for cmd in _FLOW_COMMANDS):
        if stores.prefect_api_url:
            out["stores.prefect_api_url"] = stores.prefect_api_url
        elif stores.prefect_api_database_url:
            out["stores.prefect_api_database_url"] = stores.prefect_api_database_url
    uses_online = head == "demo" or (head == "features" and words[1:2] != ("env",))
    if settings.features.online_store == "redis" and uses_online:
        out["features.redis_connection"] = settings.features.redis_connection
    return out


def _preflight(settings: Settings, words: tuple[str | None, ...]) -> None:
    """Fail in ~``stores.connect_timeout_s`` with one line when a server store the command needs is down."""
    from quantumtrader.stores import endpoint, require_reachable

    for setting, uri in _stores_of(settings, words).items():
        if endpoint(uri) is not None:
            require_reachable(uri, setting=setting, timeout_s=settings.stores.connect_timeout_s)


# Exit codes: 0 done, 1 internal error (a bug: report it), 2 bad input or configuration (fix and rerun),
# 3 a store or service is unavailable (start it or point the config elsewhere), 130 interrupted.
def _exit_code(err: BaseException) -> int:
    if isinstance(err, InputError | ConfigError):
        return 2
    if isinstance(err, TransientError):
        return 3
    return 1


def _fail(err: BaseException) -> None:
    """One line on the console; the traceback goes to the JSON log (and to the console with --debug)."""
    from quantumtrader.logging import get_logger, log_path, redact

    expected = isinstance(err, QTError)
    get_logger("cli").error("command failed: %s: %s", type(err).__name__, err, exc_info=err,
                            extra={"console": False})
    where = log_path()
    first = "; ".join(ln.strip() for ln in str(err).strip().splitlines() if ln.strip()) if expected \
        else f"internal error: {type(err).__name__}: {err}"
    tail = f" (full log: {where})" if where is not None and not _DEBUG["on"] else ""
    hint = "; rerun with --debug for the traceback" if not expected and not _DEBUG["on"] else ""
    typer.secho(redact(f"error: {first}{tail}{hint}"), fg=typer.colors.RED, err=True)
    sys.exit(_exit_code(err))


def main() -> None:
    # A crash in native code (LightGBM, DuckDB, BLAS) still prints the Python stack of every thread.
    faulthandler.enable()
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.RED, err=True)
        sys.exit(130)
    except Exception as err:
        _fail(err)


if __name__ == "__main__":
    main()

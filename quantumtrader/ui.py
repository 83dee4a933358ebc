"""``qtml ui prefect|mlflow``: open the web UIs on the embedded stores the demo wrote.

Both bind 127.0.0.1 only. The server runs as a child in its own session with its output in
``var/logs/ui-<name>.log``; the command prints "ready: <url>" once the server's health URL
answers (a "starting … N s" line every few seconds before that), and on Ctrl-C or SIGTERM stops
the server with all its processes and exits 0. A server that dies, or does not answer within
``--startup-timeout`` seconds, is one error line and exit status 1; a busy port is one line and
exit status 2. See :mod:`quantumtrader.servers`.

Neither MLflow nor Prefect is imported here: they run in the child.
"""

from __future__ import annotations

from pathlib import Path

import typer

from quantumtrader.config import Settings, get_settings

app = typer.Typer(no_args_is_help=True, help="Open the Prefect or MLflow UI on the configured stores.")

_STARTUP_TIMEOUT = typer.Option(
    180.0, "--startup-timeout", min=1.0, help="Seconds to wait for the server to answer before giving up."
)


def _log_path(settings: Settings, name: str) -> Path:
    return settings.var_dir / "logs" / f"ui-{name}.log"


@app.command("prefect")
def prefect_ui(
    port: int = typer.Option(4200, help="Port on 127.0.0.1."),
    startup_timeout: float = _STARTUP_TIMEOUT,
) -> None:
    """Start a Prefect server on the demo's SQLite database (flow runs of `make demo` appear there)."""
    from quantumtrader.servers import HOST, ServerSpec, serve

    settings = get_settings()
    assert settings.stores.prefect_home is not None
    env = {
        "PREFECT_API_DATABASE_CONNECTION_URL": str(settings.stores.prefect_api_database_url),
        "PREFECT_HOME": str(settings.stores.prefect_home),
        # the UI's pages call this API URL; Prefect's default names port 4200 whatever --port says
        "PREFECT_SERVER_UI_API_URL": f"http://{HOST}:{port}/api",
    }
    argv = ["prefect", "server", "start", "--host", HOST, "--port", str(port), "--workers", "1"]
    spec = ServerSpec("prefect", argv, port, "/api/health", _log_path(settings, "prefect"), env)
    serve(spec, startup_timeout_s=startup_timeout)


@app.command("mlflow")
def mlflow_ui(
    port: int = typer.Option(5000, help="Port on 127.0.0.1."),
    startup_timeout: float = _STARTUP_TIMEOUT,
) -> None:
    """Start the MLflow UI on the configured tracking store (runs, charts, registry and aliases)."""
    from quantumtrader.servers import HOST, ServerSpec, serve

    settings = get_settings()
    argv = ["mlflow", "server", "--backend-store-uri", settings.mlflow_tracking_uri]
    argv += ["--host", HOST, "--port", str(port), "--workers", "1"]
    if settings.stores.mlflow_artifact_root is not None:
        argv += ["--default-artifact-root", settings.stores.mlflow_artifact_root.as_uri()]
    # One uvicorn worker is plenty for one user; MLflow's job execution (GenAI evaluation jobs,
    # unused here) would add a job runner and seven huey consumers that poll at ~10 % CPU each.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    spec = ServerSpec("mlflow", argv, port, "/health", _log_path(settings, "mlflow"), env)
    serve(spec, startup_timeout_s=startup_timeout)

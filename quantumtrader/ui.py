"""``qtml ui prefect|mlflow``: open the web UIs on the embedded stores the demo wrote.

Both bind 127.0.0.1 only. The process is replaced by the server (Ctrl-C stops it).
"""

from __future__ import annotations

import os
import shutil

import typer

from quantumtrader.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Open the Prefect or MLflow UI on the configured stores.")


def _exec(argv: list[str]) -> None:
    exe = shutil.which(argv[0])
    if exe is None:
        raise typer.BadParameter(f"{argv[0]} is not installed in this environment")
    typer.echo("$ " + " ".join(argv))
    os.execv(exe, argv)


@app.command("prefect")
def prefect_ui(port: int = typer.Option(4200, help="Port on 127.0.0.1.")) -> None:
    """Start a Prefect server on the demo's SQLite database (flow runs of `make demo` appear there)."""
    settings = get_settings()
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = str(settings.stores.prefect_api_database_url)
    os.environ["PREFECT_HOME"] = str(settings.stores.prefect_home)
    _exec(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)])


@app.command("mlflow")
def mlflow_ui(port: int = typer.Option(5000, help="Port on 127.0.0.1.")) -> None:
    """Start the MLflow UI on the configured tracking store (runs, charts, registry and aliases)."""
    settings = get_settings()
    argv = ["mlflow", "ui", "--backend-store-uri", settings.mlflow_tracking_uri]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    if settings.stores.mlflow_artifact_root is not None:
        argv += ["--default-artifact-root", settings.stores.mlflow_artifact_root.as_uri()]
    _exec(argv)

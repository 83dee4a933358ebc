"""Process start-up: point Prefect, MLflow and telemetry at the configured stores.

Called explicitly by the CLI, flows' entry points and test fixtures — never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from quantumtrader.config import Settings
from quantumtrader.logging import setup_logging

_OFFLINE_ENV = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # the ephemeral API server needs more than Prefect's default 20 s on a busy 2-core machine
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # third-party logs go to our JSON log file, not the console (quantumtrader.logging)
    "MLFLOW_CONFIGURE_LOGGING": "false",
    # MLflow's tqdm bar for artifact downloads would cut through our progress lines
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "PREFECT_LOGGING_SETTINGS_PATH": str(Path(__file__).with_name("prefect_logging.yml")),
}


def configure_environment(settings: Settings) -> None:
    """Export the environment the libraries read (Prefect home and database, MLflow URI, telemetry off).

    Must run before Prefect is imported for its settings to take effect.
    """
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    stores = settings.stores
    assert stores.prefect_home is not None and stores.prefect_api_database_url is not None
    stores.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(stores.prefect_home))
    os.environ.setdefault("PREFECT_API_DATABASE_CONNECTION_URL", stores.prefect_api_database_url)
    if stores.prefect_api_url:
        os.environ.setdefault("PREFECT_API_URL", stores.prefect_api_url)
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)


def bootstrap(settings: Settings, *, json_console: bool = False, debug: bool = False) -> None:
    """Configure environment and logging for a CLI or flow process."""
    configure_environment(settings)
    json_file = settings.logging.json_file
    setup_logging(
        settings.logging.level,
        json_path=(settings.var_dir / json_file) if json_file else None,
        json_console=json_console,
        debug=debug,
    )

"""Shared fixtures. Each test gets its own embedded stores under a temporary ``root``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Offline and quiet: must be set before Prefect / MLflow are imported.
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Hermetic: a QT_ override in the shell that runs the suite (e.g. QT_STORES__VAR_DIR=/srv/qt) would move every
# test's stores out of its tmp_path; tests that want one set it themselves.
for _name in [n for n in os.environ if n.startswith("QT_")]:
    del os.environ[_name]

from quantumtrader.config import Settings, load_settings  # noqa: E402 - after the environment is set

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose every store lives under ``tmp_path/var`` (Feast repo stays the project's)."""
    return load_settings(root=tmp_path, stores={"feast_repo": str(REPO_ROOT / "feature_repo")})


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test API for the whole session (it costs ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL of the real PostgreSQL (database ``test``) whose search_path is a fresh schema, dropped afterwards.

    A test that needs this server fails when it is not running (it does not skip).
    """
    import uuid

    import sqlalchemy as sa

    schema = f"qt_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both relational backends for real: a SQLite file under ``tmp_path`` and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url

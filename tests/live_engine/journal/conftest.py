"""Both backends for the journal tests: a SQLite file under ``tmp_path`` and a fresh PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A journal URL on each backend (the PostgreSQL one fails, never skips, when the server is down)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal' / 'engine.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url

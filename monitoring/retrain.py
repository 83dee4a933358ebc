"""What a retrain needs besides the existing flows: which recorded days to ingest, and its lock.

Two retrains never run at once: :func:`retrain_lock` is a cross-process lock (the promotion database's
:func:`quantumtrader.db.exclusive_lock`: a file lock on SQLite, an advisory lock on PostgreSQL); a
second run waits ``drift.retrain_lock_timeout_s`` (0 by default) and is then skipped, not failed. The
promotion gate holds its own lock (``promotion-<model>``) around evaluate + alias move, so even
retrains started past this lock never race on the champion.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from quantumtrader.config import Settings
from quantumtrader.errors import TransientError

REASONS = ("schedule", "drift", "manual")


def recorded_days_to_ingest(settings: Settings, symbol: str) -> list[tuple[date, Path]]:
    """Days the engine recorded (trades) that the lake's ``trades`` dataset does not hold yet."""
    from live_engine.service.recording import recorded_days
    from market.lake import Lake

    have = set(Lake(settings.lake_root).days("trades", symbol))
    root = settings.lake_root / "recorded" / symbol
    return [(d, root / d.isoformat()) for d in recorded_days(settings.lake_root, symbol) if d not in have]


@contextmanager
def retrain_lock(settings: Settings) -> Iterator[bool]:
    """Yield True holding the retrain lock, or False when another retrain held it past the timeout."""
    from quantumtrader.db import create_engine, exclusive_lock

    assert settings.stores.promotions_db_url is not None
    engine = create_engine(settings.stores.promotions_db_url)
    name = f"retrain-{settings.training.registered_model_name}"
    held = False
    try:
        with exclusive_lock(engine, name, timeout_s=settings.drift.retrain_lock_timeout_s):
            held = True
            yield True
    except TransientError:
        if held:
            raise
        yield False
    finally:
        engine.dispose()

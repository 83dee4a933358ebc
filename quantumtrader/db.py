"""Relational stores through SQLAlchemy 2: one way to open an engine, one cross-process lock.

Embedded default: a SQLite file under ``stores.var_dir`` (WAL, so readers never wait for a writer;
a writer waits up to ``busy_timeout`` for another). Production: PostgreSQL by URL, the same models.
The promotions table (:mod:`training.promotion.ledger`) and the engine's journal use both.

:func:`exclusive_lock` serialises a critical section across processes on either backend:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on one connection for
  the whole section; the server releases it when that connection ends, so a killed holder never
  leaves it taken.
- SQLite: an ``flock`` on ``<database file>.<name>.lock`` beside the database; the kernel releases
  it when the holding process dies.

A waiter polls until ``timeout_s`` and then raises :class:`~quantumtrader.errors.TransientError`
(try again later) naming who holds the lock when the backend can say.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from quantumtrader.errors import ConfigError, TransientError
from quantumtrader.logging import get_logger, redact

log = get_logger("quantumtrader.db")

SQLITE_BUSY_TIMEOUT_S = 30.0
_POLL_S = 0.2


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///<path>`` URL (None for other backends)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise ConfigError(f"{url}: an in-memory SQLite database cannot be shared between processes; give a file")
    return Path(u.database)


def create_engine(url: str) -> Any:
    """An SQLAlchemy engine for ``url``: SQLite (parent folder created, WAL, busy timeout) or a server."""
    import sqlalchemy as sa

    path = sqlite_path(url)
    if path is None:
        args = {"application_name": f"qtml {holder_id()}"[:63]} if url.startswith("postgresql") else {}
        return sa.create_engine(url, pool_pre_ping=True, connect_args=args, future=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, future=True)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    return engine


def holder_id() -> str:
    """``user@host:pid``: who does something, for records and lock diagnostics."""
    user = os.environ.get("USER") or os.environ.get("USERNAME") or str(os.getuid())
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive_lock(engine: Any, name: str, *, timeout_s: float,
                   on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the cross-process lock ``name`` on ``engine``'s database for the ``with`` block.

    ``on_wait(holder)`` is called once when the lock is taken by someone else and this call starts
    waiting. Raises :class:`TransientError` after ``timeout_s`` without the lock.
    """
    path = sqlite_path(str(engine.url))
    if path is None:
        with _pg_lock(engine, name, timeout_s, on_wait):
            yield
    else:
        with _file_lock(path.with_name(f"{path.name}.{name}.lock"), name, timeout_s, on_wait):
            yield


@contextmanager
def _pg_lock(engine: Any, name: str, timeout_s: float, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    import sqlalchemy as sa

    key = _advisory_key(name)
    with engine.connect() as conn:
        deadline = time.monotonic() + timeout_s
        waited = False
        while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            conn.commit()  # no transaction stays open while waiting
            if not waited:
                holder = conn.execute(sa.text(
                    "SELECT coalesce(nullif(a.application_name, ''), 'pid ' || l.pid) FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = (:k)::bigint LIMIT 1"),
                    {"k": key}).scalar()
                if on_wait is not None:
                    on_wait(str(holder or "another session"))
                waited = True
            if time.monotonic() > deadline:
                raise TransientError(f"lock {name!r} on {redact(str(engine.url))} is still held after "
                                     f"{timeout_s:.0f} s by another process: try again when it has finished")
            time.sleep(_POLL_S)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


@contextmanager
def _file_lock(path: Path, name: str, timeout_s: float, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    holder = path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
                    if on_wait is not None:
                        on_wait(holder)
                    waited = True
                if time.monotonic() > deadline:
                    raise TransientError(f"lock {name!r} ({path}) is still held after {timeout_s:.0f} s by another "
                                         "process: try again when it has finished") from None
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.write(fd, holder_id().encode())  # diagnostics only: the flock is the lock
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""What the journal and the paper venue's book share: opening a database safely, JSON, upserts, quarantine.

SQLite is opened through :func:`quantumtrader.db.create_engine` (WAL, busy timeout) and then, per
connection: ``synchronous=FULL`` (a commit is on disk before it returns, so neither a SIGKILL nor a
power cut loses an acknowledged write; in WAL mode that costs one fsync of the WAL per commit),
``foreign_keys=ON``, and every transaction is ``BEGIN IMMEDIATE`` (the write lock is taken at the
start, so a transaction that reads and then writes never fails half-way on a busy upgrade).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from quantumtrader.db import create_engine, sqlite_path
from quantumtrader.errors import InputError
from quantumtrader.logging import redact


class JournalCorrupt(InputError):
    """A database file failed its integrity check; it was moved aside (``moved_to``) and nothing deleted."""

    def __init__(self, message: str, moved_to: Path) -> None:
        super().__init__(message)
        self.moved_to = moved_to


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_stamp() -> str:
    """``20250102T133000.123456Z``: sorts as time does; microseconds keep two stamps apart."""
    return utcnow().strftime("%Y%m%dT%H%M%S.%fZ")


def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces); NaN and infinities kept, as Python's ``json`` reads them back."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(text: str) -> Any:
    return json.loads(text)


def nan_to_none(x: Any) -> float | None:
    if x is None:
        return None
    f = float(x)
    return None if math.isnan(f) else f


def none_to_nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def open_engine(url: str) -> Any:
    """An engine for ``url`` with the pragmas and transaction mode described above (SQLite), else as is."""
    engine = create_engine(url)
    if engine.dialect.name != "sqlite":
        return engine

    @sa.event.listens_for(engine, "connect")
    def _durable(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def insert(conn: Any, table: Any) -> Any:
    """The dialect's INSERT (it has ``on_conflict_do_nothing`` / ``on_conflict_do_update`` on both backends)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def table_names(conn: Any) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def sqlite_problem(engine: Any) -> str | None:
    """None when the SQLite file behind ``engine`` passes ``PRAGMA quick_check``, else what is wrong."""
    try:
        with engine.connect() as conn:
            rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check").fetchall()]
    except sa.exc.DatabaseError as err:  # "file is not a database", "database disk image is malformed"
        return " ".join(str(getattr(err, "orig", err)).split())
    if rows == ["ok"]:
        return None
    return "quick_check: " + "; ".join(rows[:3]) + (f" (+{len(rows) - 3} more)" if len(rows) > 3 else "")


def quarantine(path: Path) -> Path:
    """Move ``path`` (and its ``-wal`` / ``-shm`` companions) to ``<name>.corrupt-<UTC stamp>``; delete nothing."""
    target = path.with_name(f"{path.name}.corrupt-{utc_stamp()}")
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    os.replace(path, target)
    fsync_path(path.parent)
    return target


def fsync_path(path: Path) -> None:
    """Make ``path`` durable: a file's bytes, or a folder's entries (a rename or a new file in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_sqlite(path: Path, create: Callable[[Any], None]) -> None:
    """Make a new database at ``path`` atomically: built under a temporary name, then linked into place.

    So a file at ``path`` always holds a committed schema: an empty or headless file there is damage,
    never a journal that was being created when the process died.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.creating-{os.getpid()}")
    for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        leftover.unlink(missing_ok=True)
    engine = open_engine(f"sqlite:///{tmp}")
    try:
        with engine.begin() as conn:
            create(conn)
    finally:
        engine.dispose()  # the last connection closes: the WAL is checkpointed into the file and removed
    try:
        os.link(tmp, path)  # never replaces a file another process made meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)


class _Unreadable(Exception):
    pass


@contextmanager
def _readable(path: Path | None) -> Iterator[None]:
    """On a SQLite file, a read that fails past ``quick_check`` is damage too (``_Unreadable``)."""
    try:
        yield
    except sa.exc.DatabaseError as err:
        if path is None:
            raise
        raise _Unreadable(" ".join(str(getattr(err, "orig", err)).split())) from err


def open_database(url: str, *, what: str, marker: str, foreign: str, create: Callable[[Any], None],
                  check: Callable[[Any], str | None]) -> Any:
    """Open (creating when absent) the database ``what`` at ``url`` whose schema has table ``marker``.

    ``create(conn)`` makes the schema in one transaction; ``check(conn)`` says what is wrong with an
    existing one (None: nothing). A database holding table ``foreign`` belongs to the other kind
    (journal vs venue book): refused with :class:`InputError`, never moved. A SQLite file that fails
    ``quick_check``, is empty, lacks ``marker`` or fails ``check`` is quarantined and
    :class:`JournalCorrupt` raised; on a server the problem is an :class:`InputError` (the server's
    own storage is its business).
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        _create_sqlite(path, create)
    engine = open_engine(url)
    try:
        problem = None
        if path is not None:
            problem = "the file is empty (0 bytes)" if path.stat().st_size == 0 else sqlite_problem(engine)
        if problem is None:
            with _readable(path), engine.begin() as conn:
                tables = table_names(conn)
                if foreign in tables:
                    raise InputError(f"{redact(url)} is not a {what} (it has table {foreign!r}): the engine's "
                                     "journal and the paper venue's book never share a database")
                if marker not in tables and path is None:
                    create(conn)
                    tables.add(marker)
                problem = (check(conn) if marker in tables
                           else f"it has no {marker!r} table (truncated, or not a {what})")
            if problem and path is None:
                raise InputError(f"{what} {redact(url)}: {problem}")
    except _Unreadable as err:
        problem = str(err)
    except BaseException:
        engine.dispose()
        raise
    if problem is None:
        return engine
    engine.dispose()
    assert path is not None  # a server's problem was raised above
    moved = quarantine(path)
    raise JournalCorrupt(f"{what} {path} is unreadable ({problem}): moved to {moved}, nothing deleted; "
                         "the engine starts HALTED on a fresh one until the position is reconciled with the broker",
                         moved)

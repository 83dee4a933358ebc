"""quantumtrader.db on both backends for real: engines, and the cross-process lock between real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from quantumtrader.db import create_engine, exclusive_lock, sqlite_path
from quantumtrader.errors import ConfigError, TransientError

HOLDER = """
import sys, time
from quantumtrader.db import create_engine, exclusive_lock
engine = create_engine(sys.argv[1])
hold = float(sys.argv[2])
def waiting(holder):
    print(f"waiting {holder}", flush=True)
with exclusive_lock(engine, "test-lock", timeout_s=60, on_wait=waiting):
    print(f"locked {time.time()}", flush=True)
    time.sleep(hold)
    print(f"released {time.time()}", flush=True)
"""


def _start(url: str, hold: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLDER, url, str(hold)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen[str], word: str, timeout: float = 120) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith(word):
            return line
        assert time.monotonic() < deadline, f"no {word!r} line"
    raise AssertionError(f"process ended before {word!r}: {proc.stderr.read() if proc.stderr else ''}")


def test_engine_opens_both_backends(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    if db_url.startswith("sqlite"):
        with engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert sqlite_path(db_url) is not None and sqlite_path(db_url).exists()  # type: ignore[union-attr]


def test_an_in_memory_sqlite_database_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="in-memory"):
        sqlite_path("sqlite://")


def test_a_second_process_waits_until_the_first_releases_the_lock(db_url: str) -> None:
    first = _start(db_url, hold=4.0)
    try:
        _wait_for(first, "locked")
        second = _start(db_url, hold=0.0)
        try:
            assert _wait_for(second, "waiting")  # it saw the lock taken and waits
            released = float(_wait_for(first, "released").split()[1])
            acquired = float(_wait_for(second, "locked").split()[1])
            assert acquired >= released
            assert second.wait(60) == 0
        finally:
            second.kill()
    finally:
        first.kill()
        first.wait(30)


def test_a_killed_holder_never_leaves_the_lock_taken(db_url: str) -> None:
    first = _start(db_url, hold=600.0)
    _wait_for(first, "locked")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    engine = create_engine(db_url)
    t0 = time.monotonic()
    with exclusive_lock(engine, "test-lock", timeout_s=30):
        pass
    assert time.monotonic() - t0 < 10


def test_a_waiter_gives_up_after_its_timeout_with_a_transient_error(db_url: str, tmp_path: Path) -> None:
    first = _start(db_url, hold=600.0)
    try:
        _wait_for(first, "locked")
        seen: list[str] = []
        with pytest.raises(TransientError, match="still held"), \
                exclusive_lock(create_engine(db_url), "test-lock", timeout_s=1.0, on_wait=seen.append):
            pass
        assert seen and seen[0]  # who holds it (pid or application name)
        # another name is another lock
        with exclusive_lock(create_engine(db_url), "other-lock", timeout_s=5):
            pass
    finally:
        first.kill()
        first.wait(30)

"""Every expected failure of the real CLI: one line on stderr naming what is wrong and what to do,
the exit code of its class, no traceback on the console, and the traceback in the JSON log."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
QTML = [sys.executable, "-m", "quantumtrader.cli"]


def _run(args: list[str], var: Path, timeout: float = 240, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PREFECT_", "MLFLOW_"))}
    full_env.update(QT_STORES__VAR_DIR=str(var), DO_NOT_TRACK="true", COLUMNS="100", **env)
    return subprocess.run([*QTML, *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)


# a finished progress step ("train: start-up (imports, Prefect API, flow run) (0.9 s)") may precede the error
_STEP = re.compile(r"^[\w -]+: .+ \(\d+\.\d s\)$")


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not _STEP.match(ln)]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _logged_traceback(var: Path) -> str:
    records = [orjson.loads(ln) for ln in (var / "logs" / "qt.jsonl").read_bytes().splitlines()]
    failed = [r for r in records if r["message"].startswith("command failed")]
    assert failed, "the failure is not in the JSON log"
    return str(failed[-1]["data"].get("exception", ""))


def test_a_missing_input_file_is_one_line_exit_2(tmp_path: Path) -> None:
    var = tmp_path / "var"
    line = _one_line_error(_run(["ingest", str(tmp_path / "nope.csv")], var), 2)
    assert "nope.csv" in line
    assert f"full log: {var / 'logs' / 'qt.jsonl'}" in line


def test_a_model_missing_from_the_registry_is_one_line_exit_2_and_fast(tmp_path: Path) -> None:
    var = tmp_path / "var"
    t0 = time.monotonic()
    proc = _run(["backtest", "--model-uri", "models:/nope@x", "--sessions", "1"], var)
    elapsed = time.monotonic() - t0
    line = _one_line_error(proc, 2)
    assert "nope" in line and "qtml train" in line
    assert "InputError" in _logged_traceback(var) or "Traceback" in _logged_traceback(var)
    assert elapsed < 30  # the bench holds the real target (<= 5 s idle); this only catches a regression to retries


def test_postgres_down_fails_in_about_10_s_naming_the_setting_with_the_password_redacted(tmp_path: Path) -> None:
    var = tmp_path / "var"
    t0 = time.monotonic()
    proc = _run(["backtest", "--sessions", "1"], var, QT_STORES__MLFLOW_TRACKING_URI="postgresql://qt:s3cret@127.0.0.1:1/test",
                QT_STORES__CONNECT_TIMEOUT_S="3")
    elapsed = time.monotonic() - t0
    line = _one_line_error(proc, 3)
    assert "stores.mlflow_tracking_uri" in line and "127.0.0.1:1" in line and "not reachable" in line
    assert "s3cret" not in proc.stderr and "qt:***@" in line
    assert "s3cret" not in (var / "logs" / "qt.jsonl").read_text()
    assert elapsed < 3 + 15


def test_a_wrong_postgres_database_is_named(tmp_path: Path) -> None:
    """PostgreSQL answers (127.0.0.1:5432, trust auth) but the database does not exist."""
    var = tmp_path / "var"
    proc = _run(["backtest", "--sessions", "1"], var,
                QT_STORES__MLFLOW_TRACKING_URI="postgresql://postgres@127.0.0.1:5432/qt_no_such_db")
    line = _one_line_error(proc, 3)
    assert "qt_no_such_db" in line and "does not exist" in line


def test_redis_down_is_one_line_exit_3(tmp_path: Path) -> None:
    var = tmp_path / "var"
    proc = _run(["features", "show"], var, QT_FEATURES__ONLINE_STORE="redis",
                QT_FEATURES__REDIS_CONNECTION="127.0.0.1:1", QT_STORES__CONNECT_TIMEOUT_S="2")
    line = _one_line_error(proc, 3)
    assert "features.redis_connection" in line and "127.0.0.1:1" in line


@pytest.mark.slow
def test_a_failing_flow_is_one_line_on_the_console_and_failed_in_prefect(tmp_path: Path) -> None:
    """`qtml train` on an empty lake: the task's InputError, once, without Prefect's task and flow tracebacks;
    the flow run is FAILED in the Prefect database (what the UI shows) and the traceback is in the JSON log."""
    var = tmp_path / "var"
    proc = _run(["train"], var)
    line = _one_line_error(proc, 2)
    assert "no bars for WDO" in line and "ingest first" in line
    assert "Task run" not in proc.stderr and "Flow run" not in proc.stderr
    assert "no bars for WDO" in _logged_traceback(var)
    with sqlite3.connect(var / "prefect" / "prefect.db") as db:
        states = db.execute("SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id").fetchall()
    assert ("train", "FAILED") in states
    # the local Prefect API the CLI started is gone with it
    leftover = subprocess.run(["pgrep", "-f", f"prefect.server.api.server:create_app.*{var}"], capture_output=True)
    assert leftover.returncode == 1


def test_debug_shows_the_traceback_on_the_console(tmp_path: Path) -> None:
    var = tmp_path / "var"
    proc = _run(["--debug", "ingest", str(tmp_path / "nope.csv")], var)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "nope.csv" in proc.stderr

"""What the engine reliability tests share: the real-process harness of tests/live_engine/service
(``engine_env``), a refused start, the alerts in var/logs/qt.jsonl, a version's artifacts on disk."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live_engine" / "service"))
from engine_env import EngineEnv, free_port, make_env

__all__ = ["EngineEnv", "alerts", "artifacts_dir", "free_port", "make_env", "refused", "wait_alert"]

NAME = "quantumtrader"


def refused(env: EngineEnv, *args: str, **extra: str) -> str:
    """``qtml engine start ARGS``: expect exit 2 without a restart; return the engine's one ``error:`` line."""
    p = env.start(*args, **extra)
    code = p.wait(120)
    out = env.log()
    assert code == 2, out[-3000:]
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, out[-3000:]  # one line, one engine: a restart would print a second one
    assert "Traceback" not in out and "engine_crashed" not in out and out.count("ERROR engine_refused") == 1, out
    return errors[0]


def alerts(env: EngineEnv, code: str) -> list[dict[str, Any]]:
    """The records of alert ``code`` in var/logs/qt.jsonl."""
    path = env.var / "logs" / "qt.jsonl"
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []
    return [r for r in rows if (r.get("data") or {}).get("alert") == code or f"{code}:" in str(r.get("message"))]


def wait_alert(env: EngineEnv, code: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = alerts(env, code)
        if hits:
            return hits[0]
        time.sleep(0.2)
    raise AssertionError(f"no {code} alert in qt.jsonl after {timeout} s:\n{env.log()[-3000:]}")


def artifacts_dir(env: EngineEnv, version: str) -> Path:
    """Where the registry keeps version ``version``'s bundle files (a local file store)."""
    import mlflow

    uri = mlflow.MlflowClient(env.settings.mlflow_tracking_uri).get_model_version_download_uri(NAME, version)
    assert uri.startswith("file://"), uri
    return Path(uri.removeprefix("file://"))

"""kill -9 of a real ``qtml model promote`` at every step leaves exactly one champion, and two promotions
at once serialise: the second waits for the first and judges against the champion it left.

The kill lands at the gate's test pause points (``training.promotion.gate.PAUSE_ENV``): after the lock
is taken, after the decision, after the row is written, after the alias moved, after the tags. The
promotions are forced (the evidence step is the same code path for every decision and is covered by
tests/training/promotion/test_gate.py); the lock, the row, the alias move and the tags are the real ones.
The concurrency test runs one promotion in a ``qtml`` process and the other in the test's own process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_model import contract, register, train_booster

from quantumtrader.config import Settings
from quantumtrader.db import create_engine
from training.promotion import gate, ledger, registry

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QTML = Path(sys.executable).with_name("qtml")
NAME = "quantumtrader"


def _env(settings: Settings, pause: str | None = None) -> dict[str, str]:
    env = {**os.environ, "QT_ROOT": str(settings.root), "QT_LOGGING__LEVEL": "WARNING",
           "QT_STORES__PROMOTIONS_DB_URL": str(settings.stores.promotions_db_url)}
    env.pop(gate.PAUSE_ENV, None)
    if pause:
        env[gate.PAUSE_ENV] = pause
    return env


def _promote(settings: Settings, version: str, pause: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([str(QTML), "model", "promote", version, "--force", "--reason", f"test {version}"],
                            env=_env(settings, pause), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_line(proc: subprocess.Popen[str], text: str, timeout: float = 300) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return
        assert time.monotonic() < deadline, f"no {text!r} within {timeout} s"
    raise AssertionError(f"the process ended without {text!r}: {''.join(seen)[-2000:]}")


def _world(settings: Settings, url: str | None = None) -> Settings:
    """v1 champion (forced, in this process), v2 and v3 registered; the promotions table at ``url``."""
    if url is not None:
        settings = settings.model_copy(update={"stores": settings.stores.model_copy(
            update={"promotions_db_url": url})})
    for seed in range(3):
        register(settings, train_booster(seed=seed), contract())
    assert gate.promote(settings, version="1", force=True, reason="start").champion_after == "1"
    return settings


def _champions(settings: Settings) -> list[str]:
    """Every version the champion alias names (a registered model's aliases map each alias to one version)."""
    c = registry.client(settings.mlflow_tracking_uri)
    return [v for a, v in registry.aliases(c, NAME).items() if a == "champion"]


@pytest.mark.parametrize("step", gate.STEPS)
def test_kill_9_at_every_step_of_a_promotion_leaves_exactly_one_champion(settings: Settings, step: str) -> None:
    s = _world(settings)
    proc = _promote(s, "2", pause=step)
    _wait_line(proc, f"promotion paused at {step}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    moved = gate.STEPS.index(step) >= gate.STEPS.index("alias_moved")
    assert _champions(s) == (["2"] if moved else ["1"])
    engine = create_engine(str(s.stores.promotions_db_url))
    # the table and the tags agree with the registry once the next locked call reconciles them
    gate.reconcile(s, engine)
    last = ledger.last_champion_row(engine, NAME)
    assert last is not None and last["champion_after"] == _champions(s)[0]
    if step == "recorded":  # the row was written, the alias never moved: a reconcile row says so
        assert last["action"] == "reconcile" and "did not complete" in last["detail"]
    if moved:
        tags = registry.version_tags(registry.client(s.mlflow_tracking_uri), registry.ModelRef(NAME, "2"))
        assert tags[registry.PREVIOUS_CHAMPION_TAG] == "1" and tags[registry.PROMOTION_ID_TAG] == str(last["id"])
    # the killed process held the lock: the next promotion gets it at once and works
    t0 = time.monotonic()
    assert gate.promote(s, version="3", force=True, reason="after the kill").champion_after == "3"
    assert time.monotonic() - t0 < 60 and _champions(s) == ["3"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_promotions_at_once_the_second_waits_for_the_first(settings: Settings, backend: str,
                                                                request: pytest.FixtureRequest) -> None:
    """A ``qtml`` process holds the lock for 8 s; this process promotes meanwhile and must wait for it."""
    import io

    from rich.console import Console

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    s = _world(settings, url)
    first = _promote(s, "2", pause="locked:8")
    try:
        _wait_line(first, "promotion paused at locked")
        said = io.StringIO()
        t0 = time.monotonic()
        second = gate.promote(s, version="3", force=True, reason="second", console=Console(file=said, width=400))
        waited = time.monotonic() - t0
        assert first.wait(timeout=300) == 0, first.stderr.read() if first.stderr else ""
    finally:
        first.kill()
    assert "waiting for it to finish" in said.getvalue() and waited > 2
    rows = ledger.rows(create_engine(str(s.stores.promotions_db_url)), NAME)
    assert [(r["version"], r["champion_before"], r["champion_after"]) for r in rows] == [
        ("1", None, "1"), ("2", "1", "2"), ("3", "2", "3")]  # the second judged against the first's result
    assert rows[1]["recorded_at"] <= rows[2]["recorded_at"] and second.champion_before == "2"
    assert rows[1]["actor"] != rows[2]["actor"] and _champions(s) == ["3"]

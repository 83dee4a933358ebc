"""A real engine environment for the service tests: a lake of simulated sessions, a tiny native model
registered as ``@champion`` in a real MLflow (sqlite), free loopback ports, and helpers that run
``qtml engine`` as real processes (started, polled over the control socket, SIGKILLed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tiny_model import contract, register, train_booster

from market.lake import Lake
from market.simulator import simulate
from quantumtrader.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[3]
QTML = [sys.executable, "-m", "quantumtrader.cli"]
FIRST_DAY = date(2026, 1, 5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EngineEnv:
    root: Path
    env: dict[str, str]
    settings: Settings
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def var(self) -> Path:
        return self.settings.var_dir

    def qtml(self, *args: str, timeout: float = 240, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*QTML, *args], cwd=REPO, env={**self.env, **extra}, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """``qtml engine start ARGS`` in the foreground, as a child process (its supervisor)."""
        log = open(self.root / f"engine-{len(self.procs)}.log", "w")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen([*QTML, "engine", "start", *args], cwd=REPO, env={**self.env, **extra}, text=True,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def log(self, i: int = -1) -> str:
        n = len(self.procs) + i if i < 0 else i
        return (self.root / f"engine-{n}.log").read_text()

    def status(self, timeout: float = 3.0) -> dict[str, Any] | None:
        from live_engine.service.control import default_endpoint, request

        try:
            return request(default_endpoint(self.var), "status", timeout_s=timeout)
        except Exception:
            return None

    def wait_status(self, pred: Any, timeout: float = 180.0, what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            st = self.status()
            if st is not None and st.get("ok"):
                last = st
                if pred(st):
                    return st
            for p in self.procs:
                if p.poll() is not None and p is self.procs[-1] and st is None:
                    raise AssertionError(f"engine exited {p.returncode} waiting for {what}:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last status {json.dumps(last)[:800]}\n"
                             f"{self.log()[-3000:]}")

    def engine_pid(self) -> int:
        return int((self.var / "run" / "engine-child.pid").read_text().strip())

    def sigkill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)

    def journal(self) -> Any:
        from live_engine.journal.journal import Journal

        return Journal.open(self.settings.stores.journal_db_url, mode="paper")


def make_env(tmp_path: Path, *, sessions: int = 4, trades_per_session: int = 2500, **env: str) -> EngineEnv:
    var = tmp_path / "var"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PREFECT_", "MLFLOW_"))}
    base.update(QT_STORES__VAR_DIR=str(var), DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true", COLUMNS="100",
                QT_LIVE__ZMQ_PUB_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
                QT_LIVE__FEEDS__INGRESS_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
                QT_LIVE__SERVICE__PROMETHEUS_PORT="0", QT_LIVE__SERVICE__RESTART_DELAY_S="1", **env)
    settings = load_settings(stores={"var_dir": str(var), "feast_repo": str(REPO / "feature_repo")},
                             live={"zmq_pub_endpoint": base["QT_LIVE__ZMQ_PUB_ENDPOINT"],
                                   "feeds": {"ingress_endpoint": base["QT_LIVE__FEEDS__INGRESS_ENDPOINT"]}})
    lake = Lake(settings.lake_root)
    for s in simulate(sessions, FIRST_DAY, seed=3, trades_per_session=trades_per_session, planted_strength=0.6):
        lake.write_day("trades", "WDO", s.day, s.trades)
        lake.write_day("book", "WDO", s.day, s.book)
    register(settings, train_booster(), contract(), alias="champion")
    return EngineEnv(tmp_path, base, settings)

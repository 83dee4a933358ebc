"""A throw-away engine environment for benchmarks: a var folder with a lake of simulated WDO sessions and a
small native LightGBM model registered as ``@champion`` in MLflow (sqlite), on free loopback ports; and
``qtml engine start`` as a real process (its supervisor) polled over the control socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIRST_DAY = date(2026, 1, 5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def small_booster(seed: int = 0, rounds: int = 8) -> Any:
    """A 3-class Booster over the 65 features whose label follows ``ofi_5`` (a real, if trivial, opinion)."""
    import lightgbm as lgb
    import numpy as np

    from features.spec import FEATURE_NAMES

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, len(FEATURE_NAMES)))
    ofi = X[:, FEATURE_NAMES.index("ofi_5")]
    y = np.where(ofi > 0.5, 2, np.where(ofi < -0.5, 0, 1))
    params = {"objective": "multiclass", "num_class": 3, "num_leaves": 7, "learning_rate": 0.3, "verbose": -1,
              "num_threads": 1, "seed": seed, "deterministic": True}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)


def model_contract() -> dict[str, Any]:
    """The model metadata training writes (every input group present)."""
    from features.contract import all_present, feature_contract
    from features.spec import FEATURE_NAMES, spec_hash

    return {"qt_model_contract": 2, "feature_set": "qt65_v1", "feature_spec_hash": spec_hash(),
            "feature_names": list(FEATURE_NAMES), "classes": [-1, 0, 1], "class_names": ["down", "flat", "up"],
            "calibration": {"method": "temperature", "temperature": 1.5}, "horizon": 5, "dataset_hash": "bench",
            "bar_spec": "time:60s",
            "feature_contract": feature_contract(bar_spec="time:60s", large_trade_qty=10, tick_size=0.5,
                                                 input_groups=all_present())}


@dataclass
class EngineProcess:
    """An engine environment under ``root``; :meth:`start` runs ``qtml engine start``."""

    root: Path
    env: dict[str, str]
    settings: Any
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pub_endpoint(self) -> str:
        return self.env["QT_LIVE__ZMQ_PUB_ENDPOINT"]

    @property
    def ingress_endpoint(self) -> str:
        return self.env["QT_LIVE__FEEDS__INGRESS_ENDPOINT"]

    def start(self, *args: str) -> None:
        log = open(self.root / "engine.log", "wb")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen([sys.executable, "-m", "quantumtrader.cli", "engine", "start", *args], cwd=REPO,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def status(self, timeout_s: float = 3.0) -> dict[str, Any] | None:
        from live_engine.service.control import default_endpoint, request

        try:
            st: dict[str, Any] = request(default_endpoint(self.settings.var_dir), "status", timeout_s=timeout_s)
        except Exception:
            return None
        return st if st.get("ok") else None

    def wait_ready(self, timeout_s: float = 180.0) -> dict[str, Any]:
        """The first status after the warm-up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.status()
            if st is not None and st["state"] != "WARMING":
                return st
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the engine did not get past its warm-up: {(self.root / 'engine.log').read_text()[-2000:]}")

    def stop(self) -> int | None:
        """Safe stop (SIGTERM to the supervisor's group); SIGKILL after 60 s."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)


def make_engine(root: Path, *, sessions: int = 2, trades_per_session: int = 12_000, seed: int = 3,
                **extra_env: str) -> EngineProcess:
    """A lake of ``sessions`` simulated sessions from 2026-01-05 and a small ``@champion`` under ``root/var``."""
    import mlflow

    from market.lake import Lake
    from market.simulator import simulate
    from quantumtrader.config import load_settings
    from serving.bundle_writer import log_bundle

    var = root / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PREFECT_", "MLFLOW_"))}
    env.update(QT_STORES__VAR_DIR=str(var), DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true",
               QT_LIVE__ZMQ_PUB_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
               QT_LIVE__FEEDS__INGRESS_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
               QT_LIVE__SERVICE__PROMETHEUS_PORT="0", **extra_env)
    settings = load_settings(stores={"var_dir": str(var), "feast_repo": str(REPO / "feature_repo")},
                             live={"zmq_pub_endpoint": env["QT_LIVE__ZMQ_PUB_ENDPOINT"],
                                   "feeds": {"ingress_endpoint": env["QT_LIVE__FEEDS__INGRESS_ENDPOINT"]}})
    lake = Lake(settings.lake_root)
    for s in simulate(sessions, FIRST_DAY, seed=seed, trades_per_session=trades_per_session, planted_strength=0.6):
        lake.write_day("trades", "WDO", s.day, s.trades)
        lake.write_day("book", "WDO", s.day, s.book)
    var.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    exp = client.create_experiment("bench", artifact_location=(var / "mlflow" / "artifacts" / "bench").as_uri())
    with mlflow.start_run(experiment_id=exp):
        log_bundle(small_booster(), settings=settings, metadata=model_contract(), lineage={"dataset": "bench"},
                   registered_model_name="quantumtrader", alias="champion")
    return EngineProcess(root, env, settings)

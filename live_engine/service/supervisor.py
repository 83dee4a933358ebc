"""The supervisor: runs the engine process and restarts it after a crash, at most
``live.service.restart_attempts`` (3) times, ``restart_delay_s`` (5 s) apart; then it stays down with a
CRITICAL alert (RELIABILITY.md 5).

A safe stop (exit 0) or bad input / configuration (exit 2: a restart would fail the same way) ends it
without a restart. SIGTERM / SIGINT are passed to the engine (a safe stop) and end the supervisor.
``qtml engine start`` runs it in the foreground (systemd, Docker); ``--detach`` runs
``python -m live_engine.service.supervisor`` in its own session with a pidfile.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from quantumtrader.logging import get_logger

log = get_logger("live_engine.service.supervisor")

Alert = Callable[[str, str, str], None]


def engine_command(feed: str | None, speed: float | None) -> list[str]:
    cmd = [sys.executable, "-m", "live_engine.service.main"]
    if feed:
        cmd += ["--feed", feed]
    if speed is not None:
        cmd += ["--speed", repr(float(speed))]
    return cmd


def _log_alert(level: str, code: str, message: str) -> None:
    fn = {"CRITICAL": log.critical, "ERROR": log.error, "WARNING": log.warning}.get(level, log.info)
    fn(f"{code}: {message}", data={"alert": code, "level": level})
    print(f"{level} {code}: {message}", file=sys.stderr, flush=True)


def supervise(cmd: Sequence[str], *, attempts: int, delay_s: float, alert: Alert = _log_alert,
              child_pidfile: os.PathLike[str] | None = None) -> int:
    """Run ``cmd`` until it exits 0 or 2, restarting a crash ``attempts`` times ``delay_s`` apart."""
    stopping = threading.Event()
    child: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()
        if child and child[0].poll() is None:
            child[0].send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    restarts = 0
    while True:
        proc = subprocess.Popen(list(cmd))
        child[:] = [proc]
        if child_pidfile is not None:
            with open(child_pidfile, "w") as fh:
                fh.write(f"{proc.pid}\n")
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:  # pragma: no cover - the handler above runs instead
                stopping.set()
        if stopping.is_set() or code == 0:
            return 0 if code in (0, -signal.SIGTERM) else code
        if code == 2:
            alert("ERROR", "engine_refused", "the engine refused to start (bad input or configuration): "
                  "not restarted; see the line above and var/logs/qt.jsonl")
            return 2
        if restarts >= attempts:
            alert("CRITICAL", "restarts_exhausted", f"the engine crashed (exit {code}) after {restarts} restart(s); "
                  "staying down: see var/logs/qt.jsonl, fix, then `qtml engine start`")
            return 1
        restarts += 1
        alert("ERROR", "engine_crashed", f"the engine exited with {code}; restart {restarts} of {attempts} in "
              f"{delay_s:g} s")
        if stopping.wait(delay_s):
            return 0
        log.info("restarting the engine", data={"attempt": restarts, "at": time.time()})


def main(argv: list[str] | None = None) -> int:
    from live_engine.service.startup import pidfile
    from quantumtrader.config import get_settings
    from quantumtrader.runtime import bootstrap

    p = argparse.ArgumentParser(prog="live_engine.service.supervisor")
    p.add_argument("--feed", default=None)
    p.add_argument("--speed", type=float, default=None)
    a = p.parse_args(argv)
    settings = get_settings()
    bootstrap(settings)
    svc = settings.live.service
    pid = pidfile(settings.var_dir)
    pid.parent.mkdir(parents=True, exist_ok=True)
    pid.write_text(f"{os.getpid()}\n")
    try:
        return supervise(engine_command(a.feed, a.speed), attempts=svc.restart_attempts, delay_s=svc.restart_delay_s,
                         child_pidfile=pid.with_name("engine-child.pid"))
    finally:
        if pid.exists() and pid.read_text().strip() == str(os.getpid()):
            pid.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())

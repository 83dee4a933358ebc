"""The local Prefect API of a CLI process, started early so it comes up while the command imports.

Without ``stores.prefect_api_url`` a flow needs Prefect's local ("ephemeral") API server: a child
process on 127.0.0.1 that takes ~9 s to answer on an idle 2-core machine. Prefect starts it only at the
first flow run, after the command has spent ~8 s importing pandas, LightGBM, MLflow and Feast on the
same core. :func:`start` launches the same server (Prefect's own ``create_app`` under uvicorn, with the
settings Prefect's ephemeral mode uses) at the very start of a flow command, on the other core, and
points ``PREFECT_API_URL`` at it; :func:`wait_ready` (called by each flow's entry point) blocks until it
answers. Flow runs, states and logs are stored in the configured Prefect database exactly as before.

The server dies with the CLI: on exit (``atexit``), and, because the kernel is asked to signal the
child when its parent dies (``PR_SET_PDEATHSIG``), also when the CLI is killed with SIGKILL.
Its output goes to ``<var_dir>/logs/prefect-api.log``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from quantumtrader.errors import TransientError

_SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
_PR_SET_PDEATHSIG = 1


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ready: bool = False


_server: _Server | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):  # not Linux: atexit still stops it
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start(log_dir: Path) -> str | None:
    """Start the local Prefect API in a child process unless a Prefect API is configured; return its URL.

    Non-blocking; call after :func:`quantumtrader.runtime.configure_environment` (the child inherits the
    Prefect home and database from the environment).
    """
    global _server
    if os.environ.get("PREFECT_API_URL"):
        return None
    if _server is not None:
        return _server.url
    port = _free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "prefect-api.log"
    argv = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env={**os.environ, **_SERVER_ENV}, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    _server = _Server(process, f"http://127.0.0.1:{port}/api", log)
    os.environ["PREFECT_API_URL"] = _server.url
    atexit.register(stop)
    return _server.url


def wait_ready(timeout_s: float | None = None) -> None:
    """Block until the API started by :func:`start` answers ``/health``; no-op when none was started."""
    server = _server
    if server is None or server.ready:
        return
    if timeout_s is None:
        timeout_s = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise TransientError(f"the local Prefect API exited with code {code} before answering: see {server.log}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as resp:
                if resp.status == 200:
                    server.ready = True
                    return
        except OSError:
            pass
        time.sleep(0.1)
    stop()
    raise TransientError(
        f"the local Prefect API did not answer within {timeout_s:.0f} s (see {server.log}); raise "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a busy machine"
    )


def stop() -> None:
    """Stop the API started by :func:`start` (SIGTERM, then SIGKILL after 5 s)."""
    global _server
    server, _server = _server, None
    if server is None:
        return
    if os.environ.get("PREFECT_API_URL") == server.url:
        del os.environ["PREFECT_API_URL"]
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()

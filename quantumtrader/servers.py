"""Run a web server as a child in its own session; say "ready" when it answers; stop all of it.

Why not ``exec`` the server: MLflow starts a process tree (uvicorn, a job runner, huey consumers)
whose parent forwards a signal only to its direct child, so stopping it left orphans. Here the
server is started with ``start_new_session=True`` (its pid is the session and process-group id,
and every descendant inherits both), and stopping means: SIGTERM to every live process of that
session, up to :data:`STOP_GRACE_S` seconds, then SIGKILL to what is left.

The CLI process catches SIGTERM and SIGINT itself (the server, in another session, does not see a
terminal's Ctrl-C) and exits 0 after a requested stop: stopping a UI is its normal end. A server
that exits on its own, dies before it answers, or does not answer within the start-up timeout is
one ``error:`` line naming its exit code and log file, and exit status 1. A busy port is an
:class:`~quantumtrader.errors.InputError` (exit status 2) before anything starts.

Linux only (the session walk reads ``/proc``).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import typer

from quantumtrader.errors import InputError

HOST = "127.0.0.1"
STOP_GRACE_S = 10.0
PROGRESS_EVERY_S = 5.0
_POLL_S = 0.5


@dataclass(frozen=True)
class ServerSpec:
    """What to start and how to tell it is up."""

    name: str  # "mlflow", "prefect": used in messages
    argv: list[str]  # argv[0] is a console script of this environment
    port: int
    health_path: str  # GET answering 2xx once the server serves requests
    log_path: Path  # the server's stdout and stderr
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port (or 0.0.0.0:port): the server could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the servers do: a port held only by TIME_WAIT connections is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """True if an HTTP GET of ``url`` returns 2xx within ``timeout_s``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= int(response.status) < 300
    except (OSError, http.client.HTTPException, ValueError):
        return False


def session_members(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes whose session id is ``sid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.kill(pid, signum)


def stop_session(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every process of ``proc``'s session, wait up to ``grace_s``, SIGKILL the rest, reap ``proc``.

    Signals each member, not only the process group, so a descendant that moved to another group
    of the session is stopped too.
    """
    sid = proc.pid
    _signal_all(session_members(sid), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap our child so it does not linger as a zombie
        if not session_members(sid):
            break
        time.sleep(0.1)
    else:
        _signal_all(session_members(sid), signal.SIGKILL)
    proc.wait()


def _executable(name: str) -> str:
    """The console script next to this interpreter (``.venv/bin/qtml`` runs without PATH set)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise InputError(f"{name} is not installed in this environment: run `make install`")
    return found


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def serve(spec: ServerSpec, *, startup_timeout_s: float) -> None:
    """Start ``spec``, print "ready: <url>" once its health URL answers, run until a signal stops it.

    Returns normally (exit status 0) after SIGTERM or SIGINT; raises ``typer.Exit(1)`` if the
    server exits by itself or misses the start-up timeout, ``InputError`` if the port is taken.
    """
    if not port_is_free(spec.port):
        raise InputError(
            f"port {spec.port} on {HOST} is already in use: stop what listens there or pass --port <another>"
        )
    argv = [_executable(spec.argv[0]), *spec.argv[1:]]
    stop_signal: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_signal.append(signum)  # acted on by the loops below, never mid-Popen

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    log = spec.log_path.open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **spec.env},
            start_new_session=True,
        )
        typer.echo(f"starting {spec.name} on {spec.url} (pid {proc.pid}, output in {spec.log_path})")
        _wait_ready(spec, proc, stop_signal, startup_timeout_s)
        if not stop_signal:
            typer.echo(f"ready: {spec.url}")
        while not stop_signal:
            try:
                code = proc.wait(timeout=_POLL_S)
            except subprocess.TimeoutExpired:
                continue
            raise _fail(f"{spec.name} server exited with code {code}; its output is in {spec.log_path}")
        typer.echo(f"stopping {spec.name} ({signal.Signals(stop_signal[0]).name})")
    finally:
        if proc is not None:
            stop_session(proc)
        log.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    typer.echo(f"stopped {spec.name}")


def _wait_ready(
    spec: ServerSpec, proc: subprocess.Popen[bytes], stop_signal: list[int], timeout_s: float
) -> None:
    """Poll the health URL until it answers, a signal arrives, the server dies or time runs out."""
    health = spec.url + spec.health_path
    start = time.monotonic()
    next_progress = start + PROGRESS_EVERY_S
    while not stop_signal:
        code = proc.poll()
        if code is not None:
            raise _fail(
                f"{spec.name} server exited with code {code} before it was ready; "
                f"its output is in {spec.log_path}"
            )
        if answers(health):
            return
        now = time.monotonic()
        if now - start > timeout_s:
            raise _fail(
                f"{spec.name} server did not answer {health} within {timeout_s:.0f} s and was stopped; "
                f"its output is in {spec.log_path} (a slow machine: raise --startup-timeout)"
            )
        if now >= next_progress:
            typer.echo(f"starting {spec.name} … {now - start:.0f} s")
            next_progress += PROGRESS_EVERY_S
        time.sleep(_POLL_S)

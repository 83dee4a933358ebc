"""The engine's local control socket: ``qtml engine status | stop | emergency-stop`` talk to it.

A ZMQ REP socket (default ``ipc://<var>/run/engine.sock``: a file only this user reaches, no TCP port)
served by a thread of the engine, so ``status`` answers during the warm-up and while the loop works.
Requests and replies are one JSON object each: ``{"cmd": "status"}`` -> the status dict. Commands that
change the engine (``stop``, ``emergency-stop``) are queued for the engine's loop, which acts between
events; the reply comes once it has (or after a timeout, saying so).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from quantumtrader.errors import TransientError

STATUS, STOP, EMERGENCY, MODULES = "status", "stop", "emergency-stop", "modules"
COMMANDS = (STATUS, STOP, EMERGENCY, MODULES)


def default_endpoint(var_dir: Path) -> str:
    return f"ipc://{(var_dir / 'run' / 'engine.sock').resolve()}"


def endpoint_for(configured: str | None, var_dir: Path) -> str:
    return configured or default_endpoint(var_dir)


@dataclass
class Command:
    name: str
    args: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] = field(default_factory=dict)


class ControlServer:
    """Serves ``status`` from ``status_fn`` (called on the control thread) and queues the other commands."""

    def __init__(self, endpoint: str, status_fn: Callable[[], dict[str, Any]], *, reply_timeout_s: float = 15.0):
        self.endpoint = endpoint
        self.status_fn = status_fn
        self.commands: queue.Queue[Command] = queue.Queue()
        self.reply_timeout_s = reply_timeout_s
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        if endpoint.startswith("ipc://"):
            path = Path(endpoint.removeprefix("ipc://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # a socket file left by a killed engine
        self._sock.bind(endpoint)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="engine-control", daemon=True)

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not dict(poller.poll(100)):
                continue
            try:
                req = json.loads(self._sock.recv())
                name = str(req.get("cmd", ""))
            except (ValueError, AttributeError):
                self._send({"ok": False, "error": "a request is one JSON object {\"cmd\": ...}"})
                continue
            if name == STATUS:
                try:
                    self._send({"ok": True, **self.status_fn()})
                except Exception as err:  # status must never kill the control thread
                    self._send({"ok": False, "error": f"status failed: {type(err).__name__}: {err}"})
            elif name == MODULES:  # what the process imported (the engine must not import Prefect, Feast, ...)
                self._send({"ok": True, "modules": sorted(sys.modules)})
            elif name in COMMANDS:
                cmd = Command(name, dict(req.get("args") or {}))
                self.commands.put(cmd)
                if cmd.done.wait(self.reply_timeout_s):
                    self._send({"ok": True, **cmd.reply})
                else:
                    self._send({"ok": False, "error": f"{name} queued; the engine did not confirm within "
                                                      f"{self.reply_timeout_s:.0f} s"})
            else:
                self._send({"ok": False, "error": f"unknown command {name!r}; one of {', '.join(COMMANDS)}"})

    def _send(self, doc: dict[str, Any]) -> None:
        self._sock.send(json.dumps(doc, default=str, allow_nan=False).encode())

    def pending(self) -> list[Command]:
        out: list[Command] = []
        while True:
            try:
                out.append(self.commands.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self._sock.close(0)
        if self.endpoint.startswith("ipc://"):
            Path(self.endpoint.removeprefix("ipc://")).unlink(missing_ok=True)


def request(endpoint: str, cmd: str, *, timeout_s: float = 5.0, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ask the engine at ``endpoint``; a one-line TransientError when nothing answers in ``timeout_s``."""
    if endpoint.startswith("ipc://") and not Path(endpoint.removeprefix("ipc://")).exists():
        raise TransientError(f"no engine is running (no control socket at {endpoint.removeprefix('ipc://')}): "
                             "start one with `qtml engine start`")
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, int(timeout_s * 1000))
    sock.setsockopt(zmq.SNDTIMEO, int(timeout_s * 1000))
    try:
        sock.connect(endpoint)
        sock.send(json.dumps({"cmd": cmd, "args": args or {}}).encode())
        reply: dict[str, Any] = json.loads(sock.recv())
        return reply
    except zmq.Again:
        raise TransientError(f"the engine at {endpoint} did not answer within {timeout_s:.0f} s: is it running? "
                             "(`qtml engine status`, the log var/logs/qt.jsonl)") from None
    finally:
        sock.close(0)

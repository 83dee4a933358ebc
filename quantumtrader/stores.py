"""Is a configured store reachable? A bounded check before a command relies on it.

Embedded stores (SQLite files, the local Prefect API) need no check. A server store — PostgreSQL or
MySQL behind MLflow or Prefect, Redis behind Feast's online store, a Prefect or MLflow server over
HTTP — is probed with a TCP connection, retried for ``stores.connect_timeout_s`` seconds (10 by
default), then once more with the real client for PostgreSQL (so a wrong database or password is
named too). A failure raises :class:`~quantumtrader.errors.TransientError` with one line that names the
setting, the URI with its password redacted, the reason and what to do — instead of MLflow's
two-minute engine retry or Feast's redis traceback.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from quantumtrader.errors import TransientError
from quantumtrader.logging import redact

_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "redis": 6379, "http": 80, "https": 443}


@dataclass(frozen=True)
class Endpoint:
    kind: str  # postgresql | mysql | redis | http
    host: str
    port: int


def endpoint(uri: str) -> Endpoint | None:
    """The server behind a store URI, or None for an embedded store (sqlite, file paths)."""
    if "://" not in uri:  # Feast's redis form: host:port[,db=N,password=...]
        host, _, port = uri.split(",")[0].partition(":")
        return Endpoint("redis", host or "127.0.0.1", int(port or 6379)) if host or port else None
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0].lower()
    kind = {"postgres": "postgresql", "https": "http"}.get(scheme, scheme)
    if kind not in ("postgresql", "mysql", "redis", "http"):
        return None
    return Endpoint(kind, parts.hostname or "127.0.0.1", parts.port or _DEFAULT_PORTS[scheme])


def _tcp(ep: Endpoint, timeout_s: float) -> str | None:
    """None when a TCP connection opens, else the reason."""
    try:
        with socket.create_connection((ep.host, ep.port), timeout=timeout_s):
            return None
    except OSError as err:
        return err.strerror or type(err).__name__


def _postgres(uri: str, timeout_s: float) -> str | None:
    """None when PostgreSQL accepts the URI's database and credentials, else the server's reason."""
    import psycopg2

    dsn = uri.replace("postgresql+psycopg2://", "postgresql://").replace("postgresql+asyncpg://", "postgresql://")
    try:
        psycopg2.connect(dsn, connect_timeout=max(1, int(timeout_s))).close()
        return None
    except psycopg2.Error as err:
        return " ".join(str(err).split())


def require_reachable(uri: str, *, setting: str, timeout_s: float = 10.0) -> None:
    """Raise :class:`TransientError` when the server behind ``uri`` does not answer within ``timeout_s``."""
    ep = endpoint(uri)
    if ep is None:
        return
    deadline = time.monotonic() + timeout_s
    tries = 0
    reason: str | None = "not tried"
    while True:
        tries += 1
        reason = _tcp(ep, timeout_s=min(2.0, max(0.1, deadline - time.monotonic())))
        if reason is None or time.monotonic() + 1.0 > deadline:
            break
        time.sleep(1.0)
    if reason is None and ep.kind == "postgresql":
        reason = _postgres(uri, timeout_s=max(1.0, deadline - time.monotonic()))
        if reason is not None:
            raise TransientError(f"{setting}: PostgreSQL at {redact(uri)} refused the connection: {reason}; "
                                 f"fix QT_{setting.upper().replace('.', '__')} or create the role or database it names")
    if reason is not None:
        raise TransientError(
            f"{setting}: {ep.kind} at {redact(uri)} is not reachable ({reason}; {tries} tries in {timeout_s:.0f} s): "
            f"start it, or point QT_{setting.upper().replace('.', '__')} at a running one"
        )

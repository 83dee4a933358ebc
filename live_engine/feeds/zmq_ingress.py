"""The ZMQ ingress feed: a PULL socket the engine binds; a bridge (ProfitDLL on Windows, or
``qtml feed publish``) connects a PUSH socket and sends v1 messages (``docs/wire-format.md``).

PUSH/PULL rather than PUB/SUB: a PUSH socket whose peer is slow blocks (after its high-water mark)
instead of dropping, so a slow engine makes the bridge wait and nothing is lost silently; what is lost
anyway (a bridge restart, a network cut) shows as a gap in the publisher's ``seq``. Every message is
decoded (:mod:`~live_engine.feeds.wire`: malformed ones are counted and dropped), its sequence checked
per publisher, and its event passed through the :class:`~live_engine.feeds.validate.EventGate`.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import zmq

from live_engine.feeds.events import Event, Feed, FeedStats
from live_engine.feeds.validate import EventGate
from live_engine.feeds.wire import MAX_PAYLOAD, Heartbeat, WireError, decode_envelope
from quantumtrader.errors import ConfigError
from quantumtrader.logging import get_logger

if TYPE_CHECKING:
    from quantumtrader.config import Settings

log = get_logger("live_engine.feeds.zmq_ingress")


def check_bind_endpoint(endpoint: str, *, allow_any_interface: bool = False) -> None:
    """Refuse a tcp endpoint that is not loopback (``0.0.0.0``, ``*``, a LAN address) unless allowed."""
    if not endpoint.startswith("tcp://"):
        if endpoint.startswith(("ipc://", "inproc://")):
            return
        raise ConfigError(f"live.feeds.ingress_endpoint {endpoint!r}: use tcp://127.0.0.1:<port> or ipc://<path>")
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_any_interface:
        raise ConfigError(f"live.feeds.ingress_endpoint {endpoint!r} is not a loopback address: the ingress binds "
                          "127.0.0.1 unless live.feeds.ingress_allow_any_interface is true (behind a firewall)")


class ZmqIngressFeed:
    """Binds ``endpoint`` (PULL) and turns v1 messages into events; never exhausted, ``speed`` 1.

    Per publisher id the last ``seq`` is kept: a jump adds the missing count to ``stats.gaps``; a
    ``seq`` at or below the last one is a restarted publisher (counted in ``restarts``, no gap)."""

    name = "zmq"
    speed = 1.0

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5560", *, symbol: str | None = None,
                 allow_any_interface: bool = False, max_batch: int = 10_000, max_ts_regress_ns: int = 0,
                 rcvhwm: int = 100_000, context: zmq.Context | None = None) -> None:
        check_bind_endpoint(endpoint, allow_any_interface=allow_any_interface)
        self.endpoint = endpoint
        self.stats = FeedStats()
        self.gate = EventGate(self.stats, max_ts_regress_ns=max_ts_regress_ns, symbol=symbol)
        self.last_seq: dict[str, int] = {}
        self.restarts = 0
        self._max_batch = max_batch
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.PULL)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, rcvhwm)
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_PAYLOAD + 1024)  # a bigger message drops its connection
        try:
            self._sock.bind(endpoint)
        except zmq.ZMQError as err:
            self._sock.close(0)
            raise ConfigError(f"live.feeds.ingress_endpoint {endpoint!r}: cannot bind ({err}); is another engine "
                              "running, or the port taken?") from None
        self.bound = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)  # tcp://127.0.0.1:<port> with port 0 resolved
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ZmqIngressFeed:
        """The ingress of ``settings.live.feeds`` for ``settings.market.symbol``."""
        cfg = settings.live.feeds
        return cls(cfg.ingress_endpoint, symbol=settings.market.symbol,
                   allow_any_interface=cfg.ingress_allow_any_interface, max_batch=cfg.poll_max_events,
                   max_ts_regress_ns=int(cfg.max_ts_regress_ms * 1e6))

    @property
    def exhausted(self) -> bool:
        return False

    def _sequence(self, pub: str, seq: int) -> None:
        last = self.last_seq.get(pub)
        if last is not None:
            if seq > last + 1:
                self.stats.gaps += seq - last - 1
            elif seq <= last:
                self.restarts += 1
                log.warning("publisher %s restarted its sequence (%d after %d)", pub, seq, last)
        self.last_seq[pub] = seq

    def handle(self, frames: list[bytes]) -> Event | None:
        """One received message: the good event it carries, or None (heartbeat, malformed, bad tick)."""
        try:
            pub, seq, body = decode_envelope(frames)
        except WireError as err:
            self.gate.malformed(err.code)
            if err.pub is not None and err.seq is not None:
                self._sequence(err.pub, err.seq)
            return None
        self._sequence(pub, seq)
        if isinstance(body, Heartbeat):
            self.stats.heartbeats += 1
            self.stats.last_heartbeat_ns = time.time_ns()
            return None
        return body if self.gate.admit(body) else None

    def poll(self, timeout_s: float) -> list[Event]:
        """The messages waiting (at most ``max_batch``), waiting up to ``timeout_s`` for the first."""
        out: list[Event] = []
        if self._closed or not self._poller.poll(max(0, int(timeout_s * 1000))):
            return out
        recv, handle = self._sock.recv_multipart, self.handle
        for _ in range(self._max_batch):
            try:
                frames = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            ev = handle(frames)
            if ev is not None:
                out.append(ev)
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._poller.unregister(self._sock)
            self._sock.close(0)


def _as_feed(f: ZmqIngressFeed) -> Feed:  # mypy checks here that ZmqIngressFeed is a Feed
    return f

"""The engine's broadcast: a ZMQ PUB socket that never makes the engine wait (docs/engine-monitoring.md).

Every message is one frame, the topic, a space and the JSON envelope::

    fills {"v": 1, "epoch": "...", "seq": 812, "topic_seq": 40, "topic": "fills", "ts_ns": ..., "data": {...}}

(one frame, not ``[topic, envelope]`` frames: libzmq 4.3.5 aborted the process, "Resource temporarily
unavailable (src/session_base.cpp:233)", when a PUB and a slow SUB holding half-read multipart messages
were closed in one process; single frames leave no half-read message to clean up.)

``seq`` counts every message the engine publishes (all topics, strictly increasing, from 1);
``topic_seq`` counts that topic's messages, so a subscriber to some topics only can still tell a loss
from the messages it did not subscribe to. ``epoch`` names one run of the engine: a restart starts a
new epoch and both counters start again at 1.

Slow subscribers: sends are non-blocking and each subscriber has ``hwm`` messages of queue. When the
whole socket cannot take a message (``zmq.Again``) it is dropped and counted in ``stats.dropped``. A PUB
socket drops *silently* for one subscriber whose own queue is full: the publisher is never told, so
those losses are only visible to that subscriber, as gaps in ``topic_seq`` (:class:`Subscriber`).
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import zmq

from quantumtrader.errors import InputError

if TYPE_CHECKING:
    from live_engine.config import LiveConfig

ENVELOPE_VERSION = 1
TOPICS = ("features", "signals", "decisions", "orders", "fills", "metrics", "alerts")
_JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def new_epoch() -> str:
    """A fresh engine epoch: UTC start time plus a random suffix (``20260105T120000Z-3f2a9c``)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def to_json(obj: Any) -> bytes:
    """JSON bytes; NaN and infinities become ``null``, numpy scalars and arrays their values, other
    unknown objects (paths, enums, decimals) their ``str``."""
    return orjson.dumps(obj, default=str, option=_JSON_OPTS)


def _is_loopback(endpoint: str) -> bool:
    """True for ``ipc://``, ``inproc://`` and ``tcp://`` on 127.0.0.0/8, ``::1`` or ``localhost``."""
    scheme = endpoint.split("://", 1)[0].lower()
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    return is_loopback_host(urlsplit(endpoint).hostname or "")


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ``::1`` (bracketed or not) and ``localhost``."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name or a host name: not provably local
        return False


def check_bind(endpoint: str, *, allow_remote: bool = False, setting: str = "live.zmq_pub_endpoint") -> None:
    """Refuse a bind that is not on this machine unless ``allow_remote`` (RELIABILITY 22)."""
    if "://" not in endpoint:
        raise InputError(f"{setting}={endpoint!r} is not a ZMQ endpoint: use tcp://127.0.0.1:PORT or ipc://PATH")
    if not allow_remote and not _is_loopback(endpoint):
        raise InputError(f"{setting}={endpoint!r} is not a loopback address: bind tcp://127.0.0.1:PORT, or set "
                         "live.service.broadcast_allow_remote: true to publish beyond this machine")


@dataclass(frozen=True, slots=True)
class BroadcastStats:
    """``seq``: last sequence number given; ``sent``: accepted by the socket; ``dropped``: refused by it
    (each subscriber's own silent drops are not visible here)."""

    seq: int
    sent: int
    dropped: int


class Broadcaster:
    """The engine's ZMQ PUB socket. ``publish`` never blocks; it is safe to call from several threads."""

    def __init__(self, endpoint: str, epoch: str, hwm: int = 10_000, *, allow_remote: bool = False,
                 bind_wait_s: float = 1.0, context: zmq.Context[Any] | None = None) -> None:
        check_bind(endpoint, allow_remote=allow_remote)
        if hwm <= 0:
            raise InputError(f"broadcast hwm {hwm} must be > 0 (live.service.broadcast_hwm)")
        self.epoch = epoch
        self.hwm = hwm
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, hwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._bind(endpoint, bind_wait_s)
        self.endpoint: str = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._lock = threading.Lock()
        self._seq = 0
        self._topic_seq = dict.fromkeys(TOPICS, 0)
        self._sent = 0
        self._dropped = 0
        self._closed = False

    def _bind(self, endpoint: str, wait_s: float) -> None:
        # A closed socket releases its port asynchronously (ZMQ's I/O thread): the previous broadcast of a
        # restarted engine may hold it a few ms more, so "in use" is retried for ``wait_s``.
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._sock.bind(endpoint)
                return
            except zmq.ZMQError as err:
                if err.errno == zmq.EADDRINUSE and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                self._sock.close(0)
                raise InputError(f"cannot bind the broadcast on {endpoint}: {err.strerror}; stop the process "
                                 "using it or set live.zmq_pub_endpoint to another port") from None

    @classmethod
    def from_config(cls, live: LiveConfig, epoch: str) -> Broadcaster:
        """The broadcast of ``live.zmq_pub_endpoint`` with ``live.service``'s queue and bind policy."""
        return cls(live.zmq_pub_endpoint, epoch, live.service.broadcast_hwm,
                   allow_remote=live.service.broadcast_allow_remote)

    def publish(self, topic: str, payload: Mapping[str, Any]) -> bool:
        """Send one message on ``topic``; False when the socket refused it (counted in ``dropped``)."""
        if topic not in self._topic_seq:
            raise InputError(f"unknown broadcast topic {topic!r}: use one of {', '.join(TOPICS)}")
        with self._lock:
            if self._closed:
                return False
            self._seq += 1
            self._topic_seq[topic] += 1
            body = to_json({"v": ENVELOPE_VERSION, "epoch": self.epoch, "seq": self._seq,
                            "topic_seq": self._topic_seq[topic], "topic": topic, "ts_ns": time.time_ns(),
                            "data": payload})
            try:
                self._sock.send(topic.encode() + b" " + body, flags=zmq.NOBLOCK)
            except zmq.Again:
                self._dropped += 1
                return False
            self._sent += 1
            return True

    @property
    def stats(self) -> BroadcastStats:
        with self._lock:
            return BroadcastStats(self._seq, self._sent, self._dropped)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._sock.close(0)

    def __enter__(self) -> Broadcaster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Message:
    """One received broadcast. ``lost``: messages of this topic missed just before it (0 normally);
    ``new_epoch``: the first message of an engine run this subscriber sees."""

    topic: str
    seq: int
    topic_seq: int
    epoch: str
    ts_ns: int
    data: Any
    raw: bytes
    lost: int = 0
    new_epoch: bool = False


@dataclass(slots=True)
class SubscriberStats:
    received: int = 0
    lost: int = 0
    gaps: int = 0
    malformed: int = 0
    epochs: list[str] = field(default_factory=list)


class Subscriber:
    """Connects a SUB socket to the broadcast and yields :class:`Message` s, detecting gaps per epoch."""

    def __init__(self, endpoint: str, topics: Iterable[str] | None = None, *, rcvhwm: int = 100_000,
                 context: zmq.Context[Any] | None = None) -> None:
        wanted = tuple(topics) if topics is not None else TOPICS
        unknown = [t for t in wanted if t not in TOPICS]
        if unknown or not wanted:
            raise InputError(f"unknown broadcast topic(s) {', '.join(unknown) or '(none given)'}: "
                             f"use some of {', '.join(TOPICS)}")
        self.topics = wanted
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.RCVHWM, rcvhwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        for topic in wanted:
            # the topic and its separator: a prefix that matches that topic only
            self._sock.setsockopt(zmq.SUBSCRIBE, topic.encode() + b" ")
        self._sock.connect(endpoint)
        self.endpoint = endpoint
        self.stats = SubscriberStats()
        self._epoch: str | None = None
        self._last: dict[str, int] = {}

    def recv(self, timeout_ms: int | None = None) -> Message | None:
        """The next well-formed message, or None when ``timeout_ms`` passes first (None = wait)."""
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while True:
            left = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not self._sock.poll(left):
                return None
            msg = self._accept(self._sock.recv())
            if msg is not None:
                return msg

    def _accept(self, frame: bytes) -> Message | None:
        try:
            topic_b, _, raw = frame.partition(b" ")
            env = orjson.loads(raw)
            topic, epoch, seq, topic_seq = env["topic"], str(env["epoch"]), int(env["seq"]), int(env["topic_seq"])
            if env.get("v") != ENVELOPE_VERSION or topic.encode() != topic_b:
                raise ValueError("envelope version or topic")
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            self.stats.malformed += 1
            return None
        new = epoch != self._epoch
        if new:
            self._epoch = epoch
            self._last = {}
            self.stats.epochs.append(epoch)
        before = self._last.get(topic)
        # The first message of a topic in an epoch: what came before it was missed only if we were
        # there for the epoch's start, which a subscriber cannot know; it counts from where it joined.
        lost = topic_seq - before - 1 if before is not None and topic_seq > before + 1 else 0
        self._last[topic] = topic_seq
        self.stats.received += 1
        if lost:
            self.stats.lost += lost
            self.stats.gaps += 1
        return Message(topic, seq, topic_seq, epoch, int(env.get("ts_ns", 0)), env.get("data"), raw,
                       lost=lost, new_epoch=new)

    def __iter__(self) -> Iterator[Message]:
        while True:
            msg = self.recv()
            if msg is not None:
                yield msg

    def close(self) -> None:
        self._sock.close(0)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


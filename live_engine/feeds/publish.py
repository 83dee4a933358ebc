"""``qtml feed publish``: the bridge's stand-in. Plays lake sessions, in the backtest's merged order and at a
pace (:class:`~live_engine.feeds.paced.Pacer`), into the engine's ingress over a PUSH socket, as v1
messages numbered by ``seq`` (heartbeats in the quiet stretches of a slow pace)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import zmq

from live_engine.feeds.events import Trade
from live_engine.feeds.paced import Pacer, session_events
from live_engine.feeds.replay import lake_days, lake_tapes
from live_engine.feeds.wire import encode, encode_heartbeat
from quantumtrader.config import Settings
from quantumtrader.errors import TransientError


@dataclass(frozen=True)
class PublishResult:
    """What one publish sent."""

    endpoint: str
    pub: str
    days: tuple[date, ...]
    trades: int
    books: int
    heartbeats: int
    first_seq: int
    last_seq: int
    seconds: float

    @property
    def messages(self) -> int:
        return self.trades + self.books + self.heartbeats

    @property
    def msg_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        return (f"published {self.messages:,} messages ({self.trades:,} trades, {self.books:,} book snapshots, "
                f"{self.heartbeats:,} heartbeats) of {len(self.days)} sessions in {self.seconds:.2f} s: "
                f"{self.msg_per_s:,.0f} msg/s to {self.endpoint} as {self.pub} (seq {self.first_seq}..{self.last_seq})")


def _shut(ctx: zmq.Context, sock: zmq.Socket, linger_s: float) -> bool:
    """Close, waiting up to ``linger_s`` for queued messages to leave; False when some were still queued."""
    sock.close(linger=int(linger_s * 1000))
    t0 = time.monotonic()
    ctx.term()  # returns when every message has left, or at the linger
    return linger_s == 0 or time.monotonic() - t0 < linger_s * 0.99


def default_pub() -> str:
    """A publisher id naming this host and process (a restarted publisher is a new sequence)."""
    return f"qtml-publish@{socket.gethostname()}:{os.getpid()}"


def publish(settings: Settings, *, sessions: int | Sequence[date] | None = None, speed: float | None = None,
            endpoint: str | None = None, symbol: str | None = None, pub: str | None = None,
            heartbeat_s: float = 1.0, first_seq: int = 1, flush_timeout_s: float = 30.0,
            progress: Callable[[int, int], None] | None = None) -> PublishResult:
    """Send the sessions (default the last ``live.feeds.replay_sessions``) to ``endpoint`` (default
    ``live.feeds.ingress_endpoint``) at ``speed`` (default ``live.feeds.speed``). ``progress(sessions done,
    messages sent)`` is called after each session. Waits up to ``flush_timeout_s`` for the last messages
    to leave (PUSH holds them until an ingress is there), and as long for room in a full send queue;
    past that raises :class:`TransientError` (no ingress, or an engine that stopped reading)."""
    cfg = settings.live.feeds
    symbol = symbol or settings.market.symbol
    endpoint = endpoint or cfg.ingress_endpoint
    pub = pub or default_pub()
    days = lake_days(settings, sessions if sessions is not None else cfg.replay_sessions, symbol)
    pacer = Pacer(cfg.speed if speed is None else speed)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.setsockopt(zmq.SNDTIMEO, int(flush_timeout_s * 1000))  # a full queue this long: nobody is reading
    sock.connect(endpoint)
    send = sock.send_multipart
    seq, n_trades, n_books, n_hb, done = first_seq, 0, 0, 0, -1
    t0 = time.perf_counter()
    last_sent = time.monotonic()
    try:
        for ev in session_events(lake_tapes(settings, days, symbol), symbol):
            if ev is None:
                pacer.new_session()
                done += 1
                if progress is not None and done > 0:
                    progress(done, seq - first_seq)
                continue
            due = pacer.due(ev.ts_ns)
            while (now := time.monotonic()) < due:  # a slow pace: wait, with heartbeats in the quiet
                if now - last_sent >= heartbeat_s:
                    send(encode_heartbeat(time.time_ns(), pub=pub, seq=seq))
                    seq, n_hb, last_sent = seq + 1, n_hb + 1, now
                time.sleep(min(due - now, heartbeat_s))
            send(encode(ev, pub=pub, seq=seq))
            seq += 1
            if type(ev) is Trade:
                n_trades += 1
            else:
                n_books += 1
            last_sent = time.monotonic()
        send(encode_heartbeat(time.time_ns(), pub=pub, seq=seq))  # the end: the ingress sees the last seq
        n_hb += 1
        seq += 1
        if progress is not None:
            progress(len(days), seq - first_seq)
    except zmq.Again:
        _shut(ctx, sock, 0.0)
        raise TransientError(f"the ingress at {endpoint} took nothing for {flush_timeout_s:.0f} s after "
                             f"{seq - first_seq:,} messages: is the engine running with the zmq feed?") from None
    except BaseException:
        _shut(ctx, sock, 0.0)
        raise
    stuck = not _shut(ctx, sock, flush_timeout_s)
    seconds = time.perf_counter() - t0
    if stuck:
        raise TransientError(f"messages still queued after {flush_timeout_s:.0f} s: no ingress at {endpoint}? "
                             "start the engine with the zmq feed (or check the endpoint) and publish again")
    return PublishResult(endpoint, pub, tuple(days), n_trades, n_books, n_hb, first_seq, seq - 1, seconds)

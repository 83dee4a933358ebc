"""``qtml engine tail``: follow the engine's broadcast, one readable line (or the raw JSON) per message."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from live_engine.service.broadcast import TOPICS, Message, Subscriber
from quantumtrader.errors import InputError

# The fields shown first for each topic; other scalar fields follow, up to MAX_FIELDS in all.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "features": ("symbol", "bar_ts", "nan_count"),
    "signals": ("symbol", "source", "side", "direction", "confidence"),
    "decisions": ("symbol", "action", "side", "confidence", "reason"),
    "orders": ("client_order_id", "side", "qty", "price", "status", "reason"),
    "fills": ("fill_id", "client_order_id", "side", "qty", "price"),
    "metrics": ("state", "features_per_s", "latency_ms", "win_rate", "drawdown_pct", "pnl", "trades"),
    "alerts": ("level", "code", "message", "cleared"),
}
MAX_FIELDS = 8


def parse_topics(text: str | None) -> tuple[str, ...]:
    """``"fills,orders"`` -> ``("fills", "orders")``; None or empty -> every topic."""
    if not text or not text.strip():
        return TOPICS
    topics = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise InputError(f"--topics: unknown topic(s) {', '.join(unknown)}; use some of {','.join(TOPICS)}")
    return topics


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):  # e.g. latency_ms {"p50": .., "p99": ..}: the numbers only
        return "/".join(_fmt(v) for k, v in value.items() if k != "n")
    if value is None:
        return "n/a"
    return str(value)


def format_line(msg: Message) -> str:
    """``fills     #812  fill_id=F-3 side=buy qty=1 price=5123.5``."""
    data = msg.data if isinstance(msg.data, Mapping) else {"data": msg.data}
    keys = [k for k in KEY_FIELDS.get(msg.topic, ()) if k in data]
    keys += [k for k, v in data.items() if k not in keys and k != "ts_ns" and not isinstance(v, list | dict)]
    fields = " ".join(f"{k}={_fmt(data[k])}" for k in keys[:MAX_FIELDS])
    return f"{msg.topic:<9} #{msg.seq:<6} {fields}".rstrip()


def tail(endpoint: str, topics: Iterable[str], *, count: int | None = None, as_json: bool = False,
         out: TextIO = sys.stdout, err: TextIO = sys.stderr, poll_ms: int = 200) -> int:
    """Print messages until ``count`` were printed or Ctrl-C; gaps and new epochs go to ``err``.
    Returns the number of messages printed."""
    printed = 0
    with Subscriber(endpoint, topics) as sub:
        print(f"tail: {endpoint} topics {','.join(sub.topics)} (Ctrl-C to stop)", file=err, flush=True)
        try:
            while count is None or printed < count:
                msg = sub.recv(timeout_ms=poll_ms)
                if msg is None:
                    continue
                if msg.new_epoch:
                    print(f"tail: engine epoch {msg.epoch}", file=err, flush=True)
                if msg.lost:
                    print(f"tail: gap: {msg.lost} {msg.topic} message(s) lost before #{msg.seq} "
                          f"({sub.stats.lost} lost in all)", file=err, flush=True)
                print(msg.raw.decode() if as_json else format_line(msg), file=out, flush=True)
                printed += 1
        except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or the reader of a pipe went away: a clean stop
            pass
        stats = sub.stats
        print(f"tail: {stats.received} received, {stats.lost} lost in {stats.gaps} gap(s), "
              f"{stats.malformed} malformed", file=err, flush=True)
    return printed

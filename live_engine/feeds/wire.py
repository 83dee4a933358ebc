"""The ZMQ ingress wire format, version 1 (``docs/wire-format.md`` is its specification).

A message is two frames: a topic (``qt.v1.trade``, ``qt.v1.book`` or ``qt.v1.heartbeat``) and a UTF-8 JSON
object. Every payload carries the publisher id ``pub`` and its per-publisher sequence number ``seq``
(consecutive integers over all of that publisher's messages, heartbeats included) so the ingress counts
lost messages, and ``ts_ns``, the event time as integer nanoseconds since the Unix epoch (UTC).

JSON because a Windows bridge around ProfitDLL (C#, C++) writes it with its standard library; integers for
times because a float loses nanoseconds. Versioning: the ``v1`` in the topic is the major version. Adding
an optional field keeps v1 (decoders ignore fields they do not know); removing, renaming or changing the
meaning or type of a field makes v2, and a v1 decoder rejects a v2 message (:class:`WireError`) instead of
guessing. :func:`decode` raises :class:`WireError` and nothing else, whatever the bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from live_engine.feeds.events import Book, Event, Trade
from market.schemas import BOOK_LEVELS

VERSION = 1
PREFIX = b"qt.v1."
TOPIC_TRADE = b"qt.v1.trade"
TOPIC_BOOK = b"qt.v1.book"
TOPIC_HEARTBEAT = b"qt.v1.heartbeat"
MAX_PAYLOAD = 16_384  # bytes; a v1 book is ~400
_I64 = (-(2**63), 2**63 - 1)


class WireError(ValueError):
    """A message that is not valid v1: ``code`` is the counted reason (``frame_count``, ``bad_topic``,
    ``unsupported_version``, ``not_json``, ``not_object``, ``missing_field``, ``wrong_type``, ``bad_value``,
    ``too_large``), ``str()`` says what exactly."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.pub: str | None = None  # set when the envelope was readable: the message still counts in
        self.seq: int | None = None  # its publisher's sequence (it arrived: not a gap)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A publisher's "still here" between events: liveness and sequence, never an event."""

    pub: str
    seq: int
    ts_ns: int


class Envelope(NamedTuple):
    """A decoded message with its publisher and sequence number."""

    pub: str
    seq: int
    body: Event | Heartbeat


def _json(topic: bytes, pub: str, seq: int, fields: dict[str, Any]) -> list[bytes]:
    return [topic, orjson.dumps({"pub": pub, "seq": seq, **fields})]


def encode_trade(t: Trade, *, pub: str, seq: int) -> list[bytes]:
    """The frames of a trade."""
    return _json(TOPIC_TRADE, pub, seq, {
        "ts_ns": t.ts_ns, "symbol": t.symbol, "trade_id": t.trade_id, "price": t.price, "qty": t.qty,
        "trade_type": t.trade_type, "buyer": t.buyer, "seller": t.seller})


def encode_book(b: Book, *, pub: str, seq: int) -> list[bytes]:
    """The frames of a 5-level snapshot: an empty level is a ``null`` price and a 0 quantity."""
    lv = [None if math.isnan(x) else x for x in b.levels]
    n = BOOK_LEVELS
    qty = [0 if x is None else int(x) for x in lv]
    return _json(TOPIC_BOOK, pub, seq, {
        "ts_ns": b.ts_ns, "symbol": b.symbol, "bid_px": lv[0:n], "bid_qty": qty[n:2 * n],
        "ask_px": lv[2 * n:3 * n], "ask_qty": qty[3 * n:4 * n]})


def encode_heartbeat(ts_ns: int, *, pub: str, seq: int) -> list[bytes]:
    """The frames of a heartbeat."""
    return _json(TOPIC_HEARTBEAT, pub, seq, {"ts_ns": ts_ns})


def encode(event: Event, *, pub: str, seq: int) -> list[bytes]:
    """The frames of a trade or a book snapshot."""
    return encode_trade(event, pub=pub, seq=seq) if isinstance(event, Trade) else encode_book(event, pub=pub, seq=seq)


def _get(obj: dict[str, Any], key: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise WireError("missing_field", f"field {key!r} is missing") from None


def _int(obj: dict[str, Any], key: str, lo: int = _I64[0]) -> int:
    v = _get(obj, key)
    if type(v) is not int:  # bool is an int subclass: not accepted
        raise WireError("wrong_type", f"field {key!r} must be an integer, got {type(v).__name__}")
    if not lo <= v <= _I64[1]:
        raise WireError("bad_value", f"field {key!r} = {v} is out of range")
    return v


def _num(v: Any, key: str) -> float:
    if type(v) is float:
        return v
    if type(v) is int:
        return float(v) if abs(v) < 2**53 else math.inf
    raise WireError("wrong_type", f"field {key!r} must be a number, got {type(v).__name__}")


def _str(obj: dict[str, Any], key: str) -> str:
    v = _get(obj, key)
    if type(v) is not str or not v or len(v) > 64:
        raise WireError("wrong_type", f"field {key!r} must be a non-empty string of at most 64 characters")
    return v


def _side(obj: dict[str, Any], px_key: str, qty_key: str) -> tuple[list[float], list[float]]:
    px, qty = _get(obj, px_key), _get(obj, qty_key)
    if type(px) is not list or type(qty) is not list:
        raise WireError("wrong_type", f"fields {px_key!r} and {qty_key!r} must be arrays")
    if len(px) != len(qty) or len(px) > BOOK_LEVELS:
        raise WireError("bad_value", f"{px_key!r} and {qty_key!r} must have the same length, at most {BOOK_LEVELS}")
    prices: list[float] = []
    sizes: list[float] = []
    for p, q in zip(px, qty, strict=True):  # one pass, no call per level: a book is 20 values
        if type(q) is not int:
            raise WireError("wrong_type", f"{qty_key!r} entries must be integers")
        if p is None:
            prices.append(math.nan)
            sizes.append(0.0)
            continue
        prices.append(p if type(p) is float else _num(p, px_key))
        sizes.append(float(q))
    pad = BOOK_LEVELS - len(px)
    return prices + [math.nan] * pad, sizes + [0.0] * pad


def decode_envelope(frames: Sequence[bytes]) -> Envelope:
    """Decode one multipart message; anything not valid v1 raises :class:`WireError`."""
    if len(frames) != 2:
        raise WireError("frame_count", f"a message is 2 frames (topic, payload), got {len(frames)}")
    topic, payload = bytes(frames[0]), frames[1]
    if not topic.startswith(PREFIX):
        if topic.startswith(b"qt.v"):
            raise WireError("unsupported_version", f"topic {topic[:40]!r}: this decoder reads v{VERSION} only")
        raise WireError("bad_topic", f"topic {topic[:40]!r} is not a qt.v1 topic")
    if len(payload) > MAX_PAYLOAD:
        raise WireError("too_large", f"payload of {len(payload)} bytes, limit {MAX_PAYLOAD}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        raise WireError("not_json", f"payload is not UTF-8 JSON ({err})") from None
    if type(obj) is not dict:
        raise WireError("not_object", "payload must be a JSON object")
    pub, seq = _str(obj, "pub"), _int(obj, "seq", 0)
    try:
        return Envelope(pub, seq, _body(topic, obj, pub, seq))
    except WireError as err:
        err.pub, err.seq = pub, seq
        raise


def _body(topic: bytes, obj: dict[str, Any], pub: str, seq: int) -> Event | Heartbeat:
    ts = _int(obj, "ts_ns")
    body: Event | Heartbeat
    if topic == TOPIC_TRADE:
        body = Trade(ts, _str(obj, "symbol"), _int(obj, "trade_id"), _num(_get(obj, "price"), "price"),
                     _int(obj, "qty"), _int(obj, "trade_type"), _int(obj, "buyer"), _int(obj, "seller"))
    elif topic == TOPIC_BOOK:
        bid_px, bid_qty = _side(obj, "bid_px", "bid_qty")
        ask_px, ask_qty = _side(obj, "ask_px", "ask_qty")
        body = Book(ts, _str(obj, "symbol"), bid_px + bid_qty + ask_px + ask_qty)
    elif topic == TOPIC_HEARTBEAT:
        body = Heartbeat(pub, seq, ts)
    else:
        raise WireError("bad_topic", f"topic {topic[:40]!r} is not one of trade, book, heartbeat")
    return body


def decode(frames: Sequence[bytes]) -> Event | Heartbeat:
    """Decode one multipart message into a trade, a book snapshot or a heartbeat (:class:`WireError` if not v1)."""
    return decode_envelope(frames).body

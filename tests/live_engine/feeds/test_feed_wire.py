"""The v1 wire format: round trips, each malformed kind named, and a fuzz that only ever sees WireError."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live_engine.feeds.events import Book, Trade
from live_engine.feeds.wire import (
    TOPIC_BOOK,
    TOPIC_TRADE,
    Heartbeat,
    WireError,
    decode,
    decode_envelope,
    encode_book,
    encode_heartbeat,
    encode_trade,
)

NAN = math.nan
TRADE = Trade(1_767_618_000_123_000_000, "WDOF26", 1_234_567, 5_250.5, 3, 2, 85, 3)
LEVELS = [5250.0, 5249.5, 5249.0, NAN, NAN, 10, 20, 30, 0, 0, 5250.5, 5251.0, 5251.5, 5252.0, 5252.5, 7, 8, 9, 10, 11]
BOOK = Book(1_767_618_000_124_000_000, "WDOF26", LEVELS)


def same_levels(a, b) -> bool:
    return len(a) == len(b) and all((x != x and y != y) or x == y for x, y in zip(a, b, strict=True))


def test_a_trade_round_trips_with_its_publisher_and_sequence():
    env = decode_envelope(encode_trade(TRADE, pub="bridge-1", seq=41))
    assert env.pub == "bridge-1" and env.seq == 41 and env.body == TRADE


def test_a_book_round_trips_with_empty_levels_as_null_price():
    frames = encode_book(BOOK, pub="b", seq=0)
    payload = orjson.loads(frames[1])
    assert frames[0] == b"qt.v1.book" and payload["bid_px"][3:] == [None, None] and payload["bid_qty"][3:] == [0, 0]
    got = decode(frames)
    assert isinstance(got, Book) and got.ts_ns == BOOK.ts_ns and same_levels(got.levels, LEVELS)


def test_a_heartbeat_decodes_as_a_heartbeat_not_an_event():
    assert decode(encode_heartbeat(99, pub="p", seq=7)) == Heartbeat("p", 7, 99)


def test_a_short_book_is_padded_with_empty_levels_and_integer_prices_are_accepted():
    msg = {"pub": "p", "seq": 1, "ts_ns": 5, "symbol": "WDO", "bid_px": [5250], "bid_qty": [4],
           "ask_px": [5250.5, 5251], "ask_qty": [1, 2], "extra_field_of_a_later_minor": True}
    got = decode([TOPIC_BOOK, orjson.dumps(msg)])
    assert isinstance(got, Book)
    assert same_levels(got.levels, [5250.0, NAN, NAN, NAN, NAN, 4, 0, 0, 0, 0,
                                    5250.5, 5251.0, NAN, NAN, NAN, 1, 2, 0, 0, 0])


def _trade_payload(**changes):
    obj = orjson.loads(encode_trade(TRADE, pub="p", seq=1)[1])
    for k, v in changes.items():
        if v is KeyError:
            del obj[k]
        else:
            obj[k] = v
    return orjson.dumps(obj)


@pytest.mark.parametrize(("frames", "code"), [
    ([TOPIC_TRADE], "frame_count"),
    ([TOPIC_TRADE, b"{}", b"x"], "frame_count"),
    ([b"qt.v2.trade", _trade_payload()], "unsupported_version"),
    ([b"hello", _trade_payload()], "bad_topic"),
    ([b"qt.v1.quote", _trade_payload()], "bad_topic"),
    ([TOPIC_TRADE, b"{not json"], "not_json"),
    ([TOPIC_TRADE, b"\xff\xfe"], "not_json"),
    ([TOPIC_TRADE, b"[1, 2]"], "not_object"),
    ([TOPIC_TRADE, _trade_payload(price=KeyError)], "missing_field"),
    ([TOPIC_TRADE, _trade_payload(seq=KeyError)], "missing_field"),
    ([TOPIC_TRADE, _trade_payload(qty="3")], "wrong_type"),
    ([TOPIC_TRADE, _trade_payload(qty=3.0)], "wrong_type"),
    ([TOPIC_TRADE, _trade_payload(ts_ns=True)], "wrong_type"),
    ([TOPIC_TRADE, _trade_payload(price=None)], "wrong_type"),
    ([TOPIC_TRADE, _trade_payload(symbol="")], "wrong_type"),
    ([TOPIC_TRADE, _trade_payload(seq=-1)], "bad_value"),
    ([TOPIC_TRADE, b" " * 20_000], "too_large"),
])
def test_each_malformed_kind_is_a_wire_error_with_its_code(frames, code):
    with pytest.raises(WireError) as err:
        decode(frames)
    assert err.value.code == code


VALID = [encode_trade(TRADE, pub="p", seq=1), encode_book(BOOK, pub="p", seq=2), encode_heartbeat(3, pub="p", seq=3)]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids,
                                                                                     max_size=4), max_leaves=10)


def _decodes_or_wire_error(frames) -> None:
    try:
        got = decode(frames)
    except WireError:
        return
    assert isinstance(got, Trade | Book | Heartbeat)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=4))
def test_random_bytes_never_raise_anything_but_wire_error(frames):
    _decodes_or_wire_error(frames)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_messages_never_raise_anything_but_wire_error(msg, data):
    topic, payload = msg
    obj = orjson.loads(payload)
    how = data.draw(st.sampled_from(["drop", "replace", "add", "bytes", "truncate"]))
    if how == "drop":
        obj.pop(data.draw(st.sampled_from(sorted(obj))))
    elif how == "replace":
        obj[data.draw(st.sampled_from(sorted(obj)))] = data.draw(json_values)
    elif how == "add":
        obj[data.draw(st.text(max_size=6))] = data.draw(json_values)
    new = json.dumps(obj).encode() if how in ("drop", "replace", "add") else payload
    if how == "bytes":
        i = data.draw(st.integers(0, len(new) - 1))
        new = new[:i] + data.draw(st.binary(min_size=1, max_size=3)) + new[i + 1:]
    elif how == "truncate":
        new = new[: data.draw(st.integers(0, len(new) - 1))]
    _decodes_or_wire_error([topic, new])  # stdlib json: integers past 64 bits and NaN literals reach decode


def test_a_malformed_body_with_a_readable_envelope_keeps_its_publisher_and_sequence():
    with pytest.raises(WireError) as err:
        decode([TOPIC_TRADE, _trade_payload(price=None)])  # a NaN price: JSON has none, an encoder writes null
    assert (err.value.code, err.value.pub, err.value.seq) == ("wrong_type", "p", 1)
    with pytest.raises(WireError) as err:
        decode([TOPIC_TRADE, b"{not json"])
    assert err.value.pub is None and err.value.seq is None

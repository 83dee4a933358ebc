"""Vectorised, tolerant converters from raw Arrow columns to TRADE_SCHEMA values.

Every function takes a whole column (an Arrow array, usually ``binary`` as read from a CSV) and
returns a NumPy array. No Python loop over rows on the normal path: repeated values (dates, broker names, trade
type words, tickers) are dictionary-encoded and only the unique values are looked at. Only a column
that actually holds unparsable text falls back to a per-value parse (pandas ``to_numeric``).

A value that cannot be read never raises and never drops its row: it becomes a *sentinel* for the
validation gate to quarantine (the table of sentinels and rules is in ``docs/data-formats.md``):
``ts`` NaT, ``price`` / ``fin_volume`` NaN, ``qty`` / ``trade_id`` / ``buyer`` / ``seller`` -1 and
``trade_type`` -1 (never 32, which means the source itself said "Unknown").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from market.brokers import MISSING_BROKER, BrokerRegistry
from market.schemas import KNOWN_TRADE_TYPES, TRADE_TYPE_WORDS

INT_SENTINEL = -1
TRADE_TYPE_SENTINEL = -1
NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds

_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d")
_WORDS_CASEFOLD = {w.casefold(): int(t) for w, t in TRADE_TYPE_WORDS.items()}


def flat(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous Arrow array."""
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def decode(value: bytes | str | None) -> str | None:
    """Bytes from a file as text: UTF-8, else Windows-1252 (Profit on Windows), never raising."""
    if value is None or isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("cp1252", errors="replace")


def map_unique(arr: pa.Array | pa.ChunkedArray, fn: Callable[[str | None], int], dtype: str) -> np.ndarray:
    """Apply ``fn`` to each distinct (decoded) value of ``arr`` and broadcast; nulls get ``fn(None)``."""
    enc = flat(pc.dictionary_encode(flat(arr)))
    table = np.array([fn(decode(v)) for v in enc.dictionary.to_pylist()] + [fn(None)], dtype=dtype)
    idx = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
    return table[idx]


def _text(arr: pa.Array) -> pa.Array:
    """A string/binary column ready for numeric casts (binary stays binary: casts accept it)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr


def _coerce_numeric(arr: pa.Array) -> np.ndarray:
    """Slow path for a column with bad values: per-value parse through pandas, bad -> NaN."""
    values = pd.Series([decode(v) for v in arr.to_pylist()], dtype=object)
    return pd.to_numeric(values.str.strip(), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def to_float(arr: pa.Array | pa.ChunkedArray, *, decimal_comma: bool = False) -> np.ndarray:
    """float64 values; null or unparsable -> NaN. ``decimal_comma``: ``1.234,5`` means 1234.5."""
    arr = _text(flat(arr))
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    if decimal_comma:
        arr = pc.replace_substring(pc.replace_substring(arr, ".", ""), ",", ".")
    try:
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _coerce_numeric(arr)


def _float_to_int(values: np.ndarray) -> np.ndarray:
    ok = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**62)
    return np.where(ok, values, INT_SENTINEL).astype("int64")


def to_int(arr: pa.Array | pa.ChunkedArray, *, decimal_comma: bool = False) -> np.ndarray:
    """int64 values; null, unparsable or non-integral -> -1 (``INT_SENTINEL``)."""
    arr = _text(flat(arr))
    if pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.int64()).fill_null(INT_SENTINEL).to_numpy(zero_copy_only=False)
    if pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        return _float_to_int(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False))
    if decimal_comma:
        arr = pc.replace_substring(arr, ".", "")
    try:
        return pc.cast(arr, pa.int64()).fill_null(INT_SENTINEL).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _float_to_int(to_float(arr, decimal_comma=decimal_comma))


# ---- dates and times ----------------------------------------------------------------------------
def _parse_date(text: str | None) -> int:
    if text is None:
        return NAT
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return int(pd.Timestamp(day).value)
    return NAT


def day_ns(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Local midnight of each date as int64 ns (NaT sentinel for unreadable dates).

    Accepts ISO ``yyyy-mm-dd``, pt-BR ``dd/mm/yyyy``, ``yyyymmdd`` (and a few more, see _DATE_FORMATS).
    """
    return map_unique(arr, _parse_date, "int64")


def time_ns(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Time of day as int64 ns since local midnight, truncated to the millisecond (NaT if unreadable).

    Accepts ``HH:MM:SS``, ``H:MM:SS`` and ``HH:MM:SS.f`` to ``.ffffff``; also compact ``HHMMSS[fff]``.
    """
    arr = _text(flat(arr))
    if pa.types.is_integer(arr.type):  # compact numeric form
        return _compact_time(to_int(arr))
    fixed = _fixed_width_time(arr)
    if fixed is not None:
        return fixed
    parts = pc.split_pattern(arr, ":", max_splits=2)
    three = pc.fill_null(pc.equal(pc.list_value_length(parts), 3), False)
    parts = pc.if_else(three, parts, pa.scalar(None, parts.type))  # list_element needs 3 items
    hours = to_float(pc.list_element(parts, 0))
    minutes = to_float(pc.list_element(parts, 1))
    seconds = to_float(pc.replace_substring(pc.list_element(parts, 2), ",", "."))
    ms = np.floor(seconds * 1000.0 + 1e-6)
    ok = three.to_numpy(zero_copy_only=False) & (hours >= 0) & (hours < 24) & (minutes >= 0) & (minutes < 60)
    ok &= (ms >= 0) & (ms < 61_000)
    ok &= (hours == np.floor(hours)) & (minutes == np.floor(minutes))
    total_ms = np.where(ok, (hours * 3600 + minutes * 60) * 1000 + ms, 0).astype("int64")
    out = np.where(ok, total_ms * 1_000_000, NAT)
    if not ok.all():  # rows without the colon form may be compact HHMMSS[fff]
        rest = np.flatnonzero(~ok)
        out[rest] = _compact_time(to_int(arr.take(pa.array(rest))))
    return out


def _fixed_width_time(arr: pa.Array) -> np.ndarray | None:
    """Fast path: every value is ``HH:MM:SS`` or every value is ``HH:MM:SS.fff`` (no nulls).

    Reads the digits straight from the Arrow data buffer as a (rows x width) byte matrix. Returns
    None when the column does not have that exact shape (the general path handles it).
    """
    if arr.null_count or len(arr) == 0 or not (pa.types.is_binary(arr.type) or pa.types.is_string(arr.type)):
        return None
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1]
    width = int(offsets[1] - offsets[0])
    if width not in (8, 12) or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]].reshape(len(arr), width)
    seps = (2, 5, 8) if width == 12 else (2, 5)
    if not all((data[:, i] == ord(":") if i < 8 else data[:, i] == ord(".")).all() for i in seps):
        return None
    # one small integer column per character (a whole int64 copy of the matrix was 8 bytes per character)
    digit = {i: data[:, i] - np.uint8(ord("0")) for i in range(width) if i not in seps}  # '/' wraps to 255
    if any((d > 9).any() for d in digit.values()):
        return None

    def number(*cols: int) -> np.ndarray:
        out = np.zeros(len(arr), dtype=np.int64)
        for i in cols:
            out *= 10
            out += digit[i]
        return out

    h, m, sec = number(0, 1), number(3, 4), number(6, 7)
    ms = number(9, 10, 11) if width == 12 else 0
    ok = (h < 24) & (m < 60) & (sec < 61)
    return np.where(ok, ((h * 3600 + m * 60 + sec) * 1000 + ms) * 1_000_000, NAT)


def _compact_time(values: np.ndarray) -> np.ndarray:
    """``HHMMSS`` (<= 6 digits) or ``HHMMSSfff`` (7-9 digits) integers -> ns since midnight."""
    with_ms = values >= 1_000_000
    hms = np.where(with_ms, values // 1000, values)
    ms = np.where(with_ms, values % 1000, 0)
    h, m, s = hms // 10_000, (hms // 100) % 100, hms % 100
    ok = (values >= 0) & (h < 24) & (m < 60) & (s < 61)
    return np.where(ok, ((h * 3600 + m * 60 + s) * 1000 + ms) * 1_000_000, NAT)


def split_datetime(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Split ``dd/mm/yyyy HH:MM:SS.mmm`` (or ISO with ``T``) into date and time text columns."""
    arr = _text(flat(arr))
    if pa.types.is_string(arr.type):
        arr = arr.cast(pa.binary())
    elif pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_binary())
    return pc.binary_slice(arr, 0, 10), pc.binary_slice(arr, 11, 64)


def local_to_utc(local_ns: np.ndarray, tz: str) -> pd.Series:
    """Naive local int64 ns (NaT sentinel allowed) -> ``datetime64[ns, UTC]`` Series.

    Times that do not exist or are ambiguous in ``tz`` (DST changes) become NaT.
    """
    local = pd.DatetimeIndex(local_ns.view("M8[ns]"))
    utc = local.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")
    return pd.Series(utc, copy=False)


def timestamps_utc(date_arr: pa.Array | pa.ChunkedArray, time_arr: pa.Array | pa.ChunkedArray, tz: str) -> pd.Series:
    """Date + time-of-day columns in local ``tz`` -> UTC timestamps (NaT where either is unreadable)."""
    days = day_ns(date_arr)
    tod = time_ns(time_arr)
    local = np.where((days == NAT) | (tod == NAT), NAT, days + tod)
    return local_to_utc(local, tz)


def timestamp_column_utc(arr: pa.Array | pa.ChunkedArray, tz: str) -> pd.Series:
    """An Arrow timestamp column -> UTC (naive values are local ``tz``)."""
    arr = flat(arr)
    series = pd.Series(arr.to_pandas(), copy=False)
    if series.dt.tz is None:
        return local_to_utc(series.astype("datetime64[ns]").to_numpy().view("int64"), tz)
    return series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


# ---- codes --------------------------------------------------------------------------------------
def _trade_type(word: str | None) -> int:
    if word is None:
        return TRADE_TYPE_SENTINEL
    word = word.strip()
    code = _WORDS_CASEFOLD.get(word.casefold())
    if code is not None:
        return code
    try:
        number = int(word)
    except ValueError:
        return TRADE_TYPE_SENTINEL
    return number if number in KNOWN_TRADE_TYPES else TRADE_TYPE_SENTINEL


def trade_type_codes(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int8 ProfitDLL codes from words (``AggressorBuyer``), numeric text or ints; unknown -> -1."""
    arr = _text(flat(arr))
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        codes = to_int(arr)
        known = np.isin(codes, np.fromiter(KNOWN_TRADE_TYPES, dtype="int64"))
        return np.where(known, codes, TRADE_TYPE_SENTINEL).astype("int8")
    return map_unique(arr, _trade_type, "int8")


def broker_ids(arr: pa.Array | pa.ChunkedArray, brokers: BrokerRegistry) -> np.ndarray:
    """int32 broker ids. Integers and digit-only text are ids already (ProfitDLL agent ids / B3
    codes); other text is a name mapped through the registry; null or empty -> -1."""
    arr = _text(flat(arr))
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        ids = to_int(arr)
    else:
        ids = map_unique(arr, lambda name: _broker_id(name, brokers), "int64")
    bad = (ids < 0) | (ids > np.iinfo(np.int32).max)
    return np.where(bad, MISSING_BROKER, ids).astype("int32")


def _broker_id(name: str | None, brokers: BrokerRegistry) -> int:
    if name is None:
        return MISSING_BROKER
    text = name.strip()
    return int(text) if text.isascii() and text.isdigit() else brokers.id_for(text)

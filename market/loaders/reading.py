"""Streaming readers: CSV and Parquet files as a sequence of bounded Arrow tables.

Nothing here reads a file whole. CSV goes through ``pyarrow.csv.open_csv`` (a streaming reader that
parses 1 MiB blocks with a small read-ahead; ``.gz``/``.bz2`` files are decompressed on the fly),
Parquet through ``ParquetFile.iter_batches`` (which holds at most one row group of the needed
columns). Batches are re-cut to exactly ``chunk_rows`` rows, so memory holds about one chunk plus a
few read blocks whatever the file size.

CSV columns are read as ``binary`` (no UTF-8 check, no type inference): a bad byte or a bad value in
one row can never abort the read; converters in :mod:`market.loaders.parsing` turn bad values into
sentinels. A row with the wrong number of fields (e.g. a truncated last line) is kept: its fields are
padded with nulls and it is flagged in the boolean column :data:`MALFORMED`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from quantumtrader.errors import InputError

MALFORMED = "__malformed__"
SNIFF_BYTES = 64 * 1024
READ_BLOCK_BYTES = 1 << 18
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_DECIMAL_COMMA = re.compile(rb"(?:^|;)\s*-?\d[\d.]*,\d+\s*(?=;|$)")


@dataclass(frozen=True)
class CsvDialect:
    """What sniffing the head of a CSV file found."""

    delimiter: str
    decimal_comma: bool
    header: tuple[str, ...]  # names as written, BOM and surrounding whitespace removed
    max_line_bytes: int


def is_parquet(path: Path) -> bool:
    """True for Parquet files (by suffix, else by the ``PAR1`` magic bytes)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def ensure_not_empty(path: Path) -> None:
    """Raise InputError for a missing or 0-byte file."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"empty file: {path}")


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook: export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office document: export the sheet as CSV"),
    (b"\x1f\x8b", "gzip data: name it .gz"),
    (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"


def _not_text(head: bytes) -> str | None:
    """Why ``head`` cannot be the start of a CSV file, or None when it looks like text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if b"\x00" in head:
        return "binary content: NUL bytes in the first 64 KiB"
    controls = len(head) - len(head.translate(None, _CONTROL))
    if controls > max(2, len(head) // 100):  # text exports have none; random bytes ~11 %
        return f"binary content: {controls} control bytes in the first {len(head)} bytes"
    return None


def _head(path: Path) -> bytes:
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            return bytes(stream.read(SNIFF_BYTES))
    except (pa.ArrowInvalid, OSError) as err:  # e.g. a .gz name on bytes that are not gzip
        raise InputError(f"{path}: not a CSV or Parquet file (cannot decompress it: {err})") from None


def sniff_csv(path: Path) -> CsvDialect:
    """Read the first 64 KiB: delimiter (``,`` ``;`` or tab), decimal comma, header names.

    Raises InputError ``empty file: <path>`` for a 0-byte or header-only file and
    ``<path>: not a CSV or Parquet file (<why>)`` for binary content (images, archives, random bytes).
    """
    ensure_not_empty(path)
    head = _head(path)
    reason = _not_text(head)
    if reason is not None:
        raise InputError(f"{path}: not a CSV or Parquet file ({reason})")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    lines = [ln for ln in head.splitlines() if ln.strip()]
    complete = len(head) < SNIFF_BYTES  # the whole file is in ``head``
    if not lines or (len(lines) == 1 and complete):
        raise InputError(f"empty file: {path}")
    first = lines[0]
    delimiter = max((b",", b";", b"\t"), key=first.count).decode()
    data = lines[1:] if complete else lines[1:-1]  # the last line of a partial head may be cut
    decimal_comma = delimiter != "," and any(_DECIMAL_COMMA.search(ln.replace(b"\t", b";")) for ln in data[:50])
    header = tuple(name.strip().strip('"').strip() for name in first.decode("utf-8", "replace").split(delimiter))
    longest = max((len(ln) + 1 for ln in lines), default=0)
    return CsvDialect(delimiter, decimal_comma, header, longest)


def _invalid_rows_table(texts: list[str], names: list[str], delimiter: str) -> pa.Table:
    """Rows the CSV parser rejected (wrong field count), padded with nulls, flagged malformed."""
    width = len(names)
    columns: list[list[bytes | None]] = [[] for _ in names]
    for text in texts:
        fields = text.rstrip("\r\n").split(delimiter)
        for i in range(width):
            columns[i].append(fields[i].encode() if i < len(fields) and fields[i] != "" else None)
    arrays = [pa.array(col, pa.binary()) for col in columns] + [pa.array([True] * len(texts))]
    return pa.table(arrays, names=[*names, MALFORMED])


def iter_csv(path: Path, dialect: CsvDialect, names: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    """Stream a CSV as tables of ``binary`` columns named ``names`` (+ MALFORMED), ``chunk_rows`` each.

    ``names`` replace the file's header (same count and order). Rows with a wrong field count are
    kept, flagged malformed, right after the batch during which the parser met them.
    """
    rejected: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        rejected.append(row.text or "")
        return "skip"

    # Arrow holds a few dozen blocks (read ahead and being converted), so its memory grows with the
    # block size: 256 KiB blocks hold ~9 MiB (1 MiB: ~38, 4 MiB: ~150). Parsing on this thread
    # (use_threads=False) was faster than the thread pool: the columns stay binary, so there is
    # little to convert in parallel, and the other core is busy writing. A block must hold at least
    # one whole line.
    block = max(READ_BLOCK_BYTES, 4 * dialect.max_line_bytes)
    reader = pacsv.open_csv(
        str(path),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=block, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=dialect.delimiter, invalid_row_handler=on_invalid,
                                         ignore_empty_lines=True, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.binary()),
                                             strings_can_be_null=True, quoted_strings_can_be_null=True),
    )

    def tables() -> Iterator[pa.Table]:
        try:
            for batch in reader:
                flags = pa.array(np.zeros(batch.num_rows, dtype=bool))
                yield pa.Table.from_batches([batch]).append_column(MALFORMED, flags)
                if rejected:
                    yield _invalid_rows_table(rejected, names, dialect.delimiter)
                    rejected.clear()
        except pa.ArrowInvalid as err:
            raise InputError(f"{path}: rule 'readable_file': the CSV cannot be read to the end: {err}") from None
        if rejected:
            yield _invalid_rows_table(rejected, names, dialect.delimiter)

    yield from rechunk(tables(), chunk_rows)


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file (reads only the footer)."""
    ensure_not_empty(path)
    return list(_open_parquet(path).schema_arrow.names)


def _open_parquet(path: Path) -> pq.ParquetFile:
    """Open a Parquet file; a cut or corrupt footer is an InputError naming the file and the problem."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(
            f"{path}: rule 'readable_file': truncated or corrupt Parquet file (its footer cannot be read: {err})"
        ) from None


def iter_parquet(path: Path, columns: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    """Stream ``columns`` of a Parquet file in tables of ``chunk_rows`` rows (+ MALFORMED = False)."""
    ensure_not_empty(path)
    pf = _open_parquet(path)
    if pf.metadata.num_rows == 0:
        raise InputError(f"empty file: {path}")

    def tables() -> Iterator[pa.Table]:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
            flags = pa.array(np.zeros(batch.num_rows, dtype=bool))
            yield pa.Table.from_batches([batch]).append_column(MALFORMED, flags)

    yield from rechunk(tables(), chunk_rows)


def rechunk(tables: Iterable[pa.Table], chunk_rows: int) -> Iterator[pa.Table]:
    """Re-cut a stream of tables with one schema into tables of exactly ``chunk_rows`` rows (last may be short)."""
    if chunk_rows <= 0:
        raise InputError(f"chunk_rows must be > 0, got {chunk_rows}")
    pending: list[pa.Table] = []
    size = 0
    for table in tables:
        if table.num_rows == 0:
            continue
        pending.append(table)
        size += table.num_rows
        if size < chunk_rows:
            continue
        merged = pa.concat_tables(pending)
        pending = []
        chunks = []
        start = 0
        while size - start >= chunk_rows:
            chunks.append(merged.slice(start, chunk_rows).combine_chunks())
            start += chunk_rows
        # the rest is copied so that ``merged`` (a few read blocks) is not held while the caller works
        pending = [merged.slice(start).combine_chunks()] if start < size else []
        size -= start
        del merged
        while chunks:
            yield chunks.pop(0)
    if size:
        yield pa.concat_tables(pending).combine_chunks()

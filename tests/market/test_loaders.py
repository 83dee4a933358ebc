"""Trade loaders: round trips, dialects, formats, detection and bad input (never a crash, never a lost row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from market.brokers import BrokerRegistry
from market.loaders import detect_format, iter_trades, write_profit_export
from market.schemas import TRADE_SCHEMA, TradeType
from quantumtrader.errors import InputError, SchemaError

HEADER = "<ticker>,<date>,<time>,<trade_number>,<price>,<qty>,<vol>,<buy_agent>,<sell_agent>,<trade_type>,<aft>\n"


def synthetic_trades(n: int = 300, seed: int = 1) -> pd.DataFrame:
    """A TRADE_SCHEMA frame over two sessions (one in 2018, when Sao Paulo still had DST)."""
    rng = np.random.default_rng(seed)
    days = [pd.Timestamp("2018-01-15 11:00", tz="UTC"), pd.Timestamp("2026-01-05 12:00", tz="UTC")]
    ms = np.sort(rng.integers(0, 8 * 3600 * 1000, n))
    base = np.where(np.arange(n) < n // 2, days[0].value, days[1].value)
    price = 5000 + 0.5 * rng.integers(0, 400, n)
    qty = rng.integers(1, 60, n)
    frame = pd.DataFrame({
        "ts": pd.to_datetime(base + ms * 1_000_000, utc=True),
        "symbol": "WDO",
        "trade_id": np.arange(10_001, 10_001 + n, dtype="int64"),
        "price": price,
        "qty": qty.astype("int64"),
        "fin_volume": price * qty * 10.0,
        "buyer": rng.choice([3, 85, 114, 72, 1099], n).astype("int32"),
        "seller": rng.choice([3, 85, 114, 40], n).astype("int32"),
        "trade_type": rng.choice([1, 2, 3, 4, 13, 32], n).astype("int8"),
    })
    return frame[list(TRADE_SCHEMA)].sort_values("ts", ignore_index=True)


def load(path: Path, brokers: BrokerRegistry, **kwargs: object) -> pd.DataFrame:
    chunks = list(iter_trades(path, symbol="WDO", brokers=brokers, **kwargs))  # type: ignore[arg-type]
    return pd.concat(chunks, ignore_index=True)


def assert_schema(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(TRADE_SCHEMA)
    assert {c: str(t) for c, t in frame.dtypes.items()} == TRADE_SCHEMA


# ---- Profit exports -----------------------------------------------------------------------------
@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 250_000])
def test_profit_export_round_trips_exactly_across_chunk_sizes(tmp_path: Path, chunk_rows: int) -> None:
    trades = synthetic_trades(300)
    brokers = BrokerRegistry({"XP": 3, "BTG": 85, "Itaú": 114})
    path = tmp_path / "wdo.csv"
    write_profit_export(trades, path, brokers)

    chunks = list(iter_trades(path, symbol="WDO", brokers=brokers, chunk_rows=chunk_rows))

    assert all(len(c) == chunk_rows for c in chunks[:-1]) and 0 < len(chunks[-1]) <= chunk_rows
    for chunk in chunks:
        assert_schema(chunk)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), trades)


def test_profit_export_uses_broker_names_and_trade_type_words(tmp_path: Path) -> None:
    brokers = BrokerRegistry({"XP": 3, "BTG": 85})
    path = tmp_path / "wdo.csv"
    write_profit_export(synthetic_trades(50), path, brokers)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEADER)
    assert "XP" in text and "BTG" in text and "Agent 114" in text
    assert "AggressorBuyer" in text and "RLP" in text


def test_pt_br_export_is_detected_and_reads_the_same(tmp_path: Path) -> None:
    trades = synthetic_trades(120)
    brokers = BrokerRegistry({"XP": 3})
    path = tmp_path / "wdo_ptbr.csv"
    write_profit_export(trades, path, brokers, dialect="pt-BR")
    head = path.read_text(encoding="utf-8").splitlines()[1]
    assert ";" in head and "/" in head  # ; separator, dd/mm/yyyy

    assert detect_format(path) == "profit"
    pd.testing.assert_frame_equal(load(path, brokers, chunk_rows=50), trades)


def test_pt_br_thousands_separator_and_decimal_comma(tmp_path: Path) -> None:
    path = tmp_path / "ptbr.csv"
    path.write_text(HEADER.replace(",", ";")
                    + "WDOG26;05/01/2026;09:00:00,5;1;5.123,5;10;512.350,00;XP;BTG;AggressorBuyer;N\n",
                    encoding="utf-8")
    row = load(path, BrokerRegistry()).iloc[0]
    assert row["price"] == 5123.5 and row["fin_volume"] == 512350.0 and row["qty"] == 10
    assert row["ts"] == pd.Timestamp("2026-01-05 12:00:00.500", tz="UTC")


def test_profit_local_times_become_utc_with_milliseconds_and_historic_dst(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER
                    + "WDOG18,2018-01-15,10:00:00.250,1,3200.5,2,64010,XP,BTG,AggressorSeller,N\n"
                    + "WDOG26,2026-01-05,09:00:00.001,2,5000,1,50000,XP,XP,Cross,N\n"
                    + "WDOG26,20260105,090001,3,5000,1,50000,XP,XP,Cross,N\n", encoding="utf-8")
    frame = load(path, BrokerRegistry())
    assert list(frame["ts"]) == [
        pd.Timestamp("2018-01-15 12:00:00.250", tz="UTC"),  # UTC-2 under the 2017/18 summer time
        pd.Timestamp("2026-01-05 12:00:00.001", tz="UTC"),  # UTC-3, no DST since 2019
        pd.Timestamp("2026-01-05 12:00:01", tz="UTC"),  # compact yyyymmdd / HHMMSS
    ]
    assert list(frame["trade_type"]) == [TradeType.AGGRESSIVE_SELL, TradeType.CROSS, TradeType.CROSS]
    assert list(frame["symbol"]) == ["WDO"] * 3


def test_unknown_trade_type_word_becomes_minus_one_not_unknown_32(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER
                    + "WDOG26,2026-01-05,09:00:00.000,1,5000,1,50000,XP,BTG,AggressorBuyerX,N\n"
                    + "WDOG26,2026-01-05,09:00:00.100,2,5000,1,50000,XP,BTG,Unknown,N\n", encoding="utf-8")
    assert list(load(path, BrokerRegistry())["trade_type"]) == [-1, int(TradeType.UNKNOWN)]


def test_truncated_last_line_is_kept_and_flagged_for_quarantine(tmp_path: Path) -> None:
    trades = synthetic_trades(40)
    path = tmp_path / "wdo.csv"
    brokers = BrokerRegistry()
    write_profit_export(trades, path, brokers)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])  # cut inside the last row, no final newline

    frame = load(path, brokers, chunk_rows=16)

    assert len(frame) == len(trades)
    last = frame.iloc[-1]
    assert last["qty"] == -1 and last["trade_type"] == -1
    assert last["trade_id"] == trades["trade_id"].iloc[-1]  # what could be read is kept
    pd.testing.assert_frame_equal(frame.iloc[:-1].reset_index(drop=True),
                                  trades.iloc[:-1].reset_index(drop=True), check_exact=True)


def test_unparsable_values_become_sentinels_without_touching_good_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER
                    + "WDOG26,2026-01-05,09:00:00.000,1,5000,3,150000,XP,BTG,AggressorBuyer,N\n"
                    + "WDOG26,2026-01-05,09:00:01.000,x2,abc,q,,,,AggressorSeller,N\n"
                    + "WDOG26,31/02/2026,25:61:00,3,5000.5,1,50005,XP,BTG,Cross,N\n", encoding="utf-8")
    frame = load(path, BrokerRegistry())
    assert_schema(frame)
    good, bad_values, bad_time = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert good["price"] == 5000.0 and good["qty"] == 3 and good["trade_id"] == 1
    assert np.isnan(bad_values["price"]) and np.isnan(bad_values["fin_volume"])
    assert bad_values["qty"] == -1 and bad_values["trade_id"] == -1
    assert bad_values["buyer"] == -1 and bad_values["seller"] == -1
    assert pd.isna(bad_time["ts"]) and bad_time["price"] == 5000.5


def test_foreign_ticker_is_kept_as_written_for_the_gate_to_reject(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER
                    + "WDOG26,2026-01-05,09:00:00.000,1,5000,1,50000,XP,BTG,Cross,N\n"
                    + "WINZ25,2026-01-05,09:00:00.000,2,130000,1,26000,XP,BTG,Cross,N\n", encoding="utf-8")
    assert list(load(path, BrokerRegistry())["symbol"]) == ["WDO", "WINZ25"]


def test_windows_1252_broker_names_are_decoded(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes((HEADER + "WDOG26,2026-01-05,09:00:00.000,1,5000,1,50000,Itaú,Ágora,Cross,N\n").encode("cp1252"))
    brokers = BrokerRegistry()
    frame = load(path, brokers)
    assert brokers.name_for(int(frame["buyer"].iloc[0])) == "Itaú"
    assert brokers.name_for(int(frame["seller"].iloc[0])) == "Ágora"


def test_broker_ids_are_saved_while_streaming_and_stable_on_reload(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_profit_export(synthetic_trades(30), path, BrokerRegistry({"XP": 3, "BTG": 85, "Itaú": 114}))
    registry_file = tmp_path / "lake" / "_meta" / "brokers.json"
    first = load(path, BrokerRegistry.load(registry_file))
    assert registry_file.exists()
    second = load(path, BrokerRegistry.load(registry_file))
    pd.testing.assert_series_equal(first["buyer"], second["buyer"])
    pd.testing.assert_series_equal(first["seller"], second["seller"])


# ---- ProfitDLL recordings -----------------------------------------------------------------------
def dll_frame(trades: pd.DataFrame) -> pd.DataFrame:
    local = trades["ts"].dt.tz_convert("America/Sao_Paulo")
    return pd.DataFrame({
        "asset": "WDOG26",
        "date": local.dt.strftime("%d/%m/%Y %H:%M:%S.") + (local.dt.microsecond // 1000).map("{:03d}".format),
        "trade_number": trades["trade_id"],
        "price": trades["price"],
        "vol": trades["fin_volume"],
        "qty": trades["qty"],
        "buy_agent": trades["buyer"],
        "sell_agent": trades["seller"],
        "trade_type": trades["trade_type"],
        "edit": False,
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_profitdll_recording_round_trips(tmp_path: Path, suffix: str) -> None:
    trades = synthetic_trades(200)
    path = tmp_path / f"rec{suffix}"
    recording = dll_frame(trades)
    if suffix == ".csv":
        recording.to_csv(path, index=False)
    else:
        recording.to_parquet(path, index=False)

    assert detect_format(path) == "profitdll"
    pd.testing.assert_frame_equal(load(path, BrokerRegistry(), chunk_rows=33), trades)


def test_profitdll_without_vol_computes_financial_volume(tmp_path: Path) -> None:
    trades = synthetic_trades(20)
    path = tmp_path / "rec.parquet"
    dll_frame(trades).drop(columns=["vol", "asset"]).to_parquet(path, index=False)
    frame = load(path, BrokerRegistry(), fmt="profitdll")
    np.testing.assert_allclose(frame["fin_volume"], trades["price"] * trades["qty"] * 10.0)


# ---- generic and canonical ----------------------------------------------------------------------
def test_generic_csv_with_column_map_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("when,px,size,side\n"
                    "05/01/2026 09:00:00.125,5000.5,2,AggressorBuyer\n"
                    "05/01/2026 09:00:01.000,5001.0,1,3\n", encoding="utf-8")
    assert detect_format(path) == "generic"
    frame = load(path, BrokerRegistry(), column_map={"ts": "when", "price": "px", "qty": "size", "trade_type": "side"})
    assert_schema(frame)
    assert list(frame["ts"]) == [pd.Timestamp("2026-01-05 12:00:00.125", tz="UTC"),
                                 pd.Timestamp("2026-01-05 12:00:01", tz="UTC")]
    assert list(frame["trade_id"]) == [1, 2] and list(frame["buyer"]) == [-1, -1]
    assert list(frame["trade_type"]) == [2, 3]
    assert list(frame["fin_volume"]) == [5000.5 * 2 * 10, 5001.0 * 10]


def test_generic_parquet_with_utc_iso_strings_and_broker_names(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    pd.DataFrame({"t": ["2026-01-05T12:00:00.250Z", "2026-01-05T12:00:01Z"], "p": [5000.0, 5000.5],
                  "q": [1, 4], "b": ["XP", "BTG"], "s": ["BTG", "XP"]}).to_parquet(path)
    brokers = BrokerRegistry({"XP": 3})
    frame = load(path, brokers, fmt="generic",
                 column_map={"ts": "t", "price": "p", "qty": "q", "buyer": "b", "seller": "s"})
    assert frame["ts"].iloc[0] == pd.Timestamp("2026-01-05 12:00:00.250", tz="UTC")
    assert list(frame["buyer"]) == [3, brokers.id_for("BTG")]


def test_generic_without_required_mapping_names_the_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("when,px\n2026-01-05 09:00:00,5000\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"\['ts', 'qty'\]"):
        load(path, BrokerRegistry(), fmt="generic", column_map={"price": "px"})
    with pytest.raises(SchemaError, match="size"):
        load(path, BrokerRegistry(), fmt="generic", column_map={"ts": "when", "price": "px", "qty": "size"})


def test_canonical_parquet_streams_in_chunks(tmp_path: Path) -> None:
    trades = synthetic_trades(100)
    path = tmp_path / "trades.parquet"
    pq.write_table(pa.Table.from_pandas(trades, preserve_index=False), path)
    assert detect_format(path) == "canonical"
    chunks = list(iter_trades(path, symbol="WDO", brokers=BrokerRegistry(), chunk_rows=30))
    assert [len(c) for c in chunks] == [30, 30, 30, 10]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), trades)


# ---- detection and bad files --------------------------------------------------------------------
def test_detect_format_reads_only_the_header(tmp_path: Path) -> None:
    profit = tmp_path / "p.txt"
    profit.write_text(HEADER.upper().replace("<", "").replace(">", "") + "x\n", encoding="utf-8")
    assert detect_format(profit) == "profit"
    canonical_csv = tmp_path / "c.csv"
    synthetic_trades(3).to_csv(canonical_csv, index=False)
    assert detect_format(canonical_csv) == "canonical"


@pytest.mark.parametrize("content", [b"", HEADER.encode(), HEADER.encode() + b"\n\n"])
def test_empty_or_header_only_file_raises_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=f"empty file: {path}"):
        load(path, BrokerRegistry())


def test_empty_parquet_raises_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(pa.Table.from_pandas(synthetic_trades(5).iloc[:0], preserve_index=False), path)
    with pytest.raises(InputError, match="empty file"):
        load(path, BrokerRegistry())


def test_profit_export_missing_columns_names_them(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("<ticker>,<date>,<time>,<trade_number>,<price>,<qty>,<buy_agent>,<sell_agent>\n"
                    "WDOG26,2026-01-05,09:00:00,1,5000,1,XP,BTG\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"missing columns \['vol', 'trade_type'\]"):
        load(path, BrokerRegistry(), fmt="profit")


def test_canonical_file_missing_columns_names_them(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    synthetic_trades(5).drop(columns=["buyer", "seller"]).to_parquet(path)
    with pytest.raises(SchemaError, match=r"\['buyer', 'seller'\]"):
        load(path, BrokerRegistry(), fmt="canonical")


def test_unknown_format_name_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_profit_export(synthetic_trades(3), path)
    with pytest.raises(InputError, match="unknown trade file format 'xls'"):
        load(path, BrokerRegistry(), fmt="xls")


@pytest.mark.slow  # simulating one session costs a few seconds
def test_simulated_session_round_trips_through_a_profit_export(tmp_path: Path) -> None:
    from datetime import date

    from market.simulator import simulate_session

    trades = simulate_session(date(2026, 1, 5), seed=3, trades_per_session=1_500).trades.reset_index(drop=True)
    brokers = BrokerRegistry.load(tmp_path / "brokers.json")
    path = tmp_path / "sim.csv"
    write_profit_export(trades, path, brokers)
    pd.testing.assert_frame_equal(load(path, brokers, chunk_rows=400), trades[list(TRADE_SCHEMA)])


def test_windows_line_endings_bom_and_gzip_are_read(tmp_path: Path) -> None:
    trades = synthetic_trades(60)
    brokers = BrokerRegistry()
    plain = tmp_path / "wdo.csv"
    write_profit_export(trades, plain, brokers)
    windows = tmp_path / "wdo_windows.csv"
    windows.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\n", b"\r\n"))
    gz = tmp_path / "wdo.csv.gz"
    import gzip

    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (windows, gz):
        assert detect_format(path) == "profit"
        pd.testing.assert_frame_equal(load(path, brokers, chunk_rows=25), trades)


def test_a_row_with_extra_fields_mid_file_is_kept_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER
                    + "WDOG26,2026-01-05,09:00:00.000,1,5000,1,50000,XP,BTG,Cross,N\n"
                    + "WDOG26,2026-01-05,09:00:00.100,2,5000,1,50000,Itau, Unibanco,BTG,Cross,N\n"
                    + "WDOG26,2026-01-05,09:00:00.200,3,5000,1,50000,XP,BTG,Cross,N\n", encoding="utf-8")
    frame = load(path, BrokerRegistry())
    assert sorted(frame["trade_id"]) == [1, 2, 3]
    flagged = frame.set_index("trade_id").loc[2]
    assert flagged["qty"] == -1 and flagged["trade_type"] == -1
    assert (frame.set_index("trade_id").loc[[1, 3], "qty"] == 1).all()


def test_generic_epoch_milliseconds_are_utc(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    ms = pd.Timestamp("2026-01-05 12:00:00.125", tz="UTC").value // 1_000_000
    pd.DataFrame({"t": [ms, ms + 1], "p": [5000.0, 5000.5], "q": [1, 2]}).to_parquet(path)
    frame = load(path, BrokerRegistry(), fmt="generic", column_map={"ts": "t", "price": "p", "qty": "q"})
    assert list(frame["ts"]) == [pd.Timestamp("2026-01-05 12:00:00.125", tz="UTC"),
                                 pd.Timestamp("2026-01-05 12:00:00.126", tz="UTC")]


def test_canonical_file_with_a_wrongly_typed_column_names_it(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    broken = synthetic_trades(5).astype({"qty": str})
    broken.loc[2, "qty"] = "many"
    broken.to_parquet(path)
    with pytest.raises(SchemaError, match="column 'qty'"):
        load(path, BrokerRegistry())


def test_profit_export_with_a_portuguese_header_reads_through_a_column_map(tmp_path: Path) -> None:
    path = tmp_path / "pt.csv"
    path.write_text("Ativo;Data;Hora;Negócio;Preço;Quantidade;Volume;Comprador;Vendedor;Agressor\n"
                    "WDOG26;05/01/2026;09:00:00.000;7;5000,5;2;100010;XP;BTG;AggressorSeller\n", encoding="utf-8")
    column_map = {"ticker": "Ativo", "date": "Data", "time": "Hora", "trade_number": "Negócio", "price": "Preço",
                  "qty": "Quantidade", "vol": "Volume", "buy_agent": "Comprador", "sell_agent": "Vendedor",
                  "trade_type": "Agressor"}
    row = load(path, BrokerRegistry(), fmt="profit", column_map=column_map).iloc[0]
    assert (row["trade_id"], row["price"], row["qty"], row["trade_type"]) == (7, 5000.5, 2, 3)
    with pytest.raises(SchemaError, match="'Hour'"):
        load(path, BrokerRegistry(), fmt="profit", column_map={**column_map, "time": "Hour"})

"""Foreign trade files: odd-case headers, column maps, time zones, binary garbage, out-of-order files and
the tick rule, through the loaders and the ingest (real files written by the tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ingest_samples import DAY, NEXT_DAY, trades_frame

from market.brokers import BrokerRegistry
from market.ingest import ingest_file, ingest_path
from market.lake import Lake
from market.loaders import LoaderOptions, LoadStats, detect_format, iter_trades, parse_column_map, write_profit_export
from market.loaders.sides import NEWEST_FIRST, SORTED, infer_sides, tick_rule, time_order
from market.schemas import TradeType
from quantumtrader.config import Settings, load_settings
from quantumtrader.errors import InputError, SchemaError

B, S, U = int(TradeType.AGGRESSIVE_BUY), int(TradeType.AGGRESSIVE_SELL), int(TradeType.UNKNOWN)


def load(path: Path, **kwargs: object) -> tuple[pd.DataFrame, LoadStats]:
    stats = LoadStats()
    chunks = list(iter_trades(path, symbol="WDO", brokers=BrokerRegistry(), stats=stats, **kwargs))  # type: ignore[arg-type]
    return pd.concat(chunks, ignore_index=True), stats


def local_csv(path: Path, trades: pd.DataFrame, tz: str = "America/Sao_Paulo",
              header: str = "DateTime,Price,Volume") -> Path:
    """``trades`` as a generic CSV of naive local times in ``tz`` (what many vendors export)."""
    local = trades["ts"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    lines = [header] + [f"{t},{p},{q}" for t, p, q in zip(local, trades["price"], trades["qty"], strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def source_json(settings: Settings, day: object = DAY) -> dict[str, object]:
    path = Lake(settings.lake_root).day_dir("trades", "WDO", day) / "_source.json"  # type: ignore[arg-type]
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# ---- headers and column maps --------------------------------------------------------------------
def test_odd_case_headers_with_spaces_are_read_without_a_map(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(" TS ,PRICE, Qty\n2026-01-05T12:01:00Z,5000.5,2\n", encoding="utf-8")
    frame, _ = load(path)
    assert (frame["ts"].iloc[0], frame["price"].iloc[0], frame["qty"].iloc[0]) == (
        pd.Timestamp("2026-01-05 12:01", tz="UTC"), 5000.5, 2)


def test_column_map_matches_headers_ignoring_case(tmp_path: Path) -> None:
    path = local_csv(tmp_path / "g.csv", trades_frame(3))
    frame, _ = load(path, column_map={"ts": "datetime", "price": "PRICE", "qty": " volume "})
    assert list(frame["qty"]) == list(trades_frame(3)["qty"])


def test_profit_export_with_upper_case_headers_is_detected_and_read(tmp_path: Path) -> None:
    path = tmp_path / "wdo.csv"
    write_profit_export(trades_frame(5), path, BrokerRegistry())
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0].upper(), *lines[1:]]) + "\n", encoding="utf-8")
    assert detect_format(path) == "profit"
    frame, _ = load(path)
    assert list(frame["trade_id"]) == list(trades_frame(5)["trade_id"])


def test_a_map_naming_an_unknown_column_lists_our_names_and_the_file_headers(tmp_path: Path) -> None:
    path = local_csv(tmp_path / "g.csv", trades_frame(3))
    with pytest.raises(SchemaError, match=r"\['tsx'\].*not our column names.*'DateTime'.*'fin_volume'"):
        load(path, column_map={"tsx": "DateTime", "price": "Price", "qty": "Volume"})


def test_a_map_naming_a_header_the_file_lacks_lists_the_file_headers(tmp_path: Path) -> None:
    path = local_csv(tmp_path / "g.csv", trades_frame(3))
    with pytest.raises(SchemaError, match=r"\['When'\].*not headers of the file.*\['DateTime', 'Price', 'Volume'\]"):
        load(path, column_map={"ts": "When", "price": "Price", "qty": "Volume"})


def test_a_date_and_a_time_column_stand_in_for_ts(tmp_path: Path) -> None:
    path = tmp_path / "pt.csv"
    path.write_text("Data;Hora;Preço;Quantidade\n05/01/2026;09:01:00,250;5.000,5;3\n", encoding="utf-8")
    frame, stats = load(path, column_map={"date": "data", "time": "HORA", "price": "Preço", "qty": "quantidade"})
    assert frame["ts"].iloc[0] == pd.Timestamp("2026-01-05 12:01:00.250", tz="UTC")
    assert (frame["price"].iloc[0], frame["qty"].iloc[0], stats.naive_rows) == (5000.5, 3, 1)


@pytest.mark.parametrize("text", ["ts", "ts=,price=Price", "=DateTime", ",", "ts=a,ts=b"])
def test_a_malformed_column_map_text_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError, match="--column-map"):
        parse_column_map(text)


def test_column_map_text_parses_into_our_names() -> None:
    assert parse_column_map(" TS=DateTime, price = Price ,qty=Volume") == {
        "ts": "DateTime", "price": "Price", "qty": "Volume"}


# ---- time zones ---------------------------------------------------------------------------------
def test_naive_timestamps_without_tz_are_read_in_the_instrument_zone_with_a_note(tmp_path: Path) -> None:
    trades = trades_frame(4)
    path = local_csv(tmp_path / "g.csv", trades)
    frame, stats = load(path, column_map={"ts": "DateTime", "price": "Price", "qty": "Volume"})
    assert list(frame["ts"]) == list(trades["ts"])
    assert stats.tz == "America/Sao_Paulo" and stats.tz_assumed and stats.naive_rows == 4
    assert len(stats.notes) == 1 and "America/Sao_Paulo" in stats.notes[0] and "--tz" in stats.notes[0]


def test_naive_timestamps_with_tz_are_read_in_that_zone_without_a_note(tmp_path: Path) -> None:
    trades = trades_frame(4)
    path = local_csv(tmp_path / "g.csv", trades, tz="America/New_York")
    frame, stats = load(path, column_map={"ts": "DateTime", "price": "Price", "qty": "Volume"},
                        tz="America/New_York")
    assert list(frame["ts"]) == list(trades["ts"])
    assert not stats.tz_assumed and stats.notes == []


def test_timestamps_with_an_offset_are_converted_and_ignore_tz(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("ts,price,qty\n2026-01-05T09:01:00-03:00,5000,1\n2026-01-05T12:01:01Z,5000,1\n",
                    encoding="utf-8")
    frame, stats = load(path, tz="Asia/Tokyo")
    assert list(frame["ts"]) == [pd.Timestamp("2026-01-05 12:01", tz="UTC"),
                                 pd.Timestamp("2026-01-05 12:01:01", tz="UTC")]
    assert stats.naive_rows == 0 and stats.aware_rows == 2


def test_a_naive_canonical_parquet_is_local_time_not_utc(tmp_path: Path) -> None:
    trades = trades_frame(3)
    naive = trades.assign(ts=trades["ts"].dt.tz_convert("America/Sao_Paulo").dt.tz_localize(None))
    path = tmp_path / "c.parquet"
    naive.to_parquet(path, index=False)
    frame, stats = load(path)
    assert list(frame["ts"]) == list(trades["ts"]) and stats.tz_assumed and stats.naive_rows == 3


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_an_unknown_time_zone_is_one_input_error(zone: str) -> None:
    with pytest.raises(InputError, match="not an IANA time zone name"):
        LoaderOptions(tz=zone)


# ---- garbage ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "content", "why"), [
    ("random.csv", bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)), "binary content"),
    ("chart.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "PNG image"),
    ("sheet.csv", b"PK\x03\x04" + b"\x14\x00" * 50, "Excel workbook"),
    ("utf16.csv", "ts,price,qty\n".encode("utf-16"), "UTF-16"),
    ("fake.csv.gz", b"this is not gzip at all\n" * 10, "cannot decompress"),
])
def test_binary_garbage_is_not_a_csv_or_parquet_file(tmp_path: Path, name: str, content: bytes, why: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"^{path}: not a CSV or Parquet file \(.*{why}") as err:
        load(path)
    assert "column" not in str(err.value)


# ---- time order ---------------------------------------------------------------------------------
def test_time_order_reverses_a_newest_first_day_and_sorts_a_shuffled_one() -> None:
    day = trades_frame(50)
    back, order, _ = time_order(day.iloc[::-1].reset_index(drop=True))
    assert order == NEWEST_FIRST and back.equals(day)
    shuffled = day.sample(frac=1.0, random_state=3).reset_index(drop=True)
    fixed, order, behind = time_order(shuffled)
    assert order == SORTED and behind > 0 and fixed.equals(day)


def profit_days(tmp_path: Path, name: str, lines_order: str) -> Path:
    """A two-day Profit export, oldest first, newest first or shuffled within each day."""
    trades = pd.concat([trades_frame(120), trades_frame(80, day=NEXT_DAY, first_id=500)], ignore_index=True)
    path = tmp_path / name
    write_profit_export(trades, path, BrokerRegistry())
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    if lines_order == "newest_first":
        rows = rows[::-1]
    elif lines_order == "shuffled_days":
        rng = np.random.default_rng(5)
        rows = [*rng.permutation(rows[:120]).tolist(), *rng.permutation(rows[120:]).tolist()]
    elif lines_order == "interleaved":
        rows = rows[:60] + rows[120:] + rows[60:120]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def by_broker_name(settings: Settings, trades: pd.DataFrame) -> pd.DataFrame:
    """Broker ids as names: each lake numbers brokers in the order its files first met them."""
    brokers = BrokerRegistry.for_lake(settings.lake_root)
    return trades.assign(buyer=trades["buyer"].map(brokers.name_for), seller=trades["seller"].map(brokers.name_for))


ORDER_LABEL = {"newest_first": NEWEST_FIRST, "shuffled_days": SORTED}


@pytest.mark.parametrize("lines_order", ["newest_first", "shuffled_days"])
def test_a_newest_first_or_shuffled_profit_export_ingests_like_the_sorted_one(tmp_path: Path,
                                                                              lines_order: str) -> None:
    plain, other = load_settings(root=tmp_path / "a"), load_settings(root=tmp_path / "b")
    ingest_path(profit_days(tmp_path, "sorted.csv", "sorted"), symbol="WDO", settings=plain)
    report = ingest_path(profit_days(tmp_path, "other.csv", lines_order), symbol="WDO", settings=other)
    for day in (DAY, NEXT_DAY):
        want = by_broker_name(plain, Lake(plain.lake_root).read_day("trades", "WDO", day))
        got = by_broker_name(other, Lake(other.lake_root).read_day("trades", "WDO", day))
        pd.testing.assert_frame_equal(got, want)
        assert source_json(other, day)["files"][0]["order"] == ORDER_LABEL[lines_order]  # type: ignore[index]
    assert report.quarantined == 0
    assert (lines_order == "shuffled_days") == any("sorted by time" in n for n in report.notes)


def test_days_that_come_back_in_a_file_ask_to_sort_the_file(tmp_path: Path, settings: Settings) -> None:
    path = profit_days(tmp_path, "mixed.csv", "interleaved")  # DAY, NEXT_DAY, then DAY again
    with pytest.raises(InputError, match=rf"{DAY} appear again.*sort the file by time"):
        ingest_file(path, symbol="WDO", settings=settings, chunk_rows=50)  # one day is buffered, not the file


def test_days_interleaved_within_one_chunk_are_regrouped(tmp_path: Path, settings: Settings) -> None:
    report = ingest_path(profit_days(tmp_path, "mixed.csv", "interleaved"), symbol="WDO", settings=settings)
    assert report.trades_written == 200 and report.quarantined == 0
    assert len(Lake(settings.lake_root).read_day("trades", "WDO", DAY)) == 120


# ---- sides --------------------------------------------------------------------------------------
def test_tick_rule_up_buys_down_sells_unchanged_repeats_and_starts_unknown() -> None:
    price = np.array([10.0, 10.0, 11.0, 11.0, 10.0, np.nan, 10.0, 12.0])
    assert tick_rule(price).tolist() == [U, U, B, B, S, S, S, B]


def test_side_rule_tick_infers_sides_and_records_them_in_source_json(tmp_path: Path, settings: Settings) -> None:
    trades = trades_frame(30)
    path = local_csv(tmp_path / "g.csv", trades)
    options = LoaderOptions(column_map={"ts": "DateTime", "price": "Price", "qty": "Volume"}, side_rule="tick")
    ingest_path(path, symbol="WDO", settings=settings, options=options)
    written = Lake(settings.lake_root).read_day("trades", "WDO", DAY)
    assert written["trade_type"].tolist() == tick_rule(trades["price"].to_numpy()).tolist()
    assert written["trade_type"].iloc[0] == U and {B, S} <= set(written["trade_type"])
    src = source_json(settings)
    entry = src["files"][0]  # type: ignore[index]
    assert src["sides_inferred"] is True and entry["side_rule"] == "tick"
    assert entry["inferred_sides"] == 29 and entry["tz"] == "America/Sao_Paulo" and entry["tz_assumed"] is True
    assert entry["column_map"] == {"ts": "DateTime", "price": "Price", "qty": "Volume"}
    assert entry["path"] == str(path.resolve()) and entry["format"] == "generic"


def test_without_a_side_rule_a_file_without_sides_stays_unknown(tmp_path: Path, settings: Settings) -> None:
    path = local_csv(tmp_path / "g.csv", trades_frame(30))
    options = LoaderOptions(column_map={"ts": "DateTime", "price": "Price", "qty": "Volume"}, tz="America/Sao_Paulo")
    ingest_path(path, symbol="WDO", settings=settings, options=options)
    assert set(Lake(settings.lake_root).read_day("trades", "WDO", DAY)["trade_type"]) == {U}
    src = source_json(settings)
    assert src["sides_inferred"] is False and src["files"][0]["tz_assumed"] is False  # type: ignore[index]


def test_tick_rule_fills_only_unknown_sides_and_keeps_the_sides_a_source_gives() -> None:
    day = trades_frame(6)  # prices rise by 0.5 each trade
    day["trade_type"] = np.array([U, S, U, U, B, U], dtype="int8")
    out, inferred = infer_sides(day)
    assert out["trade_type"].tolist() == [U, S, B, B, B, B] and inferred == 3

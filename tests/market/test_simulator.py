"""Properties of the market simulator: schemas, book sanity, consistency with trades, determinism,
session hours, heavy tails and the planted predictable component."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.calendar import next_trading_days, session_bounds
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY, BOOK_SNAPSHOT_SCHEMA, TRADE_SCHEMA, TradeType
from market.simulator import SimSession, simulate, simulate_session, write_simulation
from quantumtrader.errors import InputError

DAY = date(2026, 1, 5)
N = 3_000


@pytest.fixture(scope="module")
def session() -> SimSession:
    return simulate_session(DAY, trades_per_session=N, planted_strength=0.6, seed=3)


def _dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in df.dtypes.items()}


def test_trades_and_book_have_exactly_the_canonical_columns_and_dtypes(session: SimSession) -> None:
    assert _dtypes(session.trades) == TRADE_SCHEMA
    assert _dtypes(session.book) == BOOK_SNAPSHOT_SCHEMA
    assert len(session.trades) == N
    assert len(session.book) == N  # one snapshot after every trade
    assert (session.trades["symbol"] == "WDO").all()


def test_book_is_never_crossed_and_levels_are_strictly_ordered_by_tick(session: SimSession) -> None:
    book = session.book
    bids, asks = book[BID_PX].to_numpy(), book[ASK_PX].to_numpy()
    assert (bids[:, 0] < asks[:, 0]).all()
    assert (np.diff(bids, axis=1) < 0).all()
    assert (np.diff(asks, axis=1) > 0).all()
    assert (book[BID_QTY + ASK_QTY].to_numpy() > 0).all()
    for px in (bids, asks):
        assert np.array_equal(px * 2, np.round(px * 2))  # 0.5-point tick grid
    assert book["ts"].is_monotonic_increasing


def test_aggressive_trades_print_at_the_touch_of_the_snapshot_before_them(session: SimSession) -> None:
    trades = session.trades
    before = pd.merge_asof(
        trades[["ts", "price", "qty", "trade_type"]], session.book, on="ts", allow_exact_matches=False
    )
    buy = (before["trade_type"] == TradeType.AGGRESSIVE_BUY).to_numpy()
    sell = (before["trade_type"] == TradeType.AGGRESSIVE_SELL).to_numpy()
    assert buy.sum() > N // 3 and sell.sum() > N // 3
    assert np.array_equal(before["price"][buy], before["ask_px_1"][buy])
    assert np.array_equal(before["price"][sell], before["bid_px_1"][sell])
    # the touch holds the whole aggressive order, so one print per aggression is consistent
    assert (before["qty"][buy] <= before["ask_qty_1"][buy]).all()
    assert (before["qty"][sell] <= before["bid_qty_1"][sell]).all()
    # every other trade also prints at the touch (never outside the spread)
    other = ~(buy | sell)
    other[0] = False  # opening auction: no book before it
    at_touch = (before["price"] == before["bid_px_1"]) | (before["price"] == before["ask_px_1"])
    assert at_touch[other].all()


def test_trades_fall_strictly_inside_the_session_with_increasing_times_and_ids(session: SimSession) -> None:
    trades = session.trades
    open_utc, close_utc = session_bounds(DAY, "WDO")
    assert (trades["ts"] > open_utc).all() and (trades["ts"] <= close_utc).all()
    assert trades["ts"].is_monotonic_increasing
    assert (trades["ts"].astype("int64") % 1_000_000 == 0).all()  # millisecond resolution
    assert (np.diff(trades["trade_id"].to_numpy()) > 0).all()
    assert trades["trade_id"].iloc[0] > 20260105 * 10_000_000  # day-derived base
    assert trades["trade_type"].iloc[0] == TradeType.AUCTION  # opening print


def test_prices_quantities_and_financial_volume_are_wdo_like(session: SimSession) -> None:
    trades = session.trades
    assert trades["price"].between(4_800, 5_700).all()
    assert np.array_equal(trades["price"] * 2, np.round(trades["price"] * 2))
    assert (trades["qty"] > 0).all()
    np.testing.assert_allclose(trades["fin_volume"], trades["price"] * trades["qty"] * 10.0)
    types = trades["trade_type"].value_counts(normalize=True)
    assert types[TradeType.AGGRESSIVE_BUY] + types[TradeType.AGGRESSIVE_SELL] > 0.9
    assert {TradeType.CROSS, TradeType.RLP, TradeType.AUCTION} <= set(types.index)


def test_sizes_are_heavy_tailed(session: SimSession) -> None:
    qty = session.trades["qty"].iloc[1:]  # without the opening auction
    assert qty.median() <= 2
    assert qty.max() >= 50 * qty.median()
    assert (qty >= 10).mean() > 0.02


def test_a_few_brokers_dominate_and_aggressive_trades_have_two_brokers(session: SimSession) -> None:
    trades = session.trades
    counts = pd.concat([trades["buyer"], trades["seller"]]).value_counts(normalize=True)
    assert 40 <= len(counts) <= 60
    assert counts.iloc[:5].sum() > 0.35
    aggressive = trades["trade_type"].isin([TradeType.AGGRESSIVE_BUY, TradeType.AGGRESSIVE_SELL])
    assert (trades["buyer"][aggressive] != trades["seller"][aggressive]).all()


def test_activity_is_busier_at_the_open_and_close_than_at_lunch(session: SimSession) -> None:
    local = session.trades["ts"].dt.tz_convert("America/Sao_Paulo")
    minutes = (local.dt.hour - 9) * 60 + local.dt.minute
    first, lunch, last = (minutes < 30).sum(), minutes.between(210, 239).sum(), (minutes >= 510).sum()
    assert first > 2 * lunch and last > 1.5 * lunch


def test_the_same_seed_gives_identical_sessions_and_another_seed_does_not() -> None:
    a = simulate_session(DAY, trades_per_session=1_000, seed=11, planted_strength=0.5)
    b = simulate_session(DAY, trades_per_session=1_000, seed=11, planted_strength=0.5)
    c = simulate_session(DAY, trades_per_session=1_000, seed=12, planted_strength=0.5)
    pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=True)
    pd.testing.assert_frame_equal(a.book, b.book, check_exact=True)
    assert pd.util.hash_pandas_object(a.book).equals(pd.util.hash_pandas_object(b.book))
    assert not a.trades["price"].equals(c.trades["price"])


def test_simulate_chains_b3_trading_days_with_a_continuous_price() -> None:
    start = date(2026, 2, 13)  # Friday before Carnival (Mon 16 and Tue 17 are not sessions)
    sessions = list(simulate(3, start, trades_per_session=500, seed=5))
    assert [s.day for s in sessions] == next_trading_days(start, 3)
    assert date(2026, 2, 16) not in [s.day for s in sessions]
    for prev, nxt in itertools.pairwise(sessions):
        assert abs(nxt.trades["price"].iloc[0] - prev.close_price) < 20.0  # overnight gap, not a reset


def _minute_signal_and_future_move(strength: float) -> tuple[float, float]:
    """Correlations of (book imbalance at the minute's close, signed aggressive trade count in the minute)
    with the mid's move over the next 5 minutes."""
    frames = []
    for s in simulate(6, DAY, trades_per_session=N, planted_strength=strength, seed=21):
        book = s.book.set_index("ts")
        bid_q, ask_q = book[BID_QTY].sum(axis=1), book[ASK_QTY].sum(axis=1)
        side = np.select(
            [s.trades["trade_type"] == TradeType.AGGRESSIVE_BUY, s.trades["trade_type"] == TradeType.AGGRESSIVE_SELL],
            [1, -1], 0,
        )
        per_trade = pd.DataFrame(
            {
                "imbalance": ((bid_q - ask_q) / (bid_q + ask_q)).to_numpy(),
                "mid": ((book["bid_px_1"] + book["ask_px_1"]) / 2).to_numpy(),
                "signed": side,
            },
            index=book.index,
        )
        minute = per_trade.resample("60s", label="right", closed="right").agg(
            {"imbalance": "last", "mid": "last", "signed": "sum"}
        ).ffill()
        minute["future"] = minute["mid"].shift(-5) - minute["mid"]
        frames.append(minute.dropna())
    bars = pd.concat(frames)
    return float(bars["imbalance"].corr(bars["future"])), float(bars["signed"].corr(bars["future"]))


def test_planted_strength_zero_is_unpredictable_and_positive_strength_is_visible_ahead() -> None:
    imb0, flow0 = _minute_signal_and_future_move(0.0)
    imb8, flow8 = _minute_signal_and_future_move(0.8)
    # seeds 1-4 and 21 measured: |corr| <= 0.04 at s = 0, corr in [0.23, 0.33] at s = 0.8
    assert abs(imb0) < 0.1 and abs(flow0) < 0.1
    assert imb8 > 0.18 and flow8 > 0.18


def test_invalid_arguments_are_rejected_with_the_argument_named() -> None:
    with pytest.raises(InputError, match="planted_strength"):
        simulate_session(DAY, planted_strength=1.5)
    with pytest.raises(InputError, match="trades_per_session"):
        simulate_session(DAY, trades_per_session=0)


def test_write_simulation_writes_one_trades_and_one_book_file_per_session(tmp_path: Path) -> None:
    sessions = list(simulate(2, DAY, trades_per_session=300, seed=1))
    paths = write_simulation(sessions, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == [
        "book/WDO_2026-01-05.parquet", "book/WDO_2026-01-06.parquet",
        "trades/WDO_2026-01-05.parquet", "trades/WDO_2026-01-06.parquet",
    ]
    back = pd.read_parquet(tmp_path / "trades" / "WDO_2026-01-06.parquet")
    pd.testing.assert_frame_equal(back, sessions[1].trades)
    assert _dtypes(pd.read_parquet(tmp_path / "book" / "WDO_2026-01-05.parquet")) == BOOK_SNAPSHOT_SCHEMA
    assert not list(tmp_path.rglob("*.tmp"))


def test_qtml_simulate_writes_the_requested_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from market.cli import simulate as simulate_command
    from quantumtrader.config import get_settings

    app = typer.Typer()
    app.command()(simulate_command)
    monkeypatch.setenv("QT_ROOT", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["--sessions", "2", "--start", "2026-01-03", "--seed", "3", "--trades-per-session", "400"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    # Saturday 3 Jan 2026 -> the first two B3 sessions; default --out is <var_dir>/sim
    assert sorted(p.name for p in (tmp_path / "var" / "sim" / "trades").iterdir()) == [
        "WDO_2026-01-05.parquet", "WDO_2026-01-06.parquet",
    ]
    assert "800" in result.output  # the summary counts the trades

"""``compute_batch`` against (1) values computed by hand for small series and (2) a naive per-bar
implementation written straight from docs/features.md (windows re-read from scratch, exact statistics,
broker features from the raw trades) on a random three-session tape with prints exactly at each
session open and exactly at a bar boundary, with and without trades of unknown side / broker."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.batch import compute_batch
from features.spec import FEATURE_NAMES
from market.bars import build_bars
from market.calendar import next_trading_days, session_bounds

# ---------------------------------------------------------------- small hand-computed series


def _bars_from_closes(closes: list[float], highs: list[float] | None = None, lows: list[float] | None = None,
                      buy: list[int] | None = None, sell: list[int] | None = None) -> pd.DataFrame:
    """One bar per close in one session (60 s grid), one trade per bar unless volumes are given."""
    n = len(closes)
    o, _ = session_bounds(date(2026, 1, 5), "WDO")
    close_ts = pd.DatetimeIndex([o + pd.Timedelta(minutes=k + 1) for k in range(n)], name="close_ts")
    buy = buy or [1] * n
    sell = sell or [0] * n
    vol = [b + s for b, s in zip(buy, sell, strict=True)]
    empty = np.empty(n, dtype=object)
    empty[:] = [np.array([7], dtype=np.int64) for _ in range(n)]
    df = pd.DataFrame({
        "symbol": "WDO", "session": "2026-01-05", "open_ts": close_ts - pd.Timedelta(minutes=1),
        "session_open_ts": o, "session_close_ts": o + pd.Timedelta(hours=9), "duration_s": 60.0,
        "open": closes, "high": highs or closes, "low": lows or closes, "close": closes, "first_price": closes,
        "volume": vol, "n_trades": [1] * n, "buy_vol": buy, "sell_vol": sell,
        "n_buy_trades": [int(b > 0) for b in buy], "n_sell_trades": [int(s > 0) for s in sell],
        "n_unknown_side": 0, "n_unknown_broker": 0,
        "notional": [c * v * 10 for c, v in zip(closes, vol, strict=True)],
        "pq_sum": [c * v for c, v in zip(closes, vol, strict=True)], "large_buy_qty": 0, "large_sell_qty": 0,
        "buyer_switches": 0, "first_buyer": 7, "last_buyer": 7, "broker_ids": empty,
        "broker_bought": [np.array([v]) for v in vol], "broker_sold": [np.array([v]) for v in vol],
        "broker_aggr_buy": [np.array([b]) for b in buy], "broker_aggr_sell": [np.array([s]) for s in sell],
    }, index=close_ts)
    for i in range(1, 6):
        df[f"bid_px_{i}"] = np.nan
        df[f"ask_px_{i}"] = np.nan
        df[f"bid_qty_{i}"] = np.nan
        df[f"ask_qty_{i}"] = np.nan
    return df


def test_rsi_matches_a_hand_computed_wilder_rsi() -> None:
    # first 14 diffs: gains 1,0,2,0,1,0,0,3,0,1,0,0,2,0 (sum 10); losses 0,1,0,1,0,2,1,0,1,0,1,1,0,1 (sum 9)
    closes = [100.0, 101, 100, 102, 101, 102, 100, 99, 102, 101, 102, 101, 100, 102, 101, 104]
    f = compute_batch(_bars_from_closes(closes))
    assert np.isnan(f["rsi_14"].iloc[13])
    assert f["rsi_14"].iloc[14] == pytest.approx(100 * 10 / 19, rel=1e-12)
    g, l = (10 / 14) * 13 / 14 + 3 / 14, (9 / 14) * 13 / 14  # bar 15: +3
    assert f["rsi_14"].iloc[15] == pytest.approx(100 * g / (g + l), rel=1e-12)


def test_rsi_is_100_without_losses_and_50_when_flat() -> None:
    up = compute_batch(_bars_from_closes([100.0 + k for k in range(16)]))
    assert up["rsi_14"].iloc[14:].tolist() == [100.0, 100.0]
    flat = compute_batch(_bars_from_closes([100.0] * 16))
    assert flat["rsi_14"].iloc[14:].tolist() == [50.0, 50.0]


def test_macd_histogram_matches_hand_recursion() -> None:
    closes = [100.0 + (k % 7) - 0.5 * (k % 3) for k in range(40)]

    def ema(xs: list[float], n: int) -> list[float]:
        out = [math.nan] * len(xs)
        out[n - 1] = sum(xs[:n]) / n
        for k in range(n, len(xs)):
            out[k] = 2 / (n + 1) * xs[k] + (1 - 2 / (n + 1)) * out[k - 1]
        return out

    e12, e26 = ema(closes, 12), ema(closes, 26)
    macd = [a - b for a, b in zip(e12[25:], e26[25:], strict=True)]
    sig = ema(macd, 9)
    f = compute_batch(_bars_from_closes(closes))
    assert f["macd_hist"].iloc[:33].isna().all()
    expected = [(m - s) / c for m, s, c in zip(macd[8:], sig[8:], closes[33:], strict=True)]
    np.testing.assert_allclose(f["macd_hist"].iloc[33:], expected, rtol=1e-9, atol=1e-15)


def test_atr_and_stochastic_match_hand_values() -> None:
    closes = [10.0, 11, 12, 11, 10, 11, 12, 13, 12, 11, 12, 13, 14, 13, 12, 13]
    highs = [c + 1 for c in closes]
    lows = [c - 1 for c in closes]
    f = compute_batch(_bars_from_closes(closes, highs, lows))
    # TR_b = max(2, |H_b - C_{b-1}|, |L_b - C_{b-1}|) = 2 when |dC| <= 1 -> every TR is 2
    assert f["atr_14_rel"].iloc[14] == pytest.approx(2 / 12)
    assert f["atr_14_rel"].iloc[15] == pytest.approx(2 / 13)
    # stoch over bars 2..15: min L = 9 (bar 4), max H = 15 (bar 12); C = 13
    assert np.isnan(f["stoch_k_14"].iloc[12])
    assert f["stoch_k_14"].iloc[15] == pytest.approx(100 * (13 - 9) / (15 - 9))


def test_bollinger_position_uses_population_std() -> None:
    closes = [float(x) for x in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 30]]
    f = compute_batch(_bars_from_closes(closes))
    mean = sum(closes) / 20
    std = math.sqrt(sum((c - mean) ** 2 for c in closes) / 20)
    assert f["bb_pos_20"].iloc[19] == pytest.approx((30 - mean) / (2 * std), rel=1e-12)
    flat = compute_batch(_bars_from_closes([5000.5] * 20))
    assert flat["bb_pos_20"].iloc[19] == 0.0


def test_kyle_lambda_is_the_ols_slope_of_returns_on_signed_volume() -> None:
    rng = np.random.default_rng(5)
    buy = rng.integers(0, 10, 52).tolist()
    sell = rng.integers(0, 10, 52).tolist()
    closes = (100 + np.cumsum(rng.integers(-2, 3, 52))).astype(float).tolist()
    f = compute_batch(_bars_from_closes(closes, buy=buy, sell=sell))
    r = np.log(np.array(closes[1:]) / np.array(closes[:-1]))
    x = np.array(buy[1:]) - np.array(sell[1:])
    slope = np.polyfit(x[:50].astype(float), r[:50], 1)[0]  # bars 1..50
    assert f["kyle_lambda_50"].iloc[50] == pytest.approx(slope, rel=1e-9)
    assert np.isnan(f["kyle_lambda_50"].iloc[49])


def test_buyer_concentration_takes_the_top_five_brokers() -> None:
    bars = _bars_from_closes([100.0] * 50, buy=[10] * 50)
    ids = np.empty(50, dtype=object)
    ids[:] = [np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.int64) for _ in range(50)]
    aggr = np.empty(50, dtype=object)
    aggr[:] = [np.array([1, 1, 1, 1, 1, 1, 4], dtype=np.int64) for _ in range(50)]  # 7 brokers, 10 per bar
    zeros = np.empty(50, dtype=object)
    zeros[:] = [np.zeros(7, dtype=np.int64) for _ in range(50)]
    bars["broker_ids"], bars["broker_aggr_buy"] = ids, aggr
    bars["broker_bought"], bars["broker_sold"], bars["broker_aggr_sell"] = aggr, zeros, zeros
    f = compute_batch(bars)
    assert f["buyer_conc_50"].iloc[49] == pytest.approx((4 + 4 * 1) * 50 / 500)
    assert f["seller_conc_50"].iloc[49] == 0.0  # no aggressive sells at all
    assert f["top_broker_net_50"].iloc[49] == pytest.approx(4 * 50 / 500)  # broker 7: bought 200, sold 0


def test_constant_prices_take_the_documented_fallbacks() -> None:
    f = compute_batch(_bars_from_closes([5000.0] * 120))
    last = f.iloc[-1]
    assert last["vol_20"] == 0.0 and last["vol_ratio_10_20"] == 1.0 and last["sharpe_20"] == 0.0
    assert last["range_pos_20"] == 0.5 and last["stoch_k_14"] == 50.0 and last["bb_pos_20"] == 0.0
    assert last["rsi_14"] == 50.0 and last["macd_hist"] == 0.0 and last["ret_session"] == 0.0
    assert last["volume_z_20"] == 0.0 and last["volume_ratio_20"] == 1.0
    assert np.isfinite(f.iloc[100:].to_numpy()).sum() == 20 * 65 - 20 * 8  # 7 book features + vol_ratio_100_200


def test_broker_windows_do_not_depend_on_the_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.bench_features import synthetic_bars
    from features.batch import micro

    bars = synthetic_bars(700, n_brokers=9)
    whole = compute_batch(bars)
    monkeypatch.setattr(micro, "CHUNK_CELLS", 1)
    monkeypatch.setattr(micro, "MIN_CHUNK_ROWS", 37)  # 19 chunks, windows of 50 straddle them
    pd.testing.assert_frame_equal(compute_batch(bars), whole)


# ---------------------------------------------------------------- naive reference on a random tape

SYMBOL = "WDO"


def _tape(seed: int = 11, *, unknown: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three sessions; with ``unknown``, scattered trades of unknown side or broker ids (3 % each), a
    5-hour stretch of unknown sides (session 2) and one of unknown sellers (session 3)."""
    rng = np.random.default_rng(seed)
    rows, snaps = [], []
    tid = 0
    price = 5000.0
    for s, day in enumerate(next_trading_days(date(2026, 3, 2), 3)):
        o, c = session_bounds(day, SYMBOL)
        # the opening auction prints exactly at the open; one print exactly at the 300 s grid's first close
        for at, tt in ((o.value, 4), (o.value, 4), (o.value + 300_000_000_000, 2)):
            rows.append((pd.Timestamp(at, tz="UTC"), price, int(rng.integers(1, 30)), int(rng.integers(1, 12)),
                         int(rng.integers(1, 12)), tt, tid))
            tid += 1
        t = o.value + 2_000_000_000
        while t < c.value:
            gap = rng.choice([1, 5, 30, 400], p=[0.5, 0.3, 0.17, 0.03]) * 1_000_000_000
            t += int(gap * rng.random())
            if t >= c.value:
                break
            burst = 1 if rng.random() < 0.8 else int(rng.integers(2, 5))  # same-ts bursts
            flat = s == 1 and (o.value + 3600e9) < t < (o.value + 7200e9)  # a constant-price hour
            for _ in range(burst):
                if not flat:
                    price = max(4000.0, price + 0.5 * int(rng.integers(-2, 3)))
                tt = int(rng.choice([1, 2, 3, 13], p=[0.05, 0.5, 0.4, 0.05]))
                seller = int(rng.integers(1, 12))
                qty = int(rng.pareto(1.3)) + 1
                buyer = int(rng.integers(1, 12))
                if unknown and (rng.random() < 0.03 or (s == 1 and o.value + 2 * 3600e9 < t < o.value + 7 * 3600e9)):
                    tt = 32
                if unknown and (rng.random() < 0.03 or (s == 2 and o.value + 1 * 3600e9 < t < o.value + 6 * 3600e9)):
                    seller = -1
                if unknown and rng.random() < 0.01:
                    buyer = seller = -1  # an auction-like print without brokers
                rows.append((pd.Timestamp(t, tz="UTC"), price, qty, buyer, seller, tt, tid))
                tid += 1
            if rng.random() < 0.3 and (s > 0 or t > o.value + 1800e9):  # book starts 30 min into day 1
                bq = rng.integers(0, 30, 5)
                aq = rng.integers(0, 30, 5)
                snap: dict[str, object] = {"ts": pd.Timestamp(t, tz="UTC"), "symbol": SYMBOL}
                for i in range(5):
                    snap[f"bid_px_{i + 1}"] = price - 0.5 * (i + 1)
                    snap[f"ask_px_{i + 1}"] = price + 0.5 * (i + 1) * int(rng.integers(1, 3))
                    snap[f"bid_qty_{i + 1}"] = int(bq[i]) if rng.random() < 0.9 else 0
                    snap[f"ask_qty_{i + 1}"] = int(aq[i])
                snaps.append(snap)
    trades = pd.DataFrame(rows, columns=["ts", "price", "qty", "buyer", "seller", "trade_type", "trade_id"])
    trades = trades.sort_values("ts", kind="stable", ignore_index=True)  # tape order, as the bars read it
    trades["symbol"] = SYMBOL
    trades["fin_volume"] = trades["price"] * trades["qty"] * 10
    return trades, pd.DataFrame(snaps)


def _naive(bars: pd.DataFrame, trades: pd.DataFrame) -> dict[str, list[float]]:
    nan = math.nan
    B = len(bars)
    C, H, L, O = (bars[c].tolist() for c in ("close", "high", "low", "open"))
    V, N = bars["volume"].tolist(), bars["n_trades"].tolist()
    Vb, Vs = bars["buy_vol"].tolist(), bars["sell_vol"].tolist()
    sess = bars["session"].tolist()
    # trades of each bar: (prev close, close]; a session's first bar is [open, close]
    ts = trades["ts"].to_numpy("datetime64[ns]").astype(np.int64)
    close_ns = bars.index.to_numpy("datetime64[ns]").astype(np.int64)
    open_ns = bars["open_ts"].to_numpy("datetime64[ns]").astype(np.int64)
    first_bar = [b == 0 or sess[b - 1] != sess[b] for b in range(B)]
    tr_of: list[list[int]] = [list(np.flatnonzero(((ts >= open_ns[b]) if first_bar[b] else (ts > open_ns[b]))
                                                 & (ts <= close_ns[b]))) for b in range(B)]
    r = [nan] + [math.log(C[b] / C[b - 1]) for b in range(1, B)]
    tp, tq = trades["price"].to_numpy(), trades["qty"].to_numpy()
    ttype, tbuy, tsell = (trades[c].to_numpy() for c in ("trade_type", "buyer", "seller"))
    col = {c: bars[c].to_numpy() for c in bars.columns if c.startswith(("bid_", "ask_"))}
    notional, duration = bars["notional"].to_numpy(), bars["duration_s"].to_numpy()
    spread = ((col["ask_px_1"] - col["bid_px_1"]) / 0.5).tolist()
    bsum = sum(col[f"bid_qty_{i}"] for i in range(1, 6))
    asum = sum(col[f"ask_qty_{i}"] for i in range(1, 6))
    imb5 = [0.0 if bs + as_ == 0 else (bs - as_) / (bs + as_) for bs, as_ in zip(bsum, asum, strict=True)]

    def win(x: list, b: int, n: int) -> list | None:
        if b < n - 1:
            return None
        w = x[b - n + 1 : b + 1]
        return None if any(isinstance(v, float) and math.isnan(v) for v in w) else w

    def ema(xs: list[float], n: int, alpha: float) -> list[float]:
        out = [nan] * len(xs)
        f = next((k for k, v in enumerate(xs) if not math.isnan(v)), len(xs))
        if len(xs) - f < n:
            return out
        out[f + n - 1] = sum(xs[f : f + n]) / n
        for k in range(f + n, len(xs)):
            out[k] = alpha * xs[k] + (1 - alpha) * out[k - 1]
        return out

    def rstd(w: list[float]) -> float:
        var = statistics.variance(w)
        return 0.0 if var <= 1e-18 else math.sqrt(var)

    out: dict[str, list[float]] = defaultdict(list)
    d = [nan] + [C[b] - C[b - 1] for b in range(1, B)]
    g = ema([max(x, 0.0) if not math.isnan(x) else nan for x in d], 14, 1 / 14)
    lo_ = ema([max(-x, 0.0) if not math.isnan(x) else nan for x in d], 14, 1 / 14)
    macd = [a - b for a, b in zip(ema(C, 12, 2 / 13), ema(C, 26, 2 / 27), strict=True)]
    sig = ema(macd, 9, 0.2)
    tr = [nan] + [max(H[b] - L[b], abs(H[b] - C[b - 1]), abs(L[b] - C[b - 1])) for b in range(1, B)]
    atr = ema(tr, 14, 1 / 14)
    tick = 0.5
    for b in range(B):
        def put(name: str, value: float) -> None:
            out[name].append(value)

        vols = {}
        for n in (10, 20, 50, 100, 200):
            w = win(r, b, n)
            vols[n] = nan if w is None else rstd(w)
        for n in (10, 20, 50, 100):
            put(f"vol_{n}", vols[n])
        for a_, b_ in ((10, 20), (20, 50), (50, 100), (100, 200)):
            ratio = nan if math.isnan(vols[b_]) else (1.0 if vols[b_] == 0 else vols[a_] / vols[b_])
            put(f"vol_ratio_{a_}_{b_}", ratio)
        if b >= 19:
            gk = [0.5 * math.log(H[k] / L[k]) ** 2 - (2 * math.log(2) - 1) * math.log(C[k] / O[k]) ** 2
                  for k in range(b - 19, b + 1)]
            pk = [math.log(H[k] / L[k]) ** 2 for k in range(b - 19, b + 1)]
            put("garman_klass_20", math.sqrt(max(statistics.fmean(gk), 0)))
            put("parkinson_20", math.sqrt(statistics.fmean(pk) / (4 * math.log(2))))
        else:
            put("garman_klass_20", nan)
            put("parkinson_20", nan)
        for n in (1, 2, 5, 10, 20, 50, 100):
            put(f"ret_{n}", math.log(C[b] / C[b - n]) if b >= n else nan)
        s0 = b
        while s0 > 0 and sess[s0 - 1] == sess[b]:
            s0 -= 1
        st = [t for k in range(s0, b + 1) for t in tr_of[k]]
        if st:
            p0 = float(tp[st[0]])
            pq = sum(float(tp[t]) * int(tq[t]) for t in st)
            vw = pq / sum(int(tq[t]) for t in st)
            put("ret_session", math.log(C[b] / p0))
            put("vwap_dev_session", (C[b] - vw) / vw)
        else:
            put("ret_session", 0.0)
            put("vwap_dev_session", 0.0)
        if b >= 19:
            hi, lo = max(H[b - 19 : b + 1]), min(L[b - 19 : b + 1])
            put("range_pos_20", 0.5 if hi == lo else (C[b] - lo) / (hi - lo))
        else:
            put("range_pos_20", nan)
        for n in (5, 10, 20, 50):
            if b < n - 1:
                put(f"ofi_{n}", nan)
                continue
            sb, ss = sum(Vb[b - n + 1 : b + 1]), sum(Vs[b - n + 1 : b + 1])
            put(f"ofi_{n}", 0.0 if sb + ss == 0 else (sb - ss) / (sb + ss))
        put("signed_volume", float(Vb[b] - Vs[b]))
        put("cum_signed_volume_session", float(sum(Vb[k] - Vs[k] for k in range(s0, b + 1))))
        wt = [t for k in range(max(b - 19, 0), b + 1) for t in tr_of[k]] if b >= 19 else None
        if wt is None:
            for name in ("large_trade_imbalance_20", "broker_turnover_20", "buyer_switch_rate_20",
                         "aggr_buy_ratio_20"):
                put(name, nan)
        else:
            q, ty = tq[wt], ttype[wt]
            lb = int(q[(ty == 2) & (q >= 10)].sum())
            ls = int(q[(ty == 3) & (q >= 10)].sum())
            put("large_trade_imbalance_20", 0.0 if lb + ls == 0 else (lb - ls) / (lb + ls))
            # the broker statistics read only the trades whose buyer and seller ids are both known
            kt = [t for t in wt if tbuy[t] >= 0 and tsell[t] >= 0]
            buyers = tbuy[kt]
            ids = set(buyers.tolist()) | set(tsell[kt].tolist())
            put("broker_turnover_20", 0.0 if not kt else len(ids) / len(kt))
            sw = int((buyers[1:] != buyers[:-1]).sum())
            put("buyer_switch_rate_20", 0.0 if len(kt) < 2 else sw / (len(kt) - 1))
            sided = int((ty != 32).sum())  # trades of known side (crosses included: known, unsigned)
            put("aggr_buy_ratio_20", 0.5 if not sided else int((ty == 2).sum()) / sided)
        w = win(r, b, 20)
        put("vw_return_20", nan if w is None else (0.0 if sum(V[b - 19 : b + 1]) == 0 else
                                                   sum(x * v for x, v in zip(w, V[b - 19 : b + 1], strict=True))
                                                   / sum(V[b - 19 : b + 1])))
        for n in (20, 50, 100):
            put(f"volume_ratio_{n}", nan if b < n - 1 else (1.0 if sum(V[b - n + 1 : b + 1]) == 0 else
                                                             V[b] / (sum(V[b - n + 1 : b + 1]) / n)))
        for n in (20, 50, 100):
            if b < n - 1:
                put(f"volume_z_{n}", nan)
                continue
            wv = V[b - n + 1 : b + 1]
            sd = statistics.stdev(wv)
            put(f"volume_z_{n}", 0.0 if sd == 0 else (V[b] - statistics.fmean(wv)) / sd)
        put("trade_intensity", N[b] / duration[b] if duration[b] > 0 else 0.0)  # a bar closing at the open: 0
        put("trade_intensity_ratio_50", nan if b < 49 else (1.0 if sum(N[b - 49 : b + 1]) == 0 else
                                                            N[b] / (sum(N[b - 49 : b + 1]) / 50)))
        sma = {n: (statistics.fmean(C[b - n + 1 : b + 1]) if b >= n - 1 else nan) for n in (5, 20, 50)}
        put("ma_ratio_5_20", sma[5] / sma[20] - 1)
        put("ma_ratio_20_50", sma[20] / sma[50] - 1)
        put("rsi_14", nan if math.isnan(g[b]) else (50.0 if g[b] + lo_[b] == 0 else 100 * g[b] / (g[b] + lo_[b])))
        put("macd_hist", (macd[b] - sig[b]) / C[b])
        if b >= 19:
            wc = C[b - 19 : b + 1]
            sd = statistics.pstdev(wc)
            put("bb_pos_20", 0.0 if sd <= 1e-12 * statistics.fmean(wc) else (C[b] - statistics.fmean(wc)) / (2 * sd))
        else:
            put("bb_pos_20", nan)
        put("atr_14_rel", atr[b] / C[b])
        if b >= 13:
            hi, lo = max(H[b - 13 : b + 1]), min(L[b - 13 : b + 1])
            put("stoch_k_14", 50.0 if hi == lo else 100 * (C[b] - lo) / (hi - lo))
        else:
            put("stoch_k_14", nan)
        w = win(r, b, 20)
        put("sharpe_20", nan if w is None else (0.0 if rstd(w) == 0 else statistics.fmean(w) / rstd(w)))
        bid1, ask1, bq1, aq1 = (col[c][b] for c in ("bid_px_1", "ask_px_1", "bid_qty_1", "ask_qty_1"))
        put("spread_ticks", (ask1 - bid1) / tick)
        ws = win(spread, b, 20)
        put("spread_mean_20", nan if ws is None else statistics.fmean(ws))
        if math.isnan(bid1):
            for name in ("microprice_dev", "book_imb_l1", "book_imb_l5", "depth_ratio_5", "book_imb_l5_chg_10"):
                put(name, nan)
        else:
            put("microprice_dev", 0.0 if bq1 + aq1 == 0 else
                ((bid1 * aq1 + ask1 * bq1) / (bq1 + aq1) - (bid1 + ask1) / 2) / tick)
            put("book_imb_l1", 0.0 if bq1 + aq1 == 0 else (bq1 - aq1) / (bq1 + aq1))
            put("book_imb_l5", imb5[b])
            put("depth_ratio_5", 0.0 if bsum[b] == 0 or asum[b] == 0 else math.log(bsum[b] / asum[b]))
            put("book_imb_l5_chg_10", nan if b < 10 or math.isnan(col["bid_px_1"][b - 10]) else imb5[b] - imb5[b - 10])
        if b < 49:
            for name in ("buyer_conc_50", "seller_conc_50", "top_broker_net_50"):
                put(name, nan)
        else:
            wt = [t for k in range(b - 49, b + 1) for t in tr_of[k]]
            ab: dict[int, int] = defaultdict(int)
            as2: dict[int, int] = defaultdict(int)
            bought: dict[int, int] = defaultdict(int)
            sold: dict[int, int] = defaultdict(int)
            tv = 0  # volume of the trades whose broker ids are both known
            for t in wt:
                q_, ty_, by, se = int(tq[t]), int(ttype[t]), int(tbuy[t]), int(tsell[t])
                if by < 0 or se < 0:
                    continue
                tv += q_
                bought[by] += q_
                sold[se] += q_
                if ty_ == 2:
                    ab[by] += q_
                if ty_ == 3:
                    as2[se] += q_
            tb, ts_ = sum(ab.values()), sum(as2.values())
            put("buyer_conc_50", 0.0 if tb == 0 else sum(sorted(ab.values())[-5:]) / tb)
            put("seller_conc_50", 0.0 if ts_ == 0 else sum(sorted(as2.values())[-5:]) / ts_)
            brk = set(bought) | set(sold)
            top = min(brk, key=lambda k: (-(bought[k] + sold[k]), k)) if brk else 0
            put("top_broker_net_50", 0.0 if tv == 0 else (bought[top] - sold[top]) / tv)
        w = win(r, b, 50)
        if w is None:
            put("kyle_lambda_50", nan)
        else:
            x = [Vb[k] - Vs[k] for k in range(b - 49, b + 1)]
            mx, mr = statistics.fmean(x), statistics.fmean(w)
            sxx = sum((v - mx) ** 2 for v in x)
            put("kyle_lambda_50", 0.0 if sxx == 0 else sum((v - mx) * (q_ - mr) for v, q_ in zip(x, w, strict=True))
                / sxx)
        w = win(r, b, 20)
        if w is None:
            put("amihud_20", nan)
        else:
            terms = [abs(r[k]) / notional[k] * 1e6 for k in range(b - 19, b + 1) if notional[k] > 0]
            put("amihud_20", statistics.fmean(terms) if terms else 0.0)
        so, sc = bars["session_open_ts"].iloc[b], bars["session_close_ts"].iloc[b]
        prog = min(max((bars.index[b] - so) / (sc - so), 0.0), 1.0)
        put("session_progress", prog)
        put("tod_sin", math.sin(2 * math.pi * prog))
        put("tod_cos", math.cos(2 * math.pi * prog))
        put("day_of_week", bars.index[b].tz_convert("America/Sao_Paulo").weekday() / 4)
        put("is_opening_30", float(bars.index[b] - so <= pd.Timedelta(minutes=30)))
        put("is_closing_30", float(sc - bars.index[b] < pd.Timedelta(minutes=30)))
    # unknown is not a value: a feature is NaN when its window holds trades and none of them has the
    # side / the broker ids it needs (the statistics above already leave the unknown trades out)
    no_side = ttype == 32
    no_broker = (tbuy < 0) | (tsell < 0)
    side_windows = {"ofi_5": 5, "ofi_10": 10, "ofi_20": 20, "ofi_50": 50, "signed_volume": 1,
                    "large_trade_imbalance_20": 20, "aggr_buy_ratio_20": 20, "kyle_lambda_50": 50,
                    "buyer_conc_50": 50, "seller_conc_50": 50}
    broker_windows = {"buyer_conc_50": 50, "seller_conc_50": 50, "top_broker_net_50": 50, "broker_turnover_20": 20,
                      "buyer_switch_rate_20": 20}

    def none_known(flags: np.ndarray, trades_in: list[int]) -> bool:
        return bool(trades_in) and all(flags[t] for t in trades_in)

    for b in range(B):
        for flags, windows in ((no_side, side_windows), (no_broker, broker_windows)):
            for name, n in windows.items():
                if none_known(flags, [t for k in range(max(b - n + 1, 0), b + 1) for t in tr_of[k]]):
                    out[name][b] = nan
        s0 = b
        while s0 > 0 and sess[s0 - 1] == sess[b]:
            s0 -= 1
        if none_known(no_side, [t for k in range(s0, b + 1) for t in tr_of[k]]):
            out["cum_signed_volume_session"][b] = nan
    return out


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["time:300s", "volume:40"])
def test_batch_equals_the_naive_definition_on_a_random_tape(spec: str) -> None:
    trades, book = _tape()
    bars = build_bars(trades, book, spec=spec, symbol=SYMBOL, large_trade_qty=10)
    assert (bars["volume"] == 0).any() or spec != "time:300s"
    feats = compute_batch(bars)
    assert np.isfinite(feats.iloc[210:].to_numpy()).all()  # the comparison below is not NaN == NaN only
    assert_equals_reference(feats, _naive(bars, trades))
    first = bars.groupby("session").head(1)
    assert (first["n_trades"] >= 2).all()  # the two prints exactly at each open are in the first bar


def assert_equals_reference(feats: pd.DataFrame, ref: dict[str, list[float]]) -> None:
    assert set(ref) == set(FEATURE_NAMES)
    bad = []
    for name in FEATURE_NAMES:
        got, exp = feats[name].to_numpy(), np.array(ref[name], dtype=float)
        same = (np.isnan(got) & np.isnan(exp)) | np.isclose(got, exp, rtol=1e-9, atol=1e-12)
        if not same.all():
            k = int(np.flatnonzero(~same)[0])
            bad.append(f"{name} at bar {k}: batch {got[k]!r} vs reference {exp[k]!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_batch_equals_the_naive_definition_with_unknown_sides_and_brokers() -> None:
    trades, book = _tape(unknown=True)
    assert (trades["trade_type"] == 32).sum() > 5 and (trades["seller"] == -1).sum() > 5
    bars = build_bars(trades, book, spec="time:300s", symbol=SYMBOL, large_trade_qty=10)
    assert bars["n_unknown_side"].sum() == (trades["trade_type"] == 32).sum()
    assert bars["n_unknown_broker"].sum() == ((trades["seller"] == -1) | (trades["buyer"] == -1)).sum()
    assert not any((np.asarray(ids) < 0).any() for ids in bars["broker_ids"])  # never a broker called -1
    feats = compute_batch(bars)
    assert_equals_reference(feats, _naive(bars, trades))
    mixed = (bars["n_unknown_side"] > 0) & (bars["n_unknown_side"] < bars["n_trades"])
    assert mixed.sum() > 20  # most windows hold some unknown trades: left out, the value stays
    for name in ("ofi_50", "signed_volume", "aggr_buy_ratio_20", "top_broker_net_50", "buyer_switch_rate_20"):
        col = feats[name].iloc[60:]
        assert col.isna().any() and col.notna().mean() > 0.5, name  # NaN only inside the long stretches


def test_bars_built_day_by_day_give_the_same_features_as_one_history() -> None:
    trades, book = _tape(seed=4)
    # the first bar of each day has no trade and no book of its own: carried from the previous day
    trades = trades[trades["ts"].dt.tz_convert("America/Sao_Paulo").dt.time > pd.Timestamp("09:10").time()]
    book = book[book["ts"].dt.tz_convert("America/Sao_Paulo").dt.time > pd.Timestamp("09:20").time()]
    whole = build_bars(trades, book, spec="time:300s", symbol=SYMBOL, large_trade_qty=10)
    day_of = trades["ts"].dt.tz_convert("America/Sao_Paulo").dt.date
    book_day = book["ts"].dt.tz_convert("America/Sao_Paulo").dt.date
    parts = [build_bars(trades[day_of == d], book[book_day == d], spec="time:300s", symbol=SYMBOL,
                        large_trade_qty=10) for d in sorted(set(day_of))]
    per_day = pd.concat(parts)
    assert per_day["close"].isna().sum() > 1 and per_day["bid_px_1"].isna().sum() > whole["bid_px_1"].isna().sum()
    pd.testing.assert_frame_equal(compute_batch(per_day), compute_batch(whole))

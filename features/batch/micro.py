"""Batch microstructure features: book (45-51), brokers (52-57), Kyle lambda (58) and Amihud (59).

Broker windows use a dense (bar x broker) matrix per chunk of bars: window sums are differences of
cumulative sums of integers held in float64 (exact below 2**53), so they match a streaming engine's
integer counters exactly.
"""

from __future__ import annotations

import numpy as np

from features.batch.inputs import BarArrays, Brokers
from features.batch.windows import full, lag, nan_free, none_known, rolling_sum, rolling_sum_int
from features.numerics import div_or_v

CHUNK_CELLS = 300_000  # rows x brokers per dense chunk (small enough to stay in cache)
MIN_CHUNK_ROWS = 500


def book(a: BarArrays, tick_size: float) -> dict[str, np.ndarray]:
    f = a.f
    bid1, ask1, bq1, aq1 = f["bid_px_1"], f["ask_px_1"], f["bid_qty_1"], f["ask_qty_1"]
    out: dict[str, np.ndarray] = {}
    spread = (ask1 - bid1) / tick_size
    out["spread_ticks"] = spread
    out["spread_mean_20"] = rolling_sum(spread, 20) / 20
    q1 = bq1 + aq1
    with np.errstate(divide="ignore", invalid="ignore"):
        micro = (bid1 * aq1 + ask1 * bq1) / q1
        dev = (micro - (bid1 + ask1) / 2.0) / tick_size
    out["microprice_dev"] = np.where(q1 == 0, 0.0, dev)
    out["book_imb_l1"] = div_or_v(bq1 - aq1, q1, 0.0, 0.0)
    bsum = f["bid_qty_1"] + f["bid_qty_2"] + f["bid_qty_3"] + f["bid_qty_4"] + f["bid_qty_5"]
    asum = f["ask_qty_1"] + f["ask_qty_2"] + f["ask_qty_3"] + f["ask_qty_4"] + f["ask_qty_5"]
    imb5 = div_or_v(bsum - asum, bsum + asum, 0.0, 0.0)
    out["book_imb_l5"] = imb5
    with np.errstate(divide="ignore", invalid="ignore"):
        out["depth_ratio_5"] = np.where((bsum == 0) | (asum == 0), 0.0, np.log(bsum / asum))
    out["book_imb_l5_chg_10"] = imb5 - lag(imb5, 10)
    return out


def _window_matrix(br: Brokers, values: np.ndarray, lo: int, hi: int, n: int) -> np.ndarray:
    """Per-broker sums over the ``n`` bars ending at each bar ``lo .. hi-1``: a (brokers, hi-lo) int array.

    Bars down to ``lo - n + 1`` are read. Entries are unique per (bar, broker), so the dense matrix is
    filled by assignment; the (brokers, bars) layout keeps the cumulative sum contiguous.
    """
    base = max(lo - n + 1, 0)
    a, b = np.searchsorted(br.bar, [base, hi])
    vals = values[a:b]
    dtype = np.int32 if int(np.abs(vals).sum()) < 2**31 else np.int64
    rows = hi - base
    dense = np.zeros((len(br.ids), n + rows), dtype=dtype)
    dense[br.code[a:b], n + br.bar[a:b] - base] = vals
    cs: np.ndarray = np.cumsum(dense, axis=1, dtype=dtype)
    first = lo - base
    window: np.ndarray = cs[:, n + first : n + rows] - cs[:, first:rows]
    return window


def _chunks(size: int, nb: int) -> list[tuple[int, int]]:
    step = max(MIN_CHUNK_ROWS, CHUNK_CELLS // max(nb, 1))
    return [(s, min(s + step, size)) for s in range(0, size, step)]


def _top_sum(w: np.ndarray, k: int) -> np.ndarray:
    """Sum of the ``k`` largest values of each column of ``w`` (brokers x bars)."""
    if w.shape[0] <= k:
        return w.sum(axis=0, dtype=np.int64)
    part = np.partition(w, w.shape[0] - k, axis=0)
    return part[w.shape[0] - k :].sum(axis=0, dtype=np.int64)


def _by_broker(br: Brokers) -> np.ndarray:
    """Entry order sorted by (broker, bar): a stable sort on the broker code of bar-ordered entries."""
    small = br.code.astype(np.int16) if len(br.ids) < 2**15 else br.code  # int16: numpy uses a radix sort
    return np.argsort(small, kind="stable")


def _broker_window_sum(br: Brokers, order: np.ndarray, values: np.ndarray, code: np.ndarray, n: int) -> np.ndarray:
    """For each bar i: sum of ``values`` of broker ``code[i]`` over the bars (i-n, i] (exact int64)."""
    size = len(code)
    stride = np.int64(size + n + 1)
    skey = br.code[order] * stride + br.bar[order] + n
    cum = np.concatenate([[0], np.cumsum(values[order].astype(np.int64))])
    at = code * stride + np.arange(n, size + n, dtype=np.int64)
    return cum[np.searchsorted(skey, at, side="right")] - cum[np.searchsorted(skey, at - n, side="right")]


def _distinct_brokers(br: Brokers, order: np.ndarray, size: int, n: int) -> np.ndarray:
    """Distinct brokers over the last ``n`` bars: each entry counts until the broker's next entry or n bars."""
    bar, code = br.bar[order], br.code[order]
    nxt = np.full(len(bar), size + n, dtype=np.int64)
    same = code[1:] == code[:-1]
    nxt[:-1][same] = bar[1:][same]
    end = np.minimum(nxt, bar + n)
    diff = np.bincount(bar, minlength=size + n + 1) - np.bincount(end, minlength=size + n + 1)
    return np.cumsum(diff)[:size]


def brokers(a: BarArrays) -> dict[str, np.ndarray]:
    br = a.brokers
    size, nb = a.size, len(br.ids)
    buy_conc = np.zeros(size, dtype=np.int64)
    sell_conc = np.zeros(size, dtype=np.int64)
    top = np.zeros(size, dtype=np.int64)
    if nb:
        traded_v = br.bought + br.sold
        for lo, hi in _chunks(size, nb):
            buy_conc[lo:hi] = _top_sum(_window_matrix(br, br.aggr_buy, lo, hi, 50), 5)
            sell_conc[lo:hi] = _top_sum(_window_matrix(br, br.aggr_sell, lo, hi, 50), 5)
            top[lo:hi] = np.argmax(_window_matrix(br, traded_v, lo, hi, 50), axis=0)  # first max = smallest id
        order = _by_broker(br)
        top_net = _broker_window_sum(br, order, br.bought - br.sold, top, 50)
        distinct = _distinct_brokers(br, order, size, 20)
    else:
        top_net = np.zeros(size, dtype=np.int64)
        distinct = np.zeros(size, dtype=np.int64)
    i = a.i
    n_tr = i["n_trades"]
    n_known = n_tr - i["n_unknown_broker"]  # trades whose buyer and seller ids are both known
    ok50, ok20 = full(size, 50), full(size, 20)
    # unknown is not a value (docs/features.md 3b): a trade with an unknown broker id is left out of the
    # broker statistics (it is in no broker list); a window whose trades all lack an id (or, for the
    # side features, a side) gives NaN
    known50 = ok50 & ~none_known(i["n_unknown_broker"], n_tr, 50)
    known20 = ok20 & ~none_known(i["n_unknown_broker"], n_tr, 20)
    conc_ok = known50 & ~none_known(i["n_unknown_side"], n_tr, 50)
    side20 = ok20 & ~none_known(i["n_unknown_side"], n_tr, 20)
    out: dict[str, np.ndarray] = {}
    # the known sample's totals: the brokers' aggressive buys / sells and traded volume (= sum of bought)
    svb = rolling_sum_int(_per_bar(br, br.aggr_buy, size), 50)
    svs = rolling_sum_int(_per_bar(br, br.aggr_sell, size), 50)
    sv = rolling_sum_int(_per_bar(br, br.bought, size), 50)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["buyer_conc_50"] = np.where(conc_ok, np.where(svb == 0, 0.0, buy_conc / svb), np.nan)
        out["seller_conc_50"] = np.where(conc_ok, np.where(svs == 0, 0.0, sell_conc / svs), np.nan)
        out["top_broker_net_50"] = np.where(known50, np.where(sv == 0, 0.0, top_net / sv), np.nan)
        sk = rolling_sum_int(n_known, 20)
        out["broker_turnover_20"] = np.where(known20, np.where(sk == 0, 0.0, distinct / sk), np.nan)
        switches = rolling_sum_int(i["buyer_switches"], 20) + _boundary_switches(a, n_known, 20)
        rate = switches / (sk - 1)
        out["buyer_switch_rate_20"] = np.where(known20, np.where(sk < 2, 0.0, rate), np.nan)
        sn = rolling_sum_int(n_tr, 20) - rolling_sum_int(i["n_unknown_side"], 20)  # trades of known side
        snb = rolling_sum_int(i["n_buy_trades"], 20)
        out["aggr_buy_ratio_20"] = np.where(side20, np.where(sn == 0, 0.5, snb / sn), np.nan)
    return out


def _per_bar(br: Brokers, values: np.ndarray, size: int) -> np.ndarray:
    """Per-bar sum of a broker list (exact int64: integers below 2**53 in the float bincount)."""
    return np.bincount(br.bar, weights=values, minlength=size).astype(np.int64)


def _boundary_switches(a: BarArrays, n_known: np.ndarray, n: int) -> np.ndarray:
    """Per window of ``n`` bars: buyer changes between consecutive bars holding known-broker trades
    (first known buyer of a bar vs the last known buyer of the previous such bar), both inside the window."""
    nz = np.flatnonzero(n_known > 0)
    diff = np.zeros(a.size + n + 1, dtype=np.int64)
    if len(nz) > 1:
        prev, cur = nz[:-1], nz[1:]
        changed = a.i["first_buyer"][cur] != a.i["last_buyer"][prev]
        live = changed & (cur <= prev + n - 1)  # the pair fits in some window
        diff += np.bincount(cur[live], minlength=len(diff))
        diff -= np.bincount(prev[live] + n, minlength=len(diff))  # windows ending after prev + n - 1 lose prev
    return np.cumsum(diff)[: a.size]


def kyle_amihud(a: BarArrays, r: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    n = 50
    x = a.i["buy_vol"] - a.i["sell_vol"]
    r0 = np.where(np.isnan(r), 0.0, r)
    sx = rolling_sum_int(x, n)
    den = n * rolling_sum_int(x * x, n) - sx * sx  # exact
    num = n * rolling_sum(r0 * x, n) - rolling_sum(r0, n) * sx
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = num / den.astype(np.float64)
    ok = nan_free(r, n) & ~none_known(a.i["n_unknown_side"], a.i["n_trades"], n)
    out["kyle_lambda_50"] = np.where(ok, np.where(den == 0, 0.0, slope), np.nan)
    notional = a.f["notional"]
    pos = notional > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(pos, np.abs(r0) / np.where(pos, notional, 1.0) * 1e6, 0.0)
    cnt = rolling_sum_int(pos.astype(np.int64), 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = rolling_sum(term, 20) / cnt
    out["amihud_20"] = np.where(nan_free(r, 20), np.where(cnt == 0, 0.0, mean), np.nan)
    return out

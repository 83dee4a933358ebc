"""Broker and book windows of the streaming engine (features 45–57 of ``qt65_v1``).

Broker aggregates are integer dictionaries updated incrementally (exact): a bar entering the window
adds its per-broker quantities, the bar leaving it subtracts them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from math import isnan, log, nan
from typing import Protocol


class _BrokerBar(Protocol):
    n: int
    ub: int
    switches: int
    first_buyer: int
    last_buyer: int
    traded: dict[int, int]
    net: dict[int, int]
    abuy: dict[int, int]
    asell: dict[int, int]


def _add(agg: dict[int, int], d: dict[int, int]) -> None:
    get = agg.get
    for k, q in d.items():
        agg[k] = get(k, 0) + q


def _sub(agg: dict[int, int], d: dict[int, int]) -> None:
    # zero entries are kept: broker ids are few, and a zero never changes a sum, a top-5 or the argmax
    for k, q in d.items():
        agg[k] -= q


def conc_top5(agg: dict[int, int]) -> float:
    """Share of the window's total taken by its 5 largest brokers (0 when the total is 0)."""
    total = sum(agg.values())
    if total == 0:
        return 0.0
    return sum(sorted(agg.values(), reverse=True)[:5]) / total


class BrokerWindows:
    """50-bar per-broker aggregates, 20-bar distinct ids and the 20-bar buyer-switch window."""

    def __init__(self) -> None:
        self.bars: deque[tuple[dict[int, int], dict[int, int], dict[int, int], dict[int, int]]] = deque(maxlen=50)
        self.agg_abuy: dict[int, int] = {}
        self.agg_asell: dict[int, int] = {}
        self.agg_traded: dict[int, int] = {}
        self.agg_net: dict[int, int] = {}
        self.ids: deque[dict[int, int]] = deque(maxlen=20)
        self.id_count: dict[int, int] = {}
        # (known-broker trades, switches, first, last known buyer) per bar
        self.sw: deque[tuple[int, int, int, int]] = deque(maxlen=20)

    def push(self, b: _BrokerBar) -> None:
        # ``traded`` and ``net`` of a bar have the same keys (every trade updates both for its buyer and
        # its seller), so one loop updates both aggregates, and the 20-bar id counts, per broker.
        bars, agg_t, agg_n = self.bars, self.agg_traded, self.agg_net
        if len(bars) == bars.maxlen:
            old_abuy, old_asell, old_traded, old_net = bars[0]
            _sub(self.agg_abuy, old_abuy)
            _sub(self.agg_asell, old_asell)
            for k, q in old_traded.items():
                agg_t[k] -= q
                agg_n[k] -= old_net[k]
        traded, net = b.traded, b.net
        bars.append((b.abuy, b.asell, traded, net))
        _add(self.agg_abuy, b.abuy)
        _add(self.agg_asell, b.asell)
        ids_w, cnt = self.ids, self.id_count
        if len(ids_w) == ids_w.maxlen:
            for k in ids_w[0]:
                t = cnt[k] - 1
                if t:
                    cnt[k] = t
                else:
                    del cnt[k]
        ids_w.append(traded)  # its keys: every broker that bought or sold in the bar
        get_t, get_n, get_c = agg_t.get, agg_n.get, cnt.get
        for k, q in traded.items():
            agg_t[k] = get_t(k, 0) + q
            agg_n[k] = get_n(k, 0) + net[k]
            cnt[k] = get_c(k, 0) + 1
        self.sw.append((b.n - b.ub, b.switches, b.first_buyer, b.last_buyer))

    def top_net(self) -> float:
        """Net (bought - sold) of the broker with the largest traded volume (ties: smallest id) / the
        window's volume of known-broker trades (half the brokers' traded total: each trade counts twice)."""
        traded = self.agg_traded
        total_v = sum(traded.values()) // 2
        if total_v == 0:
            return 0.0
        best_v = max(traded.values())
        best_id = min([k for k, tv in traded.items() if tv == best_v])
        return self.agg_net[best_id] / total_v

    def switch_rate(self) -> float:
        """Buyer switches between consecutive known-broker trades of the window / (those trades - 1); 0
        below 2 of them (trades with an unknown id are skipped)."""
        trades = switches = 0
        prev_last = -1
        for n, sw, first, last in self.sw:
            if n == 0:
                continue
            if trades and first != prev_last:
                switches += 1
            trades += n
            switches += sw
            prev_last = last
        return switches / (trades - 1) if trades >= 2 else 0.0


class BookWindows:
    """Book features at the bar's close and their windows (spread mean 20, imbalance change 10)."""

    def __init__(self, tick_size: float) -> None:
        self.tick = tick_size
        self.spr: deque[float] = deque(maxlen=20)
        self.imb5: deque[float] = deque(maxlen=11)
        self.spr_run = self.imb_run = 0

    def push(self, book: Sequence[float] | None, out: list[float]) -> None:
        """``book`` = 20 floats (bid px 1-5, bid qty 1-5, ask px 1-5, ask qty 1-5) or None."""
        tick = self.tick
        if book is None:
            spread = m_dev = imb1 = imb5 = depth = nan
        else:
            bp1, bq1, ap1, aq1 = book[0], book[5], book[10], book[15]
            spread = (ap1 - bp1) / tick
            q1 = bq1 + aq1
            if isnan(q1):
                m_dev = imb1 = nan
            elif q1 == 0.0:
                m_dev = imb1 = 0.0
            else:
                micro = (bp1 * aq1 + ap1 * bq1) / q1
                m_dev = (micro - (bp1 + ap1) / 2.0) / tick
                imb1 = (bq1 - aq1) / q1
            bs = sum(book[5:10])
            as_ = sum(book[15:20])
            tot = bs + as_
            if isnan(tot):
                imb5 = depth = nan
            else:
                imb5 = (bs - as_) / tot if tot != 0.0 else 0.0
                depth = log(bs / as_) if bs != 0.0 and as_ != 0.0 else 0.0
        self.spr_run = 0 if isnan(spread) else self.spr_run + 1
        self.imb_run = 0 if isnan(imb5) else self.imb_run + 1
        self.spr.append(spread)
        self.imb5.append(imb5)
        out.append(spread)
        out.append(sum(self.spr) / 20 if self.spr_run >= 20 else nan)
        out.append(m_dev)
        out.append(imb1)
        out.append(imb5)
        out.append(depth)
        out.append(imb5 - self.imb5[0] if self.imb_run >= 11 else nan)

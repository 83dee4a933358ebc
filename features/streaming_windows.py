"""Windowed state of the streaming engine: one update per closed bar fills the 65-value vector.

Each window is recomputed exactly from small ring buffers (plain Python floats and ints, at most 200
values) rather than updated with running sums, so nothing drifts over a long session; integer
aggregates (volumes, broker dictionaries) are updated incrementally because integer sums are exact.
Recursive indicators (EMA, Wilder) keep their state. The formulas follow ``docs/features.md``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from math import cos, isnan, log, nan, pi, sin, sqrt

from features.numerics import int_sample_var, is_zero, ret_sample_var, rsi_value
from features.streaming_brokers import BookWindows, BrokerWindows, conc_top5
from features.streaming_session import NS, Session

NAMES: tuple[str, ...] = (
    "vol_10", "vol_20", "vol_50", "vol_100",
    "vol_ratio_10_20", "vol_ratio_20_50", "vol_ratio_50_100", "vol_ratio_100_200",
    "garman_klass_20", "parkinson_20",
    "ret_1", "ret_2", "ret_5", "ret_10", "ret_20", "ret_50", "ret_100",
    "ret_session", "vwap_dev_session", "range_pos_20",
    "ofi_5", "ofi_10", "ofi_20", "ofi_50", "signed_volume", "cum_signed_volume_session",
    "large_trade_imbalance_20", "vw_return_20",
    "volume_ratio_20", "volume_ratio_50", "volume_ratio_100",
    "volume_z_20", "volume_z_50", "volume_z_100", "trade_intensity", "trade_intensity_ratio_50",
    "ma_ratio_5_20", "ma_ratio_20_50", "rsi_14", "macd_hist", "bb_pos_20", "atr_14_rel", "stoch_k_14",
    "sharpe_20",
    "spread_ticks", "spread_mean_20", "microprice_dev", "book_imb_l1", "book_imb_l5", "depth_ratio_5",
    "book_imb_l5_chg_10", "buyer_conc_50", "seller_conc_50", "top_broker_net_50", "broker_turnover_20",
    "buyer_switch_rate_20", "aggr_buy_ratio_20", "kyle_lambda_50", "amihud_20",
    "session_progress", "tod_sin", "tod_cos", "day_of_week", "is_opening_30", "is_closing_30",
)  # fmt: skip

_GK_K = 2.0 * log(2.0) - 1.0
_PK_K = 1.0 / (4.0 * log(2.0))
_MIN30 = 30 * 60 * NS


class BarInput:
    """Everything the features read from one closed bar (filled by the engine)."""

    __slots__ = (
        "abuy", "asell", "c", "close_ts", "duration_s", "first_buyer", "h", "l", "last_buyer", "lb", "ls", "n",
        "nb", "net", "notional", "o", "open_ts", "pq", "session", "switches", "traded", "ub", "us", "v", "vb",
        "vs",
    )  # fmt: skip

    def __init__(self) -> None:
        self.o = self.h = self.l = self.c = nan
        self.v = self.n = self.vb = self.vs = self.nb = self.lb = self.ls = self.switches = 0
        self.us = 0  # trades of unknown aggressor side (type 32)
        self.ub = 0  # trades with an unknown (negative) buyer or seller id
        self.pq = self.notional = 0.0
        self.first_buyer = self.last_buyer = -1
        self.traded: dict[int, int] = {}  # per broker: bought + sold (any trade type)
        self.net: dict[int, int] = {}  # per broker: bought - sold
        self.abuy: dict[int, int] = {}
        self.asell: dict[int, int] = {}
        self.open_ts = self.close_ts = 0
        self.duration_s = 0.0
        self.session: Session | None = None


def _std_pop(xs: list[float]) -> float:
    """Two-pass population std (constant inputs give exactly 0)."""
    m = sum(xs) / len(xs)
    return sqrt(sum([(x - m) * (x - m) for x in xs]) / len(xs))


def _range_zero(hi: float, lo: float) -> bool:
    return is_zero(hi - lo, max(abs(hi), abs(lo)))


class _Wilder:
    """EMA-style recursion seeded with the mean of the first ``n`` inputs (``alpha`` = 2/(n+1) or 1/n)."""

    __slots__ = ("alpha", "n", "seed", "value")

    def __init__(self, n: int, alpha: float) -> None:
        self.n, self.alpha = n, alpha
        self.seed: list[float] = []
        self.value = nan

    def update(self, x: float) -> float:
        if len(self.seed) < self.n:
            self.seed.append(x)
            if len(self.seed) == self.n:
                self.value = sum(self.seed) / self.n
            return self.value
        self.value = self.alpha * x + (1.0 - self.alpha) * self.value
        return self.value


def _ema(n: int) -> _Wilder:
    return _Wilder(n, 2.0 / (n + 1))


class IntSums:
    """Exact running sums (and, with ``squares``, sums of squares) of an integer series over several
    trailing windows."""

    __slots__ = ("buf", "ns", "s1", "s2", "squares")

    def __init__(self, ns: tuple[int, ...], *, squares: bool = True) -> None:
        self.ns = ns
        self.squares = squares
        self.buf: deque[int] = deque(maxlen=max(ns) + 1)
        self.s1 = dict.fromkeys(ns, 0)
        self.s2 = dict.fromkeys(ns, 0)  # stays 0 without ``squares``

    def push(self, x: int) -> None:
        buf = self.buf
        buf.append(x)
        size = len(buf)
        s1 = self.s1
        if not self.squares:
            for n in self.ns:
                s1[n] += x - buf[-n - 1] if size > n else x
            return
        s2 = self.s2
        xx = x * x
        for n in self.ns:
            if size > n:
                old = buf[-n - 1]
                s1[n] += x - old
                s2[n] += xx - old * old
            else:
                s1[n] += x
                s2[n] += xx


class WindowState:
    """Rolling and recursive state over closed bars; :meth:`update` writes the 65 values into ``out``."""

    def __init__(self, tick_size: float) -> None:
        self.tick = tick_size
        self.nbars = 0
        self.C: deque[float] = deque(maxlen=101)
        self.R: deque[float] = deque(maxlen=200)
        self.H: deque[float] = deque(maxlen=20)
        self.L: deque[float] = deque(maxlen=20)
        self.R2: deque[float] = deque(maxlen=200)
        self.V = IntSums((20, 50, 100))
        self.N = IntSums((5, 10, 20, 50), squares=False)
        self.SV = IntSums((5, 10, 20, 50))
        self.TV = IntSums((5, 10, 20, 50), squares=False)
        self.LB = IntSums((20,), squares=False)
        self.LS = IntSums((20,), squares=False)
        self.NB = IntSums((20,), squares=False)
        # trades of unknown side / broker per window: equal to the window's trades (> 0) gives NaN
        self.US = IntSums((5, 10, 20, 50), squares=False)
        self.UB = IntSums((20, 50), squares=False)
        # per-bar terms, computed once when the bar enters (sums over the window later)
        self.GK: deque[float] = deque(maxlen=20)  # ½ ln(H/L)² − (2 ln 2 − 1) ln(C/O)²
        self.PK: deque[float] = deque(maxlen=20)  # ln(H/L)²
        self.RV: deque[float] = deque(maxlen=20)  # r·V
        self.RX: deque[float] = deque(maxlen=50)  # r·(Vb − Vs)
        self.AM: deque[float] = deque(maxlen=20)  # |r| / notional, or NaN-free 0 when notional == 0
        self.AMK: deque[int] = deque(maxlen=20)  # 1 when notional > 0
        self.book = BookWindows(tick_size)
        self.c_run = self.r_run = 0  # trailing runs of valid values
        self.prev_c = nan
        self.brokers = BrokerWindows()
        # recursive indicators
        self.ema12, self.ema26, self.sig9 = _ema(12), _ema(26), _ema(9)
        self.rsi_g, self.rsi_l, self.atr = _Wilder(14, 1 / 14), _Wilder(14, 1 / 14), _Wilder(14, 1 / 14)
        # session
        self.sess_open = -1
        self.s_first = nan
        self.s_pq = 0.0
        self.s_v = 0
        self.s_sv = 0
        self.s_us = 0
        self.s_n = 0

    # ---- the update ---------------------------------------------------------------------------
    def update(self, b: BarInput, book: Sequence[float] | None, out: list[float]) -> None:
        """Push bar ``b`` (and the book at its close) into every window; write the 65 values to ``out``."""
        self.nbars += 1
        nb = self.nbars
        o, h, l, c = b.o, b.h, b.l, b.c
        prev_c = self.prev_c
        r = log(c / prev_c) if not (isnan(c) or isnan(prev_c)) else nan
        self.c_run = 0 if isnan(c) else self.c_run + 1
        self.r_run = 0 if isnan(r) else self.r_run + 1
        self.C.append(c)
        self.R.append(r)
        self.H.append(h)
        self.L.append(l)
        self.R2.append(r * r)
        self.V.push(b.v)
        self.N.push(b.n)
        sv = b.vb - b.vs
        self.SV.push(sv)
        self.TV.push(b.vb + b.vs)
        self.LB.push(b.lb)
        self.LS.push(b.ls)
        self.NB.push(b.nb)
        self.US.push(b.us)
        self.UB.push(b.ub)
        hl = log(h / l)
        co = log(c / o)
        self.GK.append(0.5 * hl * hl - _GK_K * co * co)
        self.PK.append(hl * hl)
        self.RV.append(r * b.v)
        self.RX.append(r * sv)
        pos = b.notional > 0
        self.AM.append(abs(r) / b.notional if pos else 0.0)
        self.AMK.append(1 if pos else 0)
        self.brokers.push(b)
        self.prev_c = c
        crun, rrun = self.c_run, self.r_run
        Rl = list(self.R)
        R2l = list(self.R2)
        Cl = list(self.C)

        # ---- volatility
        vols = {}
        for n in (10, 20, 50, 100, 200):
            if rrun >= n:
                w = Rl[-n:]
                vols[n] = sqrt(ret_sample_var(n, sum(w), sum(R2l[-n:])))
            else:
                vols[n] = nan
        out.extend((vols[10], vols[20], vols[50], vols[100]))
        for a, d in ((10, 20), (20, 50), (50, 100), (100, 200)):
            va, vd = vols[a], vols[d]
            out.append(nan if isnan(va) or isnan(vd) else (1.0 if vd == 0.0 else va / vd))
        Hl, Ll = list(self.H), list(self.L)
        if crun >= 20:
            out.append(sqrt(max(sum(self.GK) / 20.0, 0.0)))
            out.append(sqrt(sum(self.PK) / 20.0 * _PK_K))
        else:
            out.extend((nan, nan))

        # ---- returns
        for n in (1, 2, 5, 10, 20, 50, 100):
            out.append(log(c / Cl[-1 - n]) if crun > n else nan)
        if self.sess_open != b.session.open_ns:  # type: ignore[union-attr]
            self.sess_open = b.session.open_ns  # type: ignore[union-attr]
            self.s_first, self.s_pq, self.s_v, self.s_sv, self.s_us, self.s_n = nan, 0.0, 0, 0, 0, 0
        if b.n and isnan(self.s_first):
            self.s_first = b.o
        self.s_pq += b.pq
        self.s_v += b.v
        self.s_sv += sv
        self.s_us += b.us
        self.s_n += b.n
        if isnan(self.s_first):
            out.extend((0.0, 0.0))
        else:
            vwap = self.s_pq / self.s_v
            out.append(log(c / self.s_first))
            out.append((c - vwap) / vwap)
        if crun >= 20:
            lo, hi = min(Ll), max(Hl)
            out.append(0.5 if _range_zero(hi, lo) else (c - lo) / (hi - lo))
        else:
            out.append(nan)

        # ---- order flow (NaN over a window whose trades all have an unknown side)
        us, ns = self.US.s1, self.N.s1
        no_side = {n: ns[n] > 0 and us[n] == ns[n] for n in (5, 10, 20, 50)}
        for n in (5, 10, 20, 50):
            if nb >= n and not no_side[n]:
                den = self.TV.s1[n]
                out.append(self.SV.s1[n] / den if den else 0.0)
            else:
                out.append(nan)
        out.append(nan if b.n and b.us == b.n else float(sv))
        out.append(nan if self.s_n and self.s_us == self.s_n else float(self.s_sv))
        Vs = self.V
        if nb >= 20 and not no_side[20]:
            lb, ls = self.LB.s1[20], self.LS.s1[20]
            out.append((lb - ls) / (lb + ls) if lb + ls else 0.0)
        else:
            out.append(nan)
        if rrun >= 20:
            sv20 = Vs.s1[20]
            out.append(sum(self.RV) / sv20 if sv20 else 0.0)
        else:
            out.append(nan)

        # ---- volume
        v = b.v
        for n in (20, 50, 100):
            if nb >= n:
                s1 = Vs.s1[n]
                out.append(v / (s1 / n) if s1 else 1.0)
            else:
                out.append(nan)
        for n in (20, 50, 100):
            if nb >= n:
                var = int_sample_var(n, Vs.s1[n], Vs.s2[n])
                out.append((v - Vs.s1[n] / n) / sqrt(var) if var != 0.0 else 0.0)
            else:
                out.append(nan)
        out.append(b.n / b.duration_s if b.duration_s > 0.0 else 0.0)
        if nb >= 50:
            sn = self.N.s1[50]
            out.append(b.n / (sn / 50) if sn else 1.0)
        else:
            out.append(nan)

        # ---- technical
        if crun >= 20:
            c20 = Cl[-20:]
            sma20 = sum(c20) / 20
            out.append(sum(Cl[-5:]) / 5 / sma20 - 1.0)
            out.append(sma20 / (sum(Cl[-50:]) / 50) - 1.0 if crun >= 50 else nan)
        else:
            sma20 = nan
            out.extend((nan, nan))
        # RSI
        if not isnan(prev_c) and not isnan(c):
            dc = c - prev_c
            ag = self.rsi_g.update(dc if dc > 0 else 0.0)
            al = self.rsi_l.update(-dc if dc < 0 else 0.0)
            out.append(nan if isnan(al) else rsi_value(ag, al))
            tr = max(h - l, abs(h - prev_c), abs(l - prev_c))
            atr = self.atr.update(tr)
        else:
            out.append(nan)
            atr = nan
        # MACD
        if not isnan(c):
            e12 = self.ema12.update(c)
            e26 = self.ema26.update(c)
            if not isnan(e26):
                macd = e12 - e26
                sig = self.sig9.update(macd)
                out.append((macd - sig) / c)
            else:
                out.append(nan)
        else:
            out.append(nan)
        if crun >= 20:
            sp = _std_pop(c20)
            out.append(0.0 if is_zero(sp, sma20) else (c - sma20) / (2.0 * sp))
        else:
            out.append(nan)
        out.append(atr / c)
        if crun >= 14:
            lo, hi = min(Ll[-14:]), max(Hl[-14:])
            out.append(50.0 if _range_zero(hi, lo) else 100.0 * (c - lo) / (hi - lo))
        else:
            out.append(nan)
        if rrun >= 20:
            out.append(sum(Rl[-20:]) / 20 / vols[20] if vols[20] != 0.0 else 0.0)
        else:
            out.append(nan)

        # ---- book
        self.book.push(book, out)

        # ---- brokers: trades with an unknown id are in no dictionary; NaN when a window's trades all lack one
        brk = self.brokers
        ub = self.UB.s1
        if nb >= 50:
            known = not (ns[50] and ub[50] == ns[50])
            conc_ok = known and not no_side[50]
            out.append(conc_top5(brk.agg_abuy) if conc_ok else nan)
            out.append(conc_top5(brk.agg_asell) if conc_ok else nan)
            out.append(brk.top_net() if known else nan)
        else:
            out.extend((nan, nan, nan))
        if nb >= 20:
            ntr = ns[20]
            nk = ntr - ub[20]  # trades whose broker ids are both known
            if ntr and not nk:
                out.extend((nan, nan))
            else:
                out.append(len(brk.id_count) / nk if nk else 0.0)
                out.append(brk.switch_rate())
            nside = ntr - us[20]
            out.append(nan if no_side[20] else (self.NB.s1[20] / nside if nside else 0.5))
        else:
            out.extend((nan, nan, nan))
        if rrun >= 50 and not no_side[50]:
            sx = self.SV.s1[50]
            den = 50 * self.SV.s2[50] - sx * sx
            if den:
                out.append((50 * sum(self.RX) - sum(Rl[-50:]) * sx) / den)
            else:
                out.append(0.0)
        else:
            out.append(nan)
        if rrun >= 20:
            k = sum(self.AMK)
            out.append(sum(self.AM) / k * 1e6 if k else 0.0)
        else:
            out.append(nan)

        # ---- temporal
        s = b.session
        assert s is not None
        span = s.close_ns - s.open_ns
        prog = (b.close_ts - s.open_ns) / span
        prog = 0.0 if prog < 0.0 else (1.0 if prog > 1.0 else prog)
        out.append(prog)
        out.append(sin(2.0 * pi * prog))
        out.append(cos(2.0 * pi * prog))
        out.append(s.weekday / 4.0)
        out.append(1.0 if b.close_ts - s.open_ns <= _MIN30 else 0.0)
        out.append(1.0 if s.close_ns - b.close_ts < _MIN30 else 0.0)

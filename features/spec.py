"""The feature set ``qt65_v1``: one declarative registry of its 65 features, in the documented order.

Each :class:`FeatureSpec` names a feature, its group, its parameters, its warm-up and the bar
columns it reads. The batch (:mod:`features.batch`) and streaming (:mod:`features.streaming`)
executions both follow this registry and ``docs/features.md`` (the definition). The spec hash
(names, order, parameters and version) travels with every model; the engine refuses a model whose
hash differs from :func:`spec_hash`.

``warmup`` is the number of bars before the first non-NaN value, counting from the first bar of the
data, assuming every input is valid from the first bar on (prices are NaN before the data's first
trade and book values before its first snapshot; those bars extend the warm-up). A feature whose
``inputs`` name ``n_unknown_side`` / ``n_unknown_broker`` needs the aggressor side / the broker ids:
trades without them are left out of its statistics, and it is NaN over a window whose trades all
lack them (``docs/features.md`` 3b; ``inputs`` are not part of the hash: they describe, they do not
define).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from quantumtrader.errors import InputError

VERSION = "qt65_v1"

GROUPS = ("volatility", "returns", "order_flow", "volume", "technical", "microstructure", "temporal")


class SpecMismatchError(InputError):
    """A stored feature spec hash differs from the code's: the model or data was built for another spec."""


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the set (see ``docs/features.md`` for its formula and fallbacks)."""

    name: str
    group: str
    params: tuple[tuple[str, Any], ...]
    warmup: int
    inputs: tuple[str, ...]
    session_reset: bool
    description: str


_C = ("close",)
_HLCO = ("open", "high", "low", "close")
_FLOW = ("buy_vol", "sell_vol", "n_unknown_side")  # NaN over windows whose trades all have an unknown side
_KNOWN = ("n_unknown_broker",)  # NaN over windows whose trades all have an unknown broker id
_SIDE = ("n_unknown_side",)
_BOOK1 = ("bid_px_1", "ask_px_1", "bid_qty_1", "ask_qty_1")
_BOOK5 = tuple(f"{s}_qty_{i}" for s in ("bid", "ask") for i in range(1, 6))
_TIME = ("session_open_ts", "session_close_ts")


def _f(
    name: str,
    group: str,
    warmup: int,
    inputs: tuple[str, ...],
    description: str,
    session_reset: bool = False,
    **params: Any,
) -> FeatureSpec:
    return FeatureSpec(name, group, tuple(params.items()), warmup, inputs, session_reset, description)


def _build() -> tuple[FeatureSpec, ...]:
    s: list[FeatureSpec] = []
    # ---- volatility (10) ----
    for n in (10, 20, 50, 100):
        s.append(_f(f"vol_{n}", "volatility", n, _C, f"sample std of log returns over {n} bars", n=n))
    for a, b in ((10, 20), (20, 50), (50, 100), (100, 200)):
        s.append(_f(f"vol_ratio_{a}_{b}", "volatility", b, _C, f"vol_{a} / vol_{b} (1.0 when vol_{b} = 0)", a=a, b=b))
    s.append(_f("garman_klass_20", "volatility", 19, _HLCO, "Garman-Klass volatility over 20 bars", n=20))
    s.append(_f("parkinson_20", "volatility", 19, ("high", "low"), "Parkinson volatility over 20 bars", n=20))
    # ---- returns (10) ----
    for n in (1, 2, 5, 10, 20, 50, 100):
        s.append(_f(f"ret_{n}", "returns", n, _C, f"ln(C_b / C_(b-{n}))", n=n))
    s.append(_f("ret_session", "returns", 0, ("close", "first_price", "session"),
                "ln(C / first trade price of the session); 0 before the session's first trade", session_reset=True))
    s.append(_f("vwap_dev_session", "returns", 0, ("close", "pq_sum", "volume", "session"),
                "(C - session VWAP) / session VWAP; 0 before the session's first trade", session_reset=True))
    s.append(_f("range_pos_20", "returns", 19, ("high", "low", "close"),
                "(C - min L) / (max H - min L) over 20 (0.5 when the range is 0)", n=20))
    # ---- order flow (8) ----
    for n in (5, 10, 20, 50):
        s.append(_f(f"ofi_{n}", "order_flow", n - 1, _FLOW, f"sum(Vb - Vs) / sum(Vb + Vs) over {n} (0 when 0)", n=n))
    s.append(_f("signed_volume", "order_flow", 0, _FLOW, "Vb - Vs of the bar"))
    s.append(_f("cum_signed_volume_session", "order_flow", 0, (*_FLOW, "session"),
                "sum(Vb - Vs) since the session's open", session_reset=True))
    s.append(_f("large_trade_imbalance_20", "order_flow", 19, ("large_buy_qty", "large_sell_qty", *_SIDE),
                "(large buy qty - large sell qty) / large qty over 20 (0 when none)", n=20))
    s.append(_f("vw_return_20", "order_flow", 20, ("close", "volume"), "sum(r V) / sum(V) over 20 (0 when sum V = 0)",
                n=20))
    # ---- volume (8) ----
    for n in (20, 50, 100):
        s.append(_f(f"volume_ratio_{n}", "volume", n - 1, ("volume",), f"V / mean V over {n} (1.0 when mean 0)", n=n))
    for n in (20, 50, 100):
        s.append(_f(f"volume_z_{n}", "volume", n - 1, ("volume",), f"(V - mean V) / std V over {n} (0 when std is 0)",
                    n=n))
    s.append(_f("trade_intensity", "volume", 0, ("n_trades", "duration_s"), "N / bar duration in seconds"))
    s.append(_f("trade_intensity_ratio_50", "volume", 49, ("n_trades",), "N / mean N over 50 (1.0 when mean is 0)",
                n=50))
    # ---- technical (8) ----
    s.append(_f("ma_ratio_5_20", "technical", 19, _C, "SMA5(C) / SMA20(C) - 1", a=5, b=20))
    s.append(_f("ma_ratio_20_50", "technical", 49, _C, "SMA20(C) / SMA50(C) - 1", a=20, b=50))
    s.append(_f("rsi_14", "technical", 14, _C, "Wilder RSI(14) on C", n=14))
    s.append(_f("macd_hist", "technical", 33, _C, "(MACD(12, 26) - EMA9 signal) / C", fast=12, slow=26, signal=9))
    s.append(_f("bb_pos_20", "technical", 19, _C, "(C - SMA20) / (2 std_pop(C) over 20) (0 when std is 0)", n=20,
                k=2.0))
    s.append(_f("atr_14_rel", "technical", 14, ("high", "low", "close"), "Wilder ATR(14) / C", n=14))
    s.append(_f("stoch_k_14", "technical", 13, ("high", "low", "close"),
                "100 (C - min L) / (max H - min L) over 14 (50 when the range is 0)", n=14))
    s.append(_f("sharpe_20", "technical", 20, _C, "mean r / std r over 20 (0 when std is 0)", n=20))
    # ---- microstructure, book and brokers (15) ----
    s.append(_f("spread_ticks", "microstructure", 0, ("bid_px_1", "ask_px_1"), "(ask1 - bid1) / tick size"))
    s.append(_f("spread_mean_20", "microstructure", 19, ("bid_px_1", "ask_px_1"), "mean spread_ticks over 20", n=20))
    s.append(_f("microprice_dev", "microstructure", 0, _BOOK1, "(microprice - mid) / tick size"))
    s.append(_f("book_imb_l1", "microstructure", 0, ("bid_qty_1", "ask_qty_1"), "(bidq1 - askq1) / (bidq1 + askq1)"))
    s.append(_f("book_imb_l5", "microstructure", 0, _BOOK5, "book imbalance with qty summed over 5 levels", levels=5))
    s.append(_f("depth_ratio_5", "microstructure", 0, _BOOK5, "ln(sum bid qty / sum ask qty) over 5 levels", levels=5))
    s.append(_f("book_imb_l5_chg_10", "microstructure", 10, _BOOK5, "book_imb_l5 minus its value 10 bars ago",
                levels=5, n=10))
    s.append(_f("buyer_conc_50", "microstructure", 49, ("broker_ids", "broker_aggr_buy", *_KNOWN, *_SIDE),
                "share of aggressive-buy volume over 50 by the top 5 buyers", n=50, top=5))
    s.append(_f("seller_conc_50", "microstructure", 49, ("broker_ids", "broker_aggr_sell", *_KNOWN, *_SIDE),
                "share of aggressive-sell volume over 50 by the top 5 sellers", n=50, top=5))
    s.append(_f("top_broker_net_50", "microstructure", 49,
                ("broker_ids", "broker_bought", "broker_sold", "volume", *_KNOWN),
                "net volume of the most active broker over 50 / volume over 50", n=50))
    s.append(_f("broker_turnover_20", "microstructure", 19, ("broker_ids", "n_trades", *_KNOWN),
                "distinct brokers / trades over 20", n=20))
    s.append(_f("buyer_switch_rate_20", "microstructure", 19,
                ("buyer_switches", "first_buyer", "last_buyer", "n_trades", *_KNOWN),
                "share of consecutive trades over 20 whose buyer changes", n=20))
    s.append(_f("aggr_buy_ratio_20", "microstructure", 19, ("n_buy_trades", "n_trades", *_SIDE),
                "aggressive-buy trades / trades over 20 (0.5 when none)", n=20))
    s.append(_f("kyle_lambda_50", "microstructure", 50, ("close", *_FLOW), "OLS slope of r on (Vb - Vs) over 50", n=50))
    s.append(_f("amihud_20", "microstructure", 20, ("close", "notional"),
                "mean |r| / notional x 1e6 over bars of 20 with notional > 0", n=20, scale=1e6))
    # ---- temporal (6) ----
    s.append(_f("session_progress", "temporal", 0, _TIME, "(close - session open) / session length in [0, 1]"))
    s.append(_f("tod_sin", "temporal", 0, _TIME, "sin(2 pi session_progress)"))
    s.append(_f("tod_cos", "temporal", 0, _TIME, "cos(2 pi session_progress)"))
    s.append(_f("day_of_week", "temporal", 0, (), "weekday of the close in America/Sao_Paulo / 4"))
    s.append(_f("is_opening_30", "temporal", 0, _TIME, "1 when close - session open <= 30 min", minutes=30))
    s.append(_f("is_closing_30", "temporal", 0, _TIME, "1 when session close - close < 30 min", minutes=30))
    return tuple(s)


SPEC: tuple[FeatureSpec, ...] = _build()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in SPEC)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
MAX_WARMUP: int = max(f.warmup for f in SPEC)
"""Bars before the slowest feature has a value (``vol_ratio_100_200``: 200): what a warm start must cover."""


def spec_payload() -> dict[str, Any]:
    """The canonical content hashed by :func:`spec_hash`: version, then each feature's name and params."""
    return {
        "version": VERSION,
        "features": [{"name": f.name, "params": [[k, v] for k, v in f.params]} for f in SPEC],
    }


def spec_hash() -> str:
    """SHA-256 (hex) of the set's version, feature names, their order and their parameters."""
    blob = json.dumps(spec_payload(), sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def check_spec_hash(h: str, *, what: str = "stored features") -> None:
    """Raise :class:`SpecMismatchError` when ``h`` is not this code's :func:`spec_hash`."""
    mine = spec_hash()
    if h != mine:
        raise SpecMismatchError(
            f"{what} were built with feature spec hash {h!r}, but this code computes {VERSION} with hash "
            f"{mine!r}: rebuild the features (or retrain the model) with this code"
        )

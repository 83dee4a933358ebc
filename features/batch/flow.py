"""Batch features from volumes and counts: order flow (21-28) and volume (29-36). Integer sums are exact."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.batch.inputs import BarArrays
from features.batch.windows import full, nan_free, none_known, rolling_sum, rolling_sum_int
from features.numerics import int_sample_var_v


def _ratio_int(num: np.ndarray, den: np.ndarray, fallback: float, ok: np.ndarray) -> np.ndarray:
    """num / den for exact integer sums; ``fallback`` when den == 0; NaN where not ``ok``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        val = num.astype(np.float64) / den.astype(np.float64)
    return np.where(ok, np.where(den == 0, fallback, val), np.nan)


def order_flow(a: BarArrays, r: np.ndarray) -> dict[str, np.ndarray]:
    """Features 21-28. A trade of unknown side counts in neither Vb nor Vs (like a cross); a window whose
    trades all have an unknown side gives NaN in the features that read the side (``docs/features.md`` 3b)."""
    vb, vs = a.i["buy_vol"], a.i["sell_vol"]
    unknown, n_tr = a.i["n_unknown_side"], a.i["n_trades"]
    signed = vb - vs
    gross = vb + vs
    out: dict[str, np.ndarray] = {}
    for n in (5, 10, 20, 50):
        ok = full(a.size, n) & ~none_known(unknown, n_tr, n)
        out[f"ofi_{n}"] = _ratio_int(rolling_sum_int(signed, n), rolling_sum_int(gross, n), 0.0, ok)
    out["signed_volume"] = np.where((n_tr > 0) & (unknown == n_tr), np.nan, signed.astype(np.float64))
    by_session = pd.DataFrame({"sv": signed, "us": unknown, "n": n_tr}).groupby(a.session_id).cumsum()
    s_n = by_session["n"].to_numpy()
    out["cum_signed_volume_session"] = np.where((s_n > 0) & (by_session["us"].to_numpy() == s_n), np.nan,
                                                by_session["sv"].to_numpy(np.float64))
    lb, ls = a.i["large_buy_qty"], a.i["large_sell_qty"]
    ok20 = full(a.size, 20) & ~none_known(unknown, n_tr, 20)
    out["large_trade_imbalance_20"] = _ratio_int(rolling_sum_int(lb - ls, 20), rolling_sum_int(lb + ls, 20), 0.0,
                                                 ok20)
    v = a.i["volume"]
    rv = rolling_sum(np.where(np.isnan(r), 0.0, r) * v, 20)
    sv = rolling_sum_int(v, 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        vw = np.where(sv == 0, 0.0, rv / sv)
    out["vw_return_20"] = np.where(nan_free(r, 20), vw, np.nan)
    return out


def volume(a: BarArrays) -> dict[str, np.ndarray]:
    v, n_tr = a.i["volume"], a.i["n_trades"]
    vf = v.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    sums = {n: rolling_sum_int(v, n) for n in (20, 50, 100)}
    for n in (20, 50, 100):
        with np.errstate(divide="ignore", invalid="ignore"):
            val = vf / (sums[n] / n)
        out[f"volume_ratio_{n}"] = np.where(full(a.size, n), np.where(sums[n] == 0, 1.0, val), np.nan)
    for n in (20, 50, 100):
        var = int_sample_var_v(n, sums[n], rolling_sum_int(v * v, n))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (vf - sums[n] / n) / np.sqrt(var)
        out[f"volume_z_{n}"] = np.where(full(a.size, n), np.where(var == 0.0, 0.0, z), np.nan)
    dur = a.f["duration_s"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["trade_intensity"] = np.where(dur > 0, n_tr / np.where(dur > 0, dur, 1.0), 0.0)
        sn = rolling_sum_int(n_tr, 50)
        ratio = n_tr / (sn / 50)
    out["trade_intensity_ratio_50"] = np.where(full(a.size, 50), np.where(sn == 0, 1.0, ratio), np.nan)
    return out

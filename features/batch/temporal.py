"""Batch temporal features (60-65) from the bar's close and its session bounds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from features.batch.inputs import BarArrays

THIRTY_MIN_NS = 30 * 60 * 1_000_000_000


def temporal(a: BarArrays, timezone: str) -> dict[str, np.ndarray]:
    since_open = a.close_ns - a.session_open_ns
    length = a.session_close_ns - a.session_open_ns
    with np.errstate(divide="ignore", invalid="ignore"):
        progress = np.clip(since_open / length, 0.0, 1.0)
    local = pd.DatetimeIndex(a.close_ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(timezone)
    return {
        "session_progress": progress,
        "tod_sin": np.sin(2.0 * math.pi * progress),
        "tod_cos": np.cos(2.0 * math.pi * progress),
        "day_of_week": local.dayofweek.to_numpy(np.float64) / 4.0,
        "is_opening_30": (since_open <= THIRTY_MIN_NS).astype(np.float64),
        "is_closing_30": ((a.session_close_ns - a.close_ns) < THIRTY_MIN_NS).astype(np.float64),
    }

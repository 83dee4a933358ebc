"""Appending a file's trades to a day the lake already holds, and the crash-safety test hook.

Merge rule (``qtml ingest`` without ``--replace``): the lake's good trades of the day, then the
file's rows that are not already there, stably sorted by ``ts`` and gated again as one day. A file
row is a *duplicate*, and dropped, when

- its trade id is valid (>= 0) and a stored good trade of the day has that id (the stored copy is
  kept: first wins), or
- it equals, in every ``TRADE_SCHEMA`` column, a stored good or quarantined row of the day. This is
  how rows without a usable trade id (the loaders' ``-1``) and bad rows are recognised: re-ingesting
  a file quarantines nothing twice.

Repeats *inside* one file are not dropped here: the gate quarantines them (``unique_trade_id``).
The day's earlier quarantine is carried over unchanged, so no bad row is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from market.schemas import TRADE_SCHEMA
from quantumtrader import testhooks

# Test hook of the crash-safety test (tests/reliability/test_ingest_crash.py): when this variable
# names a point ("after_mark", "after_trades", "after_bars"), the ingest prints "ingest paused at
# <point>" on stderr there and sleeps, so the test can SIGKILL it at exactly that point.
PAUSE_ENV = "QT_INGEST_TEST_PAUSE"


def pause_point(point: str) -> None:
    """Sleep at ``point`` when :data:`PAUSE_ENV` asks for it (``quantumtrader.testhooks``)."""
    testhooks.pause_point(PAUSE_ENV, point, "ingest")


@dataclass(frozen=True)
class Appended:
    """What appending one file to one day did: rows new to the lake and rows dropped as duplicates."""

    new: int
    duplicates: int
    merged: bool  # False when the day was empty (or replaced): the file's rows are the day


def _row_hashes(df: pd.DataFrame) -> np.ndarray:
    cols = [c for c in TRADE_SCHEMA if c in df.columns]
    return pd.util.hash_pandas_object(df[cols], index=False).to_numpy()


def new_rows(frame: pd.DataFrame, stored: pd.DataFrame | None,
             quarantined: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """The rows of ``frame`` not already in the day (see the module docstring), and how many were dropped."""
    dup = np.zeros(len(frame), dtype=bool)
    known: list[np.ndarray] = []
    if stored is not None and len(stored):
        ids = frame["trade_id"].to_numpy()
        dup |= (ids >= 0) & np.isin(ids, stored["trade_id"].to_numpy())
        known.append(_row_hashes(stored))
    if quarantined is not None and len(quarantined):
        known.append(_row_hashes(quarantined))
    if known and len(frame):
        dup |= np.isin(_row_hashes(frame), np.concatenate(known))
    n_dup = int(dup.sum())
    return (frame[~dup] if n_dup else frame), n_dup


def merge_day(stored: pd.DataFrame | None, fresh: pd.DataFrame) -> pd.DataFrame:
    """Stored good trades then the fresh rows, stably sorted by time (rows without a time last)."""
    if stored is None or not len(stored):
        return fresh
    if not len(fresh):
        return stored.reset_index(drop=True)
    both = pd.concat([stored, fresh], ignore_index=True)
    return both.sort_values("ts", kind="stable", na_position="last").reset_index(drop=True)

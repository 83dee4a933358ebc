"""Validation gates: derived check columns, quarantine and the bad-share threshold for one day.

A gate runs a Great Expectations suite (``expectations/<suite>.json``) on one session day of one
dataset. Rows that fail go to ``quarantine/<dataset>/symbol=S/date=D/part-0.parquet`` with their
original columns plus ``rule`` (failed rule names joined with ``;``) and ``reason``. When the bad
share of the day crosses ``max_bad_share`` nothing but the quarantine and the validation result is
written; otherwise the good rows atomically replace the day and the result is stored beside them as
``_validation.json``. Table-level failures (missing columns, wrong types) raise :class:`SchemaError`.

The ``*_checks`` functions are pure: they add the derived columns the suites read (GE evaluates
row-wise conditions; ordering within the session, repeats and session hours need a little context).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from market.calendar import is_trading_day, session_bounds
from market.instruments import get_instrument
from market.lake import VALIDATION, Lake
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY
from quantumtrader.errors import SchemaError

if TYPE_CHECKING:
    from expectations.runner import SuiteResult
from quantumtrader.logging import get_logger

log = get_logger("market.gates")


# ---- derived columns (pure) ---------------------------------------------------------------------
def _ts_regress_ms(ts: pd.Series, reference: np.ndarray | None = None) -> np.ndarray:
    """How far (ms) each timestamp lies behind the latest earlier one; > 0 means out of order.

    Only rows where ``reference`` is True set the pace (rows outside the session, which fail their
    own rule, must not make every later row look out of order). A late row is flagged alone; a row
    that jumps ahead inside the session flags the rows after it until time catches up.
    """
    ns = ts.astype("int64").to_numpy().astype("float64")
    ns[ts.isna().to_numpy()] = np.nan
    pace = ns if reference is None else np.where(reference, ns, np.nan)
    prev_max = pd.Series(pace).cummax().shift(1).ffill().to_numpy()
    return (prev_max - ns) / 1e6


def _fin_volume_rel_error(df: pd.DataFrame, symbol: str) -> np.ndarray:
    """|fin_volume - price * qty * point value| / (price * qty * point value).

    NaN where the expected value cannot be computed (price or qty invalid: their own rules reject the
    row) or fin_volume is NaN (rejected by ``fin_volume_positive_finite``).
    """
    price = df["price"].to_numpy(dtype="float64")
    qty = df["qty"].to_numpy(dtype="float64")
    expected = price * qty * get_instrument(symbol).point_value
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(df["fin_volume"].to_numpy(dtype="float64") - expected) / expected
    return np.where(np.isfinite(expected) & (expected > 0), rel, np.nan)


def _symbol_mismatch(symbols: pd.Series, symbol: str) -> np.ndarray:
    """1 where the row's symbol is not ``symbol`` (case and surrounding spaces ignored; missing = 1).

    Only the distinct values are compared (a day holds one or a few tickers)."""
    wanted = symbol.strip().upper()
    codes, uniques = pd.factorize(symbols, use_na_sentinel=True)
    ok = np.array([isinstance(u, str) and u.strip().upper() == wanted for u in uniques] + [False])
    return (~ok[codes]).astype("int8")  # code -1 (missing) picks the trailing False


def trades_checks(df: pd.DataFrame, day: date, symbol: str) -> pd.DataFrame:
    """Trades plus the derived columns of the trades suite.

    - ``trading_day``: 1 when ``day`` is a session of the instrument's exchange calendar, else 0 (every
      row of a weekend, holiday or future day fails ``not_trading_day``);
    - ``session_position``: 0 at the open, 1 at the close of that day's hours (NaN on a non-trading
      day, so such rows fail only ``not_trading_day``);
    - ``ts_regress_ms``: see :func:`_ts_regress_ms`;
    - ``trade_id_repeat``: 1 when a valid (>= 0) trade id appeared earlier in the session (the first
      copy is kept; the loaders' ``-1`` sentinel is rejected by ``trade_id_valid`` instead);
    - ``symbol_mismatch``: 1 when the row's symbol is not the ingested ``symbol`` (case-insensitive);
    - ``fin_volume_rel_error``: see :func:`_fin_volume_rel_error`.
    """
    return trades_checks_days([df], [day], symbol)


def trades_checks_days(frames: list[pd.DataFrame], days: list[date], symbol: str) -> pd.DataFrame:
    """:func:`trades_checks` of several days at once, stacked in order (the same values as stacking
    each day's checks: the per-day context, i.e. bounds, ordering and repeats, is kept per day).

    Whole-column numpy passes over the batch instead of a dozen pandas calls per day: the per-call
    overhead, not the rows, was the cost of checking many small days.
    """
    out = frames[0].reset_index(drop=True) if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    bounds = [session_bounds(d, symbol) for d in days]
    trading = np.array([is_trading_day(d, symbol) for d in days], dtype=bool)
    open_ns = np.repeat(np.array([o.value for o, _ in bounds], dtype=np.int64), lengths)
    span = np.repeat(np.array([float((c - o).value) for o, c in bounds]), lengths)
    ts = out["ts"]
    nat = ts.isna().to_numpy()
    ns = ts.array.asi8 if isinstance(ts.dtype, pd.DatetimeTZDtype) else ts.astype("int64").to_numpy()
    with np.errstate(invalid="ignore"):
        position = (ns - open_ns) / 1e9 * 1e9 / span  # as (ts - open).total_seconds() * 1e9 / span
    position[nat | np.repeat(~trading, lengths)] = np.nan
    out["trading_day"] = np.repeat(trading.astype("int8"), lengths)
    out["session_position"] = position
    stamps = ns.astype("float64")
    stamps[nat] = np.nan
    with np.errstate(invalid="ignore"):
        pace = np.where((position >= 0) & (position <= 1), stamps, np.nan)
    regress = np.empty(len(out))
    ids = out["trade_id"].to_numpy()
    repeat = np.zeros(len(out), dtype=bool)
    start = 0
    for n in lengths.tolist():
        stop = start + n
        if n:
            # latest earlier in-session time: a NaN-skipping running max, shifted by one row
            prev_max = np.empty(n)
            prev_max[0] = np.nan
            prev_max[1:] = np.fmax.accumulate(pace[start:stop - 1])
            regress[start:stop] = (prev_max - stamps[start:stop]) / 1e6
            repeat[start:stop] = pd.Series(ids[start:stop]).duplicated(keep="first").to_numpy()
        start = stop
    out["ts_regress_ms"] = regress
    out["trade_id_repeat"] = (repeat & (ids >= 0)).astype("int8")
    out["symbol_mismatch"] = _symbol_mismatch(out["symbol"], symbol)
    out["fin_volume_rel_error"] = _fin_volume_rel_error(out, symbol)
    return out


def book_checks(df: pd.DataFrame, day: date, symbol: str) -> pd.DataFrame:
    """Book snapshots plus ``min_level_qty``, ``bid_order_breaks`` / ``ask_order_breaks`` (count of
    adjacent levels out of order, missing levels ignored) and ``ts_regress_ms``."""
    out = df.reset_index(drop=True)
    out["min_level_qty"] = out[BID_QTY + ASK_QTY].min(axis=1)
    bids = out[BID_PX].to_numpy(dtype="float64")
    asks = out[ASK_PX].to_numpy(dtype="float64")
    out["bid_order_breaks"] = (bids[:, :-1] <= bids[:, 1:]).sum(axis=1).astype("int8")
    out["ask_order_breaks"] = (asks[:, :-1] >= asks[:, 1:]).sum(axis=1).astype("int8")
    out["ts_regress_ms"] = _ts_regress_ms(out["ts"])
    return out


def bars_checks(df: pd.DataFrame, day: date, symbol: str) -> pd.DataFrame:
    """Bars with the ``close_ts`` index as a column plus ``ohlc_breaks`` (how many of high >= open,
    close, low and low <= open, close fail; NaN prices ignored) and ``aggressor_excess``
    (buy_vol + sell_vol - volume, > 0 is wrong)."""
    # only the checked columns, selected before the index becomes a column (the broker list columns
    # are slow to copy and make GE's fingerprint slow)
    if "close_ts" in df.columns:
        out = df[[c for c in BAR_CHECK_COLUMNS if c in df.columns]].reset_index(drop=True)
    else:
        out = df[[c for c in BAR_CHECK_COLUMNS if c in df.columns]].reset_index()
        out = out[[c for c in BAR_CHECK_COLUMNS if c in out.columns]]
    o, h, lo, c = (out[k].to_numpy(dtype="float64") for k in ("open", "high", "low", "close"))
    breaks = (h < o).astype("int8") + (h < c) + (h < lo) + (lo > o) + (lo > c)
    out["ohlc_breaks"] = breaks.astype("int8")
    out["aggressor_excess"] = out["buy_vol"] + out["sell_vol"] - out["volume"]
    return out


BAR_CHECK_COLUMNS = ["close_ts", "open", "high", "low", "close", "volume", "n_trades", "buy_vol", "sell_vol"]
CHECKS = {"trades": trades_checks, "book": book_checks, "bars": bars_checks}


# ---- the gate -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateOutcome:
    """What the gate did with one day of one dataset."""

    dataset: str
    symbol: str
    day: date
    rows: int
    bad_rows: int
    max_bad_share: float
    passed: bool
    rule_counts: dict[str, int] = field(default_factory=dict)
    data_path: Path | None = None
    result_path: Path | None = None
    quarantine_path: Path | None = None
    # every row of the day failed ``not_trading_day``: stray prints of no session. Such a day is not
    # rejected on its own (its bad share is 100 % by definition); the run's share of them is checked.
    stray_day: bool = False

    @property
    def bad_share(self) -> float:
        return self.bad_rows / self.rows if self.rows else 0.0

    @property
    def written_rows(self) -> int:
        return self.rows - self.bad_rows if self.passed else 0

    def failure_message(self) -> str:
        top = ", ".join(f"{rule} ({n})" for rule, n in list(self.rule_counts.items())[:3])
        return (
            f"{self.dataset} {self.symbol} {self.day}: {self.bad_rows} of {self.rows} rows "
            f"({self.bad_share:.2%}) failed validation, above max_bad_share {self.max_bad_share:.2%}; "
            f"top rules: {top}; quarantine: {self.quarantine_path}"
        )


def quarantine_dataset(dataset: str) -> str:
    return f"quarantine/{dataset}"


def suite_of(dataset: str) -> str:
    """``bars/time_60s`` -> ``bars``."""
    return dataset.split("/", 1)[0]


@dataclass
class DayBatchItem:
    """One day handed to :func:`gate_days`: its rows and the rows already quarantined for it."""

    day: date
    frame: pd.DataFrame
    prior_quarantine: pd.DataFrame | None = None


def gate_day(
    lake: Lake,
    dataset: str,
    symbol: str,
    day: date,
    frame: pd.DataFrame,
    *,
    max_bad_share: float,
    prior_quarantine: pd.DataFrame | None = None,
    index: bool = False,
    source: str | None = None,
) -> tuple[GateOutcome, pd.DataFrame]:
    """Validate one day, quarantine failing rows, and write the day when the bad share allows it.

    ``prior_quarantine`` holds rows of the same day already quarantined (a day that reappears or is
    appended to): they count in the bad share and stay in the quarantine file. Returns the outcome
    and the good rows (empty when the day failed the threshold).
    """
    return gate_days(lake, dataset, symbol, [DayBatchItem(day, frame, prior_quarantine)],
                     max_bad_share=max_bad_share, index=index, source=source)[0]


def gate_days(
    lake: Lake,
    dataset: str,
    symbol: str,
    items: list[DayBatchItem],
    *,
    max_bad_share: float,
    index: bool = False,
    source: str | None = None,
    before_write: Callable[[date], None] | None = None,
) -> list[tuple[GateOutcome, pd.DataFrame]]:
    """:func:`gate_day` for several days with ONE Great Expectations validation.

    The derived check columns are computed per day (session bounds, ordering and repeats are per
    day), the days are stacked and validated together, and the result is split back per day
    (:meth:`SuiteResult.rows_slice`): the per-validation fixed cost of GE is paid once per batch.
    ``before_write(day)`` runs before anything of that day is written (the ingest marks the day
    incomplete there). Quarantine is written before the data so that a crash never loses a bad row.
    """
    from expectations.runner import run_suite, wait_for_warm_up

    suite = suite_of(dataset)
    if not items:
        return []
    wait_for_warm_up()  # the checks need the exchange calendar the warm-up builds
    if suite == "trades":
        stacked = trades_checks_days([i.frame for i in items], [i.day for i in items], symbol)
        # only present (its rule reads symbol_mismatch): GE copies the frame per expectation, and a
        # column of Python strings was a third of the suite's cost
        stacked["symbol"] = pd.Categorical(stacked["symbol"])
    else:
        checked = [CHECKS[suite](item.frame, item.day, symbol) for item in items]
        stacked = checked[0] if len(checked) == 1 else pd.concat(checked, ignore_index=True)
        del checked
    batch = run_suite(suite, stacked)
    del stacked
    if batch.table_failures:
        days = ", ".join(str(i.day) for i in items)
        raise SchemaError(f"{dataset} {symbol} {days}: {batch.table_failure_message()}")
    plans = []
    offset = 0
    for item in items:
        n = len(item.frame)
        result = batch if len(items) == 1 else batch.rows_slice(offset, offset + n)
        offset += n
        plans.append(_plan_day(lake, dataset, symbol, item, result, max_bad_share=max_bad_share, index=index,
                               source=source, batch_days=len(items)))
    del batch
    if before_write is not None:
        for item in items:
            before_write(item.day)
    _commit(lake, symbol, plans)
    return [(p.outcome, p.good) for p in plans]


@dataclass
class _DayPlan:
    """What the gate writes for one day, in order: ``("parquet", dataset, frame, index)``,
    ``("delete", dataset)``, ``("unlink", path)`` or ``("json", dataset, payload)``."""

    outcome: GateOutcome
    good: pd.DataFrame
    ops: list[tuple[Any, ...]]


def _commit(lake: Lake, symbol: str, plans: list[_DayPlan]) -> None:
    """Write the Parquet files of every planned day at once (temporary names, fsynced together), then
    make each day's files visible in its planned order (quarantine before data, result last)."""
    files = [(op[1], symbol, p.outcome.day, op[2], op[3]) for p in plans for op in p.ops if op[0] == "parquet"]
    staged = lake.stage_days(files) if files else []
    try:
        it = iter(staged)
        for p in plans:
            day = p.outcome.day
            for op in p.ops:
                if op[0] == "parquet":
                    next(it).commit()
                elif op[0] == "delete":
                    lake.delete_day(op[1], symbol, day)
                elif op[0] == "unlink":
                    op[1].unlink(missing_ok=True)
                else:
                    lake.write_json(op[1], symbol, day, VALIDATION, op[2])
            _log_outcome(p.outcome)
    finally:
        for st in staged:
            st.discard()


def _log_outcome(o: GateOutcome) -> None:
    level = log.error if not o.passed else (log.warning if o.bad_rows else log.debug)
    level(
        "prints on a non-trading day quarantined" if o.stray_day else "day validated" if o.passed else "day rejected",
        data={"dataset": o.dataset, "symbol": o.symbol, "day": o.day.isoformat(), "rows": o.rows,
              "bad_rows": o.bad_rows, "bad_share": round(o.bad_share, 6), "rules": o.rule_counts},
    )


def _plan_day(
    lake: Lake, dataset: str, symbol: str, item: DayBatchItem, result: SuiteResult, *, max_bad_share: float,
    index: bool, source: str | None, batch_days: int,
) -> _DayPlan:
    """Quarantine, threshold and the writes of one day given its (sliced) suite result."""
    day, frame, prior_quarantine = item.day, item.frame, item.prior_quarantine

    positions = result.row_rules.index.to_numpy()
    bad = np.zeros(len(frame), dtype=bool)
    bad[positions] = True
    quarantine = frame.iloc[positions]
    quarantine = quarantine.reset_index() if index else quarantine.reset_index(drop=True)
    quarantine["rule"] = pd.Categorical(result.row_rules.to_numpy())  # stored as plain text (market.lake)
    quarantine["reason"] = pd.Categorical(result.row_reasons.to_numpy())
    rule_counts = result.rule_counts()
    if prior_quarantine is not None and len(prior_quarantine):
        quarantine = pd.concat([prior_quarantine, quarantine], ignore_index=True)
        for rules, n in prior_quarantine["rule"].astype(str).value_counts().items():
            for rule in str(rules).split(";"):
                rule_counts[rule] = rule_counts.get(rule, 0) + int(n)
        rule_counts = dict(sorted(rule_counts.items(), key=lambda kv: (-kv[1], kv[0])))

    total = len(frame) + (0 if prior_quarantine is None else len(prior_quarantine))
    n_bad = len(quarantine)
    share = n_bad / total if total else 0.0
    stray_day = (n_bad > 0 and n_bad == total and rule_counts.get("not_trading_day", 0) == n_bad
                 and not rule_counts.get("ts_not_null"))  # rows without a time are no stray prints
    passed = share <= max_bad_share or stray_day

    q_name = quarantine_dataset(dataset)
    q_path: Path | None = None
    ops: list[tuple[Any, ...]] = []
    if n_bad:
        q_path = lake.day_path(q_name, symbol, day)
        ops.append(("parquet", q_name, quarantine.reset_index(drop=True), False))
    else:
        ops.append(("delete", q_name))  # a clean re-ingest clears an old quarantine
        ops.append(("unlink", lake.day_dir(q_name, symbol, day) / VALIDATION))

    payload: dict[str, Any] = {
        **result.to_dict(),
        "dataset": dataset,
        "symbol": symbol,
        "day": day.isoformat(),
        "source": source,
        "rows": total,
        "bad_rows": n_bad,
        "bad_share": share,
        "max_bad_share": max_bad_share,
        "passed": passed,
        "rule_counts": rule_counts,
        "quarantine": str(q_path) if q_path else None,
        "validated_with_days": batch_days,
    }
    good = frame.iloc[~bad] if n_bad else frame
    data_path: Path | None = None
    if passed and len(good):  # a day with no good row (e.g. a holiday's stray prints) is no session
        data_path = lake.day_path(dataset, symbol, day)
        ops.append(("parquet", dataset, good, index))
        result_path = lake.day_dir(dataset, symbol, day) / VALIDATION
        ops.append(("json", dataset, payload))
        if n_bad:
            ops.append(("json", q_name, payload))
    else:
        result_path = lake.day_dir(q_name, symbol, day) / VALIDATION
        ops.append(("json", q_name, payload))
        good = frame.iloc[:0]
    outcome = GateOutcome(
        dataset=dataset,
        symbol=symbol,
        day=day,
        rows=total,
        bad_rows=n_bad,
        max_bad_share=max_bad_share,
        passed=passed,
        rule_counts=rule_counts,
        data_path=data_path,
        result_path=result_path,
        quarantine_path=q_path,
        stray_day=stray_day,
    )
    return _DayPlan(outcome, good, ops)

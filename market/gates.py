"""Validation gates: derived check columns, quarantine and the bad-share threshold for one day.

A gate runs a Great Expectations suite (``expectations/<suite>.json``) on one session day of one
dataset. Rows that fail go to ``quarantine/<dataset>/symbol=S/date=D/part-0.parquet`` with their
original columns plus ``rule`` (failed rule names joined with ``;``) and ``reason``. When the bad
share of the day crosses ``max_bad_share`` nothing but the quarantine and the validation result is
written; otherwise the good rows atomically replace the day and the result is stored beside them as
``_validation.json``. Table-level failures (missing columns, wrong types) raise :class:`SchemaError`.

The derived columns the suites read are added by the pure ``*_checks`` functions of
:mod:`market.checks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from market.checks import CHECKS, trades_checks_days
from market.lake import VALIDATION, Lake
from quantumtrader.errors import SchemaError

if TYPE_CHECKING:
    from expectations.runner import SuiteResult
from quantumtrader.logging import get_logger

log = get_logger("market.gates")


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
    """:func:`gate_day` for several days with ONE Great Expectations validation: :func:`plan_days`
    then :func:`commit_days`. ``before_write(day)`` runs before anything of that day is written (the
    ingest marks the day incomplete there)."""
    plans = plan_days(lake, dataset, symbol, items, max_bad_share=max_bad_share, index=index, source=source)
    commit_days(lake, symbol, plans, before_write=before_write)
    return [(p.outcome, p.good) for p in plans]


def plan_days(
    lake: Lake,
    dataset: str,
    symbol: str,
    items: list[DayBatchItem],
    *,
    max_bad_share: float,
    index: bool = False,
    source: str | None = None,
) -> list[DayPlan]:
    """Validate several days with ONE Great Expectations run and plan what each day writes (nothing
    is written yet: see :func:`commit_days`).

    The derived check columns are computed per day (session bounds, ordering and repeats are per
    day), the days are stacked and validated together, and the result is split back per day
    (:meth:`SuiteResult.rows_slice`): the per-validation fixed cost of GE is paid once per batch.
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
    # one block per dtype: GE deep-copies its domain frame per expectation, and each copy of a frame
    # built column by column merged its blocks again (a quarter of the trades suite's time)
    stacked = stacked.copy()
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
    return plans


def commit_days(lake: Lake, symbol: str, plans: list[DayPlan],
                before_write: Callable[[date], None] | None = None) -> None:
    """Write what :func:`plan_days` planned. Quarantine is written before the data so that a crash
    never loses a bad row; the validation result comes last."""
    if before_write is not None:
        for p in plans:
            before_write(p.outcome.day)
    _commit(lake, symbol, plans)


@dataclass
class DayPlan:
    """What the gate writes for one day, in order: ``("parquet", dataset, frame, index)``,
    ``("delete", dataset)``, ``("unlink", path)`` or ``("json", dataset, payload)``."""

    outcome: GateOutcome
    good: pd.DataFrame
    ops: list[tuple[Any, ...]]


def _commit(lake: Lake, symbol: str, plans: list[DayPlan]) -> None:
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


def _mask(n: int, result: SuiteResult) -> np.ndarray:
    bad = np.zeros(n, dtype=bool)
    bad[result.row_rules.index.to_numpy()] = True
    return bad


def _plan_day(
    lake: Lake, dataset: str, symbol: str, item: DayBatchItem, result: SuiteResult, *, max_bad_share: float,
    index: bool, source: str | None, batch_days: int,
) -> DayPlan:
    """Quarantine, threshold and the writes of one day given its (sliced) suite result."""
    day, frame, prior_quarantine = item.day, item.frame, item.prior_quarantine

    n_new = result.n_bad_rows
    quarantine: pd.DataFrame | None = None
    rule_counts: dict[str, int] = {}
    if n_new:  # one take of the bad rows; rules and reasons are categoricals of a few distinct texts
        positions = result.row_rules.index.to_numpy()
        quarantine = frame.take(positions)
        if index:
            quarantine = quarantine.reset_index()
        else:
            quarantine.index = pd.RangeIndex(n_new)
        # categoricals (from SuiteResult), stored as plain text (market.lake)
        quarantine["rule"] = pd.Categorical(result.row_rules.array).remove_unused_categories()
        quarantine["reason"] = pd.Categorical(result.row_reasons.array).remove_unused_categories()
        rule_counts = result.rule_counts()
    if prior_quarantine is not None and len(prior_quarantine):
        quarantine = prior_quarantine if quarantine is None else pd.concat([prior_quarantine, quarantine],
                                                                           ignore_index=True)
        for rules, n in prior_quarantine["rule"].astype(str).value_counts().items():
            for rule in str(rules).split(";"):
                rule_counts[rule] = rule_counts.get(rule, 0) + int(n)
        rule_counts = dict(sorted(rule_counts.items(), key=lambda kv: (-kv[1], kv[0])))

    total = len(frame) + (0 if prior_quarantine is None else len(prior_quarantine))
    n_bad = 0 if quarantine is None else len(quarantine)
    share = n_bad / total if total else 0.0
    stray_day = (n_bad > 0 and n_bad == total and rule_counts.get("not_trading_day", 0) == n_bad
                 and not rule_counts.get("ts_not_null"))  # rows without a time are no stray prints
    passed = share <= max_bad_share or stray_day

    q_name = quarantine_dataset(dataset)
    q_path: Path | None = None
    ops: list[tuple[Any, ...]] = []
    if quarantine is not None and n_bad:
        q_path = lake.day_path(q_name, symbol, day)
        if not isinstance(quarantine.index, pd.RangeIndex) or quarantine.index.start != 0:
            quarantine = quarantine.reset_index(drop=True)
        ops.append(("parquet", q_name, quarantine, False))
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
    good = frame.take(np.flatnonzero(~_mask(len(frame), result))) if n_new else frame
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
    return DayPlan(outcome, good, ops)

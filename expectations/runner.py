"""The one function that runs a Great Expectations suite on a pandas DataFrame.

Suites are plain GE 1.x JSON files in this folder (``trades.json``, ``book.json``, ``bars.json``, ...).
Every expectation carries ``meta.rule`` (a short rule name shared by the quarantine files and the
error messages) and ``meta.reason`` (a sentence for people). Several expectations may share a rule.

:func:`run_suite` returns a :class:`SuiteResult`: the rule names failed by each row (row-level
expectations report the positions of their unexpected rows) and the failed table-level rules
(column set, column types) which make the whole batch unusable. GE decides every rule in one
``BOOLEAN_ONLY`` pass; the rows of a failed rule come from :mod:`expectations.rows` when it agrees
with GE's verdict, else from GE's ``COMPLETE`` result for the failed expectations alone.

One ephemeral GE context is created per process (creation and the GE import are slow) and reused;
progress bars are off. ``great_expectations`` is imported lazily, never at import time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantumtrader.logging import get_logger

log = get_logger("expectations.runner")
SUITES_DIR = Path(__file__).resolve().parent
_LOCK = threading.Lock()
_WARMING: list[threading.Thread] = []


@dataclass(frozen=True)
class ExpectationOutcome:
    """The outcome of one expectation of a suite."""

    rule: str
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int
    reason: str
    error: str | None = None


@dataclass(frozen=True)
class SuiteResult:
    """What a suite found in one DataFrame.

    ``row_rules`` is indexed by the failing rows' positions (0..n_rows-1) and holds their failed rule
    names joined with ``;`` (sorted, unique); ``row_reasons`` (same index) the reasons of the failed
    expectations joined with ``; `` (both categoricals of those texts when rows failed).
    ``table_failures`` names failed table-level rules.
    """

    suite: str
    n_rows: int
    row_rules: pd.Series
    row_reasons: pd.Series
    table_failures: tuple[str, ...]
    outcomes: tuple[ExpectationOutcome, ...]
    # positions of each outcome's unexpected rows (None for table-level or successful expectations)
    outcome_rows: tuple[np.ndarray | None, ...] = ()

    @property
    def n_bad_rows(self) -> int:
        return len(self.row_rules)

    @property
    def success(self) -> bool:
        return not self.table_failures and self.n_bad_rows == 0

    def rule_counts(self) -> dict[str, int]:
        """Rows failing each rule (a row failing two rules counts once for each)."""
        counts: dict[str, int] = {}
        for rules, n in self.row_rules.value_counts().items():
            if not n:  # a categorical counts its unused texts too (a day's slice of a batch)
                continue
            for rule in str(rules).split(";"):
                counts[rule] = counts.get(rule, 0) + int(n)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def rows_slice(self, start: int, stop: int) -> SuiteResult:
        """The result restricted to rows ``start..stop-1`` of the validated frame, re-numbered from 0.

        Used when one GE validation covered several days (one frame per batch): each day's result is
        the batch's result on that day's rows (per-expectation unexpected counts included).
        """
        idx = self.row_rules.index.to_numpy()
        lo, hi = np.searchsorted(idx, [start, stop])
        rules = self.row_rules.iloc[lo:hi]
        reasons = self.row_reasons.iloc[lo:hi]
        rules.index = rules.index - start
        reasons.index = reasons.index - start
        outcomes: list[ExpectationOutcome] = []
        rows: list[np.ndarray | None] = []
        for o, r in zip(self.outcomes, self.outcome_rows or (None,) * len(self.outcomes), strict=True):
            if r is None:
                outcomes.append(o)
                rows.append(None)
                continue
            mine = r[(r >= start) & (r < stop)] - start
            outcomes.append(ExpectationOutcome(o.rule, o.expectation, o.column, len(mine) == 0, len(mine),
                                               o.reason, o.error))
            rows.append(mine)
        return SuiteResult(self.suite, stop - start, rules, reasons, self.table_failures, tuple(outcomes),
                           tuple(rows))

    def table_failure_message(self) -> str:
        parts = []
        for o in self.outcomes:
            if not o.success and o.rule in self.table_failures:
                detail = o.error or o.reason
                where = f" on column {o.column!r}" if o.column else ""
                parts.append(f"rule {o.rule!r} ({o.expectation}{where}): {detail}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (stored beside the data as ``_validation.json``)."""
        import great_expectations as gx

        return {
            "suite": self.suite,
            "great_expectations_version": gx.__version__,
            "rows": self.n_rows,
            "bad_rows": self.n_bad_rows,
            "success": self.success,
            "table_failures": list(self.table_failures),
            "rule_counts": self.rule_counts(),
            "expectations": [o.__dict__ for o in self.outcomes],
        }


# COMPLETE lists every unexpected row's position; the values themselves (lists and counters of
# Python objects, the slow part for big batches) and the pandas "query" (a string spelling every
# unexpected position once more) are not needed.
_COMPLETE = {"result_format": "COMPLETE", "partial_unexpected_count": 0, "exclude_unexpected_values": True,
             "include_unexpected_rows": False, "return_unexpected_index_query": False}
_COLUMN_KWARGS = ("column", "column_A", "column_B")


def _columns_of(cfg: Any) -> list[str]:
    """The columns an expectation reads (none for a table-level one)."""
    kwargs = cfg.kwargs or {}
    return [kwargs[k] for k in _COLUMN_KWARGS if kwargs.get(k)] + list(kwargs.get("column_list") or [])


def suite_path(name: str) -> Path:
    return SUITES_DIR / f"{name}.json"


@lru_cache(maxsize=16)
def load_suite_json(name: str) -> str:
    """The JSON text of suite ``name`` (a file name in ``expectations/`` without ``.json``, or a path)."""
    path = Path(name) if name.endswith(".json") else suite_path(name)
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """One ephemeral context with one pandas data source, reused by every validation in the process."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("qt_frames").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


@lru_cache(maxsize=16)
def _suite(name: str) -> Any:
    from great_expectations.core import ExpectationSuite

    return ExpectationSuite(**json.loads(load_suite_json(name)))


def warm_up(*suites: str, first: Callable[[], object] | None = None) -> None:
    """Import GE, build the context and load ``suites`` in a background thread.

    The GE import is seconds of the ingest's wall time; started before the input is read, it runs
    while pyarrow parses (which releases the GIL). :func:`run_suite` waits for it. ``first`` runs in
    the same thread before GE (the ingest builds the exchange calendar there).
    """
    if _WARMING or _batch_definition.cache_info().currsize:
        if first is not None:
            first()
        return

    def warm() -> None:
        if first is not None:
            first()
        _batch_definition()
        for name in suites:
            _suite(name)

    thread = threading.Thread(target=warm, name="ge-warm-up", daemon=True)
    _WARMING.append(thread)
    thread.start()


def wait_for_warm_up() -> None:
    """Block until a :func:`warm_up` started earlier has finished (no-op otherwise)."""
    while _WARMING:
        _WARMING[0].join()
        _WARMING.pop(0)


def _positional(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` indexed 0..n-1 (rows are identified by position), sharing its columns."""
    index = df.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return df
    out = df.copy(deep=False)
    out.index = pd.RangeIndex(len(out))
    return out


def _rerun(r: Any, frame: pd.DataFrame) -> bool:
    """A failed expectation on columns of ``frame`` (not a table-level one, not one that raised): COMPLETE
    lists its rows."""
    if r.success or (r.exception_info and r.exception_info.get("raised_exception")):
        return False
    columns = _columns_of(r.expectation_config)
    return bool(columns) and all(c in frame.columns for c in columns)


def _config_key(cfg: Any) -> str:
    """An expectation's identity within a suite: type, arguments (without the batch) and meta."""
    kwargs = {k: v for k, v in (cfg.kwargs or {}).items() if k != "batch_id"}
    return json.dumps([cfg.type, kwargs, cfg.meta or {}], sort_keys=True, default=str)


@lru_cache(maxsize=64)
def _sub_suite(name: str, keys: tuple[str, ...]) -> Any:
    """The expectations ``keys`` of suite ``name`` as a suite of their own (a file fails the same few rules)."""
    from great_expectations.core import ExpectationSuite

    expectations = [{"type": t, "kwargs": kwargs, "meta": meta} for t, kwargs, meta in map(json.loads, keys)]
    return ExpectationSuite(name=f"{name}:failed", expectations=expectations)


def _numpy_rows(name: str, results: list[Any], frame: pd.DataFrame) -> dict[int, np.ndarray]:
    """Positions of the unexpected rows of each failed expectation (by index in ``results``) that
    :func:`expectations.rows.unexpected_rows` evaluates, provided it agrees with GE's verdict on every
    expectation it evaluates (rows exactly where GE failed); nothing when it disagrees anywhere."""
    from expectations.rows import unexpected_rows

    found: dict[int, np.ndarray] = {}
    for i, r in enumerate(results):
        if r.exception_info and r.exception_info.get("raised_exception"):
            continue
        cfg = r.expectation_config
        positions = unexpected_rows(cfg.type, dict(cfg.kwargs or {}), frame)
        if positions is None:
            continue
        if bool(len(positions)) == bool(r.success):
            log.warning("row evaluation disagrees with Great Expectations; using its COMPLETE result",
                        data={"suite": name, "rule": (cfg.meta or {}).get("rule"), "rows": len(positions),
                              "ge_success": bool(r.success)})
            return {}
        if not r.success:
            found[i] = positions
    return found


def run_suite(name: str, df: pd.DataFrame) -> SuiteResult:
    """Validate ``df`` with suite ``name``; return per-row failures and table-level failures.

    The frame's index is ignored: rows are identified by position. Derived columns the suite expects
    must already be present.
    """
    wait_for_warm_up()
    frame = _positional(df)
    with _LOCK:  # the shared context is not meant for concurrent validations
        definition = _batch_definition()
        # Every rule is settled by the cheap BOOLEAN_ONLY pass over the whole frame. The rows of the
        # failed rules come from expectations.rows when it agrees with that verdict, else from a
        # COMPLETE run of just the failed expectations on just the columns they read (GE copies its
        # domain frame per expectation: COMPLETE's cost grows with expectations and columns, not rows).
        first = definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            _suite(name), result_format={"result_format": "BOOLEAN_ONLY"})
        results = list(first.results)
        rows: dict[int, np.ndarray] = {}
        if any(_rerun(r, frame) for r in results):
            rows = _numpy_rows(name, results, frame)
            again = {i: r.expectation_config for i, r in enumerate(results) if _rerun(r, frame) and i not in rows}
            if again:
                columns = list(dict.fromkeys(col for c in again.values() for col in _columns_of(c)))
                complete = definition.get_batch(batch_parameters={"dataframe": frame[columns]}).validate(
                    _sub_suite(name, tuple(_config_key(c) for c in again.values())), result_format=_COMPLETE)
                by_key = {_config_key(r.expectation_config): r for r in complete.results}
                for i, cfg in again.items():
                    results[i] = by_key.get(_config_key(cfg), results[i])

    per_rule_rows: dict[str, list[np.ndarray]] = {}
    per_reason_rows: dict[str, list[np.ndarray]] = {}
    outcomes: list[ExpectationOutcome] = []
    outcome_rows: list[np.ndarray | None] = []
    table_failures: list[str] = []
    for i, r in enumerate(results):
        cfg = r.expectation_config
        meta = cfg.meta or {}
        kwargs = cfg.kwargs or {}
        rule = str(meta.get("rule", cfg.type))
        res = r.result or {}
        error = None
        if r.exception_info and r.exception_info.get("raised_exception"):
            error = str(r.exception_info.get("exception_message"))
        found = rows.get(i)
        index_list = found if found is not None else res.get("unexpected_index_list")
        count = len(found) if found is not None else int(res.get("unexpected_count") or 0)
        column = kwargs.get("column") or kwargs.get("column_A")
        outcomes.append(
            ExpectationOutcome(rule, cfg.type, column, bool(r.success), count, str(meta.get("reason", "")), error)
        )
        outcome_rows.append(None)
        if r.success:
            continue
        if error is None and index_list is not None:
            positions = np.asarray(index_list, dtype=np.int64)
            outcome_rows[-1] = positions
            per_rule_rows.setdefault(rule, []).append(positions)
            per_reason_rows.setdefault(str(meta.get("reason", rule)), []).append(positions)
        elif rule not in table_failures:
            table_failures.append(rule)

    return SuiteResult(
        suite=name,
        n_rows=len(frame),
        row_rules=_join(per_rule_rows, ";"),
        row_reasons=_join(per_reason_rows, "; "),
        table_failures=tuple(table_failures),
        outcomes=tuple(outcomes),
        outcome_rows=tuple(outcome_rows),
    )


def _join(per_label_rows: dict[str, list[np.ndarray]], sep: str) -> pd.Series:
    """Row position -> its labels (sorted, unique) joined with ``sep``, for every failing row.

    Vectorised: each label is one bit of a per-row mask; only the distinct masks (a handful) are
    turned into strings, so the cost is a few numpy passes over the failing rows.
    """
    if not per_label_rows:
        return pd.Series([], dtype=object, index=pd.Index([], dtype=np.int64))
    labels = sorted(per_label_rows)
    rows = [np.unique(np.concatenate(per_label_rows[label])) for label in labels]
    positions = np.unique(np.concatenate(rows))
    masks = np.zeros(len(positions), dtype=object if len(labels) > 62 else np.int64)
    for bit, r in enumerate(rows):
        masks[np.searchsorted(positions, r)] |= 1 << bit
    distinct, inverse = np.unique(masks, return_inverse=True)
    text = [sep.join(label for bit, label in enumerate(labels) if int(m) >> bit & 1) for m in distinct]
    # a categorical of the few distinct texts: no Python string per failing row (the quarantine
    # stores the column as it is, and counts rules per distinct text)
    codes = inverse.reshape(-1).astype(np.int32)
    return pd.Series(pd.Categorical.from_codes(codes, categories=text), index=pd.Index(positions, dtype=np.int64))

"""The unexpected rows of a plain column expectation, from its own configuration, in NumPy.

Great Expectations settles every rule of a batch in its cheap ``BOOLEAN_ONLY`` pass, but listing the
failing rows (result format ``COMPLETE``) costs it ~30 ms per failed expectation and batch whatever
the number of rows: for a file with bad rows in every batch that was most of the quarantine's cost.
:func:`unexpected_rows` lists the same rows for the three map expectations our suites use most,
evaluating the expectation's own arguments with GE's own pandas condition
(``great_expectations/expectations/metrics/column_map_metrics``) on the rows GE's domain keeps
(nulls are left out, as ``filter_column_isnull`` does, except for ``not_be_null``).

The rule stays written once, in the suite's JSON; GE stays the judge. :func:`expectations.runner.run_suite`
uses these rows only when they agree with GE's verdict on every supported expectation of the batch
(rows exactly where GE failed, none where it passed); anything else, and every expectation with an
argument not handled here (``mostly``, ``row_condition``, ...), goes back to GE's ``COMPLETE`` result.
``tests/expectations/test_rows.py`` checks the rows against GE's on random frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# expectation type -> the arguments (besides ``column`` and ``batch_id``) evaluated here
SUPPORTED: dict[str, frozenset[str]] = {
    "expect_column_values_to_not_be_null": frozenset(),
    "expect_column_values_to_be_between": frozenset({"min_value", "max_value", "strict_min", "strict_max"}),
    "expect_column_values_to_be_in_set": frozenset({"value_set"}),
}


def unexpected_rows(expectation_type: str, kwargs: dict[str, Any], frame: pd.DataFrame) -> np.ndarray | None:
    """Sorted positions of the rows of ``frame`` the expectation does not accept, or None when it is
    not one this module evaluates (then GE lists the rows)."""
    allowed = SUPPORTED.get(expectation_type)
    args = {k: v for k, v in kwargs.items() if k not in ("column", "batch_id") and v is not None}
    column = kwargs.get("column")
    if allowed is None or not set(args) <= allowed or column not in frame.columns:
        return None
    values = frame[column]
    null = values.isna().to_numpy()
    if expectation_type == "expect_column_values_to_not_be_null":
        return np.flatnonzero(null)
    if expectation_type == "expect_column_values_to_be_in_set":
        if "value_set" not in args:
            return np.zeros(0, dtype=np.int64)  # GE: vacuously true
        return np.flatnonzero(~values.isin(args["value_set"]).to_numpy() & ~null)
    return _between(values, null, args)


def _between(values: pd.Series, null: np.ndarray, args: dict[str, Any]) -> np.ndarray | None:
    low, high = args.get("min_value"), args.get("max_value")
    # GE's vectorised branch is taken for exactly these dtypes (it maps other columns value by
    # value, with type checks of its own): leave those to GE
    if values.dtype not in [int, float] or (low is None and high is None):
        return None
    if low is not None and high is not None and low > high:
        return None  # GE raises: its error is the outcome
    column = values.to_numpy()
    ok = np.ones(len(column), dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            ok &= (low < column) if args.get("strict_min") else (low <= column)
        if high is not None:
            ok &= (column < high) if args.get("strict_max") else (column <= high)
    return np.flatnonzero(~ok & ~null)

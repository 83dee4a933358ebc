"""The shared progress rule: a line per step with its time off a terminal, a transient bar on one, JSON output."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pytest
from rich.console import Console

from quantumtrader.progress import step, to_json, until_next_step


def console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=80, color_system=None), buf


def test_off_a_terminal_each_step_prints_one_line_with_its_count_and_seconds() -> None:
    con, buf = console(terminal=False)
    with step("train", "CV folds", total=3, console=con) as s:
        for _ in range(3):
            s.advance()
    with step("train", "final fit", console=con) as s:
        s.done("final model fitted on 5,000 rows")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"train: CV folds 3/3 \(\d+\.\d s\)", lines[0])
    assert re.fullmatch(r"train: final model fitted on 5,000 rows \(\d+\.\d s\)", lines[1])


def test_a_step_is_closed_when_its_count_reaches_the_total_and_prints_nothing_after() -> None:
    con, buf = console(terminal=False)
    with step("backtest", "sessions replayed", total=2, console=con) as s:
        s.update(2)
        closed = buf.getvalue()
        con.print("RESULT")  # whatever the command prints after the last session
    assert closed.startswith("backtest: sessions replayed 2/2")
    assert buf.getvalue().rstrip().endswith("RESULT")


def test_a_failed_step_prints_no_line_and_no_bar() -> None:
    for terminal in (False, True):
        con, buf = console(terminal=terminal)
        with pytest.raises(RuntimeError), step("backtest", "model loaded", console=con):
            raise RuntimeError("model not found")
        assert not re.search(r"model loaded \(\d", buf.getvalue())  # no step line
        if terminal:
            assert buf.getvalue().endswith("\x1b[2K")  # the live bar was erased


def test_on_a_terminal_the_bar_is_transient_and_the_step_line_is_last() -> None:
    con, buf = console(terminal=True)
    with step("ingest", "files validated and written", total=2, console=con) as s:
        s.advance()
        s.advance()
    con.print("RESULT")
    out = buf.getvalue()
    assert "━" in out  # a live bar was drawn
    tail = out[out.rindex("ingest: files validated and written 2/2"):]
    assert "━" not in tail  # ... and never again after the step's line
    assert tail.rstrip().endswith("RESULT")


def test_a_start_up_step_ends_where_the_next_step_begins() -> None:
    con, buf = console(terminal=False)
    with until_next_step("train", "start-up", console=con):
        with step("train", "dataset loaded", console=con):
            pass
        with step("train", "final fit", console=con):
            pass
    lines = [line.split(" (")[0] for line in buf.getvalue().splitlines()]
    assert lines == ["train: start-up", "train: dataset loaded", "train: final fit"]


def test_silent_without_a_console() -> None:
    with step("x", "y", total=1, console=None) as s:
        s.advance()


def test_json_output_turns_nan_into_null_and_numpy_into_numbers() -> None:
    text = to_json({"a": math.nan, "b": np.float64(1.5), "c": np.int64(3), "d": [np.inf, 2]})
    assert json.loads(text) == {"a": None, "b": 1.5, "c": 3, "d": [None, 2]}

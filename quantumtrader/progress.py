"""Progress and result output shared by every ``qtml`` command.

One rule for all commands: a step shows a live bar (or spinner) on a terminal and, when it ends,
one line ``"<what>: <label> <done>/<total> (<seconds> s)"``. Off a terminal (a pipe, CI, a log file)
there is no live bar, only that line per step, so a long command still says what it did and how
long it took. A bar is transient and closed when its step ends: it never appears after the result
or an error. Progress goes to stderr by default, so stdout holds only the result (``--json``).

:func:`print_json` writes a result as one JSON document on stdout (NaN/inf as null, numpy and
dates converted) for scripts: ``qtml train --json | python -m json.tool``.

Rich is imported lazily: this module is imported by ``qtml --help``'s command modules.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def err_console() -> Console:
    """The console progress lines go to (stderr; stdout is the result's)."""
    from rich.console import Console

    return Console(stderr=True)


class Step:
    """One step of a command: ``advance``/``update`` it; it prints its line when it ends."""

    def __init__(self, console: Console | None, what: str, label: str, total: int | None, unit: str) -> None:
        self.console, self.what, self.label, self.total, self.unit = console, what, label, total, unit
        self.completed = 0
        self.done_text: str | None = None
        self._t0 = time.perf_counter()
        self._bar: Progress | None = None
        self._task: Any = None
        self._closed = False
        if _pending and _pending[-1] is not self:
            _pending.pop().close()  # a start-up step ends where the next step begins
        if console is not None and console.is_terminal:
            self._start_bar(console)

    def _start_bar(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns: tuple[Any, ...] = (SpinnerColumn(), TextColumn(f"{self.what}: {{task.description}}"))
        if self.total is not None:
            columns += (BarColumn(), MofNCompleteColumn())
        self._bar = Progress(*columns, TimeElapsedColumn(), console=console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=self.total)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._t0

    def update(self, completed: int | None = None, *, description: str | None = None) -> None:
        """Set the count (closes the step when it reaches the total) and/or the live description."""
        if completed is not None:
            self.completed = completed
        if self._bar is not None:
            self._bar.update(self._task, completed=self.completed,
                             description=description if description is not None else self.label)
        if self.total is not None and self.completed >= self.total:
            self.close()

    def advance(self, n: int = 1) -> None:
        self.update(self.completed + n)

    def done(self, text: str) -> None:
        """What the end line says instead of the label (e.g. ``"dataset loaded: 5,312 rows"``)."""
        self.done_text = text

    def close(self, *, failed: bool = False) -> None:
        """Stop the bar; print the step's line unless it failed (the error says what happened)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.stop()
        if failed or self.console is None:
            return
        text = self.done_text or self.label
        if self.total is not None:
            unit = f" {self.unit}" if self.unit else ""
            text += f" {self.completed}/{self.total}{unit}"
        self.console.print(f"{self.what}: {text} ({self.seconds:.1f} s)", highlight=False, markup=False)


@contextmanager
def step(what: str, label: str, *, total: int | None = None, unit: str = "",
         console: Console | bool | None = True) -> Iterator[Step]:
    """A step of command ``what``; ``console=True`` -> stderr, ``None``/``False`` -> silent (library use)."""
    con = err_console() if console is True else (console or None)
    s = Step(con, what, label, total, unit)
    try:
        yield s
    except BaseException:
        s.close(failed=True)
        raise
    s.close()


_pending: list[Step] = []
STARTUP = "start-up (imports, Prefect API, flow run)"


@contextmanager
def until_next_step(what: str, label: str, *, console: Console | bool | None = True) -> Iterator[Step]:
    """A step that ends when the next :func:`step` starts, or with the block (e.g. a Prefect flow's
    start-up, which ends where its first task's step begins)."""
    con = err_console() if console is True else (console or None)
    s = Step(con, what, label, None, "")
    _pending.append(s)
    try:
        yield s
    except BaseException:
        s.close(failed=True)
        raise
    finally:
        if s in _pending:
            _pending.remove(s)
    s.close()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _plain(value.item())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    return str(value)


def to_json(value: Any) -> str:
    """``value`` as JSON text: NaN and infinities become null, numpy/date/path values plain values."""
    import json

    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def print_json(value: Any) -> None:
    """Write ``value`` as one JSON document on stdout (nothing else goes to stdout with ``--json``)."""
    sys.stdout.write(to_json(value) + "\n")
    sys.stdout.flush()

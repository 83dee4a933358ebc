"""What one ingest did: :class:`IngestReport` (per-day gate outcomes, appended and duplicate counts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from market.append import Appended
from market.gates import GateOutcome
from quantumtrader.errors import DataValidationError


@dataclass
class IngestReport:
    """Everything one ingest did. ``seen`` maps (dataset, day) -> passed for days touched by the run."""

    symbol: str
    lake_root: Path
    trades: list[GateOutcome] = field(default_factory=list)
    book: list[GateOutcome] = field(default_factory=list)
    bars: list[GateOutcome] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    seen: dict[tuple[str, date], bool] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # warnings for the user (e.g. an assumed time zone)
    # per trades day: (rows new to the lake, rows dropped as duplicates) over the run's files; only
    # days that already held data are listed (a first ingest of a day is not an append)
    appended: dict[date, tuple[int, int]] = field(default_factory=dict)

    def add_appended(self, day: date, a: Appended) -> None:
        new, dups = self.appended.get(day, (0, 0))
        if a.merged or day in self.appended:
            self.appended[day] = (new + a.new, dups + a.duplicates)

    def add(self, outcome: GateOutcome) -> None:
        kind = outcome.dataset.split("/", 1)[0]
        bucket = {"trades": self.trades, "book": self.book, "bars": self.bars}[kind]
        # a merged (reappearing) day replaces its earlier outcome
        bucket[:] = [o for o in bucket if not (o.dataset == outcome.dataset and o.day == outcome.day)]
        bucket.append(outcome)
        self.seen[(outcome.dataset, outcome.day)] = outcome.passed

    def extend(self, other: IngestReport) -> None:
        for o in [*other.book, *other.trades, *other.bars]:
            self.add(o)
        self.files += other.files
        self.seconds += other.seconds
        self.notes += other.notes
        for day, (new, dups) in other.appended.items():
            n0, d0 = self.appended.get(day, (0, 0))
            self.appended[day] = (n0 + new, d0 + dups)

    def append_lines(self, limit: int = 20) -> list[str]:
        """``2026-01-05: appended 1,200 new trades (800 duplicates)`` for the days that already held data."""
        lines = [f"{day}: appended {new:,} new trades ({dups:,} duplicates)"
                 for day, (new, dups) in sorted(self.appended.items())]
        if len(lines) > limit:
            lines = [*lines[:limit], f"... and {len(lines) - limit} more appended days"]
        return lines

    @property
    def days(self) -> list[date]:
        """Session days written by the run (stray prints of non-trading days are no session)."""
        return sorted(o.day for o in self.trades if o.passed and o.written_rows)

    @property
    def trades_read(self) -> int:
        return sum(o.rows for o in self.trades)

    @property
    def trades_written(self) -> int:
        return sum(o.written_rows for o in self.trades)

    @property
    def quarantined(self) -> int:
        return sum(o.bad_rows for o in [*self.trades, *self.book, *self.bars])

    @property
    def failures(self) -> list[GateOutcome]:
        return [o for o in [*self.book, *self.trades, *self.bars] if not o.passed]

    def raise_for_failures(self) -> None:
        """Raise :class:`DataValidationError` when any day crossed the bad-share threshold."""
        failures = self.failures
        if failures:
            lines = "\n".join(f"  - {o.failure_message()}" for o in failures)
            raise DataValidationError(f"{len(failures)} day(s) rejected by validation gates:\n{lines}")
        stray = [o for o in self.trades if o.stray_day]
        n_stray, total = sum(o.bad_rows for o in stray), self.trades_read
        limit = min((o.max_bad_share for o in self.trades), default=1.0)
        if total and n_stray / total > limit:
            days = ", ".join(str(o.day) for o in stray[:5])
            raise DataValidationError(
                f"{n_stray} of {total} trades ({n_stray / total:.2%}) fall on days that are no session of "
                f"the calendar ({days}{', ...' if len(stray) > 5 else ''}), above max_bad_share {limit:.2%}: "
                f"check the file's time zone (--tz) and the instrument's calendar; quarantine: "
                f"{stray[0].quarantine_path}")

    def summary(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "sessions": len(self.days),
            "trades_read": self.trades_read,
            "trades_written": self.trades_written,
            "quarantined_rows": self.quarantined,
            "book_snapshots": sum(o.written_rows for o in self.book),
            "bars": sum(o.written_rows for o in self.bars),
            "rejected_days": [f"{o.dataset} {o.day}" for o in self.failures],
            "appended_trades": sum(n for n, _ in self.appended.values()),
            "duplicate_trades": sum(d for _, d in self.appended.values()),
            "lake_root": str(self.lake_root),
            "seconds": round(self.seconds, 3),
        }

"""The report flows: a holiday is skipped by the calendar in a real flow run; the day defaults to São Paulo's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from flows.reports import daily_report_flow, resolve_day, skip_reason
from quantumtrader.errors import InputError


def test_without_a_date_the_day_is_today_in_sao_paulo_and_a_holiday_is_skipped() -> None:
    assert resolve_day(None, today=date(2026, 2, 16)) == date(2026, 2, 16)
    assert resolve_day("2026-01-08") == date(2026, 1, 8)
    assert skip_reason(date(2026, 2, 16), "WDO") == "2026-02-16 is not a trading day: skipped"  # Carnival Monday
    assert skip_reason(date(2026, 1, 10), "WDO") is not None  # a Saturday
    assert skip_reason(date(2026, 1, 8), "WDO") is None
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        resolve_day("08/01/2026")


@pytest.mark.slow
def test_a_daily_report_flow_run_on_a_holiday_completes_saying_skipped(prefect_harness: None, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_STORES__VAR_DIR", str(tmp_path / "var"))
    state = daily_report_flow(day="2026-12-25", return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result == {"day": "2026-12-25", "skipped": True, "message": "2026-12-25 is not a trading day: skipped"}
    assert not (tmp_path / "var" / "reports" / "daily").exists()
    # a trading day with no journal is a failed run with the one clear line, not a skipped one
    failed = daily_report_flow(day="2026-12-03", return_state=True)
    assert failed.is_failed()
    with pytest.raises(InputError, match="no journal at"):
        failed.result()

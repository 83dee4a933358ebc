"""The promotions table on SQLite and PostgreSQL for real: rows round-trip and are never updated or deleted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from quantumtrader.db import create_engine
from training.promotion import ledger

CHECKS = [{"name": "prob_positive", "passed": False, "value": 0.41, "threshold": 0.99, "detail": "mean R$ -120"},
          {"name": "deflated_sharpe", "passed": False, "value": None, "threshold": 0.95, "detail": "n/a: 1 day"}]


def test_rows_round_trip_with_every_check_in_insertion_order(db_url: str) -> None:
    engine = create_engine(db_url)
    ledger.ensure(engine)
    ledger.ensure(engine)  # idempotent
    a = ledger.append(engine, model_name="qt", action="promote", decision="refused", version="2",
                      champion_before="1", champion_after="1", checks=CHECKS, sessions=["2026-02-02"],
                      evidence={"challenger": {"pnl": -1200.0}}, detail="prob_positive: mean R$ -120")
    b = ledger.append(engine, model_name="qt", action="rollback", decision="rolled back", version="1",
                      champion_before="3", champion_after="1")
    ledger.append(engine, model_name="other", action="evaluate", decision="passed", version="1",
                  champion_before=None, champion_after=None)
    rows = ledger.rows(engine, "qt")
    assert [r["id"] for r in rows] == [a, b]
    first = rows[0]
    assert first["checks"] == CHECKS and first["sessions"] == ["2026-02-02"]
    assert first["evidence"] == {"challenger": {"pnl": -1200.0}} and first["forced"] is False
    assert first["recorded_at"].tzinfo is not None
    assert abs((datetime.now(UTC) - first["recorded_at"]).total_seconds()) < 120
    assert first["actor"].count(":") == 1
    assert ledger.last_champion_row(engine, "qt")["id"] == b  # type: ignore[index]
    assert [r["id"] for r in ledger.rows(engine, "qt", version="3")] == [b]
    assert ledger.rows(engine, "qt", limit=1)[0]["id"] == b


@pytest.mark.parametrize("statement", [
    "UPDATE promotions SET decision = 'promoted'",
    "UPDATE promotions SET checks = '[]' WHERE id = 1",
    "DELETE FROM promotions",
    "DELETE FROM promotions WHERE id = 1",
])
def test_the_database_refuses_to_update_or_delete_a_row(db_url: str, statement: str) -> None:
    engine = create_engine(db_url)
    ledger.ensure(engine)
    ledger.append(engine, model_name="qt", action="promote", decision="refused", version="2",
                  champion_before=None, champion_after=None, checks=CHECKS)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    rows = ledger.rows(engine, "qt")
    assert len(rows) == 1 and rows[0]["decision"] == "refused" and rows[0]["checks"] == CHECKS


def test_postgresql_refuses_truncate_too(pg_url: str) -> None:
    engine = create_engine(pg_url)
    ledger.ensure(engine)
    ledger.append(engine, model_name="qt", action="evaluate", decision="passed", version="1",
                  champion_before=None, champion_after=None)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE promotions"))
    assert len(ledger.rows(engine, "qt")) == 1


def test_reading_before_any_record_is_empty_not_an_error(db_url: str) -> None:
    engine = create_engine(db_url)
    assert ledger.rows(engine, "qt") == [] and ledger.last_champion_row(engine, "qt") is None

"""The journal on both backends: intents before fills, fills applied once with their state, starts and diffs."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from live_engine.journal.journal import Journal
from quantumtrader.config import load_settings
from quantumtrader.errors import InputError


def order(n: int, **kw: object) -> dict[str, object]:
    return {"client_id": f"QT-{n}", "ts_ns": 1_000 + n, "side": 1, "qty": 1, "kind": "market", "price": math.nan,
            "tag": "entry", **kw}


def fill(n: int, k: int = 1, **kw: object) -> dict[str, object]:
    return {"fill_id": f"QT-{n}-F{k}", "client_id": f"QT-{n}", "ts_ns": 2_000 + n, "side": 1, "qty": 1,
            "price": 5000.5, "fee": 1.2, "tag": "entry", **kw}


def test_an_order_is_an_intent_before_it_is_sent_and_journaling_it_again_changes_nothing(journal_url: str) -> None:
    with Journal.open(journal_url, mode="paper") as j:
        j.record_start("e1", {"a": 1})
        assert j.record_intent(order(1, stop_ticks=8, target_ticks=12, status="working")) is True
        [o] = j.open_intents()
        assert (o["client_id"], o["status"], o["epoch"], o["stop_ticks"]) == ("QT-1", "intent", "e1", 8)
        assert math.isnan(o["price"])  # a market order has no price
        assert j.record_intent(order(1, stop_ticks=8, target_ticks=12)) is False  # a restart re-derives it: no-op
        assert len(j.orders()) == 1
        with pytest.raises(InputError, match=r"QT-1.*already journaled with other fields.*qty 1 vs 2"):
            j.record_intent(order(1, qty=2))
        assert j.set_order_status("QT-1", "sent") and j.set_order_status("QT-1", "acked")
        assert [o["status"] for o in j.open_intents()] == ["acked"]
        assert j.apply_fill(fill(1)) is True
        assert j.open_intents() == [] and j.orders(status="filled")[0]["client_id"] == "QT-1"


def test_a_partial_fill_leaves_the_order_open_until_its_quantity_is_filled(journal_url: str) -> None:
    with Journal.open(journal_url, mode="paper") as j:
        j.record_start("e1", {})
        j.record_intent(order(1, qty=3))
        j.apply_fill(fill(1, 1, qty=2))
        assert [o["status"] for o in j.open_intents()] == ["intent"]
        j.apply_fill(fill(1, 2, qty=1))
        assert j.open_intents() == [] and j.orders()[0]["status"] == "filled"


def test_a_status_only_moves_forward_and_a_terminal_one_is_final(journal_url: str) -> None:
    with Journal.open(journal_url, mode="paper") as j:
        j.record_start("e1", {})
        j.record_intent(order(1))
        assert j.set_order_status("QT-1", "cancelled") is True
        assert j.set_order_status("QT-1", "acked") is False  # a late ack never reopens it
        assert j.set_order_status("QT-1", "filled") is False
        assert j.orders()[0]["status"] == "cancelled"
        with pytest.raises(InputError, match="status 'done' is unknown"):
            j.set_order_status("QT-1", "done")
        with pytest.raises(InputError, match="'QT-9' is not in the journal"):
            j.set_order_status("QT-9", "sent")


def test_an_order_before_any_start_and_a_fill_of_an_unknown_order_are_refused(journal_url: str) -> None:
    with Journal.open(journal_url, mode="paper") as j:
        with pytest.raises(InputError, match="before any start: call record_start first"):
            j.record_intent(order(1))
        j.record_start("e1", {})
        with pytest.raises(InputError, match="'QT-7', which the journal has no intent for"):
            j.apply_fill(fill(7))
        with pytest.raises(InputError, match="lacks fee"):
            j.apply_fill({k: v for k, v in fill(1).items() if k != "fee"})
        with pytest.raises(InputError, match="side 0: use"):
            j.record_intent(order(2, side=0))
        assert j.orders() == [] and j.fills() == []


def test_a_fill_is_applied_once_with_its_state_even_across_a_reopen(journal_url: str) -> None:
    with Journal.open(journal_url, mode="paper") as j:
        j.record_start("e1", {})
        j.record_intent(order(1))
        assert j.apply_fill(fill(1), state={"position": {"qty": 1, "avg_price": 5000.5}}) is True
        assert j.apply_fill(fill(1), state={"position": {"qty": 2, "avg_price": 5000.5}}) is False
        assert j.load_state()["position"]["qty"] == 1  # the duplicate's state was not written either
    with Journal.open(journal_url, mode="paper") as j:  # the venue replays its fills after a restart
        assert j.apply_fill(fill(1), state={"position": {"qty": 2}}) is False
        [f] = j.fills()
        assert (f["fill_id"], f["qty"], f["price"], f["fee"]) == ("QT-1-F1", 1, 5000.5, 1.2)
        assert j.load_state() == {"position": {"qty": 1, "avg_price": 5000.5}}
        assert j.last_start() is not None and j.last_start().epoch == "e1"  # type: ignore[union-attr]
        j.record_intent(order(2))  # the epoch of the last start carries over the reopen
        assert j.orders()[1]["epoch"] == "e1"


def test_state_round_trips_exactly(journal_url: str) -> None:
    weights = [0.1 + 0.2, 1e-300, 1 / 3, 0.25]
    state = {"coordinator": {"weights": [weights], "regime": 0}, "risk": {"daily_trades": 7, "daily_loss": -1.5e3,
                                                                          "peak": math.inf, "last_mark": math.nan}}
    with Journal.open(journal_url, mode="paper") as j:
        j.save_states(state)
        j.save_state("position", {"qty": -2, "avg_price": 5001.5})
        j.save_state("position", {"qty": -1, "avg_price": 5001.5})  # replaces
    with Journal.open(journal_url, mode="paper") as j:
        got = j.load_state()
    assert got["coordinator"]["weights"][0] == weights  # bit for bit
    assert got["position"] == {"qty": -1, "avg_price": 5001.5}
    assert got["risk"]["peak"] == math.inf and math.isnan(got["risk"]["last_mark"])
    assert got["risk"]["daily_trades"] == 7


def test_two_starts_record_the_config_hash_and_a_readable_diff(journal_url: str, tmp_path: Path) -> None:
    first = load_settings(root=tmp_path).model_dump(mode="json")
    second = load_settings(root=tmp_path, live={"risk": {"max_position": 2}}).model_dump(mode="json")
    second["extra"] = {"flag": True}
    with Journal.open(journal_url, mode="paper") as j:
        a = j.record_start("e1", first)
        b = j.record_start("e2", second)
        canonical = json.dumps(first, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert a.config_hash == hashlib.sha256(canonical.encode()).hexdigest()
        assert a.previous_hash is None and a.diff == []
        assert b.previous_hash == a.config_hash and b.config_hash != a.config_hash
        assert b.diff == ["extra.flag: (absent) -> true", "live.risk.max_position: 1 -> 2"]
        with pytest.raises(InputError, match="epoch 'e2' has already started once"):
            j.record_start("e2", second)
    with Journal.open(journal_url, mode="paper") as j:
        assert j.last_start() == b
        same = j.record_start("e3", second)
        assert same.config_hash == b.config_hash and same.diff == []


def test_a_url_password_in_the_config_never_reaches_the_journal(journal_url: str) -> None:
    config = {"stores": {"promotions_db_url": "postgresql://qt:s3cret@127.0.0.1:5432/test"}}
    with Journal.open(journal_url, mode="paper") as j:
        j.record_start("e1", config)
        with j.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT config_json FROM starts")).scalar_one()
    assert "s3cret" not in stored and "qt:***@127.0.0.1" in stored

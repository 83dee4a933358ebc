"""Reconciliation of the engine's journal with the broker's account, as pure functions.

At start-up, before any order, the engine compares what it journalled with what the broker reports
(``docs/engine.md``, RELIABILITY.md 1-3):

- a broker fill the journal lacks happened while the engine was down (or between the exchange's fill
  and the journal's write): it is applied once, by its unique fill id;
- a journalled intent the broker never saw was never sent: it is marked ``unsent``, never re-sent (a
  restart sends nothing during recovery);
- a journalled intent the broker has takes the broker's status (acknowledged, filled, cancelled);
- a broker order the journal lacks is adopted under its deterministic client order id;
- then the position the journal's fills add up to must equal the broker's: otherwise the engine stays
  HALTED and says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OPEN_STATUSES = ("intent", "sent", "acked")
BROKER_STATUS = {"working": "acked", "filled": "filled", "cancelled": "cancelled"}  # broker order -> journal


@dataclass
class Reconciliation:
    missing_fills: list[dict[str, Any]] = field(default_factory=list)  # at the broker, not in the journal
    unsent: list[str] = field(default_factory=list)  # journalled intents the broker never received
    adopted: list[dict[str, Any]] = field(default_factory=list)  # broker orders the journal lacked
    statuses: dict[str, str] = field(default_factory=dict)  # journalled open orders the broker has moved on
    journal_position: int = 0
    broker_position: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.consistent:
            return (f"reconciled: position {self.broker_position}, {len(self.missing_fills)} fill(s) applied, "
                    f"{len(self.unsent)} unsent intent(s), {len(self.adopted)} order(s) adopted")
        return "not reconciled: " + "; ".join(self.problems)


def position_of(fills: Iterable[Mapping[str, Any]]) -> int:
    """Net contracts of a fill list (+ buys, - sells)."""
    return sum(int(f["side"]) * int(f["qty"]) for f in fills)


def reconcile(journal_orders: Sequence[Mapping[str, Any]], journal_fills: Sequence[Mapping[str, Any]],
              broker_orders: Sequence[Mapping[str, Any]], broker_fills: Sequence[Mapping[str, Any]],
              broker_position: int) -> Reconciliation:
    """What to apply and whether the two agree once applied (module docstring)."""
    r = Reconciliation(broker_position=int(broker_position))
    seen = {str(f["fill_id"]) for f in journal_fills}
    r.missing_fills = [dict(f) for f in broker_fills if str(f["fill_id"]) not in seen]
    known = {str(o["client_id"]) for o in journal_orders}
    at_broker = {str(o["client_id"]) for o in broker_orders}
    r.unsent = [str(o["client_id"]) for o in journal_orders
                if o.get("status") in OPEN_STATUSES and str(o["client_id"]) not in at_broker]
    r.adopted = [dict(o) for o in broker_orders if str(o["client_id"]) not in known]
    broker_status = {str(o["client_id"]): BROKER_STATUS.get(str(o.get("status")), "acked") for o in broker_orders}
    r.statuses = {str(o["client_id"]): broker_status[str(o["client_id"])] for o in journal_orders
                  if o.get("status") in OPEN_STATUSES and str(o["client_id"]) in broker_status
                  and broker_status[str(o["client_id"])] != o.get("status")}
    r.journal_position = position_of([*journal_fills, *r.missing_fills])
    if r.journal_position != r.broker_position:
        r.problems.append(f"the journal's fills add up to position {r.journal_position}, the broker reports "
                          f"{r.broker_position}")
    dup = len(broker_fills) - len({str(f["fill_id"]) for f in broker_fills})
    if dup:
        r.problems.append(f"the broker reports {dup} fill id(s) twice")
    return r

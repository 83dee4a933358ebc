"""A real process journals intents and fills in a loop and is SIGKILLed; the journal it leaves is consistent.

Each round the writer resumes from the journal (as the engine does after a crash) and is killed at a
random moment. After each kill: the file passes its integrity check, every fill names a journaled
order, the state saved with the fills agrees with them, and nothing the writer reported committed is lost.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from live_engine.journal.journal import Journal

WRITER = """
import os, sys
from live_engine.journal.journal import Journal
j = Journal.open(sys.argv[1], mode="paper")
n = j.load_state().get("n", 0)
j.record_start(f"e-{os.getpid()}", {"pid": os.getpid()})
print(f"resumed {n}", flush=True)
for i in range(n, n + 100_000):
    cid = f"QT-{i}"
    j.record_intent({"client_id": cid, "ts_ns": i, "side": 1 if i % 2 == 0 else -1, "qty": 1, "kind": "market",
                     "tag": "entry"})  # an intent left by the killed writer is found again: no-op
    j.set_order_status(cid, "sent")
    j.apply_fill({"fill_id": f"{cid}-F1", "client_id": cid, "ts_ns": i, "side": 1 if i % 2 == 0 else -1,
                  "qty": 1, "price": 5000.0 + i % 7, "fee": 1.0, "tag": "entry"},
                 state={"n": i + 1, "position": {"qty": (i + 1) % 2, "fills": i + 1}})
    print(f"committed {i + 1}", flush=True)
"""


def _run_and_kill(url: str, more: int, rng: random.Random) -> tuple[int, int]:
    """Start the writer, let it commit ``more`` fills, SIGKILL it at a random moment; (resumed at, last reported)."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    resumed = last = -1
    deadline = time.monotonic() + 120
    try:
        for line in proc.stdout:
            word, value = line.split()
            if word == "resumed":
                resumed = last = int(value)
            elif int(value) >= resumed + more:
                last = int(value)
                break
            else:
                last = int(value)
            assert time.monotonic() < deadline, "the writer is too slow"
        else:
            raise AssertionError(f"the writer ended early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(rng.uniform(0, 0.02))  # land anywhere inside intent, sent or fill+state
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        for line in proc.stdout:  # what it printed after the lines read so far, up to the kill
            last = int(line.split()[1])
    finally:
        proc.kill()
        proc.wait(30)
    return resumed, last


def _check(url: str, reported: int) -> int:
    with Journal.open(url, mode="paper") as j:  # a torn file would raise JournalCorrupt here (quick_check)
        fills, orders, state = j.fills(), j.orders(), j.load_state()
        open_ids = [o["client_id"] for o in j.open_intents()]
    n = len(fills)
    assert reported <= n <= reported + 1, f"reported {reported} committed fills, journal has {n}"
    ids = {o["client_id"] for o in orders}
    assert all(f["client_id"] in ids for f in fills)  # every fill's order exists
    assert len({f["fill_id"] for f in fills}) == n  # each applied once
    assert state["n"] == n and state["position"] == {"qty": n % 2, "fills": n}  # state committed with its fill
    assert [o["client_id"] for o in orders if o["status"] == "filled"] == [f"QT-{i}" for i in range(n)]
    assert len(orders) in (n, n + 1) and open_ids == [o["client_id"] for o in orders[n:]]  # at most one intent
    assert all(o["status"] in ("intent", "sent") for o in orders[n:])
    return n


def test_a_sigkilled_writer_leaves_a_consistent_journal_and_resumes_from_it(journal_url: str) -> None:
    rng = random.Random(7)
    committed = 0
    for _ in range(3):
        resumed, reported = _run_and_kill(journal_url, more=40, rng=rng)
        assert resumed == committed  # the writer resumed from what the journal holds
        committed = _check(journal_url, reported)
    assert committed >= 120

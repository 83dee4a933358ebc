"""A corrupt journal (RELIABILITY.md 4, engine level): a real ``qtml engine start`` on a garbage
var/journal/paper.db moves the file aside, starts HALTED with the reason naming the quarantined file,
and stays up: no crash, no restart loop."""

from __future__ import annotations

import os
import signal
import time

import pytest
from engine_rel import make_env

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("header", [b"", b"SQLite format 3\x00"], ids=["garbage", "sqlite_header_then_garbage"])
def test_corrupt_journal_is_quarantined_and_the_engine_starts_halted_without_looping(tmp_path, header):
    env = make_env(tmp_path, sessions=2)
    journal = env.var / "journal" / "paper.db"
    journal.parent.mkdir(parents=True, exist_ok=True)
    garbage = os.urandom(8192)
    journal.write_bytes(header + garbage)
    try:
        p = env.start("--feed", "replay", "--speed", "600")
        st = env.wait_status(lambda s: s["state"] != "WARMING", what="the engine on a corrupt journal")
        assert st["state"] == "HALTED", st
        held = st["held"] or ""
        moved = [f for f in journal.parent.iterdir() if f.name != journal.name and f.read_bytes().endswith(garbage)]
        assert len(moved) == 1 and str(moved[0]) in held and "corrupt" in held, (held, list(journal.parent.iterdir()))
        child = env.engine_pid()
        time.sleep(3)  # the engine keeps running halted: the same child, no crash, no restart
        st2 = env.wait_status(lambda s: True)
        assert st2["state"] == "HALTED" and st2["epoch"] == st["epoch"] and env.engine_pid() == child
        assert st2["bars"] >= st["bars"] and st2["day_trades"] == 0 and st2["position"] == 0
        out = env.log()
        assert "engine_crashed" not in out and "Traceback" not in out, out[-3000:]
        os.killpg(p.pid, signal.SIGTERM)
        assert p.wait(60) == 0, env.log()[-3000:]
    finally:
        env.sigkill_all()

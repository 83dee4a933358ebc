"""Auto-restart (RELIABILITY.md 5): the supervisor of a real ``qtml engine start`` restarts a SIGKILLed
engine exactly ``live.service.restart_attempts`` (3) times, ``restart_delay_s`` (5 s) apart, then stays
down: exit non-zero and a CRITICAL ``restarts_exhausted`` alert on its output and in var/logs/qt.jsonl.
(An engine that exits 2, bad input, is not restarted: tests/reliability/test_engine_refusals.py.)
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from engine_rel import EngineEnv, make_env

pytestmark = pytest.mark.slow

DELAY_S = 5.0


def _child_pid(env: EngineEnv) -> int | None:
    try:
        return env.engine_pid()
    except (OSError, ValueError):  # not written yet, or caught between truncate and write
        return None


def _next_child(env: EngineEnv, old: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _child_pid(env)
        if pid is not None and pid != old:
            return pid
        time.sleep(0.02)
    return None


def test_sigkilled_engine_is_restarted_three_times_5s_apart_then_stays_down(tmp_path):
    env = make_env(tmp_path, sessions=2)
    try:  # the harness's 1 s delay overridden by the default's 5 s
        sup = env.start("--feed", "replay", "--speed", "600", QT_LIVE__SERVICE__RESTART_DELAY_S=f"{DELAY_S:g}")
        env.wait_status(lambda s: s["state"] != "WARMING", what="the first engine")
        pids, gaps = [env.engine_pid()], []
        for kill in range(4):
            os.kill(pids[-1], signal.SIGKILL)  # the engine child only: the supervisor lives on
            died = time.monotonic()
            nxt = _next_child(env, pids[-1], timeout=DELAY_S + 5 if kill < 3 else DELAY_S + 3)
            if kill < 3:
                assert nxt is not None, f"no restart after kill {kill + 1}:\n{env.log()[-3000:]}"
                gaps.append(time.monotonic() - died)
                pids.append(nxt)
                assert sup.poll() is None
                time.sleep(0.5)  # let it get under way, then kill it again
            else:
                assert nxt is None, f"a 4th restart (pid {nxt}) after 3:\n{env.log()[-3000:]}"
        print(f"restart gaps (s): {[round(g, 2) for g in gaps]}")
        code = sup.wait(30)
        out = env.log()
        assert code not in (0, 2), out[-3000:]
        assert len(set(pids)) == 4, pids
        assert all(DELAY_S <= g < DELAY_S + 3 for g in gaps), gaps
        assert out.count("ERROR engine_crashed") == 3 and "restart 3 of 3" in out, out[-3000:]
        crit = [ln for ln in out.splitlines() if ln.startswith("CRITICAL restarts_exhausted")]
        assert len(crit) == 1 and "exit -9" in crit[0], out[-3000:]
        logged = [json.loads(ln) for ln in (env.var / "logs" / "qt.jsonl").read_text().splitlines() if ln.strip()]
        hits = [r for r in logged if "restarts_exhausted" in json.dumps(r)]
        assert len(hits) == 1 and "CRITICAL" in json.dumps(hits[0]), hits
    finally:
        env.sigkill_all()

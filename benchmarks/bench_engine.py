"""Live engine end-to-end latency (issue 12): a trade pushed on the ZMQ ingress to its decision on the broadcast.

A real engine process (``qtml engine start --feed zmq``, fresh, on a temporary var: a lake of two simulated
sessions for its warm-up and a small LightGBM ``@champion``). This process connects a PUSH socket to the
ingress (``wire.encode_trade`` with ``seq``) and a subscriber to the ``decisions`` topic. In the session
after the lake's last day it sends one trade per one-minute bar, each stamped in the next bar, so each trade
closes the previous bar: one decision. Each is sent ``PACE_S`` after the previous one (nothing queues) and
timed from just before ``send`` to the decision's arrival, matched by the bar close ``ts_ns``. A book
snapshot follows each trade in the same bar (the book features are not NaN) and is not timed. The first
``WARM_BARS`` decisions are not counted. The engine's own bar latency (event in to decision out, inside the
process) comes from ``qtml engine status --json``. The floor: the same two ZMQ hops through a process that
republishes each message at once (what loopback TCP and two process wake-ups cost on this machine's load).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.engine_setup import REPO, make_engine
from benchmarks.report import BenchResult

GROUP = "Live engine (issue 12)"
BARS = 400
WARM_BARS = 20
PACE_S = 0.03
TARGET_MS, ALERT_MS = 10.0, 50.0
BAR_NS = 60 * 1_000_000_000


def _bytecode_note() -> str:
    venv_pyc = any((Path(sys.prefix) / "lib").glob("python3*/site-packages/numpy/__pycache__/*.pyc"))
    writes = "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    return f"bytecode cache writes {writes} (PYTHONDONTWRITEBYTECODE), venv precompiled: {'yes' if venv_pyc else 'no'}"


def _book(ts_ns: int, px: float) -> Any:
    from live_engine.feeds.events import Book

    bids = [px - 0.5 * (i + 1) for i in range(5)]
    asks = [px + 0.5 * (i + 1) for i in range(5)]
    return Book(ts_ns, "WDO", [*bids, *(10.0 + 5 * i for i in range(5)), *asks, *(12.0 + 4 * i for i in range(5))])


_ECHO = """
import sys, zmq
ctx = zmq.Context()
pull, pub = ctx.socket(zmq.PULL), ctx.socket(zmq.PUB)
pull.bind(sys.argv[1]); pub.bind(sys.argv[2])
while True:
    frames = pull.recv_multipart()
    if frames[0] == b"stop":
        break
    pub.send(b"decisions " + frames[1])
"""


def measure_floor(n: int = BARS, pace_s: float = PACE_S) -> dict[str, float]:
    """The same two hops without the engine: a process that republishes each PUSHed message on a PUB socket
    at once. What is left of the latency is ZMQ, loopback TCP and the two processes' wake-ups on this load."""
    import zmq

    from benchmarks.engine_setup import free_port
    from live_engine.feeds.events import Trade
    from live_engine.feeds.wire import encode_trade

    ingress, pub = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-c", _ECHO, ingress, pub])
    ctx = zmq.Context()
    push, sub = ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"decisions ")
    push.connect(ingress)
    sub.connect(pub)
    lat: list[float] = []
    try:
        t = Trade(0, "WDO", 1, 5300.0, 1, 2, 3, 85)
        while True:  # until the subscription is live
            push.send_multipart(encode_trade(t, pub="bench", seq=0))
            if sub.poll(200):
                sub.recv()
                break
        for i in range(n + WARM_BARS):
            frames = encode_trade(t, pub="bench", seq=i + 1)
            t0 = time.perf_counter_ns()
            push.send_multipart(frames)
            if not sub.poll(2000):
                raise RuntimeError("the echo process stopped answering")
            sub.recv()
            if i >= WARM_BARS:
                lat.append((time.perf_counter_ns() - t0) / 1e6)
            time.sleep(max(0.0, pace_s - (time.perf_counter_ns() - t0) / 1e9))
        push.send_multipart([b"stop", b""])
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        push.close(0)
        sub.close(0)
        ctx.term()
    a = np.asarray(lat)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "n": len(a)}


def measure(bars: int = BARS, warm: int = WARM_BARS, pace_s: float = PACE_S, **engine_env: str) -> dict[str, Any]:
    import zmq

    from live_engine.feeds.events import Trade
    from live_engine.feeds.wire import encode_book, encode_trade
    from live_engine.service.broadcast import Subscriber
    from market.calendar import next_trading_days, session_bounds_ns
    from market.lake import Lake

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        eng = make_engine(Path(tmp), **engine_env)
        days = Lake(eng.settings.lake_root).days("trades", "WDO")
        day = next_trading_days(days[-1] + timedelta(days=1), 1, "WDO")[0]
        open_ns, _ = session_bounds_ns(day, "WDO")
        t_start = time.perf_counter()
        eng.start("--feed", "zmq")
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        try:
            eng.wait_ready()
            start_s = time.perf_counter() - t_start
            sub = Subscriber(eng.pub_endpoint, ["decisions", "metrics"], context=ctx)
            push.setsockopt(zmq.LINGER, 0)
            push.connect(eng.ingress_endpoint)
            while sub.recv(2000) is None:  # the subscription is live once a metrics message arrives
                pass
            rng = np.random.default_rng(5)
            px, seq = 5300.0, 0
            lat: list[float] = []
            missed = 0
            for i in range(bars + warm + 1):
                ts = open_ns + i * BAR_NS + 1_000_000  # 1 ms into bar i: closes bar i-1
                px = round((px + 0.5 * rng.integers(-2, 3)) * 2) / 2
                t = Trade(ts, "WDO", i + 1, px, int(rng.integers(1, 6)), int(rng.choice([2, 3])), 3, 85)
                seq += 1
                frames = encode_trade(t, pub="bench", seq=seq)
                t0 = time.perf_counter_ns()
                push.send_multipart(frames)
                seq += 1
                push.send_multipart(encode_book(_book(ts + 1_000_000, px), pub="bench", seq=seq))
                if i == 0:  # the session's first trade closes nothing
                    time.sleep(pace_s)
                    continue
                deadline = time.monotonic() + 2.0
                got = None
                while time.monotonic() < deadline:
                    m = sub.recv(100)
                    if m is not None and m.topic == "decisions":
                        got = m
                        break
                t1 = time.perf_counter_ns()
                if got is None or int(got.data["ts_ns"]) != open_ns + i * BAR_NS:  # the bar this trade closed
                    missed += 1
                elif i > warm:
                    lat.append((t1 - t0) / 1e6)
                time.sleep(max(0.0, pace_s - (time.perf_counter_ns() - t0) / 1e9))
            time.sleep(0.3)
            st = json.loads(subprocess.run([sys.executable, "-m", "quantumtrader.cli", "engine", "status", "--json"],
                                           cwd=REPO, env=eng.env, capture_output=True, text=True, timeout=60).stdout)
            sub.close()
        finally:
            push.close(0)
            eng.stop()
            ctx.term()
    a = np.asarray(lat)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max()),
            "n": len(a), "missed": missed, "engine_p50": st["latency_ms"]["p50"], "engine_p99": st["latency_ms"]["p99"],
            "bars": st["bars"], "gaps": st["feed"]["gaps"], "bad": st["feed"]["bad_ticks"] + st["feed"]["malformed"],
            "load": load, "start_s": start_s, "lat": lat}


def run() -> list[BenchResult]:
    r = measure()
    f = measure_floor()
    note = (f"{r['n']} decisions after {WARM_BARS} warm-up bars, one trade per bar {PACE_S * 1000:.0f} ms apart, "
            f"missed {r['missed']}, feed gaps {r['gaps']}, bad {r['bad']}; real engine process (small model, "
            f"8 trees; recording on); {_bytecode_note()}; load average at start {r['load'][0]:.2f} on "
            f"{os.cpu_count()} cores (shared machine)")
    eng_note = f"qtml engine status --json over the last {r['bars']} bars (event in to decision, inside the engine)"
    floor_note = (f"the same PUSH -> process -> PUB -> SUB hops, the process republishing each message at once; "
                  f"{f['n']} messages {PACE_S * 1000:.0f} ms apart")
    return [
        BenchResult(GROUP, "trade on the ingress to decision on the broadcast, p50", r["p50"], "ms",
                    f"< {TARGET_MS:g}", r["p50"] < TARGET_MS, note),
        BenchResult(GROUP, "trade on the ingress to decision on the broadcast, p99", r["p99"], "ms",
                    f"< {TARGET_MS:g} (alert > {ALERT_MS:g})", r["p99"] < TARGET_MS, f"max {r['max']:.2f} ms"),
        BenchResult(GROUP, "loopback floor without the engine, p50", f["p50"], "ms", notes=floor_note),
        BenchResult(GROUP, "loopback floor without the engine, p99", f["p99"], "ms", notes=floor_note),
        BenchResult(GROUP, "engine bar latency p50 (status)", float(r["engine_p50"]), "ms", f"< {TARGET_MS:g}",
                    float(r["engine_p50"]) < TARGET_MS, eng_note),
        BenchResult(GROUP, "engine bar latency p99 (status)", float(r["engine_p99"]), "ms", f"< {ALERT_MS:g}",
                    float(r["engine_p99"]) < ALERT_MS, eng_note),
        BenchResult(GROUP, "engine start to ready (warm-up of 2 sessions x 12,000 trades)", r["start_s"], "s",
                    notes="`qtml engine start --feed zmq` until its status leaves WARMING"),
    ]


if __name__ == "__main__":
    for res in run():
        print(f"{res.name}: {res.value:,.3f} {res.unit} {res.target} {res.notes}")

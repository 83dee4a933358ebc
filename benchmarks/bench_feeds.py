"""Feeds: wire encode/decode cost, the ingress's per-message cost, ``qtml feed publish`` into the ingress
over loopback TCP (two processes), and the replay feed flat out, on simulated WDO sessions."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.report import BenchResult
from live_engine.feeds.events import Trade
from live_engine.feeds.replay import ReplayFeed
from live_engine.feeds.tape import Tape
from live_engine.feeds.wire import encode
from live_engine.feeds.zmq_ingress import ZmqIngressFeed
from market.lake import Lake
from market.simulator import simulate, simulate_session
from quantumtrader.config import load_settings

GROUP = "Feeds (live engine market data)"
REPO = Path(__file__).resolve().parents[1]


def _per_msg_us(fn, items: list, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return best / len(items) * 1e6


def measure_codec(n: int = 12_000) -> dict[str, float]:
    s = simulate_session(date(2026, 1, 5), trades_per_session=n)
    events = list(Tape.of(s.trades, s.book).events("WDO"))
    trades = [e for e in events if isinstance(e, Trade)]
    books = [e for e in events if not isinstance(e, Trade)]
    t_frames = [encode(e, pub="bench", seq=i + 1) for i, e in enumerate(trades)]
    b_frames = [encode(e, pub="bench", seq=i + 1) for i, e in enumerate(books)]
    out = {"encode_trade": _per_msg_us(lambda e: encode(e, pub="bench", seq=1), trades),
           "encode_book": _per_msg_us(lambda e: encode(e, pub="bench", seq=1), books)}

    def handle_all(frames: list, label: str) -> None:
        best = float("inf")
        for _ in range(3):
            feed = ZmqIngressFeed("inproc://bench-" + label + str(time.perf_counter_ns()))
            t0 = time.perf_counter()
            for f in frames:
                feed.handle(f)
            best = min(best, time.perf_counter() - t0)
            assert feed.stats.bad_ticks == 0 and feed.stats.malformed == 0
            feed.close()
        out[label] = best / len(frames) * 1e6

    handle_all(t_frames, "ingress_trade")
    handle_all(b_frames, "ingress_book")
    return out


def measure_publish(n_sessions: int = 5, trades_per_session: int = 12_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(root=Path(tmp))
        lake = Lake(settings.lake_root)
        for s in simulate(n_sessions, date(2026, 1, 5), trades_per_session=trades_per_session):
            lake.write_day("trades", "WDO", s.day, s.trades)
            lake.write_day("book", "WDO", s.day, s.book)
        t0 = time.perf_counter()
        replay = ReplayFeed(settings, sessions=n_sessions, speed=0)
        n_replay = 0
        while not replay.exhausted:
            n_replay += len(replay.poll(0.01))
        replay_s = time.perf_counter() - t0

        feed = ZmqIngressFeed("tcp://127.0.0.1:0", symbol="WDO")
        expected = n_sessions * trades_per_session * 2 + 1
        proc = subprocess.Popen([sys.executable, "-m", "quantumtrader.cli", "feed", "publish", "--sessions",
                                 str(n_sessions), "--speed", "0", "--endpoint", feed.bound, "--pub", "bench"],
                                cwd=REPO, env={"QT_ROOT": tmp, "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        first = last = None
        got = 0
        deadline = time.monotonic() + 120
        while got < expected and time.monotonic() < deadline:
            evs = feed.poll(0.1)
            if evs or feed.stats.heartbeats:
                last = time.perf_counter()
                first = first or last
            got = feed.stats.received + feed.stats.heartbeats
        out, err = proc.communicate(timeout=60)
        feed.close()
        if proc.returncode != 0:
            raise RuntimeError(err)
        sent_rate = float(re.search(r"([\d,]+) msg/s", out).group(1).replace(",", ""))  # type: ignore[union-attr]
        return {"publish_msg_s": sent_rate, "received": got, "expected": expected, "gaps": feed.stats.gaps,
                "ingress_msg_s": got / (last - first) if first and last and last > first else float("nan"),
                "replay_events_s": n_replay / replay_s}


def run() -> list[BenchResult]:
    c = measure_codec()
    p = measure_publish()
    note = f"{int(p['received']):,} of {int(p['expected']):,} messages, {int(p['gaps'])} gaps"
    return [
        BenchResult(GROUP, "wire encode trade", c["encode_trade"], "µs/msg"),
        BenchResult(GROUP, "wire encode book", c["encode_book"], "µs/msg"),
        BenchResult(GROUP, "ingress decode + validate trade", c["ingress_trade"], "µs/msg", "<= 20",
                    c["ingress_trade"] <= 20.0),
        BenchResult(GROUP, "ingress decode + validate book", c["ingress_book"], "µs/msg", "<= 20",
                    c["ingress_book"] <= 20.0),
        BenchResult(GROUP, "qtml feed publish (sender)", p["publish_msg_s"], "msg/s", notes=note),
        BenchResult(GROUP, "ingress receive rate", p["ingress_msg_s"], "msg/s",
                    notes="first to last message, publisher in another process"),
        BenchResult(GROUP, "replay feed flat out (lake read + merge + gate)", p["replay_events_s"], "events/s"),
    ]


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: {r.value:,.2f} {r.unit} {r.target} {r.notes}")

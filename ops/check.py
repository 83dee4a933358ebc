"""``qtml check``: the pre-market checklist, one PASS / WARN / FAIL line per item, and an exit code.

Items (docs/housekeeping.md):

1. **disk space** under ``var_dir``: below ``ops.min_free_disk_gb`` FAIL, below ``ops.warn_free_disk_gb`` WARN.
2. **feed** — the configured one (``live.feeds.default``): ``zmq``: the ingress endpoint can be bound (or is
   already bound, by a running engine: WARN, check it is ours); ``replay``/``sim``: the lake has sessions of the
   symbol (replay needs ``live.feeds.replay_sessions``; sim only warms up on them: WARN when there are none).
3. **champion**: ``live.service.model_uri`` resolves and loads through ``serving.bundle.load_bundle``, every
   file's SHA-256 verified, as the engine loads it.
4. **risk config**: limits that validate one by one but cannot work together (a daily loss limit at or above the
   capital, a stop beyond the drawdown limit, flattening before the last entry).
5. **clock**: what the machine can tell, each bounded by a short timeout so that an offline machine never hangs:
   systemd-timesyncd (``timedatectl``), chrony (``chronyc tracking``), else the time of a configured PostgreSQL
   server store or Prefect server. When nothing can tell it says "unknown" (WARN), never PASS.

Exit code: 0 when no line is FAIL (with ``strict``: no WARN either), 1 otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quantumtrader.config import Settings

__all__ = ["Item", "exit_code", "render", "run_checks"]

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Item:
    name: str
    status: str  # PASS | WARN | FAIL
    detail: str


def check_disk(settings: Settings) -> Item:
    folder = settings.var_dir
    while not folder.exists():
        folder = folder.parent
    free_gb = shutil.disk_usage(folder).free / 1e9
    cfg = settings.ops
    where = f"{free_gb:.1f} GB free under {settings.var_dir}"
    if free_gb < cfg.min_free_disk_gb:
        return Item("disk space", FAIL, f"{where} (minimum {cfg.min_free_disk_gb:g} GB)")
    if free_gb < cfg.warn_free_disk_gb:
        return Item("disk space", WARN, f"{where} (warn below {cfg.warn_free_disk_gb:g} GB)")
    return Item("disk space", PASS, where)


def _zmq_ingress(endpoint: str) -> Item:
    import zmq

    # an own context, terminated before returning: the port is released when this returns (a shared context's
    # I/O thread unbinds later: a bind right after the check was seen to fail with EADDRINUSE)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as err:
        if err.errno == zmq.EADDRINUSE:
            return Item("feed", WARN, f"zmq ingress {endpoint} is already bound (a running engine? check it is ours)")
        return Item("feed", FAIL, f"zmq ingress {endpoint} cannot be bound: {err}")
    finally:
        sock.close(0)
        ctx.term()
    return Item("feed", PASS, f"zmq ingress {endpoint} can be bound (the bridge connects to it)")


def check_feed(settings: Settings) -> Item:
    feeds = settings.live.feeds
    if feeds.default == "zmq":
        return _zmq_ingress(feeds.ingress_endpoint)
    from market.lake import Lake

    symbol = settings.market.symbol
    days = Lake(settings.lake_root).days("trades", symbol)
    have = f"{len(days)} {symbol} sessions in the lake" + (f", the last {days[-1]}" if days else "")
    if feeds.default == "replay" and len(days) < feeds.replay_sessions:
        return Item("feed", FAIL, f"replay needs {feeds.replay_sessions} sessions; {have} at {settings.lake_root}")
    if not days:
        return Item("feed", WARN, f"sim feed; {have}: the engine starts without warm-up")
    return Item("feed", PASS, f"{feeds.default} feed; {have}")


def check_champion(settings: Settings) -> Item:
    from quantumtrader.stores import endpoint, require_reachable

    uri = settings.live.service.model_uri
    try:
        if endpoint(settings.mlflow_tracking_uri) is not None:
            require_reachable(settings.mlflow_tracking_uri, setting="stores.mlflow_tracking_uri",
                              timeout_s=settings.stores.connect_timeout_s)
        from serving.bundle import load_bundle

        bundle = load_bundle(uri, settings.mlflow_tracking_uri)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return Item("champion", FAIL, f"{uri} does not load: {first}")
    return Item("champion", PASS, f"{uri} = version {bundle.version}, every file's SHA-256 verified")


def check_risk(settings: Settings) -> Item:
    r = settings.live.risk
    problems = []
    if r.daily_loss_limit >= r.account_capital:
        problems.append(f"daily_loss_limit {r.daily_loss_limit:g} >= account_capital {r.account_capital:g}")
    if r.daily_loss_limit > r.max_drawdown_pct * r.account_capital:
        problems.append(f"daily_loss_limit {r.daily_loss_limit:g} > max drawdown "
                        f"{r.max_drawdown_pct * r.account_capital:g} (the day could never stop at its own limit)")
    if r.stop_loss_pct >= r.max_drawdown_pct:
        problems.append(f"stop_loss_pct {r.stop_loss_pct:g} >= max_drawdown_pct {r.max_drawdown_pct:g}")
    if problems:
        return Item("risk config", FAIL, "; ".join(problems))
    summary = (f"max position {r.max_position}, daily loss R$ {r.daily_loss_limit:g}, drawdown "
               f"{r.max_drawdown_pct:.0%} of R$ {r.account_capital:g}, stop {r.stop_loss_pct:.2%}")
    if r.flat_before_close_minutes > r.no_entry_last_minutes:
        return Item("risk config", WARN, f"{summary}; flat_before_close_minutes {r.flat_before_close_minutes} > "
                                         f"no_entry_last_minutes {r.no_entry_last_minutes}")
    return Item("risk config", PASS, summary)


def _run(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _chrony(max_offset: float) -> Item | None:
    out = _run(["chronyc", "-n", "tracking"])
    for line in (out or "").splitlines():
        if line.startswith("System time"):  # "System time     : 0.000012 seconds fast of NTP time"
            offset = float(line.split(":", 1)[1].split()[0])
            status = PASS if offset <= max_offset else FAIL
            return Item("clock", status, f"chrony: {offset:.6f} s from NTP time (limit {max_offset:g} s)")
    return None


def _timedatectl() -> Item | None:
    out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if out is None or out.strip() not in ("yes", "no"):
        return None
    if out.strip() == "yes":
        return Item("clock", PASS, "timedatectl: NTP synchronized")
    return Item("clock", WARN, "timedatectl: NTP not synchronized")


def _offset_item(source: str, offset_s: float, max_offset: float, resolution_s: float) -> Item:
    status = PASS if abs(offset_s) <= max_offset + resolution_s else FAIL
    return Item("clock", status, f"{offset_s:+.3f} s from {source} (limit {max_offset:g} s; that server's clock is "
                                 "trusted, not NTP)")


def _postgres_time(settings: Settings, max_offset: float) -> Item | None:
    import sqlalchemy as sa

    from quantumtrader.db import create_engine

    st = settings.stores
    for url in (st.journal_db_url, st.promotions_db_url, settings.mlflow_tracking_uri):
        if not url or not url.startswith("postgresql"):
            continue
        try:
            engine = create_engine(url)
            with engine.connect() as conn:
                t0 = time.time()
                server = conn.execute(sa.text("SELECT extract(epoch from clock_timestamp())")).scalar_one()
                t1 = time.time()
            engine.dispose()
        except Exception:
            continue
        host = url.split("@")[-1].split("/")[0]
        return _offset_item(f"PostgreSQL {host}", float(server) - (t0 + t1) / 2, max_offset, (t1 - t0) / 2)
    return None


def _prefect_time(settings: Settings, max_offset: float) -> Item | None:
    import os
    import urllib.request
    from email.utils import parsedate_to_datetime

    api = settings.stores.prefect_api_url or os.environ.get("PREFECT_API_URL")
    if not api:
        return None
    try:
        t0 = time.time()
        with urllib.request.urlopen(api.rstrip("/") + "/health", timeout=_PROBE_TIMEOUT_S) as resp:
            date = resp.headers.get("Date")
        t1 = time.time()
    except OSError:
        return None
    if not date:
        return None
    server = parsedate_to_datetime(date).timestamp()  # whole seconds
    return _offset_item(f"the Prefect server {api}", server + 0.5 - (t0 + t1) / 2, max_offset, 0.5 + (t1 - t0) / 2)


def check_clock(settings: Settings) -> Item:
    limit = settings.ops.max_clock_offset_s
    probes: list[Callable[[], Item | None]] = [lambda: _chrony(limit), _timedatectl,
                                               lambda: _postgres_time(settings, limit),
                                               lambda: _prefect_time(settings, limit)]
    for probe in probes:
        item = probe()
        if item is not None:
            return item
    return Item("clock", WARN, "unknown: no timedatectl or chrony answer here and no PostgreSQL or Prefect "
                               "server configured to compare with")


CHECKS: tuple[Callable[[Settings], Item], ...] = (check_disk, check_feed, check_champion, check_risk, check_clock)


def run_checks(settings: Settings) -> list[Item]:
    """Every item, in the checklist's order; a check that raises is a FAIL line, never a crash."""
    items = []
    for check in CHECKS:
        try:
            items.append(check(settings))
        except Exception as err:
            name = check.__name__.removeprefix("check_").replace("_", " ")
            items.append(Item(name, FAIL, f"the check itself failed: {type(err).__name__}: {err}"))
    return items


def exit_code(items: list[Item], *, strict: bool = False) -> int:
    bad = {FAIL, WARN} if strict else {FAIL}
    return 1 if any(i.status in bad for i in items) else 0


def render(items: list[Item], when: str) -> str:
    """The checklist as the operations manual prints it."""
    lines = [f"Pre-market checklist — {when}"]
    lines += [f"  [{i.status}] {i.name:<12} {i.detail}" for i in items]
    counts = {s: sum(i.status == s for i in items) for s in (PASS, WARN, FAIL)}
    lines.append(f"result: {counts[PASS]} PASS, {counts[WARN]} WARN, {counts[FAIL]} FAIL")
    return "\n".join(lines)

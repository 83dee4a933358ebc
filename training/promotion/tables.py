"""Console tables of the gate: a verdict's checks, the registry's versions, the promotions history.

Times are shown in America/Sao_Paulo (the desk's clock); unknown values read ``n/a``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from training.promotion.policy import DAYS, DRAWDOWN, DSR, PROB_BEATS, PROB_POSITIVE, TRADES, Verdict

if TYPE_CHECKING:
    from rich.table import Table

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
_AT_LEAST = {DAYS, TRADES, PROB_POSITIVE, PROB_BEATS, DSR}
_STYLE = {"promoted": "bold green", "passed": "green", "refused": "bold red", "not evaluated": "yellow",
          "rolled back": "bold yellow", "noted": "yellow"}


def fmt_value(name: str, v: Any) -> str:
    """A check's value or threshold as a trader reads it."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if name == DRAWDOWN and isinstance(v, int | float):
        return f"{v:.2%}"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def fmt_threshold(name: str, v: Any) -> str:
    if v is None:
        return ""
    if name in _AT_LEAST:
        return f"≥ {fmt_value(name, v)}"
    if name == DRAWDOWN:
        return f"≤ {fmt_value(name, v)}"
    return fmt_value(name, v)


def decision_text(decision: str) -> str:
    style = _STYLE.get(decision, "bold")
    return f"[{style}]{decision}[/{style}]"


def local_time(ts: datetime | str) -> str:
    t = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    return t.astimezone(SAO_PAULO).strftime("%Y-%m-%d %H:%M:%S")


def checks_table(checks: list[dict[str, Any]], title: str | None = None, *, details: bool = True) -> Table:
    """One row per check: name, pass/fail, value, threshold (and the detail, unless ``details`` is off)."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    table.add_column("check")
    table.add_column("", justify="center")
    table.add_column("value", justify="right")
    table.add_column("threshold", justify="right")
    if details:
        table.add_column("detail", overflow="fold")
    for c in checks:
        mark = "[green]pass[/green]" if c["passed"] else "[red]FAIL[/red]"
        cells = [c["name"], mark, fmt_value(c["name"], c["value"]), fmt_threshold(c["name"], c["threshold"])]
        table.add_row(*cells, *([str(c["detail"])] if details else []))
    return table


def verdict_table(v: Verdict, *, details: bool = False) -> Table:
    """The compact verdict: one row per check; the reasons are printed under it."""
    champ = v.champion or "no champion yet"
    return checks_table([c.as_dict() for c in v.checks], details=details,
                        title=f"{v.challenger} vs {champ}: {decision_text(v.decision)}")


def history_table(rows: list[dict[str, Any]], title: str = "promotions") -> Table:
    """The table's rows, oldest first: who decided what, and the champion before and after."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("row", "time (São Paulo)", "action", "decision", "version", "champion", "failed checks / detail"):
        table.add_column(col, justify="right" if col in ("row", "version") else "left", overflow="fold")
    for r in rows:
        before, after = r["champion_before"], r["champion_after"]
        moved = "" if after == before else (f" → v{after}" if after else " → none")
        champ = (f"v{before}" if before else "none") + moved
        failed = [c["name"] for c in r["checks"] if not c["passed"]]
        note = ", ".join(failed) if failed else r["detail"]
        forced = " (forced)" if r["forced"] else ""
        table.add_row(str(r["id"]), local_time(r["recorded_at"]), r["action"] + forced, decision_text(r["decision"]),
                      str(r["version"] or ""), champ, note)
    return table


def versions_table(mvs: list[Any], aliases: dict[str, str], runs: dict[str, dict[str, str]]) -> Table:
    """Registered versions, newest first, with their aliases and training window."""
    from rich.table import Table

    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append("@" + alias)
    table = Table(title="registered versions")
    for col in ("version", "aliases", "registered (São Paulo)", "trained on", "dataset", "last backtest PnL"):
        table.add_column(col)
    for mv in mvs:
        tags = dict(mv.tags or {})
        run = runs.get(str(mv.version), {})
        window = f"{run.get('train_first_session', '?')}..{run.get('train_last_session', '?')}"
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=SAO_PAULO).strftime("%Y-%m-%d %H:%M")
        pnl = tags.get("last_backtest_pnl")
        table.add_row(str(mv.version), " ".join(sorted(by_version.get(str(mv.version), []))), created, window,
                      tags.get("dataset_hash", "")[:12], f"R$ {float(pnl):,.2f}" if pnl else "")
    return table

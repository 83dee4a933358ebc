"""Result type and the Markdown writer shared by every benchmark module."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class BenchResult:
    """One measured figure. ``target`` is a human-readable bound such as ``">= 500000"``."""

    group: str
    name: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None
    notes: str = ""


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()} — {cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _fmt(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 1e7:
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _kept_groups(path: Path, replaced: set[str]) -> list[str]:
    """The sections of an existing ``path`` whose group is not in ``replaced`` (``--only`` keeps the rest)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    parts = text.split("\n## ")[1:]
    return ["## " + p.rstrip("\n") + "\n" for p in parts if p.split("\n", 1)[0].strip() not in replaced]


def write_markdown(results: list[BenchResult], path: Path, *, keep_others: bool = False) -> None:
    """Write every result to ``path`` as one table per group, with the machine and date; ``keep_others``
    keeps the sections of groups these results do not measure (``--only``), and says which run's date they have."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks`); do not edit by hand.",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine_line()}",
        "",
    ]
    groups: dict[str, list[BenchResult]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    for group, rows in groups.items():
        lines += [f"## {group}", "", "| measure | value | unit | target | met | notes |", "|---|---:|---|---|---|---|"]
        for r in rows:
            met = "" if r.passed is None else ("yes" if r.passed else "**no**")
            lines.append(f"| {r.name} | {_fmt(r.value)} | {r.unit} | {r.target} | {met} | {r.notes} |")
        lines.append("")
    if keep_others:
        kept = _kept_groups(path, set(groups))
        head = path.read_text(encoding="utf-8").splitlines()
        marker = "- The sections after this run's were kept from the run of "
        older = next((ln[len(marker):] for ln in head if ln.startswith(marker)), "")  # kept before: its run's date
        old = older or next((ln[8:] for ln in head if ln.startswith("- Date:")), "")
        if kept and old:
            at = next(i for i, ln in enumerate(lines) if ln.startswith("- Machine:")) + 1
            lines.insert(at, marker + old)
        lines += kept
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")

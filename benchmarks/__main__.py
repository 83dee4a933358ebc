"""Run every ``benchmarks/bench_*.py`` module's ``run()`` and write ``docs/benchmarks.md``.

Usage: ``python -m benchmarks [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

from rich.console import Console

import benchmarks
from benchmarks.report import BenchResult, write_markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. bench_bars")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args()
    console = Console()
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if args.only:
        names = [n for n in names if n in args.only]
    results: list[BenchResult] = []
    for name in names:
        console.rule(name)
        module = importlib.import_module(f"benchmarks.{name}")
        for r in module.run():
            results.append(r)
            mark = "" if r.passed is None else (" ✓" if r.passed else " ✗")
            console.print(f"{r.group} / {r.name}: {r.value:,.4g} {r.unit} {r.target}{mark}")
    write_markdown(results, args.out, keep_others=bool(args.only))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

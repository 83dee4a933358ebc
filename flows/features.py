"""Prefect flow ``features``: bars -> qt65_v1 features -> GE gate -> feature Parquet -> Feast.

A thin wrapper: every step is a plain function of :mod:`features.offline` or :mod:`features.store`
that the CLI and the tests call too. Steps: compute the 65 features over the symbol's bars in the
lake, validate them with the ``features`` expectation suite (nothing reaches the lake when it
fails), write them partitioned by symbol/date, ``feast apply`` the repo, then materialise the
newest row per symbol into the online store (a full backfill the first time, incremental after).
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NONE
from rich.console import Console

from features import offline, store
from features.spec import VERSION
from quantumtrader.config import Settings, get_settings
from quantumtrader.progress import STARTUP, step, until_next_step


@task(name="compute features", cache_policy=NONE, persist_result=False)
def compute_task(settings: Settings, symbol: str) -> pd.DataFrame:
    return offline.compute_features(settings, symbol)


@task(name="validate features", cache_policy=NONE, persist_result=False)
def validate_task(table: pd.DataFrame) -> dict[str, Any]:
    return offline.validate_features(table)


@task(name="write feature parquet", cache_policy=NONE, persist_result=False)
def write_task(settings: Settings, table: pd.DataFrame, validation: dict[str, Any]) -> int:
    return len(offline.write_features(settings, table, validation))


@task(name="feast apply", cache_policy=NONE, persist_result=False)
def apply_task(settings: Settings) -> dict[str, Any]:
    return store.apply_repo(settings)


@task(name="feast materialize", cache_policy=NONE, persist_result=False)
def materialize_task(settings: Settings) -> dict[str, Any]:
    return store.materialize_online(settings)


@flow(name="features", validate_parameters=False, log_prints=False)
def features_flow(settings: Settings | None = None, symbol: str | None = None,
                  console: Console | None = None) -> dict[str, Any]:
    """Build, validate, store, register and materialise the qt65_v1 features of ``symbol``.

    ``console``: where each step's progress line goes (None: silent).
    """
    settings = settings or get_settings()
    symbol = symbol or settings.market.symbol
    with step("features", f"computed over the {symbol} bars", console=console) as s:
        table = cast(pd.DataFrame, compute_task(settings, symbol))
        s.done(f"{len(table):,} rows computed from the {symbol} bars")
    with step("features", "'features' suite", console=console) as s:
        validation = validate_task(table)
        s.done(f"'features' suite passed on {validation.get('rows', 0):,} rows")
    with step("features", "written to the lake", console=console) as s:
        days = write_task(settings, table, validation)
        s.done(f"{days} days written to the lake")
    with step("features", "feast apply", console=console):
        applied = apply_task(settings)
    with step("features", "feast materialize", console=console):
        materialized = materialize_task(settings)
    return {
        "symbol": symbol,
        "rows": len(table),
        "days": days,
        "validated_rows": validation.get("rows", 0),
        "suite": "skipped" if validation.get("skipped") else "passed",
        "online_store": applied["online_store"],
        "materialize": materialized["mode"],
        "until": materialized["until"],
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The human summary of a features build (``qtml features build``, ``make demo``)."""
    suite = (f"'features' suite passed on {summary['validated_rows']:,} rows" if summary["suite"] == "passed"
             else "'features' suite skipped (too few bars past the warm-up)")
    lines = [f"{VERSION} features of {summary['symbol']}: {summary['rows']:,} rows over {summary['days']} days; "
             f"{suite}",
             f"online store ({summary['online_store']}, {summary['materialize']}) holds them up to "
             f"{summary['until']}"]
    if "features_dir" in summary:
        lines += [f"feature Parquet -> {summary['features_dir']}", f"Feast registry  -> {summary['feast_dir']}"]
    return lines


def demo_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """``make demo``: build the features of the ingested bars, load Feast, show a few online values."""
    from features.cli import online_result, vector_header, vector_table
    from features.spec import SPEC

    symbol = settings.market.symbol
    with until_next_step("features", STARTUP, console=console):
        summary = features_flow(settings=settings, symbol=symbol, console=console)
    result, vector = online_result(symbol, settings)
    for line in summary_lines(summary):
        console.print(line, highlight=False)
    shown = list({f.group: f.name for f in reversed(SPEC)}.values())[::-1]  # the first feature of each group
    console.print(vector_header(result), highlight=False)
    console.print(vector_table(vector, names=shown))
    console.print(f"{len(shown)} of {len(vector)} features shown, {result['nan_count']} NaN; all of them: "
                  "qtml features show", highlight=False)
    return {**summary, "online_features": len(vector), "online_nan": result["nan_count"], "as_of": result["as_of"]}

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
from quantumtrader.config import Settings, get_settings


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
def features_flow(settings: Settings | None = None, symbol: str | None = None) -> dict[str, Any]:
    """Build, validate, store, register and materialise the qt65_v1 features of ``symbol``."""
    settings = settings or get_settings()
    symbol = symbol or settings.market.symbol
    table = cast(pd.DataFrame, compute_task(settings, symbol))
    validation = validate_task(table)
    days = write_task(settings, table, validation)
    applied = apply_task(settings)
    materialized = materialize_task(settings)
    return {
        "symbol": symbol,
        "rows": len(table),
        "days": days,
        "validated_rows": validation.get("rows", 0),
        "online_store": applied["online_store"],
        "materialize": materialized["mode"],
        "until": materialized["until"],
    }


def demo_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """``make demo``: build the features of the ingested bars, load Feast, show one online vector."""
    from features.cli import vector_table

    symbol = settings.market.symbol
    with console.status("building qt65_v1 features, feast apply, materialize ..."):
        summary = features_flow(settings=settings, symbol=symbol)
        vector = store.get_online_features(symbol, settings)
    console.print(
        f"{summary['rows']:,} feature rows over {summary['days']} days -> {offline.FEATURES_DATASET}; "
        f"{summary['validated_rows']:,} rows passed the 'features' suite; "
        f"online store ({summary['online_store']}) holds {symbol} up to {summary['until']}"
    )
    console.print(vector_table(symbol, vector))
    nan = sum(1 for v in vector.values() if v != v)
    return {**summary, "online_features": len(vector), "online_nan": nan}

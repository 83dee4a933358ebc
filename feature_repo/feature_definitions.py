"""Feast definitions of the qt65_v1 feature set: entity, source, feature view and feature service.

One contract shared by training (point-in-time retrieval) and serving (online lookup). The field
list is generated from ``features.spec.FEATURE_NAMES`` so the store can never drift from the code;
the spec hash is recorded as a tag and checked on every retrieval (``features/store.py``).

Two ways in:

- ``qtml features apply`` calls :func:`definitions` with the lake path from the configuration;
- a bare ``feast apply`` in this folder imports this module and registers the module-level
  objects below, whose source path comes from ``QUANTUMTRADER_FEAST_SOURCE`` (exported by
  ``eval "$(qtml features env)"``). Without it the default lake under ``<project>/var`` is used.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.data_format import ParquetFormat
from feast.types import Float64
from feast.value_type import ValueType

from features.offline import source_glob
from features.spec import FEATURE_NAMES, VERSION, spec_hash

SOURCE_ENV = "QUANTUMTRADER_FEAST_SOURCE"
FEATURE_VIEW_NAME = "qt65_bar_features"
SERVICE_NAME = VERSION  # "qt65_v1": training and serving ask for features by this name

# How far back a stored row still answers a point-in-time question. Feast's DuckDB join pairs each
# asked row with every stored row of its symbol inside the TTL before ranking them, so memory grows
# with rows x (TTL / bar length): 7 days of 1-minute bars ran a 100k-row retrieval out of 20 GB.
# Training asks at bar closes (an exact match), so a short TTL loses nothing there; an ask more than
# FEATURE_TTL after the last bar (overnight, a trading halt) gets NaN instead of stale features.
FEATURE_TTL = timedelta(minutes=15)


def default_source_path() -> str:
    """Glob of the feature Parquet of the default project layout (``var/lake/features/qt65_v1``)."""
    return source_glob(Path(__file__).resolve().parents[1] / "var" / "lake")


def definitions(source_path: str) -> list[object]:
    """Build every Feast object of the repo over the Parquet files matched by ``source_path``.

    ``source_path`` must be absolute: the DuckDB offline store resolves relative paths from the
    process's working directory, not from the repo.
    """
    if not os.path.isabs(source_path):
        raise ValueError(f"Feast source path must be absolute, got {source_path!r}")

    # The instrument a feature row describes. Every feature is per symbol and per bar close.
    symbol = Entity(
        name="symbol",
        join_keys=["symbol"],
        value_type=ValueType.STRING,
        description="Traded instrument (e.g. WDO).",
    )

    # The batch feature table in the lake: one row per (symbol, bar close), partitioned
    # symbol=/date=. event_timestamp is the bar's close: a row is known from that instant on.
    # created_timestamp breaks ties when a day is rebuilt (the newest build wins).
    source = FileSource(
        name=f"{VERSION}_parquet",
        path=source_path,
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description=f"Feature Parquet written by features/offline.py (dataset features/{VERSION}).",
    )

    # The 65 typed features, in spec order. The TTL bounds how stale an answer may be.
    view = FeatureView(
        name=FEATURE_VIEW_NAME,
        entities=[symbol],
        ttl=FEATURE_TTL,
        schema=[Field(name=name, dtype=Float64) for name in FEATURE_NAMES],
        source=source,
        online=True,
        tags={"version": VERSION, "spec_hash": spec_hash()},
        description="qt65_v1 features at each decision bar's close (see docs/features.md).",
    )

    # The versioned contract a model is trained on and served with: asking for "qt65_v1"
    # always returns exactly these 65 columns in this order.
    service = FeatureService(
        name=SERVICE_NAME,
        features=[view],
        tags={"version": VERSION, "spec_hash": spec_hash()},
        description="Feature set qt65_v1: the model's inputs, identical offline and online.",
    )
    return [symbol, source, view, service]


# Module-level objects for a bare `feast apply` run in this folder (Feast collects globals).
symbol, qt65_source, qt65_bar_features, qt65_v1 = definitions(os.environ.get(SOURCE_ENV) or default_source_path())

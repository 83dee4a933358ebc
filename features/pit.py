"""Point-in-time retrieval of a Feast feature service with DuckDB's ASOF JOIN.

Feast stays the store: the feature service, its feature view, the view's TTL, the batch source's
Parquet path and its timestamp columns are all read from the Feast registry (:func:`registered_view`),
so a ``feast apply`` of other definitions changes what this path reads exactly as it changes what
Feast's own ``get_historical_features`` reads. Only the join is ours.

Why: Feast's DuckDB offline store (ibis) joins each asked row with *every* stored row of its entity
inside the TTL, carries all 65 feature columns through that join, ranks the pairs with a window
function and joins the winners back on a string row id (symbol and timestamp cast to text): 100k asked
rows over 100k one-minute bars with a 15-minute TTL is 1.6M joined rows x 70 columns. An ASOF JOIN
gives each asked row its one candidate directly; the TTL is then a single comparison.

Semantics, identical to Feast's ``point_in_time_join`` (proved on a sample by
``tests/features/test_store.py``): for each asked (entity, time), the stored row of that entity with
the greatest ``timestamp_field <= time``, and among rows sharing that timestamp the greatest
``created_timestamp_column``; NULL (NaN) when that row is older than ``time - ttl`` (a row exactly
``ttl`` old still answers) or there is none. Feast's ``filter_by_created_timestamp`` is off in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quantumtrader.errors import ConfigError

if TYPE_CHECKING:
    from feast import FeatureStore

_ASKED_TS = "__qt_asked_ts"
_ROW = "__qt_row"


class UnsupportedView(ConfigError):
    """The registered feature service uses something this path does not reproduce (use Feast's join)."""


@dataclass(frozen=True)
class RegisteredView:
    """What the point-in-time join needs from the Feast registry for one feature service."""

    view: str
    path: str
    join_key: str
    timestamp_field: str
    created_field: str | None
    ttl: timedelta | None
    features: tuple[str, ...]


def registered_view(store: FeatureStore, service_name: str) -> RegisteredView:
    """Read the service's single feature view, its TTL and its Parquet FileSource from the registry.

    Raises :class:`UnsupportedView` for anything Feast's join would treat differently from ours:
    several views, a join-key map or several join keys, a field mapping, a non-Parquet source.
    """
    from feast.data_format import ParquetFormat
    from feast.infra.offline_stores.file_source import FileSource

    service = store.get_feature_service(service_name)
    projections = service.feature_view_projections
    if len(projections) != 1:
        raise UnsupportedView(f"feature service {service_name!r} has {len(projections)} feature views, not one")
    projection = projections[0]
    if projection.join_key_map or projection.name_alias:
        raise UnsupportedView(f"feature service {service_name!r} renames its view or join keys")
    view = store.get_feature_view(projection.name)
    source = view.batch_source
    if not isinstance(source, FileSource) or not isinstance(source.file_format, ParquetFormat):
        raise UnsupportedView(f"feature view {view.name!r}: the batch source is not a Parquet FileSource")
    if source.field_mapping:
        raise UnsupportedView(f"feature view {view.name!r}: the batch source has a field mapping")
    keys = [c.name for c in view.entity_columns]
    if len(keys) != 1:
        raise UnsupportedView(f"feature view {view.name!r} has join keys {keys}, not one")
    return RegisteredView(
        view=view.name,
        path=source.path,
        join_key=keys[0],
        timestamp_field=source.timestamp_field,
        created_field=source.created_timestamp_column or None,
        ttl=view.ttl or None,  # Feast treats a zero TTL as none
        features=tuple(f.name for f in projection.features),
    )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def asof_sql(rv: RegisteredView) -> str:
    """The query: newest build per (key, time), ASOF JOIN on the key and time, the TTL as a CASE."""
    key, ts = _q(rv.join_key), _q(rv.timestamp_field)
    source = f"read_parquet({_sql_str(rv.path)}, hive_partitioning = false)"
    if rv.created_field:
        # Feast ranks ties on the timestamp by the created column (newest first): keep only the newest
        # build of each (key, time), found on the key columns alone, so the ASOF match is unique.
        created = _q(rv.created_field)
        source = (
            f"(SELECT s.* FROM {source} s SEMI JOIN "
            f"(SELECT {key}, {ts}, max({created}) AS c FROM {source} GROUP BY ALL) n "
            f"ON s.{key} = n.{key} AND s.{ts} = n.{ts} AND s.{created} = n.c)"
        )
    live = f"f.{ts} + INTERVAL {_micros(rv.ttl)} MICROSECOND >= e.{_ASKED_TS}" if rv.ttl else "TRUE"
    cols = ", ".join(f"CASE WHEN {live} THEN f.{_q(c)} END AS {_q(c)}" for c in rv.features)
    return (
        f"SELECT e.{_ROW}, {cols} FROM entity e ASOF LEFT JOIN {source} f "
        f"ON e.{key} = f.{key} AND e.{_ASKED_TS} >= f.{ts}"
    )


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _micros(ttl: timedelta | None) -> int:
    assert ttl is not None
    return ttl // timedelta(microseconds=1)


def asof_features(rv: RegisteredView, keys: np.ndarray, asked: pd.Series) -> np.ndarray:
    """Point-in-time values (rows = asked rows in order, columns = ``rv.features``) as float64, NaN = none.

    ``asked`` must be timezone-aware with whole microseconds (``features.store.check_entity_df`` refuses
    finer times, which Feast's join cannot cast either).
    """
    import duckdb
    import pyarrow as pa

    entity = pa.table(
        {
            rv.join_key: pa.array(keys.astype(str)),
            _ASKED_TS: pa.array(asked.dt.tz_convert("UTC").astype("datetime64[us, UTC]")),
            _ROW: pa.array(np.arange(len(asked), dtype=np.int64)),
        }
    )
    con = duckdb.connect()
    try:
        # DuckDB plans an ASOF JOIN whose asked side it believes small (an Arrow scan has no row
        # estimate) as a nested loop + arg_max: quadratic, 8 s for 2k rows. Always use the ASOF operator.
        con.execute("SET asof_loop_join_threshold = 0")
        con.register("entity", entity)
        got = con.execute(asof_sql(rv)).arrow()
    finally:
        con.close()
    if isinstance(got, pa.RecordBatchReader):  # duckdb >= 1.4 may hand back a reader
        got = got.read_all()
    out = np.full((len(asked), len(rv.features)), np.nan)
    rows = got.column(_ROW).to_numpy()
    if len(rows) != len(asked):
        raise RuntimeError(f"point-in-time join returned {len(rows)} rows for {len(asked)} asked")
    for j, name in enumerate(rv.features):
        out[rows, j] = got.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return out

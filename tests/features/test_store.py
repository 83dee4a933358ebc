"""The Feast store (SQLite online profile): point-in-time retrieval, online lookup, spec checks.

One repo is applied and materialised per module (Feast costs ~6 s to import). Feature values are
synthetic and encode their bar: every feature of bar k of WDO equals k, of WIN equals 1000 + k, so a
returned value says exactly which bar the join picked. Every point-in-time test runs on both
retrieval engines: the registry-driven ASOF JOIN (training's path) and Feast's own join.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import store
from features.offline import FEATURES_DATASET, feature_table, write_feature_table
from features.spec import FEATURE_NAMES, SpecMismatchError
from market.lake import Lake
from quantumtrader.config import Settings, load_settings
from quantumtrader.errors import ConfigError, InputError, SchemaError

REPO = Path(__file__).resolve().parents[2] / "feature_repo"
CREATED = pd.Timestamp("2026-02-01", tz="UTC")
# Two sessions of ten 1-minute bars (09:01..09:10 Sao Paulo = 12:01..12:10 UTC).
DAY1 = pd.date_range("2026-01-05 12:01", periods=10, freq="60s", tz="UTC")
DAY2 = pd.date_range("2026-01-06 12:01", periods=10, freq="60s", tz="UTC")
CLOSES = DAY1.append(DAY2)


def synthetic_features(index: pd.DatetimeIndex, offset: float = 0.0) -> pd.DataFrame:
    """compute_batch-shaped output whose every value is ``offset + bar number``."""
    k = offset + np.arange(len(index), dtype="float64")
    return pd.DataFrame(np.repeat(k[:, None], len(FEATURE_NAMES), axis=1), index=index, columns=list(FEATURE_NAMES))


def make_settings(root: Path) -> Settings:
    return load_settings(root=root, stores={"feast_repo": str(REPO)})


@dataclass
class Applied:
    settings: Settings
    fs: object


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    settings = make_settings(tmp_path_factory.mktemp("feast_sqlite"))
    lake = Lake(settings.lake_root)
    write_feature_table(lake, feature_table(synthetic_features(CLOSES), "WDO", created=CREATED), "WDO")
    write_feature_table(lake, feature_table(synthetic_features(CLOSES, 1000.0), "WIN", created=CREATED), "WIN")
    fs = store.open_store(settings)
    store.apply_repo(settings, fs)
    store.materialize_online(settings, fs)
    yield Applied(settings, fs)
    store.forget_online_stores()


@pytest.fixture(params=store.RETRIEVAL_ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ask(applied: Applied, rows: list[tuple[str, str]], engine: str) -> pd.DataFrame:
    entity = pd.DataFrame(
        {"symbol": [s for s, _ in rows], "event_timestamp": pd.to_datetime([t for _, t in rows], utc=True)}
    )
    return store.get_historical_features(entity, applied.settings, store=applied.fs, engine=engine)  # type: ignore[arg-type]


def test_point_in_time_at_exact_close_returns_that_bar(applied: Applied, engine: str) -> None:
    out = ask(applied, [("WDO", "2026-01-05 12:03:00"), ("WIN", "2026-01-05 12:03:00")], engine)
    assert out["vol_10"].tolist() == [2.0, 1002.0]
    assert out["is_closing_30"].tolist() == [2.0, 1002.0]


def test_point_in_time_between_closes_returns_the_earlier_bar_never_the_next(applied: Applied, engine: str) -> None:
    out = ask(applied, [("WDO", "2026-01-05 12:03:59.999"), ("WDO", "2026-01-05 12:03:00.001")], engine)
    assert out["ret_1"].tolist() == [2.0, 2.0]


def test_point_in_time_before_the_first_bar_is_missing(applied: Applied, engine: str) -> None:
    out = ask(applied, [("WDO", "2026-01-05 12:00:59"), ("WDO", "2026-01-01 00:00:00")], engine)
    assert out[list(FEATURE_NAMES)].isna().all().all()


def test_point_in_time_within_the_ttl_after_the_last_bar_returns_that_bar(applied: Applied, engine: str) -> None:
    out = ask(applied, [("WDO", "2026-01-05 12:24:00"), ("WDO", "2026-01-06 12:01:00")], engine)
    assert out["vol_10"].tolist() == [9.0, 10.0]


def test_point_in_time_beyond_the_ttl_is_missing_not_stale(applied: Applied, engine: str) -> None:
    # Day 1 ends 12:10 UTC; the feature view's TTL is 15 minutes; the night is far longer.
    rows = [("WDO", "2026-01-05 12:25:01"), ("WDO", "2026-01-06 11:00:00"), ("WDO", "2026-01-20 12:00:00")]
    out = ask(applied, rows, engine)
    assert out["vol_10"].isna().all()


def test_retrieval_keeps_rows_order_index_and_extra_columns(applied: Applied, engine: str) -> None:
    times = CLOSES[::-1]
    entity = pd.DataFrame(
        {"symbol": "WDO", "event_timestamp": times, "label": np.arange(len(times))},
        index=np.arange(100, 100 + len(times)),
    )
    out = store.get_historical_features(entity, applied.settings, store=applied.fs, engine=engine)  # type: ignore[arg-type]
    assert list(out.index) == list(entity.index)
    assert list(out.columns) == ["symbol", "event_timestamp", "label", *FEATURE_NAMES]
    assert out["label"].tolist() == list(range(len(times)))
    assert out["vol_10"].tolist() == list(np.arange(len(times), dtype=float)[::-1])
    assert (out[list(FEATURE_NAMES)].dtypes == "float64").all()


def test_retrieval_accepts_non_utc_timezones(applied: Applied, engine: str) -> None:
    entity = pd.DataFrame(
        {"symbol": ["WDO"], "event_timestamp": [pd.Timestamp("2026-01-05 09:05", tz="America/Sao_Paulo")]}
    )
    out = store.get_historical_features(entity, applied.settings, store=applied.fs, engine=engine)  # type: ignore[arg-type]
    assert out["vol_10"].iloc[0] == 4.0


@pytest.fixture(scope="module")
def edge_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """WDO day 1 with NaN holes and bars 3..6 rebuilt later (two builds per close), WIN day 1."""
    settings = make_settings(tmp_path_factory.mktemp("feast_edges"))
    lake = Lake(settings.lake_root)
    first = synthetic_features(DAY1)
    first.iloc[2, :] = np.nan
    first.iloc[5, [0, 7, 40]] = np.nan
    rebuilt = synthetic_features(DAY1[3:7], 500.0)
    rebuilt.iloc[1, 3] = np.nan
    day = pd.concat(
        [
            feature_table(first, "WDO", created=CREATED),
            feature_table(rebuilt, "WDO", created=CREATED + pd.Timedelta(hours=1)),
        ],
        ignore_index=True,
    )
    lake.write_day(FEATURES_DATASET, "WDO", DAY1[0].date(), day)
    write_feature_table(lake, feature_table(synthetic_features(DAY1, 1000.0), "WIN", created=CREATED), "WIN")
    fs = store.open_store(settings)
    store.apply_repo(settings, fs)
    yield Applied(settings, fs)


def test_asof_engine_equals_feast_on_ttl_edges_rebuilds_nan_and_missing_entities(edge_lake: Applied) -> None:
    last, ttl = DAY1[-1], pd.Timedelta(minutes=15)
    asked = [
        ("WDO", DAY1[3]),  # an asked time equal to a feature time (rebuilt bar: the newer build wins)
        ("WDO", DAY1[2]),  # a row of NaN
        ("WDO", DAY1[4] + pd.Timedelta(seconds=30)),  # rebuilt with one NaN; between closes
        ("WDO", DAY1[8]),
        ("WDO", DAY1[5]),  # NaN holes of the old build are not inherited by the rebuild
        ("WDO", last + ttl),  # a feature row exactly TTL old still answers
        ("WDO", last + ttl + pd.Timedelta(microseconds=1)),  # just beyond: missing
        ("WDO", DAY1[0] - pd.Timedelta(microseconds=1)),  # before the first bar
        ("PETR4", DAY1[4]),  # an entity with no stored row
        ("WIN", DAY1[4]),
        ("WDO", DAY1[3]),  # the same question twice
        ("WIN", last + pd.Timedelta(minutes=3)),
    ]
    entity = pd.DataFrame(
        {"symbol": [a for a, _ in asked], "event_timestamp": pd.DatetimeIndex([t for _, t in asked]),
         "label": np.arange(len(asked))},
        index=np.arange(len(asked))[::-1],
    )
    fast = store.get_historical_features(entity, edge_lake.settings, store=edge_lake.fs, engine="asof")  # type: ignore[arg-type]
    feast = store.get_historical_features(entity, edge_lake.settings, store=edge_lake.fs, engine="feast")  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(fast, feast, check_exact=True)
    # The sample discriminates: each case is what it claims to be.
    col0, col3 = FEATURE_NAMES[0], FEATURE_NAMES[3]
    assert fast[col0].iloc[0] == 500.0 and fast[col0].iloc[10] == 500.0
    assert fast[list(FEATURE_NAMES)].iloc[1].isna().all()
    assert fast[col0].iloc[2] == 501.0 and np.isnan(fast[col3].iloc[2])
    assert fast[col0].iloc[3] == 8.0
    assert fast[col0].iloc[4] == 502.0 and fast[list(FEATURE_NAMES)].iloc[4].notna().all()
    assert fast[col0].iloc[5] == 9.0
    assert fast[list(FEATURE_NAMES)].iloc[[6, 7, 8]].isna().all().all()
    assert fast[col0].iloc[9] == 1004.0 and fast[col0].iloc[11] == 1009.0


def test_asked_times_finer_than_a_microsecond_are_refused_by_both_engines(applied: Applied, engine: str) -> None:
    # The stored times are microseconds; Feast's join cannot cast a nanosecond ask to them.
    entity = pd.DataFrame({"symbol": ["WDO"], "event_timestamp": [DAY1[3] + pd.Timedelta(nanoseconds=1)]})
    with pytest.raises(InputError, match="finer than a microsecond"):
        store.get_historical_features(entity, applied.settings, store=applied.fs, engine=engine)  # type: ignore[arg-type]


def test_asof_engine_equals_feast_on_a_random_sample(applied: Applied) -> None:
    rng = np.random.default_rng(7)
    times = pd.Timestamp("2026-01-05 11:55", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 26 * 3600 * 10**6, 300), unit="us"
    )
    entity = pd.DataFrame({"symbol": rng.choice(["WDO", "WIN", "DOL"], 300), "event_timestamp": times})
    fast = store.get_historical_features(entity, applied.settings, store=applied.fs, engine="asof")  # type: ignore[arg-type]
    feast = store.get_historical_features(entity, applied.settings, store=applied.fs, engine="feast")  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(fast, feast, check_exact=True)
    assert 0 < fast["vol_10"].notna().sum() < len(entity)


def test_an_unknown_retrieval_engine_is_a_config_error(applied: Applied) -> None:
    entity = pd.DataFrame({"symbol": ["WDO"], "event_timestamp": [DAY1[3]]})
    with pytest.raises(ConfigError, match="'spark'"):
        store.get_historical_features(entity, applied.settings, store=applied.fs, engine="spark")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entity", "error", "words"),
    [
        (pd.DataFrame({"symbol": ["WDO"]}), SchemaError, "missing columns ['event_timestamp']"),
        (
            pd.DataFrame({"symbol": ["WDO"], "event_timestamp": [pd.Timestamp("2026-01-05 12:03")]}),
            SchemaError,
            "timezone",
        ),
        (
            pd.DataFrame({"symbol": [None], "event_timestamp": [pd.Timestamp("2026-01-05 12:03", tz="UTC")]}),
            InputError,
            "'symbol'",
        ),
        (
            pd.DataFrame(
                {"symbol": pd.Series([], dtype=str), "event_timestamp": pd.Series([], dtype="datetime64[ns, UTC]")}
            ),
            InputError,
            "no rows",
        ),
        (
            pd.DataFrame(
                {"symbol": ["WDO"], "event_timestamp": [pd.Timestamp("2026-01-05 12:03", tz="UTC")], "rsi_14": [1.0]}
            ),
            SchemaError,
            "rsi_14",
        ),
    ],
)
def test_bad_entity_rows_are_rejected_with_the_problem_named(
    applied: Applied, entity: pd.DataFrame, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=re.escape(words)):
        store.get_historical_features(entity, applied.settings, store=applied.fs)  # type: ignore[arg-type]


def test_online_lookup_returns_the_newest_bar_of_each_symbol(applied: Applied) -> None:
    wdo = store.get_online_features("WDO", applied.settings)
    win = store.get_online_features("WIN", applied.settings)
    assert list(wdo) == list(FEATURE_NAMES)
    assert set(wdo.values()) == {19.0}
    assert set(win.values()) == {1019.0}


def test_online_lookup_of_an_unknown_symbol_is_an_input_error(applied: Applied) -> None:
    with pytest.raises(InputError, match="'PETR4'"):
        store.get_online_features("PETR4", applied.settings)


def test_lookups_before_feast_apply_say_to_apply(tmp_path: Path) -> None:
    fresh = make_settings(tmp_path)
    with pytest.raises(InputError, match="qtml features apply"):
        store.get_online_features("WDO", fresh)
    with pytest.raises(InputError, match="qtml features build"):
        store.materialize_online(fresh)


def test_stored_features_with_another_spec_hash_are_refused(applied: Applied, tmp_path: Path) -> None:
    other = make_settings(tmp_path)
    table = feature_table(synthetic_features(DAY1), "WDO", created=CREATED)
    table["spec_hash"] = "0" * 64
    write_feature_table(Lake(other.lake_root), table, "WDO")
    entity = pd.DataFrame({"symbol": ["WDO"], "event_timestamp": [DAY1[3]]})
    with pytest.raises(SpecMismatchError, match="qtml features build"):
        store.get_historical_features(entity, other, store=applied.fs)  # type: ignore[arg-type]
    with pytest.raises(SpecMismatchError):
        store.materialize_online(other, applied.fs)  # type: ignore[arg-type]


def test_a_registry_applied_with_another_spec_hash_is_refused(applied: Applied, tmp_path: Path) -> None:
    from feature_repo.feature_definitions import definitions

    # Same lake, its own registry (a teardown would delete the shared registry file).
    other = load_settings(root=tmp_path, stores={"feast_repo": str(REPO), "lake_root": str(applied.settings.lake_root)})
    fs = store.open_store(other)
    objects = definitions(store.source_glob(other.lake_root))
    objects[2].tags["spec_hash"] = "f" * 64  # type: ignore[attr-defined]
    fs.apply(objects)  # type: ignore[arg-type]
    entity = pd.DataFrame({"symbol": ["WDO"], "event_timestamp": [DAY1[3]]})
    with pytest.raises(SpecMismatchError, match="feature view"):
        store.get_historical_features(entity, other, store=fs)


def test_materialize_twice_is_incremental_and_picks_up_a_new_day(applied: Applied) -> None:
    day3 = pd.date_range("2026-01-07 12:01", periods=5, freq="60s", tz="UTC")
    lake = Lake(applied.settings.lake_root)
    write_feature_table(lake, feature_table(synthetic_features(day3, 500.0), "WDO", created=CREATED), "WDO")
    try:
        summary = store.materialize_online(applied.settings, applied.fs)  # type: ignore[arg-type]
        assert summary["mode"] == "incremental"
        assert set(store.get_online_features("WDO", applied.settings).values()) == {504.0}
    finally:
        for day in lake.days(FEATURES_DATASET, "WDO")[2:]:
            lake.delete_day(FEATURES_DATASET, "WDO", day)


def test_names_in_the_repo_match_the_store_module() -> None:
    from feature_repo import feature_definitions as fd

    assert (fd.FEATURE_VIEW_NAME, fd.SERVICE_NAME, fd.SOURCE_ENV) == (
        store.FEATURE_VIEW_NAME,
        store.SERVICE_NAME,
        store.SOURCE_ENV,
    )
    assert [f.name for f in fd.qt65_bar_features.features] == list(FEATURE_NAMES)


@pytest.mark.slow
def test_bare_feast_apply_from_the_repo_folder_works(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    env = {**os.environ, **store.feast_env(settings)}
    store.feast_dir(settings).mkdir(parents=True)  # `qtml features env` creates it; Feast does not
    feast = str(Path(sys.executable).with_name("feast"))
    done = subprocess.run([feast, "apply"], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (store.feast_dir(settings) / "registry.db").exists()
    fs = store.open_store(settings)
    assert [f.name for f in fs.get_feature_service("qt65_v1").feature_view_projections[0].features] == list(
        FEATURE_NAMES
    )
    assert fs.get_data_source("qt65_v1_parquet").path == store.source_glob(settings.lake_root)  # type: ignore[attr-defined]

"""The production profile: Feast with the Redis online store, against the real Redis on 127.0.0.1:6379.

The test uses a unique Feast project (Redis keys embed it) and tears it down, checking that no key
of the project is left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import store
from features.offline import feature_table, write_feature_table
from features.spec import FEATURE_NAMES
from market.lake import Lake
from quantumtrader.config import Settings, load_settings

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[2] / "feature_repo"
REDIS = "127.0.0.1:6379"


def _redis_keys(project: str) -> list[bytes]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    return [k for k in client.scan_iter(count=1000) if project.encode() in k]


@pytest.fixture(scope="module")
def redis_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as err:  # pragma: no cover - the CI machine runs Redis
        pytest.fail(f"Redis is not reachable on {REDIS}: {err}")
    settings = load_settings(
        root=tmp_path_factory.mktemp("feast_redis"),
        stores={"feast_repo": str(REPO)},
        features={"online_store": "redis", "redis_connection": REDIS},
    )
    project = f"qt_test_{uuid.uuid4().hex[:12]}"
    closes = pd.date_range("2026-01-05 12:01", periods=30, freq="60s", tz="UTC")
    values = np.repeat(np.arange(30, dtype="float64")[:, None], len(FEATURE_NAMES), axis=1)
    values[-1, FEATURE_NAMES.index("spread_ticks")] = np.nan  # a missing book value stays NaN online
    frame = pd.DataFrame(values, index=closes, columns=list(FEATURE_NAMES))
    write_feature_table(Lake(settings.lake_root), feature_table(frame, "WDO", created=closes[-1]), "WDO")
    fs = store.open_store(settings, project=project)
    store.apply_repo(settings, fs)
    store.materialize_online(settings, fs)
    yield settings, project
    store.forget_online_stores()
    fs.teardown()


def test_redis_profile_is_selected_by_the_configuration(redis_settings: tuple[Settings, str]) -> None:
    settings, project = redis_settings
    config = store.repo_config(settings, project=project)
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == REDIS
    assert config.offline_store.type == "duckdb"
    assert str(config.registry.path).endswith("registry.redis.db")


def test_materialized_vector_is_read_back_from_redis(redis_settings: tuple[Settings, str]) -> None:
    settings, project = redis_settings
    vector = store.get_online_features("WDO", settings, project=project)
    assert list(vector) == list(FEATURE_NAMES)
    assert np.isnan(vector["spread_ticks"])
    assert {v for k, v in vector.items() if k != "spread_ticks"} == {29.0}
    assert _redis_keys(project), "materialisation wrote no key of the project to Redis"


def test_teardown_removes_every_key_of_the_project(tmp_path: Path) -> None:
    settings = load_settings(
        root=tmp_path, stores={"feast_repo": str(REPO)}, features={"online_store": "redis", "redis_connection": REDIS}
    )
    project = f"qt_test_{uuid.uuid4().hex[:12]}"
    closes = pd.date_range("2026-01-05 12:01", periods=3, freq="60s", tz="UTC")
    frame = pd.DataFrame(1.0, index=closes, columns=list(FEATURE_NAMES))
    write_feature_table(Lake(settings.lake_root), feature_table(frame, "WIN", created=closes[-1]), "WIN")
    fs = store.open_store(settings, project=project)
    store.apply_repo(settings, fs)
    store.materialize_online(settings, fs)
    assert _redis_keys(project)
    fs.teardown()
    assert _redis_keys(project) == []

from __future__ import annotations

from pathlib import Path

import pytest

from quantumtrader.config import load_settings
from quantumtrader.errors import ConfigError


def test_default_stores_all_live_under_var(tmp_path: Path) -> None:
    s = load_settings(root=tmp_path)
    var = tmp_path.resolve() / "var"
    assert s.var_dir == var
    assert s.lake_root == var / "lake"
    assert s.mlflow_tracking_uri == f"sqlite:///{var / 'mlflow' / 'mlflow.db'}"
    assert s.stores.journal_db_url == f"sqlite:///{var / 'journal.db'}"
    assert str(s.stores.prefect_api_database_url).endswith(str(var / "prefect" / "prefect.db"))


def test_environment_overrides_nested_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_MARKET__BARS__SPEC", "tick:100")
    monkeypatch.setenv("QT_STORES__MLFLOW_TRACKING_URI", "postgresql://qt@127.0.0.1:5432/test")
    s = load_settings(root=tmp_path)
    assert s.market.bars.spec == "tick:100"
    assert s.mlflow_tracking_uri == "postgresql://qt@127.0.0.1:5432/test"


def test_wrong_value_fails_with_field_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_LIVE__RISK__MAX_POSITION", "-3")
    with pytest.raises(ConfigError, match=r"live\.risk\.max_position"):
        load_settings(root=tmp_path)


def test_unknown_key_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"market\.bar_spek"):
        load_settings(root=tmp_path, market={"bar_spek": "time:60s"})


def test_missing_config_file_named_by_env_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_settings(root=tmp_path)

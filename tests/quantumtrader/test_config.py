from __future__ import annotations

import os
from pathlib import Path

import pytest

from quantumtrader.config import load_settings
from quantumtrader.config_check import (
    FOREIGN_PREFIXES,
    NON_SETTING_ENV,
    db_url_problem,
    mlflow_uri_problem,
    redis_problem,
)
from quantumtrader.errors import ConfigError
from quantumtrader.logging import redact


def test_default_stores_all_live_under_var(tmp_path: Path) -> None:
    s = load_settings(root=tmp_path)
    var = tmp_path.resolve() / "var"
    assert s.var_dir == var
    assert s.lake_root == var / "lake"
    assert s.mlflow_tracking_uri == f"sqlite:///{var / 'mlflow' / 'mlflow.db'}"
    assert s.stores.journal_db_url == f"sqlite:///{var / 'journal' / 'paper.db'}"
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


# -- refusals at start: names nobody reads, values that cannot work, broken YAML --------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_stray_qt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own QT_ variables must not decide these tests."""
    for name in [n for n in os.environ if n.upper().startswith("QT_")]:
        monkeypatch.delenv(name)


def _refusal(tmp_path: Path, **overrides: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(root=tmp_path, **overrides)
    return str(info.value)


def test_a_misspelled_section_lists_the_valid_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_MARKT__SYMBOL", "WIN")
    assert _refusal(tmp_path) == ("QT_MARKT__SYMBOL: unknown section 'markt'; valid sections: stores, logging, "
                                  "market, costs, features, training, live, promotion, reports, ops, drift, research "
                                  "(did you mean market?)")


def test_an_unknown_top_level_name_lists_the_valid_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_FOO", "1")
    msg = _refusal(tmp_path)
    assert msg.startswith("QT_FOO: unknown setting 'foo'; valid names: QT_CONFIG, ")
    assert "QT_ROOT" in msg and "QT_<SECTION>__<KEY>" in msg and "\n" not in msg
    monkeypatch.delenv("QT_FOO")
    monkeypatch.setenv("QT_ROOOT", "/x")
    assert _refusal(tmp_path).endswith("(did you mean QT_ROOT?)")


@pytest.mark.parametrize(("name", "expected"), [
    ("QT_MARKET__BARS__SPECC",
     "QT_MARKET__BARS__SPECC: unknown key 'specc' in market.bars; valid keys: spec, large_trade_qty "
     "(did you mean spec?)"),
    ("QT_STORES__VARDIR", "QT_STORES__VARDIR: unknown key 'vardir' in stores; valid keys: var_dir, "),
    ("QT_MARKET__INSTRUMENTS__MES__TICKSIZE",
     "QT_MARKET__INSTRUMENTS__MES__TICKSIZE: unknown key 'ticksize' in market.instruments.mes; valid keys: "),
    ("QT_MARKET__SYMBOL__X", "QT_MARKET__SYMBOL__X: market.symbol is a value, not a section; set QT_MARKET__SYMBOL"),
    ("QT_MARKET__BARS", "QT_MARKET__BARS: market.bars is a section, not a value; set its keys as "
                        "QT_MARKET__BARS__<KEY> (keys: spec, large_trade_qty)"),
])
def test_an_unknown_nested_name_lists_the_valid_keys_of_its_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, expected: str
) -> None:
    monkeypatch.setenv(name, "x")
    msg = _refusal(tmp_path)
    assert msg.startswith(expected) and "\n" not in msg


def test_every_bad_name_gets_its_own_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_MARKT__SYMBOL", "WIN")
    monkeypatch.setenv("QT_FOO", "1")
    lines = _refusal(tmp_path).splitlines()
    assert [line.split(":")[0] for line in lines] == ["QT_FOO", "QT_MARKT__SYMBOL"]


def test_known_names_json_sections_and_non_setting_names_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from market.append import PAUSE_ENV

    assert PAUSE_ENV in NON_SETTING_ENV  # the hook's name is allowed where the rule lives
    assert not any(n.startswith(FOREIGN_PREFIXES) for n in ("QT_ROOT", "QT_FOO", "QT_CONFIG"))
    for name in NON_SETTING_ENV:
        if name != "QT_CONFIG":
            monkeypatch.setenv(name, "1")
    monkeypatch.setenv("QT_ROOT", str(tmp_path))
    monkeypatch.setenv("qt_logging__level", "DEBUG")  # names ignore case, as pydantic-settings reads them
    monkeypatch.setenv("QT_MARKET__BARS", '{"spec": "tick:5"}')
    for foreign in ("QT_QPA_PLATFORM", "QT_IM_MODULE", "QT_ACCESSIBILITY", "QT_API", "QT_LOGGING_RULES"):
        monkeypatch.setenv(foreign, "1")  # the Qt GUI toolkit's names, set by desktops: not ours
    s = load_settings()
    assert s.root == tmp_path.resolve() and s.logging.level == "DEBUG" and s.market.bars.spec == "tick:5"


def test_dotenv_qt_names_are_checked_and_other_names_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QT_CONFIG", str(REPO / "config" / "default.yaml"))
    (tmp_path / ".env").write_text("DO_NOT_TRACK=true\nQT_DB_PASSWORD=s3cret\n"
                                   "QT_STORES__JOURNAL_DB_URL=postgresql://qt:${QT_DB_PASSWORD}@127.0.0.1:5432/test\n"
                                   "QT_MARKET__BARS__SPEC=tick:7\n")
    s = load_settings(root=tmp_path)
    assert s.market.bars.spec == "tick:7"
    assert s.stores.journal_db_url == "postgresql://qt:s3cret@127.0.0.1:5432/test"
    (tmp_path / ".env").write_text("QT_MARKT__SYMBOL=WIN\n")
    assert _refusal(tmp_path).startswith(".env: QT_MARKT__SYMBOL: unknown section 'markt'; valid sections: ")


def _yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "qt.yaml"
    path.write_text(text)
    monkeypatch.setenv("QT_CONFIG", str(path))
    return path


def test_unknown_yaml_keys_are_refused_with_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _yaml(tmp_path, monkeypatch, "market:\n  symbol: WDO\n  bars:\n    specc: time:60s\nmarkt: {}\n"
                 "  \nlive:\n  risk:\n    max_position: 1\n")
    assert _refusal(tmp_path).splitlines() == [
        f"{path}:4: unknown key 'specc' in market.bars; valid keys: spec, large_trade_qty (did you mean spec?)",
        f"{path}:5: unknown section 'markt'; valid sections: stores, logging, market, costs, features, training, live, "
        "promotion, reports, ops, drift, research (did you mean market?)",
    ]


def test_the_old_broker_and_label_cost_keys_are_refused_naming_the_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _yaml(tmp_path, monkeypatch, "live:\n  broker:\n    latency_ms: 5\n    slippage_ticks: 1\n"
                 "training:\n  labels:\n    slippage_ticks_per_side: 0.5\n")
    monkeypatch.setenv("QT_LIVE__BROKER__STOP_SLIPPAGE_TICKS", "2")
    assert _refusal(tmp_path).splitlines() == [
        "QT_LIVE__BROKER__STOP_SLIPPAGE_TICKS: live.broker was moved: set costs.stop_slippage_ticks instead "
        "(docs/costs-and-warmup.md)",
        f"{path}:2: live.broker was moved: set costs.latency_ms, costs.slippage_ticks instead "
        "(docs/costs-and-warmup.md)",
        f"{path}:7: training.labels.slippage_ticks_per_side was moved: set costs.spread_ticks / costs.slippage_ticks "
        "instead (docs/costs-and-warmup.md)",
    ]


def test_the_costs_section_is_one_config_for_labels_and_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from live_engine.execution.costs import round_trip_cost_ticks
    from market.instruments import get_instrument

    s = load_settings(root=tmp_path)
    assert s.costs.latency_ms > 0 and not s.costs.touch_fills
    assert round_trip_cost_ticks(get_instrument("WDO"), s.costs) == pytest.approx(2 * 1.2 / 5 + 2 * 0.5)
    monkeypatch.setenv("QT_COSTS__SPREAD_TICKS", "2")
    assert round_trip_cost_ticks(get_instrument("WDO"), load_settings(root=tmp_path).costs) == pytest.approx(2.48)


def test_unknown_keys_inside_instruments_and_their_hours_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _yaml(tmp_path, monkeypatch, "market:\n  instruments:\n    MES:\n      tick_size: 0.25\n"
                 "      point_value: 5\n      hours:\n"
                 "        - {valid_from: 2010-01-01, open: '17:00', clse: '16:00'}\n")
    msg = _refusal(tmp_path)
    assert msg.startswith(f"{path}:7: unknown key 'clse' in market.instruments.MES.hours.0; valid keys: ")
    assert msg.endswith("(did you mean close?)")


def test_broken_yaml_is_one_line_with_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _yaml(tmp_path, monkeypatch, "market:\n  symbol: WDO\n  bars:\n    spec: time:60s\n  bad: x: y\n")
    assert _refusal(tmp_path) == f"{path}:5: mapping values are not allowed here"
    _yaml(tmp_path, monkeypatch, "- market\n- stores\n")
    assert _refusal(tmp_path).startswith(f"{path}: the file must be a mapping of sections (stores, ")


def test_a_bad_yaml_value_names_its_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _yaml(tmp_path, monkeypatch, "market:\n  bars:\n    large_trade_qty: -1\n")
    assert _refusal(tmp_path) == (f"market.bars.large_trade_qty (from {path}:3): "
                                  "Input should be greater than 0 (got -1)")


def test_a_symbol_that_is_no_instrument_is_one_line_naming_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QT_MARKET__SYMBOL", "FOO")
    msg = _refusal(tmp_path)
    assert msg.startswith("market: symbol 'FOO' is no configured instrument; known: ")
    assert all(s in msg for s in ("WDO", "WIN", "DOL", "IND")) and "\n" not in msg and "{" not in msg


@pytest.mark.parametrize("uri", [
    "sqlite:///var/mlflow.db", "sqlite:////abs/mlflow.db", "postgresql://qt@127.0.0.1:5432/test",
    "postgresql+psycopg2://qt:pw@h/db", "mysql://u@h:3306/m", "mssql+pyodbc://u@dsn", "file:/tmp/mlruns",
    "file:///tmp/mlruns", "http://127.0.0.1:5000", "https://mlflow.example.com/", "databricks",
    "databricks://profile", "databricks-uc",
])
def test_tracking_uris_mlflow_accepts_pass(uri: str) -> None:
    assert mlflow_uri_problem(uri) is None


@pytest.mark.parametrize("uri", ["notauri", "/tmp/mlruns", "ftp://h/x", "http://", "https://h:port/",
                                 "postgresql:/h/db", "postgresql://h:port/db", "mlflow.db"])
def test_tracking_uris_mlflow_cannot_open_are_refused(uri: str) -> None:
    assert mlflow_uri_problem(uri) is not None


def test_a_tracking_uri_that_is_no_uri_fails_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_STORES__MLFLOW_TRACKING_URI", "notauri")
    msg = _refusal(tmp_path)
    assert msg.startswith("stores.mlflow_tracking_uri (from QT_STORES__MLFLOW_TRACKING_URI): 'notauri' is no "
                          "tracking URI MLflow accepts; use sqlite:///")
    assert "\n" not in msg


@pytest.mark.parametrize("url", [
    "sqlite://", "sqlite:///rel/j.db", "sqlite:////abs/j.db", "postgresql://qt@127.0.0.1:5432/test",
    "postgresql+psycopg://u:p%40ss@h:5432/db?sslmode=require", "mysql+pymysql://u@[::1]:3306/db",
    "sqlite+aiosqlite:///var/prefect/prefect.db", "notaurl", "postgresql:/h/db", "postgresql://h:port/db",
    "postgres ql://h/db", "://h/db",
])
def test_database_urls_are_judged_as_sqlalchemy_parses_them(url: str) -> None:
    from sqlalchemy.engine import make_url

    try:
        make_url(url)
        sqlalchemy_ok = True
    except Exception:  # ArgumentError for no URL, ValueError for a port that is no number
        sqlalchemy_ok = False
    assert (db_url_problem(url) is None) is sqlalchemy_ok, url


def test_a_password_never_appears_in_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_STORES__JOURNAL_DB_URL", "postgresql://qt:hunter2@127.0.0.1:port/test")
    monkeypatch.setenv("QT_STORES__MLFLOW_TRACKING_URI", "postgresql://qt:hunter2@127.0.0.1:port/test")
    msg = _refusal(tmp_path)
    assert "hunter2" not in msg and msg.count("postgresql://qt:***@127.0.0.1:port/test") == 2
    assert msg.splitlines()[1].startswith("stores.journal_db_url (from QT_STORES__JOURNAL_DB_URL): ")
    assert redact("x mysql://u:p@h/db y https://a:b@c") == "x mysql://u:***@h/db y https://a:***@c"


def test_redact_keeps_a_json_line_whose_url_has_a_port() -> None:
    # orjson writes no spaces: a URL with a port followed by any "@" later on the line used to lose the text between
    line = '{"url":"http://127.0.0.1:5000/x","who":"a@b","db":"postgresql://qt:hunter2@h:5432/t"}'
    assert redact(line) == '{"url":"http://127.0.0.1:5000/x","who":"a@b","db":"postgresql://qt:***@h:5432/t"}'
    assert redact("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"


@pytest.mark.parametrize(("stores", "reason"), [
    ({"prefect_api_url": "127.0.0.1:4200/api"}, "stores.prefect_api_url: '127.0.0.1:4200/api' is no http(s)://"),
    ({"prefect_api_database_url": "prefect.db"}, "stores.prefect_api_database_url: 'prefect.db' is no database URL"),
])
def test_prefect_urls_must_parse(tmp_path: Path, stores: dict[str, str], reason: str) -> None:
    assert _refusal(tmp_path, stores=stores).startswith(reason)


@pytest.mark.parametrize(("connection", "ok"), [
    ("127.0.0.1:6379", True), ("redis.internal:6380,db=2,password=pw,ssl=true", True), ("h1:7000,h2:7001", True),
    ("localhost", False), ("localhost:redis", False), ("h:99999", False), ("db=0", False), ("", False),
])
def test_the_redis_address_must_be_host_port(connection: str, ok: bool) -> None:
    assert (redis_problem(connection) is None) is ok


def test_a_bad_redis_address_fails_at_start(tmp_path: Path) -> None:
    msg = _refusal(tmp_path, features={"online_store": "redis", "redis_connection": "localhost"})
    assert msg.startswith("features.redis_connection: 'localhost' is not host:port (Feast's form: ")


def test_a_var_dir_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert _refusal(tmp_path, stores={"var_dir": str(blocker / "var")}) == (
        f"stores.var_dir: {blocker / 'var'} cannot be created: {blocker} is a file, not a directory")
    assert _refusal(tmp_path, stores={"var_dir": str(blocker)}) == (
        f"stores.var_dir: {blocker} exists and is not a directory")
    assert not (blocker.parent / "var").exists()  # checking creates nothing


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("QT_LIVE__COORDINATOR__REGIME_THRESHOLDS", "0.1",
     "QT_LIVE__COORDINATOR__REGIME_THRESHOLDS: live.coordinator.regime_thresholds takes a JSON list or mapping"),
    ("QT_MARKET__INSTRUMENTS__MES__HOURS", "17:00",
     "QT_MARKET__INSTRUMENTS__MES__HOURS: market.instruments.mes.hours takes a JSON list or mapping"),
    ("QT_MARKET__BARS", "{bad", "QT_MARKET__BARS: market.bars is a section, not a value"),
])
def test_a_list_or_section_given_in_the_environment_must_be_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    msg = _refusal(tmp_path)
    assert msg.startswith(expected) and "\n" not in msg

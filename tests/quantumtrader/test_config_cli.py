"""The real ``qtml config`` refuses each bad configuration at start: exit 2, one stderr line, no traceback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QTML = REPO / ".venv" / "bin" / "qtml"


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``qtml config`` in an empty directory (no stray .env), on the project's default YAML."""
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("QT_")}
    base.update(QT_CONFIG=str(REPO / "config" / "default.yaml"), QT_ROOT=str(tmp_path),
                QT_STORES__VAR_DIR=str(tmp_path / "var"), DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true")
    return subprocess.run([str(QTML), "config"], cwd=tmp_path, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_the_good_configuration_still_loads(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"var_dir: {tmp_path / 'var'}" in proc.stdout


def test_config_masks_the_password_of_a_store_uri(tmp_path: Path) -> None:
    proc = _run(tmp_path, QT_STORES__MLFLOW_TRACKING_URI="postgresql://qt:s3cret@127.0.0.1:5432/test")
    assert proc.returncode == 0, proc.stderr
    assert "mlflow_tracking_uri: postgresql://qt:***@127.0.0.1:5432/test" in proc.stdout
    assert "s3cret" not in proc.stdout + proc.stderr


def _broken_yaml(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "broken.yaml"
    path.write_text("market:\n  symbol: WDO\n  bars:\n    spec: time:60s\n\n\n  bad: x: y\n")
    return {"QT_CONFIG": str(path)}


def _blocked_var_dir(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("")
    return {"QT_STORES__VAR_DIR": str(tmp_path / "a-file" / "var")}


@pytest.mark.parametrize(("make_env", "expected"), [
    (lambda _: {"QT_MARKT__SYMBOL": "WIN"}, "QT_MARKT__SYMBOL: unknown section 'markt'; valid sections: stores, "
                                            "logging, market, costs, features, training, live, promotion, "
                                            "reports, ops, drift, research (did you mean market?)"),
    (lambda _: {"QT_FOO": "1"}, "QT_FOO: unknown setting 'foo'; valid names: QT_CONFIG, "),
    (lambda _: {"QT_MARKET__BARS__SPECC": "x"}, "QT_MARKET__BARS__SPECC: unknown key 'specc' in market.bars; "
                                                "valid keys: spec, large_trade_qty (did you mean spec?)"),
    (lambda _: {"QT_MARKET__SYMBOL": "FOO"}, "market: symbol 'FOO' is no configured instrument; known: "),
    (lambda _: {"QT_STORES__MLFLOW_TRACKING_URI": "notauri"},
     "stores.mlflow_tracking_uri (from QT_STORES__MLFLOW_TRACKING_URI): 'notauri' is no tracking URI MLflow "),
    (_broken_yaml, "broken.yaml:7: mapping values are not allowed here"),
    (_blocked_var_dir, "a-file/var cannot be created: "),
], ids=["section", "top-level", "nested-key", "symbol", "mlflow-uri", "broken-yaml", "var-dir"])
def test_a_bad_configuration_is_one_line_and_exit_2(
    tmp_path: Path, make_env: Callable[[Path], dict[str, str]], expected: str
) -> None:
    proc = _run(tmp_path, **make_env(tmp_path))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert proc.stdout == ""

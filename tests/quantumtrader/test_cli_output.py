"""The CLI's output, the real ``qtml`` in subprocesses off a terminal (pipes) at 80 columns.

One small demo store (``qtml demo`` on 8 short sessions) serves every test of this module: its run
shows the per-step progress lines, then ``features show``, ``features build --json``,
``train --json`` and ``backtest --json`` read (or rebuild) it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.spec import FEATURE_NAMES

REPO = Path(__file__).resolve().parents[2]
SMALL = {"QT_MARKET__SIMULATOR__SESSIONS": "8", "QT_MARKET__SIMULATOR__TRADES_PER_SESSION": "4000",
         "QT_TRAINING__HOLDOUT_SESSIONS": "3", "QT_LIVE__BACKTEST__SESSIONS": "3", "QT_TRAINING__CV__N_FOLDS": "3"}
BAR = re.compile(r"[━╸╺].*\d+:\d\d:\d\d\s*$|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", re.M)  # a rich bar or spinner with its elapsed time
STEP_LINE = re.compile(r"^(\w[\w -]*): .+ \(\d+\.\d s\)$")


def qtml(var: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **SMALL, "QT_STORES__VAR_DIR": str(var), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "quantumtrader.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    var = tmp_path_factory.mktemp("cli-output") / "var"
    proc = qtml(var, "demo", timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return var, proc


@pytest.mark.slow
def test_demo_off_a_terminal_prints_a_line_per_step_and_no_bar(demo) -> None:
    _, proc = demo
    out = proc.stdout
    assert not BAR.search(out + proc.stderr)
    steps = [line for line in out.splitlines() if STEP_LINE.match(line)]
    whats = {STEP_LINE.match(line).group(1) for line in steps}  # type: ignore[union-attr]
    assert {"ingest", "features", "train", "backtest"} <= whats
    assert any(re.match(r"train: CV of .* folds .* (\d+)/\1 \(", line) for line in steps)
    assert any(line.startswith("train: start-up") for line in steps)  # the silent minute before the first task
    # the backtest's steps all come before its result table
    assert out.rindex("backtest: ") < out.index("Backtest metrics")
    # the ingest stage's numbers say what they measure: no bare "s of ingest" next to the stage's wall time
    assert "s of ingest" not in out and "ingest stage:" in out


@pytest.mark.slow
def test_features_show_is_readable_at_80_columns_with_its_as_of_time(demo) -> None:
    var, _ = demo
    proc = qtml(var, "features", "show")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()}
    for name in FEATURE_NAMES:
        assert name in rows, name
        value, group = rows[name]
        assert value == "NaN" or float(value) == float(value)
        assert group in ("volatility", "returns", "order_flow", "volume", "technical", "microstructure", "temporal")
    assert rows["vol_10"][1] == "volatility" and rows["tod_sin"][1] == "temporal"
    assert re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d -03 local \(\d\d:\d\d:\d\d UTC\)", out)


@pytest.mark.slow
def test_features_show_json_is_one_object_with_every_feature(demo) -> None:
    var, _ = demo
    proc = qtml(var, "features", "show", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["symbol"] == "WDO" and data["feature_set"] == "qt65_v1"
    assert list(data["features"]) == list(FEATURE_NAMES)
    assert all(v is None or isinstance(v, float | int) for v in data["features"].values())
    assert data["as_of"].endswith("+00:00") and data["as_of_local"].endswith("-03:00")
    assert data["nan_count"] == sum(v is None for v in data["features"].values())


@pytest.mark.slow
def test_features_build_train_and_backtest_json_parse(demo) -> None:
    var, _ = demo
    build = qtml(var, "features", "build", "--json")
    assert build.returncode == 0, build.stderr[-2000:]
    summary = json.loads(build.stdout)
    assert summary["rows"] > 0 and summary["suite"] == "passed" and summary["materialize"] == "incremental"
    assert Path(summary["features_dir"]).is_dir()
    assert re.search(r"^features: 'features' suite passed on [\d,]+ rows \(", build.stderr, re.M)

    train = qtml(var, "train", "--json", "--no-register")
    assert train.returncode == 0, train.stderr[-2000:]
    result = json.loads(train.stdout)
    assert result["rows"] > 0 and result["registered"] is None and 0 <= result["oof_auc_ovr"] <= 1
    for stage in ("start-up", "dataset of", "CV of", "final model fitted"):
        assert re.search(rf"^train: {stage}.* \(\d+\.\d s\)$", train.stderr, re.M), stage
    assert not BAR.search(train.stderr)

    bt = qtml(var, "backtest", "--json", "--sessions", "2", "--no-mlflow")
    assert bt.returncode == 0, bt.stderr[-2000:]
    res = json.loads(bt.stdout)
    assert Path(res["report"]).exists() and res["mlflow_run_id"] is None
    assert "pnl" in res["metrics"] and res["bars"] > 0
    assert re.search(r"^backtest: sessions replayed 2/2 \(", bt.stderr, re.M)


@pytest.mark.slow
def test_a_bad_model_uri_fails_before_loading_lightgbm_or_the_backtest(demo) -> None:
    var, _ = demo
    env = {**os.environ, "QT_STORES__VAR_DIR": str(var)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "quantumtrader.cli", "backtest",
                           "--model-uri", "models:/nope@x"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert "mlflow" in imported  # the registry was asked ...
    heavy = {"lightgbm", "live_engine.backtest.runner", "live_engine.backtest.replay"}
    assert not heavy & imported  # ... before anything else
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time")]
    assert len(errors) == 1 and "models:/nope@x" in errors[0], errors


def test_help_of_every_command_shows_its_defaults_untruncated_at_80_columns() -> None:
    from quantumtrader.cli import app

    commands = [[], ["simulate"], ["ingest"], ["features"], ["features", "build"], ["features", "show"],
                ["features", "apply"], ["features", "materialize"], ["train"], ["backtest"], ["demo"], ["config"],
                ["model"], ["model", "list"], ["model", "show"], ["model", "evaluate"], ["model", "promote"],
                ["model", "rollback"], ["feed"], ["feed", "publish"], ["engine"], ["engine", "tail"],
                ["engine", "start"], ["engine", "status"], ["engine", "stop"], ["engine", "emergency-stop"],
                ["engine", "replay-check"], ["monitor"]]
    for cmd in commands:
        result = CliRunner().invoke(app, [*cmd, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        assert "…" not in result.output, (cmd, result.output)
        assert max(len(line) for line in result.output.splitlines()) <= 80

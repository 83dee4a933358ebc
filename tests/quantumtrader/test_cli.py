from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from quantumtrader.cli import app

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_one_subcommand_per_stage() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "ingest", "features", "train", "backtest", "model", "demo", "config"):
        assert command in result.output


def test_bad_configuration_stops_the_cli_with_the_field_path(tmp_path: Path) -> None:
    env = {"QT_MARKET__BARS__SPEC": "minutes:5", "PATH": "/usr/bin:/bin", "QT_ROOT": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "quantumtrader.cli", "config"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "market.bars.spec" in proc.stderr

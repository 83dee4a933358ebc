"""``qtml train``: mounted on the CLI with its options."""

from __future__ import annotations

from typer.testing import CliRunner

from quantumtrader.cli import app


def test_train_command_is_mounted_with_its_options() -> None:
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--symbol", "--task-runner", "--no-register"):
        assert option in result.output

from __future__ import annotations

import json
from pathlib import Path

from quantumtrader.logging import get_logger, setup_logging


def test_json_lines_carry_the_documented_fields_and_hide_secrets(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    setup_logging("INFO", console=False, json_path=path)
    get_logger("market.ingest").info("day written", data={"rows": 3, "db_password": "hunter2"})
    record = json.loads(path.read_text().splitlines()[-1])
    assert set(record) == {"ts", "level", "component", "message", "data"}
    assert record["component"] == "market.ingest"
    assert record["message"] == "day written"
    assert record["data"]["rows"] == 3
    assert "hunter2" not in path.read_text()


def test_data_keyed_by_non_strings_is_logged_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    setup_logging("INFO", console=False, json_path=path)
    get_logger("training").info("class counts", data={"counts": {0: 5, 2: 7}, 1: "one"})
    record = json.loads(path.read_text().splitlines()[-1])
    assert record["data"]["counts"] == {"0": 5, "2": 7}
    assert record["data"]["1"] == "one"

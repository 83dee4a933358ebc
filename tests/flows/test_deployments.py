"""prefect.yaml is an interface: every deployment must load, take JSON parameters and carry a valid schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((ROOT / "prefect.yaml").read_text())
DEPLOYMENTS: list[dict[str, Any]] = PROJECT["deployments"]


def test_the_project_declares_the_scheduled_pipeline() -> None:
    names = {d["name"] for d in DEPLOYMENTS}
    assert names == {"ingest-daily", "features-daily", "train-weekly"}


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_loads_a_flow_that_accepts_the_declared_parameters(
    deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    schema = flow.parameters.model_dump()
    declared = deployment.get("parameters") or {}
    assert set(declared) <= set(schema["properties"]), f"unknown parameters {set(declared) - set(schema['properties'])}"
    # a worker must be able to call it with the declared parameters only: everything else has a default
    assert set(schema.get("required", [])) <= set(declared)
    json.dumps(declared)  # deployment parameters travel as JSON


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_schedules_are_valid_cron_in_b3_time(deployment: dict[str, Any]) -> None:
    for schedule in deployment["schedules"]:
        cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
        assert cron.timezone == "America/Sao_Paulo"

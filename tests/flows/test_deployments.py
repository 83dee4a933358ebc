"""prefect.yaml is an interface: every deployment must load, take JSON parameters and carry a valid schedule."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule

ROOT = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((ROOT / "prefect.yaml").read_text())
DEPLOYMENTS: list[dict[str, Any]] = PROJECT["deployments"]


def test_the_project_declares_the_scheduled_pipeline() -> None:
    names = {d["name"] for d in DEPLOYMENTS}
    assert names == {"ingest-daily", "features-daily", "train-weekly", "promote-weekly", "promote", "drift-hourly",
                     "retrain-monthly", "report-daily", "report-weekly", "backup-daily", "clean-weekly",
                     "check-premarket", "research-weekly"}
    assert all(d["work_pool"]["name"] == "quantumtrader" for d in DEPLOYMENTS)


def test_entrypoints_name_modules_not_files() -> None:
    # a file entrypoint runs with flows/ first on sys.path, where flows/features.py shadows the features package
    assert all(".py:" not in d["entrypoint"] and d["entrypoint"].startswith("flows.") for d in DEPLOYMENTS)


def test_promote_is_on_demand_and_retrain_runs_one_at_a_time() -> None:
    by_name = {d["name"]: d for d in DEPLOYMENTS}
    assert by_name["promote"]["schedules"] == []
    assert by_name["retrain-monthly"]["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


# Loaded in a fresh interpreter, as a worker does: ``load_flow_from_entrypoint`` re-executes the flow
# modules, and doing that inside the test process breaks later flow runs there (a Dask cluster's workers
# were seen to drop their connection and the flow to wait forever).
_LOADER = """
import json, sys
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint
out = {}
for entrypoint in sys.argv[1:]:
    flow = load_flow_from_entrypoint(entrypoint)
    assert isinstance(flow, Flow), entrypoint
    out[entrypoint] = flow.parameters.model_dump()
print(json.dumps(out))
"""


def _module_file(entrypoint: str) -> Path:
    return ROOT / (entrypoint.split(":")[0].replace(".", "/") + ".py")


@cache
def _schemas() -> dict[str, Any]:
    entrypoints = sorted({d["entrypoint"] for d in DEPLOYMENTS if _module_file(d["entrypoint"]).is_file()})
    done = subprocess.run([sys.executable, "-c", _LOADER, *entrypoints], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_loads_a_flow_that_accepts_the_declared_parameters(deployment: dict[str, Any]) -> None:
    entrypoint = deployment["entrypoint"]
    where = _module_file(entrypoint).relative_to(ROOT)
    assert entrypoint in _schemas(), f"{entrypoint}: {where} is not in this checkout"
    schema = _schemas()[entrypoint]
    declared = deployment.get("parameters") or {}
    assert set(declared) <= set(schema["properties"]), f"unknown parameters {set(declared) - set(schema['properties'])}"
    # a worker must be able to call it with the declared parameters only: everything else has a default
    assert set(schema.get("required", [])) <= set(declared)
    json.dumps(declared)  # deployment parameters travel as JSON


@pytest.mark.parametrize("deployment", [d for d in DEPLOYMENTS if d["schedules"]], ids=lambda d: d["name"])
def test_schedules_are_valid_cron_in_b3_time(deployment: dict[str, Any]) -> None:
    for schedule in deployment["schedules"]:
        cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
        assert cron.timezone == "America/Sao_Paulo"

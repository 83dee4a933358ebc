"""The gate on real worlds (simulated sessions, real ingest, features, training and replays).

Planted data makes the first model champion; noise is refused whatever the seed; a challenger not
shown better than the champion, one trained on data that failed validation and one whose contract
differs from the engine's are each refused, with their reasons recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from worlds import NOISE_SEEDS, World, fresh_registry

from training.promotion import gate, ledger, registry
from training.promotion.policy import CONTRACT, DSR, PROB_BEATS, PROB_POSITIVE, VALIDATION

pytestmark = pytest.mark.slow


def _rows(settings):
    from quantumtrader.db import create_engine

    return ledger.rows(create_engine(settings.stores.promotions_db_url), settings.training.registered_model_name)


def _champion(settings) -> str | None:
    c = registry.client(settings.mlflow_tracking_uri)
    return registry.alias_version(c, settings.training.registered_model_name, "champion")


def _failed(outcome) -> set[str]:
    return {c.name for c in outcome.verdict.checks if not c.passed}


def test_the_first_model_on_planted_data_becomes_champion_through_the_flow(
        prefect_harness: None, planted_world: World, tmp_path: Path) -> None:
    from flows.promote import promote_flow

    s = fresh_registry(planted_world, tmp_path)
    result = promote_flow(settings=s)
    out = gate.Outcome.from_dict(result)
    assert out.verdict.decision == "promoted", out.verdict.reasons
    assert not _failed(out) and out.champion_before is None and out.champion_after == "1"
    assert _champion(s) == "1"
    assert len(out.sessions) == 10 and out.sessions[0] == "2026-01-26"  # after the 15 training sessions
    # one row, written with every check, and the new champion points back at it
    (row,) = _rows(s)
    assert (row["action"], row["decision"], row["champion_before"], row["champion_after"]) == \
        ("promote", "promoted", None, "1")
    assert [c["name"] for c in row["checks"]] == [c.name for c in out.verdict.checks]
    assert row["sessions"] == list(out.sessions) and row["evidence"]["challenger"]["n_trades"] >= 30
    tags = registry.version_tags(registry.client(s.mlflow_tracking_uri), registry.ModelRef(
        s.training.registered_model_name, "1"))
    assert tags[registry.PREVIOUS_CHAMPION_TAG] == "none" and tags[registry.PROMOTION_ID_TAG] == str(row["id"])
    # the challenger's replay folder carries the verdict in the report's schema
    verdict = json.loads((Path(out.run_dirs["challenger"]) / "verdict.json").read_text())
    assert verdict["decision"] == "promoted" and verdict["champion"] is None
    assert verdict["challenger"] == f"models:/{s.training.registered_model_name}/1"
    assert {c["name"] for c in verdict["checks"]} >= {CONTRACT, VALIDATION, PROB_POSITIVE, DSR}
    # the replay is the backtest's (same outputs, logged to MLflow and tagged with the version)
    assert (Path(out.run_dirs["challenger"]) / "equity.parquet").exists()
    mv = mlflow.MlflowClient(s.mlflow_tracking_uri).get_model_version(s.training.registered_model_name, "1")
    assert mv.tags["last_backtest_run_id"] == row["evidence"]["challenger"]["mlflow_run_id"]


@pytest.mark.parametrize("seed", NOISE_SEEDS)
def test_noise_is_refused_with_its_reasons_whatever_the_seed(
        noise_world: Callable[[int], World], seed: int, tmp_path: Path) -> None:
    s = fresh_registry(noise_world(seed), tmp_path)
    out = gate.promote(s)
    assert out.verdict.decision == "refused"
    assert {PROB_POSITIVE, DSR} <= _failed(out)
    by = {c.name: c for c in out.verdict.checks}
    assert by[PROB_POSITIVE].value is not None and by[PROB_POSITIVE].value < 0.5
    assert by[CONTRACT].passed and by[VALIDATION].passed  # refused for its evidence, not its lineage
    assert _champion(s) is None
    (row,) = _rows(s)
    assert row["decision"] == "refused" and row["champion_after"] is None
    assert "prob_positive" in row["detail"] and "deflated_sharpe" in row["detail"]
    verdict = json.loads((Path(out.run_dirs["challenger"]) / "verdict.json").read_text())
    assert verdict["decision"] == "refused"


def test_a_challenger_not_shown_better_than_the_champion_is_refused_on_the_same_sessions(
        planted_world: World, noise_world: Callable[[int], World], tmp_path: Path) -> None:
    """v1 (trained on the planted data) is champion; v2 was trained on noise: no better, refused."""
    s = fresh_registry(planted_world, tmp_path, planted_world.model_uri, noise_world(NOISE_SEEDS[0]).model_uri)
    assert gate.promote(s, version="1").verdict.decision == "promoted"
    dry = gate.evaluate(s)
    out = gate.promote(s)
    assert out.verdict.decision == "refused" and PROB_BEATS in _failed(out), out.verdict.reasons
    assert dry.verdict.decision == "refused" and dry.verdict.as_dict()["checks"] == out.verdict.as_dict()["checks"]
    assert _champion(s) == "1" and out.champion_before == "1" == out.champion_after
    assert set(out.run_dirs) == {"challenger", "champion"}
    rows = _rows(s)
    assert [(r["action"], r["decision"]) for r in rows] == [
        ("promote", "promoted"), ("evaluate", "refused"), ("promote", "refused")]
    assert rows[-1]["evidence"]["champion"]["run_dir"] == out.run_dirs["champion"]
    assert rows[-1]["sessions"] == rows[0]["sessions"]  # the champion and challenger replay the same days


def test_a_model_trained_on_data_that_failed_validation_is_refused(
        planted_world: World, invalid_data_model: World, tmp_path: Path) -> None:
    s = fresh_registry(planted_world, tmp_path, invalid_data_model.model_uri)
    out = gate.promote(s)
    assert out.verdict.decision == "refused" and VALIDATION in _failed(out)
    check = next(c for c in out.verdict.checks if c.name == VALIDATION)
    assert check.value is False and "quarantine/trades/2026-01-02" in check.detail
    assert _champion(s) is None


def test_a_model_whose_contract_differs_from_the_engines_is_refused_before_any_replay(
        planted_world: World, tmp_path: Path) -> None:
    s = fresh_registry(planted_world, tmp_path)
    bars = s.market.bars.model_copy(update={"large_trade_qty": 50})
    engine_50 = s.model_copy(update={"market": s.market.model_copy(update={"bars": bars})})
    out = gate.promote(engine_50)
    assert out.verdict.decision == "refused" and CONTRACT in _failed(out)
    check = next(c for c in out.verdict.checks if c.name == CONTRACT)
    assert "large_trade_qty: model was trained with 10, this engine runs 50" in check.detail
    assert out.run_dirs == {} and _champion(s) is None
    assert _rows(s)[0]["checks"][0]["name"] == CONTRACT


def test_a_tampered_bundle_file_is_refused_naming_it_before_any_replay(planted_world: World, tmp_path: Path) -> None:
    """An agent YAML edited in the artifact store after registration: the gate refuses the version."""
    s = fresh_registry(planted_world, tmp_path)
    client = mlflow.MlflowClient(s.mlflow_tracking_uri)
    model_id = planted_world.model_uri.removeprefix("models:/")
    stored = Path(client.get_logged_model(model_id).artifact_location.removeprefix("file://"))
    yaml_file = stored / "agents" / "order_flow.yaml"
    original = yaml_file.read_bytes()
    try:
        yaml_file.write_bytes(original + b"# a looser threshold, edited by hand\n")
        out = gate.promote(s)
    finally:
        yaml_file.write_bytes(original)  # the world is shared with the other tests
    assert out.verdict.decision == "refused" and CONTRACT in _failed(out)
    check = next(c for c in out.verdict.checks if c.name == CONTRACT)
    assert "agents/order_flow.yaml" in check.detail and "differs from the registry" in check.detail
    assert out.run_dirs == {} and _champion(s) is None

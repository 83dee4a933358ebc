"""Promote, force, roll back, reconcile and the ``qtml model`` commands, on tiny real models in a real MLflow.

These models have no training run lineage (no training window), so the gate cannot find an
out-of-sample session for them: a non-forced promotion is ``not evaluated`` and moves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_model import contract, register, train_booster
from typer.testing import CliRunner

from quantumtrader.config import Settings
from quantumtrader.db import create_engine
from quantumtrader.errors import InputError
from training.promotion import gate, ledger, registry


@pytest.fixture
def three(settings: Settings) -> Settings:
    """Versions 1..3 of ``quantumtrader`` (tiny boosters with a valid contract, runs that record a passed data
    validation but no training window); @challenger on 3."""
    c = registry.client(settings.mlflow_tracking_uri)
    for seed in range(3):
        register(settings, train_booster(seed=seed), contract())
        c.set_tag(c.get_model_version("quantumtrader", str(seed + 1)).run_id, "data_validation_success", "True")
    return settings


def _rows(s: Settings) -> list[dict]:
    return ledger.rows(create_engine(s.stores.promotions_db_url), s.training.registered_model_name)


def _champion(s: Settings) -> str | None:
    return registry.alias_version(registry.client(s.mlflow_tracking_uri), "quantumtrader", "champion")


def test_a_forced_promotion_moves_the_alias_and_is_recorded_as_forced_with_its_reason(three: Settings) -> None:
    out = gate.promote(three, version="2", force=True, reason="first champion, chosen by hand")
    assert out.verdict.decision == "promoted" and out.forced and _champion(three) == "2"
    (row,) = _rows(three)
    assert row["forced"] is True and row["detail"] == "first champion, chosen by hand"
    assert [c["name"] for c in row["checks"]] == ["feature_contract", "forced"]
    with pytest.raises(InputError, match="needs --reason"):
        gate.promote(three, version="3", force=True)
    with pytest.raises(InputError, match="champion already"):
        gate.promote(three, version="2", force=True, reason="again")


def test_without_an_out_of_sample_session_the_gate_does_not_evaluate_and_moves_nothing(three: Settings) -> None:
    out = gate.promote(three)
    assert out.verdict.decision == "not evaluated" and _champion(three) is None
    assert "training window" in next(c.detail for c in out.verdict.checks if c.name == "min_days")
    (row,) = _rows(three)
    assert row["decision"] == "not evaluated" and row["champion_after"] is None


def test_force_never_skips_the_serving_contract(settings: Settings) -> None:
    register(settings, train_booster(), contract(feature_spec_hash="0" * 16))
    out = gate.promote(settings, version="1", force=True, reason="try")
    assert out.verdict.decision == "refused" and _champion(settings) is None
    assert "feature_spec_hash" in out.verdict.checks[0].detail


def test_rollback_walks_back_through_the_champions_each_replaced(three: Settings) -> None:
    for v in ("1", "2", "3"):
        gate.promote(three, version=v, force=True, reason=f"step {v}")
    assert gate.rollback(three).champion_after == "2" and _champion(three) == "2"
    assert gate.rollback(three, reason="v2 misbehaves").champion_after == "1"
    with pytest.raises(InputError, match="nothing to roll back to"):
        gate.rollback(three)
    rows = _rows(three)
    assert [(r["action"], r["champion_before"], r["champion_after"]) for r in rows] == [
        ("promote", None, "1"), ("promote", "1", "2"), ("promote", "2", "3"),
        ("rollback", "3", "2"), ("rollback", "2", "1")]
    assert rows[-1]["detail"] == "v2 misbehaves"
    tags = registry.version_tags(registry.client(three.mlflow_tracking_uri), registry.ModelRef("quantumtrader", "3"))
    assert tags[registry.PREVIOUS_CHAMPION_TAG] == "2"


def test_an_alias_moved_outside_the_gate_is_noted_by_a_reconcile_row(three: Settings) -> None:
    gate.promote(three, version="1", force=True, reason="start")
    registry.client(three.mlflow_tracking_uri).set_registered_model_alias("quantumtrader", "champion", "3")
    gate.promote(three, version="2", force=True, reason="next")
    rows = _rows(three)
    assert [r["action"] for r in rows] == ["promote", "reconcile", "promote"]
    assert "outside the gate" in rows[1]["detail"] and rows[1]["champion_after"] == "3"
    assert rows[2]["champion_before"] == "3" and _champion(three) == "2"


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    from quantumtrader.cli import app
    from quantumtrader.config import get_settings

    monkeypatch.setenv("QT_ROOT", str(settings.root))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    return out.stdout


def test_model_commands_list_show_promote_and_roll_back(three: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    first = json.loads(_cli(three, monkeypatch, "model", "promote", "1", "--force", "--reason", "cli", "--json"))
    assert first["decision"] == "promoted" and first["champion_after"] == "1" and first["forced"]
    text = _cli(three, monkeypatch, "model", "promote", "3", "--force", "--reason", "cli 2")
    assert "@champion moved v1 → v3" in text and "promoted" in text
    listed = json.loads(_cli(three, monkeypatch, "model", "list", "--json"))
    assert listed["aliases"] == {"challenger": "3", "champion": "3"}
    assert [v["version"] for v in listed["versions"]] == ["3", "2", "1"] and len(listed["promotions"]) == 2
    assert "registered versions" in _cli(three, monkeypatch, "model", "list")
    shown = json.loads(_cli(three, monkeypatch, "model", "show", "3", "--json"))
    assert shown["aliases"] == ["challenger", "champion"] and shown["tags"]["previous_champion"] == "1"
    assert "promotion records naming v3" in _cli(three, monkeypatch, "model", "show", "3")
    back = json.loads(_cli(three, monkeypatch, "model", "rollback", "--json"))
    assert back["decision"] == "rolled back" and back["champion_after"] == "1"
    dry = json.loads(_cli(three, monkeypatch, "model", "evaluate", "--json"))
    assert dry["decision"] == "not evaluated" and dry["champion_after"] == "1"


@pytest.mark.slow
def test_bad_input_to_the_model_commands_is_one_line(three: Settings, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_ROOT": str(three.root), "QT_LOGGING__LEVEL": "WARNING"}
    qtml = str(Path(sys.executable).with_name("qtml"))
    for args, needle in ((["model", "promote", "9", "--force", "--reason", "x"], "has no version 9"),
                         (["model", "rollback"], "nothing to roll back"),
                         (["model", "show", "9"], "has no version 9")):
        done = subprocess.run([qtml, *args], env=env, cwd=Path(__file__).resolve().parents[3], capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 2, done.stderr
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and needle in lines[0], done.stderr


def test_rollback_refuses_a_previous_champion_this_code_cannot_serve(settings: Settings) -> None:
    register(settings, train_booster(), contract(feature_spec_hash="0" * 16))  # v1: an older feature set
    register(settings, train_booster(seed=1), contract())
    registry.client(settings.mlflow_tracking_uri).set_registered_model_alias("quantumtrader", "champion", "1")
    gate.promote(settings, version="2", force=True, reason="the new feature set")
    with pytest.raises(InputError, match=r"v1 .* cannot be served by this code: .*feature_spec_hash"):
        gate.rollback(settings)
    assert _champion(settings) == "2"

"""The promotion policy on plain values: each check can fail on its own, unknown never passes."""

from __future__ import annotations

import numpy as np
import pytest

from training.promotion.config import PromotionConfig
from training.promotion.policy import (
    CONTRACT,
    DAYS,
    DRAWDOWN,
    DSR,
    NOT_EVALUATED,
    PASSED,
    PROB_BEATS,
    PROB_POSITIVE,
    PROMOTED,
    REFUSED,
    TRADES,
    VALIDATION,
    Evidence,
    ModelEvidence,
    Replay,
    as_dry_run,
    decide,
)

POLICY = PromotionConfig()
DAYS10 = tuple(f"2026-02-{d:02d}" for d in range(2, 12))


def _replay(daily, trades=100, dd=0.01) -> Replay:
    return Replay(daily_pnl=tuple(float(x) for x in daily), n_trades=trades, max_drawdown_pct=dd,
                  pnl=float(np.sum(daily)))


def _model(daily=None, **kw) -> ModelEvidence:
    base = {"uri": "models:/qt/2", "version": "2", "data_validation": True, "n_trials": 2,
            "replay": _replay(daily if daily is not None else [300, 250, 180, 320, 210, 260, 190, 280, 240, 230])}
    return ModelEvidence(**{**base, **kw})


def _failed(verdict) -> set[str]:
    return {c.name for c in verdict.checks if not c.passed}


def test_a_steady_earner_without_champion_is_promoted_on_every_check():
    v = decide(Evidence(_model(), None, DAYS10), POLICY)
    assert v.decision == PROMOTED and not _failed(v)
    assert [c.name for c in v.checks] == [CONTRACT, VALIDATION, DAYS, TRADES, PROB_POSITIVE, DRAWDOWN, DSR]
    assert v.champion is None and as_dry_run(v).decision == PASSED


@pytest.mark.parametrize(("change", "failed"), [
    ({"contract_problems": ("bar_spec: model was trained with 'time:30s', this engine runs 'time:60s'",)},
     {CONTRACT}),
    ({"data_validation": False, "validation_detail": "1 batches failed: trades/2026-01-07"}, {VALIDATION}),
    ({"data_validation": None}, {VALIDATION}),
    ({"replay": _replay([300, 250, 180, 320, 210, 260, 190, 280, 240, 230], trades=12)}, {TRADES}),
    ({"replay": _replay([300, 250, 180, 320, 210, 260, 190, 280, 240, 230], dd=0.08)}, {DRAWDOWN}),
    ({"n_trials": None}, {DSR}),
])
def test_each_check_refuses_on_its_own(change, failed):
    v = decide(Evidence(_model(**change), None, DAYS10), POLICY)
    assert v.decision == REFUSED
    assert failed <= _failed(v)
    assert all(line.split(":")[0] in _failed(v) for line in v.reasons)


def test_noise_after_costs_is_refused_by_the_bootstrap_and_the_deflated_sharpe():
    rng = np.random.default_rng(3)
    daily = rng.normal(-120, 90, 10)  # what the planted_strength 0 replays look like: costs, no edge
    v = decide(Evidence(_model(daily), None, DAYS10), POLICY)
    assert v.decision == REFUSED and {PROB_POSITIVE, DSR} <= _failed(v)
    p = next(c for c in v.checks if c.name == PROB_POSITIVE)
    assert p.value is not None and p.value < 0.05 and "no champion yet" in p.detail


def test_too_few_days_refuses_and_a_single_day_is_unknown_not_zero():
    v = decide(Evidence(_model([500.0]), None, DAYS10[:1]), POLICY)
    assert v.decision == REFUSED and DAYS in _failed(v)
    by = {c.name: c for c in v.checks}
    assert by[PROB_POSITIVE].value is None and "n/a" in by[PROB_POSITIVE].detail
    assert by[DSR].value is None and not by[DSR].passed


def test_against_a_champion_the_challenger_must_beat_it_on_the_same_days():
    good = [300, 250, 180, 320, 210, 260, 190, 280, 240, 230]
    champion = _model(good, uri="models:/qt/1", version="1")
    worse = _model([g - 60 for g in good])
    v = decide(Evidence(worse, champion, DAYS10), POLICY)
    assert v.decision == REFUSED and _failed(v) == {PROB_BEATS}
    # worse on every day: no replicate beats the champion; the small-sample correction (shared with the
    # backtest's P(mean daily PnL > 0)) reads that as "at most ~4 %" on 10 days, never as a certainty
    assert next(c for c in v.checks if c.name == PROB_BEATS).value < 0.05
    better = _model([g + 80 for g in good])
    assert decide(Evidence(better, champion, DAYS10), POLICY).decision == PROMOTED


def test_a_champion_that_cannot_run_under_this_code_is_judged_against_zero():
    champion = ModelEvidence("models:/qt/1", "1", contract_problems=("feature_spec_hash differs",))
    v = decide(Evidence(_model(), champion, DAYS10), POLICY)
    assert v.decision == PROMOTED
    p = next(c for c in v.checks if c.name == PROB_POSITIVE)
    assert "cannot run under this code" in p.detail


def test_no_out_of_sample_session_is_not_evaluated_but_a_bad_lineage_is_still_refused():
    v = decide(Evidence(_model(replay=None), None, (), why_no_sessions="no session after 2026-01-30"), POLICY)
    assert v.decision == NOT_EVALUATED
    assert all(c.value is None for c in v.checks if c.name in (TRADES, PROB_POSITIVE, DRAWDOWN, DSR))
    bad = decide(Evidence(_model(replay=None, data_validation=False), None, ()), POLICY)
    assert bad.decision == REFUSED


def test_the_verdict_document_has_the_reports_schema():
    doc = decide(Evidence(_model(), None, DAYS10), POLICY).as_dict()
    assert set(doc) == {"decision", "challenger", "champion", "checks"}
    assert all(set(c) == {"name", "passed", "value", "threshold", "detail"} for c in doc["checks"])

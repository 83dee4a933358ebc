"""The promotion policy as pure functions: evidence (plain values) in, a verdict with every check out.

Each check has a name, whether it passed, the measured value, the threshold and a detail a person can
act on. Unknown is not a value: a statistic that cannot be computed (too few days, no variation) is
``None`` and fails its check with the reason; it never counts as 0 or as a pass.

The decision:

- ``refused`` when any check fails on evidence that exists;
- ``not evaluated`` when nothing failed but the replay could not run (no out-of-sample session yet);
- ``promoted`` when every check passed (``passed`` for a dry run, :func:`as_dry_run`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from live_engine.backtest import stats
from training.promotion.config import PromotionConfig

PROMOTED, REFUSED, NOT_EVALUATED, PASSED = "promoted", "refused", "not evaluated", "passed"

CONTRACT, VALIDATION, DAYS, TRADES = "feature_contract", "data_validation", "min_days", "min_trades"
PROB_POSITIVE, PROB_BEATS, DRAWDOWN, DSR = "prob_positive", "prob_beats_champion", "max_drawdown", "deflated_sharpe"


@dataclass(frozen=True)
class Replay:
    """One model's replay on the evaluation sessions (values from the backtest's equity and metrics)."""

    daily_pnl: tuple[float, ...]  # R$ per session, after costs, in session order
    n_trades: int
    max_drawdown_pct: float  # of the running equity peak, account capital included
    pnl: float
    run_dir: str = ""


@dataclass(frozen=True)
class ModelEvidence:
    """What the gate knows about one model version."""

    uri: str
    version: str | None
    contract_problems: tuple[str, ...] = ()  # empty: its contract equals the code's and the data's
    data_validation: bool | None = None  # the training run's GE result (None: not recorded)
    validation_detail: str = ""
    n_trials: int | None = None  # tuning configurations tried (the training run's tuning.combos)
    replay: Replay | None = None


@dataclass(frozen=True)
class Evidence:
    """Challenger and champion on the same out-of-sample sessions."""

    challenger: ModelEvidence
    champion: ModelEvidence | None
    sessions: tuple[str, ...]
    why_no_sessions: str = ""  # when ``sessions`` is empty: which windows left none


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: float | int | str | bool | None
    threshold: float | int | str | bool | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    decision: str
    challenger: str
    champion: str | None
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def reasons(self) -> list[str]:
        """The failed checks, one line each."""
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        """The ``verdict.json`` document."""
        return {"decision": self.decision, "challenger": self.challenger, "champion": self.champion,
                "checks": [c.as_dict() for c in self.checks]}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _fmt(x: float) -> str:
    return f"{x:,.2f}"


def decide(ev: Evidence, policy: PromotionConfig) -> Verdict:
    """Every check of the policy on ``ev``; the decision follows from them (module docstring)."""
    ch = ev.challenger
    lineage = [_contract(ch), _validation(ch)]
    checks = [*lineage, _days(ev, policy)]
    replay = ch.replay
    if replay is None:
        why = ("not run: the challenger's contract differs from the code's" if ch.contract_problems
               else f"not run: {ev.why_no_sessions or 'no out-of-sample session to replay'}")
        prob = (PROB_BEATS, policy.min_prob_beats_champion) if _comparable(ev.champion) \
            else (PROB_POSITIVE, policy.min_prob_positive)
        checks += [Check(n, False, None, t, why) for n, t in (
            (TRADES, policy.min_trades), prob, (DRAWDOWN, policy.max_drawdown_pct), (DSR, policy.min_deflated_sharpe))]
        # without a replay only the lineage can refuse; otherwise the challenger was not judged yet
        decision = REFUSED if not all(c.passed for c in lineage) else NOT_EVALUATED
    else:
        checks += [_trades(replay, policy), _probability(ev, replay, policy), _drawdown(replay, policy),
                   _deflated(ch, replay, policy)]
        decision = PROMOTED if all(c.passed for c in checks) else REFUSED
    return Verdict(decision, ch.uri, ev.champion.uri if ev.champion else None, tuple(checks))


def as_dry_run(v: Verdict) -> Verdict:
    """The verdict of an evaluation that moves nothing: ``promoted`` reads ``passed``."""
    return replace(v, decision=PASSED) if v.decision == PROMOTED else v


def _comparable(champion: ModelEvidence | None) -> bool:
    return champion is not None and champion.replay is not None and not champion.contract_problems


def _contract(ch: ModelEvidence) -> Check:
    ok = not ch.contract_problems
    return Check(CONTRACT, ok, "equal" if ok else "differs", "equal",
                 "the model's feature contract equals this code's and these sessions'" if ok
                 else "; ".join(ch.contract_problems))


def _validation(ch: ModelEvidence) -> Check:
    ok = ch.data_validation is True
    if ch.data_validation is None:
        detail = ch.validation_detail or "the training run records no data validation result"
    else:
        detail = ch.validation_detail or ("every validated batch of the training data passed" if ok
                                          else "a batch of the training data failed validation")
    return Check(VALIDATION, ok, ch.data_validation, True, detail)


def _days(ev: Evidence, policy: PromotionConfig) -> Check:
    n = len(ev.sessions)
    ok = n >= policy.min_days
    span = f"{ev.sessions[0]}..{ev.sessions[-1]}" if ev.sessions else ev.why_no_sessions or "none"
    return Check(DAYS, ok, n, policy.min_days, f"{n} out-of-sample sessions ({span})"
                 + ("" if ok else f"; need {policy.min_days}: wait for more sessions or ingest them"))


def _trades(r: Replay, policy: PromotionConfig) -> Check:
    ok = r.n_trades >= policy.min_trades
    return Check(TRADES, ok, r.n_trades, policy.min_trades,
                 f"{r.n_trades} round trips on the evaluation sessions" + ("" if ok else ": too few to judge"))


def _probability(ev: Evidence, r: Replay, policy: PromotionConfig) -> Check:
    b = policy.bootstrap
    daily = np.asarray(r.daily_pnl, dtype=np.float64)
    champ = ev.champion
    if _comparable(champ):
        assert champ is not None and champ.replay is not None
        other = np.asarray(champ.replay.daily_pnl, dtype=np.float64)
        p = _finite(stats.prob_greater(daily, other, n_boot=b.n_boot, block=b.block, seed=b.seed, expanded=True))
        diff = float(np.mean(daily - other)) if len(daily) else math.nan
        ok = p is not None and p >= policy.min_prob_beats_champion
        detail = (f"mean daily PnL R$ {_fmt(float(np.mean(daily)))} vs champion's R$ {_fmt(float(np.mean(other)))} "
                  f"(difference R$ {_fmt(diff)}/day, days paired)" if p is not None
                  else "n/a: fewer than 2 sessions")
        return Check(PROB_BEATS, ok, p, policy.min_prob_beats_champion, detail)
    p = _finite(stats.prob_positive(daily, n_boot=b.n_boot, block=b.block, seed=b.seed, expanded=True))
    ok = p is not None and p >= policy.min_prob_positive
    if p is None:
        detail = "n/a: fewer than 2 sessions"
    else:
        detail = f"mean daily PnL after costs R$ {_fmt(float(np.mean(daily)))} over {len(daily)} sessions"
    if champ is not None and champ.contract_problems:
        detail += f" (champion {champ.uri} cannot run under this code: {'; '.join(champ.contract_problems)})"
    elif champ is None:
        detail += " (no champion yet: judged against zero)"
    return Check(PROB_POSITIVE, ok, p, policy.min_prob_positive, detail)


def _drawdown(r: Replay, policy: PromotionConfig) -> Check:
    dd = _finite(r.max_drawdown_pct)
    ok = dd is not None and dd <= policy.max_drawdown_pct
    return Check(DRAWDOWN, ok, dd, policy.max_drawdown_pct,
                 f"largest drawdown {dd:.2%} of the equity peak" if dd is not None else "n/a: no equity curve")


def _deflated(ch: ModelEvidence, r: Replay, policy: PromotionConfig) -> Check:
    if ch.n_trials is None:
        return Check(DSR, False, None, policy.min_deflated_sharpe,
                     "n/a: the training run does not record how many configurations were tried (tuning.combos)")
    daily = np.asarray(r.daily_pnl, dtype=np.float64)
    dsr = _finite(stats.deflated_sharpe(daily, n_trials=ch.n_trials))
    sr = _finite(stats.sharpe(daily))
    ok = dsr is not None and dsr >= policy.min_deflated_sharpe
    if dsr is None:
        detail = f"n/a: needs 3 sessions with varying daily PnL ({len(daily)} sessions)"
    else:
        detail = (f"daily Sharpe {sr:.2f} over {len(daily)} sessions, deflated for {ch.n_trials} "
                  f"configuration{'s' if ch.n_trials != 1 else ''} tried")
    return Check(DSR, ok, dsr, policy.min_deflated_sharpe, detail)

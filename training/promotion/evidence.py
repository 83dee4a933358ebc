"""Gather the gate's evidence: both models replayed on the same out-of-sample sessions, and lineage.

The sessions are the lake's sessions strictly after both models' training windows (the training
runs' ``train_first_session`` / ``train_last_session`` tags). Both replays go through
:func:`live_engine.backtest.runner.run_backtest` with the same settings, so the same cost model,
fills, risk limits and warm-up apply to both; there is no second strategy implementation. The
daily PnL of each session comes from the replay's equity curve
(:func:`live_engine.backtest.metrics.daily_pnl`).

Every model is loaded through :func:`load_model`, the one place that turns a registry URI into
something the replay can run.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger
from training.promotion import registry
from training.promotion.policy import Evidence, ModelEvidence, Replay

if TYPE_CHECKING:
    from collections.abc import Callable

    from live_engine.backtest.runner import BacktestResult
    from quantumtrader.config import Settings

log = get_logger("training.promotion.evidence")


def load_model(settings: Settings, uri: str) -> Any:
    """Load and verify the bundle at ``uri`` for a replay (:func:`serving.bundle.load_bundle`: every
    file's hash against the registry, no pickle or code, the serving contract); a refusal is a
    :class:`serving.predictor.ModelRefused`. The gate's only loader."""
    from serving.bundle import load_bundle

    return load_bundle(uri, settings.mlflow_tracking_uri)


@dataclass(frozen=True)
class Gathered:
    """The evidence plus what produced it (for the records and ``verdict.json``)."""

    evidence: Evidence
    challenger: registry.ModelRef
    champion: registry.ModelRef | None
    challenger_run: BacktestResult | None
    champion_run: BacktestResult | None


def evaluation_days(lake_days: Sequence[date], windows: Sequence[tuple[str, str] | None],
                    requested: Sequence[date] | int | None) -> tuple[list[date], str]:
    """The sessions to replay and, when there are none, why.

    Eligible: strictly after the last session of every window. ``requested`` dates must all be
    eligible (:class:`InputError` names those that are not); a count keeps the newest N eligible.
    """
    known = [w for w in windows if w is not None]
    if len(known) < len(windows):
        return [], "a model's training run records no training window, so no session is provably out of sample"
    after = max((date.fromisoformat(w[1]) for w in known), default=None)
    eligible = [d for d in sorted(lake_days) if after is None or d > after]
    if isinstance(requested, int):
        eligible = eligible[-requested:]
    elif requested is not None:
        inside = [d.isoformat() for d in requested if after is not None and d <= after]
        if inside:
            raise InputError(f"sessions {inside} are not after both models' training windows (last trained "
                             f"session {after}): the gate judges out-of-sample sessions only")
        missing = [d.isoformat() for d in requested if d not in set(lake_days)]
        if missing:
            raise InputError(f"sessions {missing} have no trades in the lake")
        eligible = sorted(requested)
    why = "" if eligible else (f"the lake has no session after {after} (the last session either model was "
                               "trained on): ingest newer sessions")
    return eligible, why


def replay_of(result: BacktestResult, days: Sequence[date]) -> Replay:
    """Daily PnL per evaluated session (R$, after costs) and the metrics the policy reads."""
    from live_engine.backtest.metrics import daily_pnl

    eq = result.core.equity
    sessions = [str(e[1]) for e in eq]
    daily = daily_pnl(sessions, [e[4] for e in eq])
    seen = list(dict.fromkeys(sessions))
    if seen != [d.isoformat() for d in days]:
        raise RuntimeError(f"replayed sessions {seen} differ from the evaluation sessions {list(map(str, days))}")
    m = result.metrics
    return Replay(daily_pnl=tuple(float(x) for x in daily), n_trades=int(m["n_trades"]),
                  max_drawdown_pct=float(m["max_drawdown_pct"]), pnl=float(m["pnl"]), run_dir=str(result.run_dir))


def _loaded(settings: Settings, ref: registry.ModelRef) -> tuple[Any, tuple[str, ...]]:
    from serving.predictor import ModelRefused

    try:
        return load_model(settings, ref.uri), ()
    except ModelRefused as err:
        return None, (str(err),)


def gather(settings: Settings, challenger_uri: str, champion_uri: str | None, *,
           sessions: Sequence[date] | int | None = None, run_prefix: str = "gate",
           step: Callable[[str], AbstractContextManager[Any]] | None = None) -> Gathered:
    """Resolve both versions, load them, pick the sessions, replay both; see the module docstring.

    ``champion_uri`` None, or an alias nobody holds yet, means there is no champion.
    """
    from live_engine.backtest.replay import run_stamp
    from live_engine.backtest.runner import run_backtest
    from market.lake import Lake
    from serving.predictor import ModelRefused

    step = step or (lambda _label: nullcontext())
    c = registry.client(settings.mlflow_tracking_uri)
    ch_ref = registry.resolve(c, challenger_uri)
    champ_ref = None
    if champion_uri is not None:
        try:
            champ_ref = registry.resolve(c, champion_uri)
        except InputError:
            champ_ref = None  # no champion yet
    if champ_ref is not None and champ_ref == ch_ref:
        raise InputError(f"{ch_ref.uri} is the champion already ({champion_uri}): nothing to promote")
    ch_lin = registry.lineage(c, ch_ref)
    champ_lin = registry.lineage(c, champ_ref) if champ_ref else None
    with step(f"models loaded ({ch_ref.uri}" + (f", champion {champ_ref.uri})" if champ_ref else ", no champion)")):
        ch_model, ch_problems = _loaded(settings, ch_ref)
        champ_model, champ_problems = _loaded(settings, champ_ref) if champ_ref else (None, ())
    lake_days = Lake(settings.lake_root).days("trades", settings.market.symbol)
    windows = [ch_lin.train_window] + ([champ_lin.train_window] if champ_lin else [])
    days, why = evaluation_days(lake_days, windows, sessions if sessions is not None else settings.promotion.sessions)

    def run(ref: registry.ModelRef, model: Any, role: str) -> tuple[BacktestResult | None, tuple[str, ...]]:
        """The replay (the backtest shell loads the sessions and refuses a contract the data breaks)."""
        try:
            with step(f"{role} v{ref.version} replayed on {len(days)} sessions"):
                result = run_backtest(settings, model_uri=ref.uri, bundle=model, sessions=days,
                                      run_name=f"{run_stamp()}-{run_prefix}-v{ref.version}-{role}")
        except ModelRefused as err:
            return None, (str(err),)
        if result.sample != "out-of-sample":
            raise RuntimeError(f"the {role}'s replay is {result.sample}: the session choice is wrong")
        return result, ()

    ch_run = champ_run = None
    if days and not ch_problems:
        ch_run, ch_problems = run(ch_ref, ch_model, "challenger")
    if champ_ref is not None and ch_run is not None and not champ_problems:
        champ_run, champ_problems = run(champ_ref, champ_model, "champion")
    challenger = ModelEvidence(uri=ch_ref.uri, version=ch_ref.version, contract_problems=ch_problems,
                               data_validation=ch_lin.data_validation, validation_detail=ch_lin.validation_detail,
                               n_trials=ch_lin.n_trials, replay=replay_of(ch_run, days) if ch_run else None)
    champion = None
    if champ_ref is not None:
        champion = ModelEvidence(uri=champ_ref.uri, version=champ_ref.version, contract_problems=champ_problems,
                                 replay=replay_of(champ_run, days) if champ_run else None)
    ev = Evidence(challenger=challenger, champion=champion, sessions=tuple(d.isoformat() for d in days),
                  why_no_sessions=why)
    log.info("promotion evidence gathered", data={"challenger": ch_ref.uri, "champion": champ_ref.uri if champ_ref
                                                  else None, "sessions": len(days)})
    return Gathered(ev, ch_ref, champ_ref, ch_run, champ_run)

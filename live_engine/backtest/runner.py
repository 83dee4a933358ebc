"""The backtest shell: load sessions and the model's bundle, replay, write outputs, report, log to MLflow.

A registered version runs with its own bundle's agents and decision / risk config
(:mod:`live_engine.backtest.run_config`); ``config_from="working-tree"`` is the explicit override.

Outputs under ``<reports_dir>/backtests/<run>/``: ``orders.parquet``, ``fills.parquet``,
``trades.parquet`` (round trips), ``equity.parquet`` (per bar close: position and PnL, i.e. the
positions and the equity curve), ``features.parquet`` (the vector each decision read; a decision's
``feature_row`` indexes it), ``decisions.jsonl`` (one record per bar), ``metrics.json`` (undefined
values as null), ``run.json`` (what ran, in full: model, bundle, ``config_from``, sessions, the live
config and agents; MLflow params are cut at 500 characters), ``state.json`` (coordinator weights and
risk counters at the end) and ``report.html`` (:func:`live_engine.backtest.report.render_report`, built
from those files, so it can be re-rendered, e.g. after the promotion gate writes ``verdict.json``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from live_engine.backtest.metrics import agent_contribution, compute_metrics, signal_metrics
from live_engine.backtest.replay import (
    ReplayStats,
    SessionData,
    build_core,
    load_lake_sessions,
    load_warmup_sessions,
    order_list_hash,
    replay,
    run_stamp,
)
from live_engine.backtest.report import render_report
from live_engine.backtest.run_config import BUNDLE, WORKING_TREE, check_config_from, run_config
from live_engine.decision.core import DecisionCore, ProbaModel
from live_engine.decision.warmup import WarmupPlan
from live_engine.execution.costs import fill_cost_vs_close
from quantumtrader.config import Settings
from quantumtrader.logging import get_logger

if TYPE_CHECKING:
    from serving.bundle import Bundle

log = get_logger("live_engine.backtest.runner")


@dataclass
class BacktestResult:
    run_dir: Path
    metrics: dict[str, Any]
    order_hash: str
    report_path: Path
    mlflow_run_id: str | None
    stats: ReplayStats
    core: DecisionCore
    sample: str = "unknown"  # out-of-sample | in-sample | unknown (model's training window vs replayed sessions)
    config_from: str = WORKING_TREE  # whose agents and decision / risk config ran: "bundle" | "working-tree"
    config_differs_from_bundle: tuple[str, ...] = ()  # items where the working tree differed (override only)
    bundle: Bundle | None = None
    trials_source: str = ""  # where the deflated Sharpe's number of tuning configurations came from
    warmup: WarmupPlan | None = None  # the sessions replayed before the evaluated ones, without trading


def frames(core: DecisionCore) -> dict[str, pd.DataFrame]:
    """The core's records as DataFrames (orders, fills, trades, equity, decisions, features)."""
    b = core.broker
    orders = pd.DataFrame([asdict(o) for o in b.orders])
    fills = pd.DataFrame([asdict(f) for f in b.fills])
    trades = pd.DataFrame([asdict(t) for t in b.trades])
    equity = pd.DataFrame(core.equity, columns=["ts_ns", "session", "close", "position", "pnl"])
    feats = pd.DataFrame(np.vstack(core.features) if core.features else np.zeros((0, 0)))
    if len(feats.columns):
        from features.spec import FEATURE_NAMES

        feats.columns = list(FEATURE_NAMES)[: len(feats.columns)]
    return {"orders": orders, "fills": fills, "trades": trades, "equity": equity, "features": feats}


def summarize(core: DecisionCore, stats: ReplayStats, *, n_trials: int = 1) -> dict[str, Any]:
    """Metrics of a finished replay (:mod:`live_engine.backtest.metrics`), plus the per-source
    contribution; ``n_trials`` is the number of configurations tried in tuning (deflated Sharpe)."""
    b = core.broker
    trades = [asdict(t) for t in b.trades]
    eq = core.equity
    m: dict[str, Any] = compute_metrics(trades, [e[1] for e in eq], [e[4] for e in eq], [e[3] for e in eq],
                                        capital=core.config.risk.account_capital, n_trials=n_trials)
    m.update(signal_metrics(core.decisions))
    m["n_orders"] = float(len(b.orders))
    m["bars"] = float(stats.bars)
    m["degraded_bars"] = float(core.degraded_bars)
    for k, v in agent_contribution(core.trade_attribution).items():
        m[f"contribution_{k}"] = v
    if stats.seconds > 0:
        m["replay_trades_per_s"] = stats.trades / stats.seconds
    # the cost model at work: market fills against the close of the bar that decided them (ticks, ms)
    m.update(fill_cost_vs_close(b.orders, b.fills, {e[0]: e[2] for e in eq}, core.instrument.tick_size))
    return m


def write_outputs(run_dir: Path, core: DecisionCore, metrics: dict[str, Any], info: dict[str, Any]) -> Path:
    """Write every output file of the run folder, then render ``report.html`` from those files."""
    run_dir.mkdir(parents=True, exist_ok=True)
    dfs = frames(core)
    for name, df in dfs.items():
        df.to_parquet(run_dir / f"{name}.parquet", index=False)
    with open(run_dir / "decisions.jsonl", "wb") as fh:
        for rec in core.decisions:
            fh.write(orjson.dumps(rec) + b"\n")
    # orjson writes nan as null: an undefined metric stays undefined in the file
    (run_dir / "metrics.json").write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    (run_dir / "run.json").write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))  # params cut at 500 chars
    (run_dir / "state.json").write_bytes(orjson.dumps(core.state(), option=orjson.OPT_INDENT_2))
    return render_report(run_dir)


def tuning_trials(bundle: Bundle | None) -> tuple[int, str]:
    """(configurations tried in tuning, where that number comes from) for the deflated Sharpe.

    Read from the bundle's lineage (``tuning.configurations_tried``, the training run's param
    ``tuning.combos``); ``(1, "unknown: ...")`` for an in-memory model or a lineage without it."""
    if bundle is None:
        return 1, "unknown (not a registered model version): 1 assumed"
    raw = (bundle.lineage.get("tuning") or {}).get("configurations_tried")
    try:
        n = int(str(raw))
    except ValueError:
        n = 0
    if n < 1:
        return 1, f"unknown (the lineage of {bundle.uri} does not record it): 1 assumed"
    return n, f"tuning.configurations_tried in the lineage of {bundle.uri} (run {bundle.run_id})"


def finite_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics MLflow can hold: numbers that are finite (an undefined one is left out, not 0)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


def sample_kind(days: Sequence[date], window: tuple[str, str] | None) -> str:
    """``out-of-sample`` when every replayed session is after the training window, else ``in-sample``."""
    if window is None:
        return "unknown"
    first, last = date.fromisoformat(window[0]), date.fromisoformat(window[1])
    return "out-of-sample" if all(d > last or d < first for d in days) else "in-sample"


def log_to_mlflow(settings: Settings, run_dir: Path, metrics: dict[str, Any], info: dict[str, Any],
                  bundle: Bundle | None) -> str:
    """Log params, metrics and every output file; tag the run and the model version with each other.

    The run's ``config_from`` tag says whose agents and decision / risk config it ran (``bundle`` or
    ``working-tree``); the version's ``last_backtest_*`` tags point back at the run."""
    import mlflow

    from serving.tracking import ensure_experiment

    uri = settings.mlflow_tracking_uri
    exp_id = ensure_experiment(settings, settings.live.backtest.experiment)
    client = mlflow.MlflowClient(uri)
    with mlflow.start_run(experiment_id=exp_id, run_name=run_dir.name) as run:
        mlflow.log_params({k: (v if isinstance(v, str) else orjson.dumps(v).decode())[:500] for k, v in info.items()})
        mlflow.log_metrics(finite_metrics(metrics))
        tags = {"kind": "backtest", "order_hash": str(info.get("order_hash", "")),
                "config_from": str(info["config_from"])}
        if info.get("config_differs_from_bundle"):
            tags["config_differs_from_bundle"] = str(info["config_differs_from_bundle"])[:5000]
        if bundle is not None:
            tags.update(model_name=bundle.name, model_version=bundle.version, model_uri=bundle.requested_uri,
                        bundle_uri=bundle.uri)
        mlflow.set_tags(tags)
        mlflow.log_artifacts(str(run_dir))
        run_id = run.info.run_id
    if bundle is not None:
        client.set_model_version_tag(bundle.name, bundle.version, "last_backtest_run_id", run_id)
        client.set_model_version_tag(bundle.name, bundle.version, "last_backtest_pnl", f"{metrics['pnl']:.2f}")
        client.set_model_version_tag(bundle.name, bundle.version, "last_backtest_config_from", str(info["config_from"]))
    return run_id


def data_input_groups(data: Sequence[SessionData]) -> dict[str, bool]:
    """The input groups every replayed session carries (book snapshots, known broker ids, sides)."""
    from features.contract import combine, groups_in_tape

    return combine(*(groups_in_tape(s.trades, s.book) for s in data))


def check_model_contract(settings: Settings, model: Any, data: Sequence[SessionData]) -> None:
    """Refuse (by name) a model whose feature contract differs from this engine's config and data.

    A model without metadata (an in-memory test model) is not checked. A group the model was trained
    with and a replayed session lacks is refused, naming the sessions.
    """
    metadata = getattr(model, "metadata", None)
    if not isinstance(metadata, dict):
        return
    from features.contract import INPUT_GROUPS, feature_contract, groups_in_tape
    from serving.predictor import ModelRefused, check_feature_contract

    serving = feature_contract(bar_spec=settings.market.bars.spec,
                               large_trade_qty=settings.market.bars.large_trade_qty,
                               symbol=settings.market.symbol,
                               input_groups=data_input_groups(data))
    try:
        check_feature_contract(metadata, serving)
    except ModelRefused as err:
        per_session = {s.day: groups_in_tape(s.trades, s.book) for s in data}
        lacking = {g: [d.isoformat() for d, gs in per_session.items() if not gs[g]] for g in INPUT_GROUPS}
        detail = "; ".join(f"sessions without {g}: {', '.join(ds[:5])}{' …' if len(ds) > 5 else ''}"
                           for g, ds in lacking.items() if ds and f"input_groups.{g}:" in str(err))
        raise ModelRefused(f"{err}" + (f" ({detail})" if detail else "")) from None


def run_backtest(
    settings: Settings,
    *,
    model_uri: str | None = None,
    sessions: Sequence[date] | int | None = None,
    data: Sequence[SessionData] | None = None,
    model: ProbaModel | None = None,
    bundle: Bundle | None = None,
    config_from: str = BUNDLE,
    scripted: Callable[[int], int] | dict[int, int] | None = None,
    run_name: str | None = None,
    log_mlflow: bool = True,
    progress: Callable[[int], None] | None = None,
    step: Callable[[str], AbstractContextManager[Any]] | None = None,
    warmup: Sequence[SessionData] | None = None,
) -> BacktestResult:
    """Replay sessions through the decision core and write every output (see the module docstring).

    The model is ``bundle``'s predictor, else the bundle at ``model_uri`` (default
    ``live.backtest.model_uri``) loaded and verified by :func:`serving.bundle.load_bundle`, else the
    in-memory ``model``. With a bundle, the agents and the coordinator, consensus and risk config are
    the bundle's unless ``config_from="working-tree"`` (:mod:`live_engine.backtest.run_config`); the
    choice is recorded in the run's info and as the MLflow tag ``config_from``.
    ``progress(k)`` is called after each replayed session; ``step(label)`` (a context manager, e.g.
    :func:`quantumtrader.progress.step`) wraps the steps after the replay. ``warmup``: the sessions
    that warm the features and the coordinator first (default: the lake's, ``live.backtest.warmup_sessions``).
    """
    step = step or (lambda _label: nullcontext())
    cfg = settings.live.backtest
    check_config_from(config_from)  # before anything is loaded
    if scripted is None and model is None and bundle is None:
        from serving.bundle import load_bundle

        bundle = load_bundle(model_uri or cfg.model_uri, settings.mlflow_tracking_uri)
    if bundle is not None:
        model, model_uri = bundle.predictor, bundle.requested_uri
    if data is None:
        data = load_lake_sessions(settings, sessions if sessions is not None else cfg.sessions)
    window = bundle.training_window if bundle is not None else None
    sample = sample_kind([s.day for s in data], window)
    if sample == "in-sample":
        log.warning("backtest sessions overlap the model's training sessions: the metrics are in-sample",
                    data={"train_window": window, "sessions": [s.day.isoformat() for s in data]})
    if scripted is None:
        check_model_contract(settings, model, data)
    rc = run_config(settings, bundle, config_from)
    if rc.source == WORKING_TREE and bundle is not None:
        log.warning("backtest runs the working tree's agents and config, not the version's bundle",
                    data={"bundle": bundle.uri, "differs": list(rc.differs_from_bundle)})
    core = build_core(settings, model=model, scripted=scripted, agents=rc.agents if scripted is None else None,
                      config=rc.live)
    abstaining = getattr(core.decider, "abstaining", ())
    if abstaining:
        log.info("agents without a view on this model's inputs abstain on every bar",
                 data={"agents": list(abstaining), "model_input_groups": getattr(model, "input_groups", None)})
    plan, warm = resolve_warmup(settings, data, warmup)
    stats = replay(core, data, settings, warmup=warm, coordinator_sessions=plan.coordinator_sessions,
                   progress=progress)
    n_trials, trials_source = tuning_trials(bundle)
    metrics = summarize(core, stats, n_trials=n_trials)
    metrics_h = order_list_hash(core)
    run_dir = settings.reports_dir / "backtests" / (run_name or run_stamp())
    info = {"model_uri": model_uri or ("scripted" if scripted is not None else "in-memory"),
            "bundle": bundle.uri if bundle is not None else "", "config_from": rc.source,
            "config_differs_from_bundle": ",".join(rc.differs_from_bundle),
            "sessions": ",".join(s.day.isoformat() for s in data), "symbol": settings.market.symbol,
            "bar_spec": settings.market.bars.spec, "order_hash": metrics_h,
            "model_sha256": getattr(model, "model_sha256", ""), "sample": sample,
            "train_window": "" if window is None else f"{window[0]}..{window[1]}",
            "deflated_sharpe_trials": trials_source,
            "live_config": rc.live.model_dump(mode="json"),
            "agents": rc.agent_configs if scripted is None else {},
            "model_input_groups": getattr(model, "input_groups", None),
            "abstaining_agents": ",".join(abstaining),
            "costs": settings.costs.model_dump(mode="json"),
            "warmup_sessions_used": plan.used, "warmup_sessions_wanted": plan.wanted,
            "warmup_sessions": ",".join(d.isoformat() for d in plan.days)}
    with step("outputs and report written"):
        report = write_outputs(run_dir, core, {**metrics}, info)
    metrics["order_hash"] = metrics_h  # type: ignore[assignment]
    run_id = None
    if log_mlflow:
        with step("logged to MLflow"):
            run_id = log_to_mlflow(settings, run_dir, {k: v for k, v in metrics.items() if k != "order_hash"},
                                   info, bundle)
    log.info("backtest finished", data={"run_dir": str(run_dir), "pnl": round(metrics["pnl"], 2),
                                        "trades": int(metrics["n_trades"]), "order_hash": metrics_h[:12],
                                        "config_from": rc.source})
    return BacktestResult(run_dir, metrics, metrics_h, report, run_id, stats, core, sample, rc.source,
                          rc.differs_from_bundle, bundle, trials_source, plan)


def resolve_warmup(settings: Settings, data: Sequence[SessionData],
            given: Sequence[SessionData] | None) -> tuple[WarmupPlan, list[SessionData]]:
    """The warm-up sessions (given, or the lake's before the first evaluated one); a shortfall is one warning."""
    cfg = settings.live.backtest
    if given is not None:
        plan = WarmupPlan(len(given), tuple(s.day for s in given), min(cfg.warmup_coordinator_sessions, len(given)))
        return plan, list(given)
    if not data:
        return WarmupPlan(0, (), 0), []
    plan, warm = load_warmup_sessions(settings, data[0].day)
    if plan.short:
        log.warning(plan.shortfall(settings.market.symbol, data[0].day),
                    data={"warmup_sessions_wanted": plan.wanted, "warmup_sessions_used": plan.used})
    return plan, warm

"""``qtml study``: load the model and sessions, screen, confirm, judge, write, log to MLflow and the
knowledge base. Outputs under ``<reports_dir>/studies/<study id>/`` (docs/studies.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from live_engine.backtest.replay import SessionData, load_lake_sessions
from live_engine.backtest.run_config import run_config
from live_engine.backtest.runner import check_model_contract, resolve_warmup, sample_kind
from live_engine.decision.core import ProbaModel
from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger
from research.study.config import StudyConfig
from research.study.engine import Confirmation, Screen, confirm, screen
from research.study.report import chart_pbo, chart_space, chart_walk_forward, render
from research.study.space import candidates as expand_candidates
from research.study.verdict import judge

log = get_logger("research.study")


@dataclass
class StudyResult:
    study_id: str
    out_dir: Path
    screen: Screen
    confirmation: Confirmation
    verdict: dict[str, Any]
    info: dict[str, Any]
    report_path: Path
    mlflow_run_id: str | None = None


def run_study(settings: Settings, cfg: StudyConfig, *, sessions: Sequence[date] | int | None = None,
              data: Sequence[SessionData] | None = None, warmup: Sequence[SessionData] | None = None,
              model: ProbaModel | None = None, study_id: str | None = None,
              step: Callable[..., AbstractContextManager[Any]] | None = None) -> StudyResult:
    """Run one study (see the module docstring). ``model``/``data``/``warmup``: in-memory inputs (tests);
    else the bundle at ``cfg.model_uri`` and the lake. ``step(label, total=None)``: progress steps."""
    step = step or (lambda _label, total=None: nullcontext())
    bundle = None
    if model is None:
        from serving.bundle import load_bundle

        uri = cfg.model_uri or settings.live.backtest.model_uri
        with step(f"bundle {uri} verified and loaded"):
            bundle = load_bundle(uri, settings.mlflow_tracking_uri)
        model = bundle.predictor
    if data is None:
        with step("sessions loaded from the lake"):
            data = load_lake_sessions(settings, sessions if sessions is not None else cfg.sessions)
    if len(data) < 2:
        raise InputError(f"a study needs at least 2 sessions, the lake gave {len(data)}: ingest more sessions or "
                         "pass --sessions")
    check_model_contract(settings, model, data)
    rc = run_config(settings, bundle, cfg.config_from)
    plan, warm = resolve_warmup(settings, data, warmup)
    cands = expand_candidates(rc.live, rc.agent_configs, cfg.params, method=cfg.method, n_random=cfg.n_random,
                              seed=cfg.seed, max_candidates=cfg.max_candidates)
    n_groups = len({c.decider_key for c in cands})
    with step(f"{len(cands)} candidates screened by the sweep ({n_groups} decision replay(s))", total=n_groups) as s:
        scr = screen(settings, model, cands, data, warm, plan.coordinator_sessions,
                     progress=(lambda _m: s.advance()) if s is not None else None)
    top_k = min(cfg.top_k, len(cands))
    with step("candidates confirmed on the replay") as s:
        conf = confirm(settings, model, scr, data, warm, plan.coordinator_sessions, top_k=top_k, folds=cfg.folds,
                       metric=cfg.metric)
        if s is not None:
            s.done(f"{len(conf.replayed)} candidates replayed ({conf.seconds_per_candidate:.1f} s each)")
    verdict = judge(scr, conf, cfg)
    sid = study_id or "study-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = settings.reports_dir / "studies" / sid
    out.mkdir(parents=True, exist_ok=True)
    bar_cands = scr.tape.n_bars * len(cands)
    window = bundle.training_window if bundle is not None else None
    if sample_kind([d.day for d in data], window) == "in-sample":
        log.warning("study sessions overlap the model's training sessions: every candidate's numbers are in-sample",
                    data={"train_window": window})
    info: dict[str, Any] = {
        "study_id": sid, "method": cfg.method, "params": [f"{k}={v}" for k, v in cfg.params.items()],
        "model": bundle.uri if bundle is not None else "in-memory", "config_from": rc.source,
        "sample": sample_kind([d.day for d in data], window),
        "first_session": data[0].day.isoformat(), "last_session": data[-1].day.isoformat(),
        "significance": cfg.significance, "max_pbo": cfg.max_pbo, "groups": scr.groups, "bars": scr.tape.n_bars,
        "decision_replay_seconds": scr.replay_seconds, "tape_seconds": scr.tape_seconds,
        "sweep_seconds": scr.sweep_seconds, "bar_candidates_per_s": bar_cands / max(scr.sweep_seconds, 1e-9),
        "replay_seconds_per_candidate": conf.seconds_per_candidate,
        "warmup_sessions": [d.isoformat() for d in plan.days], "config": cfg.model_dump(mode="json"),
    }
    with step("outputs, charts and report written"):
        scr.table.to_csv(out / "candidates.csv", index_label="candidate")
        charts = [p for p in (chart_space(scr, cfg.metric, verdict["best"], out / "screen.png"),
                              chart_pbo(verdict["pbo"], out / "overfitting.png"),
                              chart_walk_forward(scr, conf, verdict["best"], out / "walk_forward.png")) if p]
        confirmation = {str(i): {"name": scr.candidates[i].name, "seconds": r.seconds,
                                 "sweep_max_daily_diff": r.sweep_max_daily_diff,
                                 "metrics": {k: v for k, v in r.metrics.items() if isinstance(v, float | int)}}
                        for i, r in conf.replayed.items()}
        doc = {"info": info, "verdict": verdict, "confirmation": confirmation,
               "walk_forward": {"folds": conf.folds, "picks": conf.picks, "oos_daily": conf.oos_daily.tolist()}}
        (out / "study.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        report = render(out, info, verdict, scr, conf, charts)
    result = StudyResult(sid, out, scr, conf, verdict, info, report)
    if cfg.log_to_mlflow:
        with step("logged to MLflow"):
            result.mlflow_run_id = log_to_mlflow(settings, cfg, result)
    log.info("study finished", data={"study": sid, "trials": len(cands), "best": verdict["best_name"],
                                     "deflated_sharpe": verdict["deflated_sharpe"],
                                     "pbo": (verdict["pbo"] or {}).get("pbo"), "confirmed": verdict["confirmed"]})
    return result


def log_to_mlflow(settings: Settings, cfg: StudyConfig, result: StudyResult) -> str:
    """One run per study: the search as params, the verdict's numbers as metrics, every output as artifacts."""
    import math

    import mlflow

    from serving.tracking import ensure_experiment

    v = result.verdict
    exp_id = ensure_experiment(settings, cfg.experiment)
    metrics = {"n_trials": v["n_trials"], "sessions": v["sessions"], "deflated_sharpe": v["deflated_sharpe"],
               "best_metric": v["best_metric"], "pbo": (v["pbo"] or {}).get("pbo", math.nan),
               "significant": float(v["significant"]), "confirmed": float(v["confirmed"]),
               "sweep_seconds": result.info["sweep_seconds"],
               "replay_seconds_per_candidate": result.info["replay_seconds_per_candidate"],
               **{f"walk_forward_{k}": float(x) for k, x in v["walk_forward"].items()}}
    with mlflow.start_run(experiment_id=exp_id, run_name=result.study_id) as run:
        mlflow.log_params({"method": cfg.method, "metric": cfg.metric, "best": v["best_name"][:500],
                           "baseline": v["baseline_name"][:500], "model": result.info["model"],
                           **{f"space.{k}": str(val)[:500] for k, val in cfg.params.items()}})
        mlflow.log_metrics({k: float(x) for k, x in metrics.items() if isinstance(x, float | int) and math.isfinite(x)})
        mlflow.set_tags({"kind": "study", "study_id": result.study_id, "conclusion": v["conclusion"][:5000]})
        mlflow.log_artifacts(str(result.out_dir))
        return str(run.info.run_id)

"""``qtml study``: a parameter study of the decision and risk configuration (docs/studies.md)."""

from __future__ import annotations

import math
from typing import Any

import typer

from live_engine.cli import parse_sessions


def _params(items: list[str]) -> dict[str, str]:
    from quantumtrader.errors import InputError

    out: dict[str, str] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise InputError(f"--param {item!r}: give NAME=VALUES, e.g. consensus.min_confidence=0.50:0.75:0.05")
        out[name.strip()] = spec.strip()
    return out


def _num(v: Any, digits: int = 3) -> str:
    return "n/a" if not isinstance(v, int | float) or not math.isfinite(v) else f"{v:,.{digits}f}"


def summary_lines(res: Any) -> list[str]:
    v, info = res.verdict, res.info
    pbo = (v["pbo"] or {}).get("pbo", math.nan)
    wf = v["walk_forward"]
    lines = [v["conclusion"],
             f"{v['n_trials']} trials on {v['sessions']} sessions ({info['first_session']} to {info['last_session']}); "
             f"best by {v['metric']}: {v['best_name']} ({_num(v['best_metric'])})",
             f"deflated Sharpe of the best for {v['n_trials']} trials: {_num(v['deflated_sharpe'])} "
             f"(significant at >= {info['significance']}); probability of backtest overfitting: {_num(pbo)} "
             f"(at most {info['max_pbo']})",
             f"walk-forward (replayed, {int(wf.get('days', 0))} unseen days): PnL R$ {_num(wf.get('pnl'), 0)}, "
             f"Sharpe/day {_num(wf.get('sharpe_per_day'))} [{_num(wf.get('sharpe_per_day_lo'))}, "
             f"{_num(wf.get('sharpe_per_day_hi'))}] (90 %)"]
    if v["best"] != v["baseline"]:
        lines.append(f"best vs baseline {v['baseline_name']} on the same days: P(best earns more per day) = "
                     f"{_num(v['prob_best_beats_baseline'], 2)}")
    for name, w in v["win_rate"].items():
        lines.append(f"win rate {name}: {_num(w['win_rate'])} [{_num(w['lo'])}, {_num(w['hi'])}] over {w['trades']} "
                     "trades (90 %)")
    if info.get("sample") == "in-sample":
        lines.append("sample: in-sample: these sessions overlap the model's training sessions, so every candidate "
                     "looks better than it would live; study sessions after the training window")
    lines.append(f"screen: sweep {info['sweep_seconds']:.2f} s ({info['bar_candidates_per_s']:,.0f} bar-candidates/s); "
                 f"replay {_num(info['replay_seconds_per_candidate'], 1)} s per confirmed candidate")
    lines.append(f"report → {res.report_path}")
    if res.mlflow_run_id:
        lines.append(f"MLflow run {res.mlflow_run_id}")
    return lines


def study(
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUES, repeatable: consensus.min_confidence="
                                                              "0.50:0.75:0.05, risk.stop_loss_pct=0.003,0.005, "
                                                              "coordinator.learning_rate=uniform(0.01,0.2). Default: "
                                                              "research.study.params."),
    method: str | None = typer.Option(None, "--method", help="grid | random (default research.study.method)."),
    n: int | None = typer.Option(None, "--n", help="Candidates drawn by --method random."),
    seed: int | None = typer.Option(None, "--seed"),
    sessions: str | None = typer.Option(None, "--sessions", help="Last N lake sessions, or dates (comma separated)."),
    model_uri: str | None = typer.Option(None, "--model-uri", help="Default live.backtest.model_uri."),
    metric: str | None = typer.Option(None, "--metric", help="sharpe_per_day | pnl | daily_pnl_mean."),
    top_k: int | None = typer.Option(None, "--top-k", help="Best candidates replayed in full."),
    folds: int | None = typer.Option(None, "--folds", help="Walk-forward folds."),
    config_from: str | None = typer.Option(None, "--config-from", help="bundle | working-tree: the base config."),
    study_id: str | None = typer.Option(None, "--study-id", help="Folder name under reports/studies/."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log the study to MLflow."),
    no_kb: bool = typer.Option(False, "--no-kb", help="Do not record the study in the knowledge base."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict and timings as JSON on stdout."),
) -> None:
    """Screen many decision/risk configurations with the sweep, confirm the best on the replay, and say
    whether anything beats noise (deflated Sharpe, overfitting probability, walk-forward)."""
    from pydantic import ValidationError

    from quantumtrader.config import get_settings
    from quantumtrader.errors import InputError
    from quantumtrader.progress import err_console, print_json, step
    from research.study.run import run_study

    settings = get_settings()
    base = settings.research.study
    update: dict[str, Any] = {k: v for k, v in {
        "method": method, "n_random": n, "seed": seed, "model_uri": model_uri, "metric": metric, "top_k": top_k,
        "folds": folds, "config_from": config_from}.items() if v is not None}
    if param:
        update["params"] = _params(param)
    if no_mlflow:
        update["log_to_mlflow"] = False
    try:
        cfg = type(base).model_validate({**base.model_dump(), **update})
    except ValidationError as err:
        e = err.errors()[0]
        raise InputError(f"qtml study --{str(e['loc'][0]).replace('_', '-')}: {e['msg']}") from None
    console = err_console()
    res = run_study(settings, cfg, sessions=parse_sessions(sessions), study_id=study_id,
                    step=lambda label, total=None: step("study", label, total=total, console=console))
    if not no_kb:
        from research.study.record import record_study

        with step("study", "recorded in the knowledge base", console=console) as s:
            s.done(f"recorded in the knowledge base as experiment {record_study(settings, res)}")
    if as_json:
        print_json({"study_id": res.study_id, "verdict": {k: v for k, v in res.verdict.items() if k != "pbo"},
                    "pbo": {k: v for k, v in (res.verdict["pbo"] or {}).items() if k != "logits"},
                    "info": res.info, "report": str(res.report_path), "mlflow_run_id": res.mlflow_run_id})
        return
    for line in summary_lines(res):
        typer.echo(line)

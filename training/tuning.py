"""Hyper-parameter search over purged walk-forward folds.

The search is a list of independent :class:`CVJob` s (one per parameter combination and fold, plus
one baseline job per fold); :func:`run_job` is a plain function so the jobs can run in a thread
pool, a Prefect task runner (threads or a Dask cluster) or one by one; in threads, their LightGBM
fits take turns (:func:`training.models.fit_lightgbm`). :func:`summarise` picks the
combination with the lowest mean out-of-fold log loss of the calibrated LightGBM.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.config import LGBMConfig, TuningConfig
from training.cv import Fold
from training.dataset import Dataset
from training.metrics import auc_direction, auc_ovr, confusion, score
from training.models import TUNED_PARAMS, FitAudit, LogisticBaseline, MajorityBaseline, fit_lightgbm

METRICS = ("log_loss", "balanced_accuracy", "auc_ovr", "auc_direction", "brier", "proxy_net_ticks", "n_signals")


def param_combos(cfg: TuningConfig) -> list[dict[str, Any]]:
    """Every grid combination, or ``n_iter`` distinct random draws from the grid (seeded)."""
    grid = [[(name, v) for v in getattr(cfg, name)] for name in TUNED_PARAMS]
    combos = [dict(c) for c in itertools.product(*grid)]
    if cfg.search == "random" and cfg.n_iter < len(combos):
        combos = random.Random(cfg.seed).sample(combos, cfg.n_iter)
    return combos


@dataclass(frozen=True)
class CVJob:
    """One unit of work: a model family on one fold (``combo`` indexes the parameter list)."""

    kind: str  # "lgbm" | "baselines"
    fold: Fold
    combo: int = -1
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.kind == "lgbm":
            return f"lgbm combo {self.combo} fold {self.fold.k}"
        return f"baselines fold {self.fold.k}"


@dataclass
class FoldResult:
    """Scores of one model on one fold's test rows, with the audit of what its fitting read."""

    model: str  # "lgbm" | "logreg" | "majority"
    fold: int
    combo: int
    metrics: dict[str, float]
    test_rows: np.ndarray
    proba: np.ndarray
    audit: FitAudit
    extra: dict[str, Any] = field(default_factory=dict)


def cv_jobs(folds: list[Fold], combos: list[dict[str, Any]]) -> list[CVJob]:
    """Baselines per fold, then every (combination, fold) pair."""
    jobs = [CVJob("baselines", f) for f in folds]
    jobs += [CVJob("lgbm", f, i, p) for i, p in enumerate(combos) for f in folds]
    return jobs


def run_job(ds: Dataset, job: CVJob, lgbm_cfg: LGBMConfig, cost_ticks: float) -> list[FoldResult]:
    """Fit on the fold's training rows, score on its test rows."""
    f = job.fold
    X, y = ds.X, ds.y
    X_test, y_test, fwd = X.iloc[f.test], y[f.test], ds.fwd_ticks[f.test]
    if job.kind == "lgbm":
        audit = FitAudit()
        m = fit_lightgbm(X.iloc[f.fit], y[f.fit], X.iloc[f.val], y[f.val], job.params, lgbm_cfg, audit)
        proba = m.predict_proba(X_test)
        extra = {"best_iteration": m.best_iteration, "temperature": m.calibration["temperature"]}
        return [FoldResult("lgbm", f.k, job.combo, score(y_test, proba, fwd, cost_ticks), f.test, proba, audit, extra)]
    out = []
    train = f.train
    audit_lr = FitAudit()
    lr = LogisticBaseline().fit(X.iloc[train], y[train], audit_lr)
    p_lr = lr.predict_proba(X_test)
    out.append(FoldResult("logreg", f.k, -1, score(y_test, p_lr, fwd, cost_ticks), f.test, p_lr, audit_lr))
    audit_mj = FitAudit()
    mj = MajorityBaseline().fit(pd.Series(y[train], index=train), audit_mj)
    p_mj = mj.predict_proba(len(f.test))
    out.append(FoldResult("majority", f.k, -1, score(y_test, p_mj, fwd, cost_ticks), f.test, p_mj, audit_mj))
    return out


def run_jobs(
    ds: Dataset,
    jobs: list[CVJob],
    lgbm_cfg: LGBMConfig,
    cost_ticks: float,
    *,
    max_workers: int = 1,
) -> list[FoldResult]:
    """Run ``jobs`` in a thread pool; the flow uses Prefect instead.

    The LightGBM part of each job holds the process-wide LightGBM section
    (:mod:`quantumtrader.lgbm_section`: concurrent LightGBM jobs crash the process), so the pool runs
    one fit at a time on all cores while the baselines and metrics of other jobs run beside it.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    results: list[FoldResult] = []
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures = [pool.submit(run_job, ds, j, lgbm_cfg, cost_ticks) for j in jobs]
        for fut in as_completed(futures):
            results.extend(fut.result())
    return results


@dataclass
class CVSummary:
    """Aggregates of a search: mean metrics per model/combination and the winner's out-of-fold scores."""

    best_combo: int
    best_params: dict[str, Any]
    aggregate: dict[str, dict[str, float]]  # "lgbm", "logreg", "majority", "lgbm_combo_<i>" -> mean metrics
    per_fold: list[dict[str, Any]]  # winner and baselines, one row per model and fold
    oof_auc_ovr: float
    oof_auc_direction: float
    oof_confusion: np.ndarray
    best_iterations: list[int]


def _mean(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    rows = list(rows)
    return {m: float(np.nanmean([r[m] for r in rows])) for m in METRICS}


def summarise(results: list[FoldResult], combos: list[dict[str, Any]], y: np.ndarray) -> CVSummary:
    """Mean metrics per combination and baseline; the winner is the lowest mean LightGBM log loss."""
    by_combo: dict[int, list[FoldResult]] = {}
    for r in results:
        if r.model == "lgbm":
            by_combo.setdefault(r.combo, []).append(r)
    aggregate = {f"lgbm_combo_{i}": _mean(r.metrics for r in rs) for i, rs in sorted(by_combo.items())}
    best = min(by_combo, key=lambda i: aggregate[f"lgbm_combo_{i}"]["log_loss"])
    winners = sorted(by_combo[best], key=lambda r: r.fold)
    aggregate["lgbm"] = aggregate[f"lgbm_combo_{best}"]
    per_fold: list[dict[str, Any]] = [{"model": "lgbm", "fold": r.fold, **r.metrics, **r.extra} for r in winners]
    for name in ("logreg", "majority"):
        rs = sorted((r for r in results if r.model == name), key=lambda r: r.fold)
        if rs:
            aggregate[name] = _mean(r.metrics for r in rs)
            per_fold += [{"model": name, "fold": r.fold, **r.metrics} for r in rs]
    rows = np.concatenate([r.test_rows for r in winners])
    proba = np.concatenate([r.proba for r in winners])
    return CVSummary(
        best_combo=best,
        best_params=combos[best],
        aggregate=aggregate,
        per_fold=per_fold,
        oof_auc_ovr=auc_ovr(y[rows], proba),
        oof_auc_direction=auc_direction(y[rows], proba),
        oof_confusion=confusion(y[rows], proba),
        best_iterations=[int(r.extra["best_iteration"]) for r in winners],
    )

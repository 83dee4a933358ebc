"""What a study may claim: the best candidate's deflated Sharpe for the number of trials, the probability
that picking the best overfits (CSCV), the walk-forward result no selection has seen, and the best
against the baseline (paired days; win rates with intervals). docs/studies.md.

- **significant**: deflated Sharpe of the best >= ``significance`` (0.95) *and* PBO <= ``max_pbo`` (0.5);
- **confirmed**: significant *and* the walk-forward Sharpe's 90 % interval lies above 0.

Anything less is reported as such ("no evidence that any candidate beats noise"): a study on noise must
say so, whatever its best in-sample number looks like.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from live_engine.backtest import stats
from live_engine.backtest.overfitting import probability_of_backtest_overfitting
from research.study.config import StudyConfig
from research.study.engine import Confirmation, Screen, metric_values, ranking


def pbo_blocks(n_days: int, wanted: int) -> int:
    """The even number of CSCV blocks closest to ``wanted`` that gives every block 2 days (0: too few days)."""
    b = min(wanted, n_days // 2)
    b -= b % 2
    return b if b >= 2 else 0


def win_rate_interval(pnl: np.ndarray) -> tuple[float, float, float]:
    """(win rate, 90 % interval) of a trade list, trades resampled in blocks in time order."""
    w = (np.asarray(pnl, dtype=np.float64) > 0).astype(np.float64)
    if len(w) == 0:
        return math.nan, math.nan, math.nan
    lo, hi = stats.interval(stats.block_bootstrap(w, n_boot=2000, seed=0), 0.90, n_eff=stats.effective_n(len(w)))
    return float(w.mean()), lo, hi


def judge(scr: Screen, conf: Confirmation, cfg: StudyConfig) -> dict[str, Any]:
    daily = scr.daily
    n_days, k = daily.shape
    best = int(ranking(metric_values(daily, cfg.metric))[0])
    dsr = stats.deflated_sharpe(daily[:, best], k)
    blocks = pbo_blocks(n_days, cfg.pbo_blocks)
    pbo: dict[str, Any] = {}
    if k >= 2 and blocks:
        res = probability_of_backtest_overfitting(daily, blocks)
        pbo = {**res.as_dict(), "logits": [float(x) for x in res.logits]}
    pbo_value = float(pbo["pbo"]) if pbo else math.nan
    significant = bool(dsr >= cfg.significance and (not pbo or pbo_value <= cfg.max_pbo))
    oos_lo = conf.oos.get("sharpe_per_day_lo", math.nan)
    confirmed = bool(significant and oos_lo > 0)
    base = next(c.index for c in scr.candidates if c.baseline)
    trades = scr.batch.trades
    wr = {i: win_rate_interval(trades.loc[trades["candidate"] == i, "pnl"].to_numpy()) for i in (best, base)}
    p_better = (stats.prob_greater(daily[:, best], daily[:, base], n_boot=2000, seed=0, expanded=True)
                if best != base else math.nan)
    reasons = []
    if not dsr >= cfg.significance:
        reasons.append(f"the best candidate's deflated Sharpe is {dsr:.3f} for {k} trials, below {cfg.significance}")
    if pbo and pbo_value > cfg.max_pbo:
        reasons.append(f"picking the best overfits with probability {pbo_value:.2f} (> {cfg.max_pbo})")
    if not pbo:
        reasons.append("the overfitting probability needs 2 candidates and 4 sessions or more")
    if significant and not confirmed:
        reasons.append("the walk-forward Sharpe's 90 % interval reaches 0 or below")
    if confirmed:
        conclusion = f"confirmed: {scr.candidates[best].name} beats noise for {k} trials and out of sample"
    elif significant:
        conclusion = f"significant in the screen, not confirmed walk-forward: {scr.candidates[best].name}"
    else:
        conclusion = "no evidence that any candidate beats noise: " + "; ".join(reasons)
    if (confirmed or significant) and best != base and not p_better >= cfg.significance:
        conclusion += (f"; not shown better than the baseline {scr.candidates[base].name} "
                       f"(P(best earns more per day) = {p_better:.2f})")
    return {
        "best": best, "best_name": scr.candidates[best].name, "baseline": base,
        "baseline_name": scr.candidates[base].name, "metric": cfg.metric,
        "best_metric": float(metric_values(daily[:, [best]], cfg.metric)[0]),
        "n_trials": k, "sessions": n_days, "deflated_sharpe": dsr, "pbo": pbo, "significant": significant,
        "confirmed": confirmed, "reasons": reasons, "conclusion": conclusion,
        "prob_best_beats_baseline": p_better,
        "win_rate": {scr.candidates[i].name: {"win_rate": v[0], "lo": v[1], "hi": v[2],
                                              "trades": int((trades["candidate"] == i).sum())}
                     for i, v in wr.items()},
        "walk_forward": conf.oos,
    }

"""A study's outputs: ``study.json`` (config, verdict, timings, confirmation), ``candidates.csv`` (the
screen), the charts as PNG files and ``report.html`` that shows them with the verdict first."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from live_engine.backtest import stats
from research.study.engine import Confirmation, Screen, metric_values

DPI = 96


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _plt()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:,.{digits}f}"
    return html.escape(str(v))


def sharpe_intervals(daily: np.ndarray, limit: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """90 % bootstrap interval of every candidate's per-day Sharpe (NaN beyond ``limit`` candidates)."""
    k = daily.shape[1]
    lo, hi = np.full(k, np.nan), np.full(k, np.nan)
    if daily.shape[0] < 3:
        return lo, hi
    n_eff = stats.effective_n(daily.shape[0])
    for j in range(min(k, limit)):
        lo[j], hi[j] = stats.interval(stats.sharpe_replicates(daily[:, j], n_boot=1000, seed=0), 0.90, n_eff=n_eff)
    return lo, hi


def chart_space(scr: Screen, metric: str, best: int, path: Path) -> Path:
    """1 parameter: the metric per value with its 90 % interval; 2 or more: a heatmap of the first two
    (the best over the others), best and baseline marked."""
    plt = _plt()
    t = scr.table
    params = [k for k, _ in scr.candidates[0].overrides]
    values = metric_values(scr.daily, metric)
    base = next(c.index for c in scr.candidates if c.baseline)
    if len(params) == 1:
        x = pd.to_numeric(t[params[0]], errors="coerce").to_numpy(np.float64)
        order = np.argsort(x, kind="stable")
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        ax = axes[0]
        if metric == "sharpe_per_day":
            lo, hi = sharpe_intervals(scr.daily)
            ax.fill_between(x[order], lo[order], hi[order], alpha=0.2, label="90 % interval")
        ax.plot(x[order], values[order], marker="o", label=metric)
        ax.axhline(0, color="grey", lw=0.8)
        ax.scatter([x[best]], [values[best]], s=120, facecolors="none", edgecolors="red", label="best in sample")
        ax.scatter([x[base]], [values[base]], marker="s", color="black", label="baseline")
        ax.set_xlabel(params[0])
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
        ax.set_title(f"{metric} per candidate ({len(x)} trials)")
        ax2 = axes[1]
        ax2.bar(x[order], t["n_trades"].to_numpy()[order], width=(np.ptp(x) or 1) / max(len(x), 1) * 0.8)
        ax2.set_xlabel(params[0])
        ax2.set_ylabel("trades")
        ax2.set_title("trades per candidate")
        return _save(fig, path)
    p0, p1 = params[0], params[1]
    frame = pd.DataFrame({p0: t[p0], p1: t[p1], "v": values})
    grid = frame.pivot_table(index=p1, columns=p0, values="v", aggfunc="max")
    fig, ax = plt.subplots(figsize=(min(14, 2 + 0.9 * grid.shape[1]), min(10, 1.5 + 0.6 * grid.shape[0])))
    im = ax.imshow(grid.to_numpy(np.float64), origin="lower", aspect="auto", cmap="RdYlGn")
    ax.set_xticks(range(grid.shape[1]), [f"{v:.4g}" for v in grid.columns], rotation=45)
    ax.set_yticks(range(grid.shape[0]), [f"{v:.4g}" for v in grid.index])
    ax.set_xlabel(p0)
    ax.set_ylabel(p1)
    for (i, j), v in np.ndenumerate(grid.to_numpy(np.float64)):
        if math.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label=metric + (" (best over the other parameters)" if len(params) > 2 else ""))
    ax.set_title(f"{metric}: {len(t)} trials")
    return _save(fig, path)


def chart_pbo(pbo: dict[str, Any], path: Path) -> Path | None:
    if not pbo:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(pbo["logits"], bins=20, color="steelblue")
    ax.axvline(0, color="red", lw=1)
    ax.set_xlabel("logit of the in-sample best's out-of-sample rank (< 0: below the median)")
    ax.set_ylabel("splits")
    ax.set_title(f"PBO = {pbo['pbo']:.2f} over {pbo['n_splits']} CSCV splits")
    return _save(fig, path)


def chart_walk_forward(scr: Screen, conf: Confirmation, best: int, path: Path) -> Path | None:
    if not conf.picks:
        return None
    plt = _plt()
    start = conf.folds[1][0]
    sessions = scr.sessions[start:]
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.plot(np.cumsum(conf.oos_daily), marker=".", label="walk-forward (each fold traded by its pick, replayed)")
    ax.plot(np.cumsum(scr.daily[start:, best]), ls="--", label="best in sample (chosen with these days)")
    base = next(c.index for c in scr.candidates if c.baseline)
    ax.plot(np.cumsum(scr.daily[start:, base]), ls=":", color="black", label="baseline")
    for f in conf.folds[2:]:
        ax.axvline(f[0] - start - 0.5, color="grey", lw=0.6, ls="--")
    ax.set_xticks(range(len(sessions)), sessions, rotation=60, fontsize=7)
    ax.set_ylabel("cumulative PnL, R$")
    ax.legend(fontsize=8)
    ax.set_title("out of sample: what the selection rule would have earned")
    return _save(fig, path)


def render(out: Path, info: dict[str, Any], verdict: dict[str, Any], scr: Screen, conf: Confirmation,
           charts: list[Path]) -> Path:
    """``report.html``: the verdict, the walk-forward numbers, the confirmed candidates, the charts."""
    v = verdict
    rows = []
    for i, r in conf.replayed.items():
        c = scr.candidates[i]
        m = r.metrics
        tags = [t for t, ok in (("top", i in conf.top), ("walk-forward pick", i in conf.picks),
                                ("baseline", c.baseline)) if ok]
        rows.append(f"<tr><td>{html.escape(c.name)}</td><td>{', '.join(tags)}</td>"
                    f"<td>{_fmt(m['pnl'], 0)}</td><td>{_fmt(m['n_trades'], 0)}</td><td>{_fmt(m['win_rate'])}</td>"
                    f"<td>{_fmt(m['sharpe_per_day'])} [{_fmt(m['sharpe_per_day_lo'])}, {_fmt(m['sharpe_per_day_hi'])}]"
                    f"</td><td>{_fmt(m['deflated_sharpe'])}</td><td>{_fmt(r.sweep_max_daily_diff, 6)}</td>"
                    f"<td>{_fmt(r.seconds, 1)}</td></tr>")
    wf = v["walk_forward"]
    imgs = "".join(f'<figure><img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" '
                   f'style="max-width:100%"><figcaption>{html.escape(p.stem)}</figcaption></figure>' for p in charts)
    wr = "".join(f"<li>{html.escape(n)}: win rate {_fmt(w['win_rate'])} [{_fmt(w['lo'])}, {_fmt(w['hi'])}] over "
                 f"{w['trades']} trades</li>" for n, w in v["win_rate"].items())
    pbo = v["pbo"].get("pbo", float("nan")) if v["pbo"] else float("nan")
    colour = "#2a2" if v["confirmed"] else "#c33"
    p_best = _fmt(v["prob_best_beats_baseline"])
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>Study {html.escape(info['study_id'])}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}}
td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}} td:first-child{{text-align:left}}
.verdict{{font-size:1.2em;padding:.5em;border-left:6px solid {colour}}}</style></head><body>
<h1>Parameter study {html.escape(info['study_id'])}</h1>
<p class="verdict">{html.escape(v['conclusion'])}</p>
<p>{v['n_trials']} trials ({html.escape(info['method'])} over {html.escape(', '.join(info['params']))}) on
{v['sessions']} sessions ({html.escape(info['first_session'])} to {html.escape(info['last_session'])}), model
{html.escape(info['model'])}; best by {html.escape(v['metric'])}: <b>{html.escape(v['best_name'])}</b>.
Deflated Sharpe of the best for {v['n_trials']} trials: <b>{_fmt(v['deflated_sharpe'])}</b> (significant at
&ge; {info['significance']}); probability of backtest overfitting: <b>{_fmt(pbo)}</b> (at most {info['max_pbo']}).
Best vs baseline ({html.escape(v['baseline_name'])}), paired days: P(best earns more) = {p_best}.</p>
<ul>{wr}</ul>
<h2>Walk-forward (replayed, {_fmt(wf.get('days', 0.0), 0)} days no selection saw)</h2>
<p>PnL R$ {_fmt(wf.get('pnl', float('nan')), 0)}; daily mean {_fmt(wf.get('daily_pnl_mean', float('nan')), 1)}
[{_fmt(wf.get('daily_pnl_mean_lo', float('nan')), 1)}, {_fmt(wf.get('daily_pnl_mean_hi', float('nan')), 1)}];
Sharpe per day {_fmt(wf.get('sharpe_per_day', float('nan')))} [{_fmt(wf.get('sharpe_per_day_lo', float('nan')))},
{_fmt(wf.get('sharpe_per_day_hi', float('nan')))}] (90 % intervals).</p>
<h2>Replayed candidates</h2><table><tr><th>candidate</th><th>why</th><th>PnL R$</th><th>trades</th><th>win rate</th>
<th>Sharpe/day [90 %]</th><th>deflated Sharpe</th><th>sweep vs replay, max daily diff R$</th><th>replay s</th></tr>
{''.join(rows)}</table>
<p>Screen: {info['groups']} decision replay(s), sweep {info['sweep_seconds']:.2f} s for {v['n_trials']} candidates x
{info['bars']} bars ({info['bar_candidates_per_s']:,.0f} bar-candidates/s); candidates.csv has every candidate.</p>
{imgs}</body></html>"""
    path = out / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path

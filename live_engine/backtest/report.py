"""The backtest's HTML report: metrics table, equity, drawdown and per-agent charts (PNG, base64)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import pandas as pd


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def charts(equity: pd.DataFrame, weights: pd.DataFrame, contribution: dict[str, float],
           capital: float) -> dict[str, str]:
    """Base64 PNGs: ``equity``, ``drawdown``, ``agent_weights``, ``agent_contribution``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(range(len(equity)), equity["pnl"].to_numpy() if len(equity) else [], lw=1)
    ax.set_title("Equity (PnL, R$) per bar close")
    ax.set_xlabel("bar")
    ax.grid(alpha=0.3)
    out["equity"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 2.5))
    if len(equity):
        total = capital + equity["pnl"]
        dd = (total - total.cummax().clip(lower=capital)) / total.cummax().clip(lower=capital)
        ax.fill_between(range(len(dd)), dd.to_numpy() * 100, 0, color="tab:red", alpha=0.4)
    ax.set_title("Drawdown (%)")
    ax.grid(alpha=0.3)
    out["drawdown"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 3))
    for col in weights.columns:
        ax.plot(range(len(weights)), weights[col].to_numpy(), lw=1, label=col)
    if len(weights.columns):
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Agent weights (Hedge) per bar")
    ax.grid(alpha=0.3)
    out["agent_weights"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(contribution)
    ax.bar(names, [contribution[n] for n in names], color="tab:blue")
    ax.set_title("PnL attributed to each source (R$)")
    ax.tick_params(axis="x", rotation=30)
    ax.grid(alpha=0.3, axis="y")
    out["agent_contribution"] = _png(fig)
    return out


def write_report(path: Path, *, title: str, metrics: dict[str, Any], info: dict[str, Any],
                 images: dict[str, str], trades: pd.DataFrame) -> Path:
    """Write a self-contained HTML report."""
    def rows(d: dict[str, Any]) -> str:
        def fmt(v: Any) -> str:
            return f"{v:,.4f}" if isinstance(v, float) else html.escape(str(v))
        return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{fmt(v)}</td></tr>" for k, v in d.items())

    imgs = "".join(f'<h2>{html.escape(k.replace("_", " "))}</h2><img src="data:image/png;base64,{v}"/>'
                   for k, v in images.items())
    head = (trades.head(50).to_html(index=False, float_format=lambda v: f"{v:,.2f}") if len(trades)
            else "<p>no trades</p>")
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{text-align:left}}</style></head><body>
<h1>{html.escape(title)}</h1><h2>Run</h2><table>{rows(info)}</table><h2>Metrics</h2><table>{rows(metrics)}</table>
{imgs}<h2>First trades</h2>{head}</body></html>"""
    path.write_text(doc, encoding="utf-8")
    return path

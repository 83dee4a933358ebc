"""The backtest's HTML report, rendered from the run folder's files by :func:`render_report`.

It reads ``metrics.json``, ``run.json``, ``trades.parquet``, ``equity.parquet``, ``decisions.jsonl``
and, when the promotion gate has written it, ``verdict.json``; so any step can re-render the report
of a finished run (the gate does, after writing its verdict). One self-contained page, readable at
1280 px: warnings first, the gate's verdict, the metrics with their 90 % intervals, the charts
(:mod:`live_engine.backtest.report_charts`), the trades (BUY/SELL, local times, R$) and the run as
a table with its configurations folded away.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from live_engine.backtest import report_charts as charts
from live_engine.backtest.metrics import daily_pnl
from live_engine.backtest.presentation import EXIT_LABELS, MONEY, NA, fmt, notes, number, sections
from quantumtrader.errors import InputError

DEFAULT_TZ = "America/Sao_Paulo"
DECISIONS = ("promoted", "passed", "refused", "not evaluated")  # passed: `qtml model evaluate`, a dry run
NOT_EVALUATED = "not evaluated by the promotion gate"
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:16px 20px;
max-width:1200px;color:#1b1f24;font-size:14px;line-height:1.4}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;margin:4px 0 10px}th,td{border:1px solid #d0d7de;padding:3px 8px;
vertical-align:top;overflow-wrap:anywhere}th{background:#f6f8fa;text-align:left;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th{white-space:nowrap}
.grid{display:flex;flex-wrap:wrap;gap:0 24px;align-items:flex-start}.grid>div{flex:1 1 540px;min-width:0}
.grid table{width:100%}.foot{color:#57606a;margin-top:24px}
img{max-width:100%;height:auto;display:block;margin:6px 0}
.sub{color:#57606a;margin:0 0 10px}.notes{background:#fff8c5;border:1px solid #d4a72c;padding:6px 14px;
border-radius:6px}.notes li{margin:3px 0}
.verdict{padding:8px 14px;border-radius:6px;border:1px solid #d0d7de;background:#f6f8fa}
.promoted{color:#1a7f37;font-weight:700}.refused{color:#cf222e;font-weight:700}.pending{color:#9a6700;font-weight:700}
.pass{color:#1a7f37}.fail{color:#cf222e}
.scroll{max-height:520px;overflow-y:auto;overflow-x:hidden;border:1px solid #d0d7de}
.scroll table{margin:0;width:100%}details{margin:4px 0}summary{cursor:pointer;font-weight:600}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err}): fix or remove the file and render again") from None


def load_verdict(run_dir: Path) -> dict[str, Any] | None:
    """The promotion gate's ``verdict.json`` of this run, checked against its schema; None when absent."""
    path = run_dir / "verdict.json"
    if not path.exists():
        return None
    v = _read_json(path)
    problem = ""
    if not isinstance(v, dict):
        problem = "is not a JSON object"
    elif v.get("decision") not in DECISIONS:
        problem = f"has decision {v.get('decision')!r}; expected one of {', '.join(DECISIONS)}"
    elif not isinstance(v.get("challenger"), str):
        problem = "has no challenger (a string)"
    elif v.get("champion") is not None and not isinstance(v.get("champion"), str):
        problem = "has a champion that is neither a string nor null"
    elif not isinstance(v.get("checks"), list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("passed"), bool)
            for c in v["checks"]):
        problem = "needs checks: a list of objects with a name (string) and passed (true/false)"
    if problem:
        raise InputError(f"{path} {problem}: the promotion gate writes this file; fix or remove it")
    return v


def _value(v: Any) -> str:
    """A verdict value or threshold: numbers compactly, strings as they are, null as n/a."""
    if v is None:
        return NA
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return NA if not math.isfinite(v) else (f"{v:,.0f}" if v.is_integer() else f"{v:,.4g}")
    return str(v)


def _verdict_html(v: dict[str, Any] | None) -> str:
    if v is None:
        return f'<div class="verdict"><span class="pending">{NOT_EVALUATED}</span></div>'
    cls = {"promoted": "promoted", "passed": "promoted", "refused": "refused"}.get(v["decision"], "pending")
    rows = "".join(
        f'<tr><td>{_e(c["name"])}</td><td class="{"pass" if c["passed"] else "fail"}">'
        f'{"✔ passed" if c["passed"] else "✘ failed"}</td><td class="num">{_e(_value(c.get("value")))}</td>'
        f'<td class="num">{_e(_value(c.get("threshold")))}</td><td>{_e(c.get("detail", ""))}</td></tr>'
        for c in v["checks"])
    champion = v.get("champion") or "none yet"
    return (f'<div class="verdict">Decision: <span class="{cls}">{_e(v["decision"])}</span> · challenger '
            f'<b>{_e(v["challenger"])}</b> · champion {_e(champion)}</div>'
            + (f"<table><tr><th>check</th><th>result</th><th>value</th><th>threshold</th><th>detail</th></tr>"
               f"{rows}</table>" if rows else "<p>no checks recorded</p>"))


def _metrics_html(m: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    blocks = []
    for title, rows in sections(m, info):
        with_iv = any(r.interval for r in rows)
        head = "<tr><th>metric</th><th>value</th>" + ("<th>90 % interval / share</th>" if with_iv else "") + "</tr>"
        body = "".join(f"<tr><td>{_e(r.label)}</td><td class='num'>{_e(r.value)}</td>"
                       + (f"<td class='num'>{_e(r.interval)}</td>" if with_iv else "") + "</tr>" for r in rows)
        blocks.append(f"<div><h3>{_e(title)}</h3><table>{head}{body}</table></div>")
    return f'<div class="grid">{"".join(blocks)}</div>'


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict):
        out: list[tuple[str, str]] = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(d, list) and any(isinstance(x, dict | list) for x in d):
        return [r for i, x in enumerate(d) for r in _flatten(x, f"{prefix}[{i}]")]
    if isinstance(d, list):
        return [(prefix, ", ".join(map(str, d)) or "none")]
    return [(prefix, "none" if d is None else _value(d))]


RUN_LABELS = {"model_uri": "model", "model_sha256": "model SHA-256", "symbol": "symbol", "bar_spec": "bars",
              "sessions": "sessions", "sample": "sessions vs the training window", "train_window": "training window",
              "order_hash": "order-list hash (determinism)", "deflated_sharpe_trials": "configurations tried in tuning",
              "model_input_groups": "model input groups", "abstaining_agents": "agents abstaining"}


def _run_html(info: Mapping[str, Any]) -> str:
    rows, folded = [], []
    for k, v in info.items():
        if isinstance(v, dict) and k != "model_input_groups":
            flat = _flatten(v)
            body = "".join(f"<tr><td>{_e(a)}</td><td>{_e(b)}</td></tr>" for a, b in flat)
            folded.append(f"<details><summary>{_e(k.replace('_', ' '))} ({len(flat)} values)</summary>"
                          f"<table>{body}</table></details>")
            continue
        if isinstance(v, dict):
            v = ", ".join(f"{g}: {'yes' if x else 'no'}" for g, x in v.items())
        elif k == "sessions" and isinstance(v, str):
            v = ", ".join(v.split(","))
        rows.append(f"<tr><th>{_e(RUN_LABELS.get(k, k.replace('_', ' ')))}</th><td>{_e(_value(v) or '-')}</td></tr>")
    return f"<table>{''.join(rows)}</table>{''.join(folded)}"


def _price_decimals(symbol: str) -> tuple[int, str]:
    try:
        from market.instruments import get_instrument

        inst = get_instrument(symbol)
        tick, tz = inst.tick_size, inst.timezone
    except Exception:  # a symbol this code does not know any more: plain formatting
        return 2, DEFAULT_TZ
    text = f"{tick:.10f}".rstrip("0").rstrip(".")
    return (len(text.split(".")[1]) if "." in text else 0), tz


def _trades_html(trades: pd.DataFrame, tz: str, decimals: int) -> str:
    if not len(trades):
        return "<p>no trades</p>"
    et, xt = charts.local_times(trades["entry_ts_ns"], tz), charts.local_times(trades["exit_ts_ns"], tz)
    rows = []
    for k, t in enumerate(trades.itertuples(index=False)):
        side = "BUY" if t.side > 0 else "SELL"
        rows.append(
            f"<tr><td class='num'>{k + 1}</td><td>{et[k]:%Y-%m-%d %H:%M:%S}</td><td>{xt[k]:%H:%M:%S}</td>"
            f"<td class='side'>{side}</td><td class='num'>{int(t.qty)}</td>"
            f"<td class='num'>{t.entry_price:,.{decimals}f}</td><td class='num'>{t.exit_price:,.{decimals}f}</td>"
            f"<td class='num'>{t.points:,.{decimals}f}</td>"
            f"<td class='num'>{fmt(t.fees, MONEY)}</td><td class='num'>{fmt(t.pnl, MONEY)}</td>"
            f"<td>{_e(EXIT_LABELS.get(t.exit_tag, t.exit_tag))}</td></tr>")
    head = (f"<tr><th>#</th><th>entry ({_e(tz)})</th><th>exit</th><th>side</th><th>qty</th><th>entry price</th>"
            "<th>exit price</th><th>points</th><th>fees</th><th>PnL after costs</th><th>exit reason</th></tr>")
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def _weights(run_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """The coordinator's weights at every bar that logged them, and those bars' sessions."""
    path = run_dir / "decisions.jsonl"
    if not path.exists():
        return pd.DataFrame(), []
    rows, sessions = [], []
    for line in path.read_bytes().splitlines():
        rec = orjson.loads(line) if line else {}
        if rec.get("weights"):
            rows.append(rec["weights"])
            sessions.append(str(rec.get("session", "")))
    return pd.DataFrame(rows), sessions


def _table(run_dir: Path, name: str) -> pd.DataFrame:
    path = run_dir / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def render_report(run_dir: Path) -> Path:
    """Render ``<run_dir>/report.html`` from the run folder's files and return its path.

    Raises :class:`InputError` when the folder holds no ``metrics.json`` or a malformed ``verdict.json``."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise InputError(f"{run_dir} holds no metrics.json: give the folder of a finished backtest run")
    m: dict[str, Any] = _read_json(run_dir / "metrics.json")
    info: dict[str, Any] = _read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    verdict = load_verdict(run_dir)
    equity, trades = _table(run_dir, "equity"), _table(run_dir, "trades")
    symbol = str(info.get("symbol", ""))
    decimals, tz = _price_decimals(symbol)
    capital = number((info.get("live_config") or {}).get("risk", {}).get("account_capital"))
    capital = capital if math.isfinite(capital) else 0.0
    sessions = [str(s) for s in equity["session"]] if len(equity) else []
    days = list(dict.fromkeys(sessions))

    images = [("Equity and drawdown", charts.equity_chart(equity, capital))]
    if days:
        daily = daily_pnl(sessions, equity["pnl"].to_numpy(np.float64))
        images.append(("Daily PnL", charts.daily_chart(days, daily, number(m.get("daily_pnl_mean")),
                                                       number(m.get("daily_pnl_mean_lo")),
                                                       number(m.get("daily_pnl_mean_hi")))))
        day, why = _session_to_show(days, trades, tz)
        in_day = trades[[str(d) == day for d in charts.local_times(trades["entry_ts_ns"], tz).date]] \
            if len(trades) else trades
        images.append((f"One session: {day} ({why})",
                       charts.session_chart(equity[equity["session"].astype(str) == day], in_day, tz, day)))
    weights, w_sessions = _weights(run_dir)
    if len(weights.columns):
        images.append(("Agent weights", charts.weights_chart(weights, w_sessions)))

    title = f"Backtest {run_dir.name}"
    first_last = f"{days[0]} … {days[-1]}" if days else "no sessions"
    sub = (f"{_e(symbol or '?')} · {len(days)} session{'s' if len(days) != 1 else ''} ({first_last}) · model "
           f"{_e(info.get('model_uri', '?'))} · {_e(info.get('sample', 'unknown'))} · times in {_e(tz)}")
    warn = notes(m, info)
    warn_html = (f'<ul class="notes">{"".join(f"<li>{_e(w)}</li>" for w in warn)}</ul>' if warn else "")
    figs = "".join(f"<h3>{_e(t)}</h3><img alt='{_e(t)}' src='data:image/png;base64,{png}'/>" for t, png in images)
    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>
<style>{CSS}</style></head><body>
<h1>{_e(title)}</h1><p class="sub">{sub}</p>{warn_html}
<h2>Promotion gate</h2>{_verdict_html(verdict)}
<h2>Metrics</h2>{_metrics_html(m, info)}
<h2>Charts</h2>{figs}
<h2>Trades ({len(trades)})</h2>{_trades_html(trades, tz, decimals)}
<h2>Run</h2>{_run_html(info)}
<p class="foot">Every metric, its undefined cases and the bootstrap are defined in docs/metrics.md. Money is R$ after
fees, at the prices the paper broker filled; n/a means undefined, never 0.</p>
</body></html>"""
    out = run_dir / "report.html"
    out.write_text(doc, encoding="utf-8")
    return out


def _session_to_show(days: list[str], trades: pd.DataFrame, tz: str) -> tuple[str, str]:
    """The last session, or the last one with a trade when it had none (not the best one: no cherry-picking)."""
    if not len(trades):
        return days[-1], "the last session; no trades"
    traded = {str(d) for d in charts.local_times(trades["entry_ts_ns"], tz).date}
    for day in reversed(days):
        if day in traded:
            return day, "the last session" if day == days[-1] else "the last session with trades"
    return days[-1], "the last session"

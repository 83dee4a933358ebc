"""The reports as one self-contained HTML page each (inline CSS and PNGs), readable on a 1280 px screen."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reports import charts

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1d2630}
main{max-width:1180px;margin:0 auto;padding:18px 20px 40px}
h1{font-size:22px;margin:6px 0 2px}
h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d5dbe1;padding-bottom:4px}
.sub{color:#5a6773;font-size:13px;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:10px;margin-top:14px}
.card{background:#fff;border:1px solid #dde3e9;border-radius:8px;padding:10px 12px}
.card .k{font-size:12px;color:#5a6773}.card .v{font-size:21px;font-weight:600;margin-top:2px}
.card .n{font-size:12px;color:#5a6773;margin-top:2px}
.pos{color:#17823b}.neg{color:#c0392b}.warn{background:#fff4d6;border-color:#f0c36d}
img{max-width:100%;height:auto;background:#fff;border:1px solid #dde3e9;border-radius:6px}
table{border-collapse:collapse;background:#fff;font-size:13px;width:100%;table-layout:auto}
th,td{border:1px solid #dde3e9;padding:4px 7px;text-align:right;overflow-wrap:break-word}
td.w{overflow-wrap:anywhere}
th{background:#eef2f5}td.l,th.l{text-align:left}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.scroll{max-height:420px;overflow:auto}
.note{font-size:12px;color:#5a6773;margin:6px 0}
"""


def e(x: Any) -> str:
    return html.escape(str(x))


def num(v: Any, kind: str = "") -> str:
    """A number for people: money with R$ and two decimals, shares as %, None/NaN as an em dash."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if kind in ("money", "cost"):
        return f"R$ {v:,.2f}"
    if kind == "pct":
        return f"{100 * v:.1f} %"
    if kind == "ms":
        return f"{v:.3f} ms"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.2f}"
    return f"{v:,}" if isinstance(v, int) else e(v)


def sign_class(v: Any) -> str:
    return "pos" if isinstance(v, int | float) and v > 0 else "neg" if isinstance(v, int | float) and v < 0 else ""


def rate_text(r: Mapping[str, Any]) -> tuple[str, str]:
    """(value, note) for a rate: '55.0 %' and '11 of 20, 90 % interval 36–72 %, small sample'."""
    if not r.get("n"):
        return "—", "no trade closed"
    note = (f"{r['wins']} of {r['n']}, {round(100 * r['level'])} % interval "
            f"{100 * r['lo']:.0f}–{100 * r['hi']:.0f} %")
    if r.get("small_sample"):
        note += " — small sample"
    return num(r["rate"], "pct"), note


def card(k: str, v: str, note: str = "", cls: str = "", warn: bool = False) -> str:
    return (f'<div class="card{" warn" if warn else ""}"><div class="k">{e(k)}</div>'
            f'<div class="v {cls}">{v}</div><div class="n">{e(note)}</div></div>')


def table(rows: Sequence[Mapping[str, Any]], cols: Sequence[tuple[str, str, str]]) -> str:
    """rows, and (key, header, kind) per column; kind 'l' is left-aligned text, 'money' a coloured PnL, 'cost'
    an amount in R$ that is no gain or loss (fees, drawdown)."""
    head = "".join(f'<th class="{"l" if k == "l" else ""}">{e(h)}</th>' for _c, h, k in cols)
    body = []
    for r in rows:
        tds = "".join(f'<td class="{"l" if k == "l" else sign_class(r.get(c)) if k == "money" else ""}">'
                      f'{e(r.get(c, "")) if k == "l" else num(r.get(c), k)}</td>' for c, _h, k in cols)
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv(pairs: Sequence[tuple[str, str]]) -> str:
    return "<table>" + "".join(f'<tr><th class="l">{e(k)}</th><td class="l w">{v}</td></tr>' for k, v in pairs) + \
        "</table>"


def img(b64: str, alt: str) -> str:
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{b64}">'


def page(title: str, sub: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{e(title)}</title><style>{CSS}</style></head>'
            f'<body><main><h1>{e(title)}</h1><div class="sub">{sub}</div>{body}</main></body></html>')


def summary_cards(s: Mapping[str, Any], risk: Mapping[str, Any] | None) -> str:
    wr, note = rate_text(s["win_rate"])
    cards = [card("Trades (round trips)", num(s["trades"]), f"fees R$ {s['fees']:,.2f} included"),
             card("PnL after costs", num(s["pnl"], "money"), f"gross R$ {s['gross_pnl']:,.2f}", sign_class(s["pnl"])),
             card("Win rate (net PnL > 0)", wr, note, warn=bool(s["win_rate"].get("small_sample"))),
             card("Max drawdown (closed trades)", num(s["max_drawdown"], "money"),
                  f"marked at every bar: R$ {s['max_drawdown_marked']:,.2f}" if "max_drawdown_marked" in s
                  else "across the week's trades in time order")]
    if risk is not None:
        cards.append(card("Entries vs limit", f"{risk['entries']} / {risk['max_daily_trades']}",
                          f"{100 * risk['entries_used']:.0f} % of max_daily_trades", warn=risk["entries_used"] >= 1))
        cards.append(card("Worst intraday PnL vs loss limit", num(risk["worst_intraday_pnl"], "money"),
                          f"{100 * risk['loss_used']:.0f} % of R$ {risk['daily_loss_limit']:,.0f}",
                          warn=risk["loss_used"] >= 1))
    return f'<div class="cards">{"".join(cards)}</div>'


def agents_table(agents: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for a in agents:
        v, note = rate_text(a["hit_rate"])
        rows.append({**a, "hit": v, "hit_note": note.replace("no trade closed", "no call")})
    return table(rows, [("agent", "agent", "l"), ("votes", "votes", ""), ("calls", "directional calls", ""),
                        ("hit", "right direction", "l"), ("hit_note", "of / interval", "l"),
                        ("edge_bps", "edge (signal × next return, bp)", ""), ("weight_first", "weight first", ""),
                        ("weight_last", "weight last", ""), ("weight_mean", "weight mean", "")])


def features_table(features: pd.DataFrame, top: int) -> str:
    return table(features.head(top).to_dict("records"), [("feature", "feature", "l"),
                                                          ("mean_abs", "mean |contribution|", ""),
                                                          ("up_minus_down", "up minus down (signed)", "")])


def trades_table(trades: pd.DataFrame, tz: str) -> str:
    rows = []
    for t in trades.to_dict("records"):
        et = pd.Timestamp(int(t["entry_ts_ns"]), tz="UTC").tz_convert(tz)
        xt = pd.Timestamp(int(t["exit_ts_ns"]), tz="UTC").tz_convert(tz)
        rows.append({**t, "side_s": "BUY" if t["side"] > 0 else "SELL", "entry": et.strftime("%H:%M:%S"),
                     "exit": xt.strftime("%H:%M:%S")})
    return '<div class="scroll">' + table(rows, [
        ("entry", "entry", "l"), ("exit", "exit", "l"), ("side_s", "side", "l"), ("qty", "qty", ""),
        ("entry_price", "entry price", ""), ("exit_price", "exit price", ""), ("points", "points", ""),
        ("fees", "fees", "cost"), ("pnl", "PnL net", "money"), ("exit_tag", "exit", "l")]) + "</div>"


def status_html(doc: Mapping[str, Any]) -> str:
    """Latency, data quality, drift and live vs replay."""
    lat, dq, dr, lr = doc["latency_ms"], doc["data_quality"], doc["drift"], doc["live_vs_replay"]
    lat_pairs = [("decided bars", num(lat["n"])), ("p50", num(lat["p50"], "ms")), ("p99", num(lat["p99"], "ms")),
                 ("max", num(lat["max"], "ms"))]
    counters = dq.get("engine_counters") or {}
    dq_pairs = [("decided bars / degraded", f"{dq['bars']:,} / {dq['degraded_bars']:,}"),
                ("consensus reasons", e(", ".join(f"{k}: {v}" for k, v in dq["reasons"].items()) or "—")),
                ("recording ingested into the lake", num(dq["ingested"])),
                ("quarantined rows (lake)", num(dq["quarantined_rows"])),
                ("ingest validation passed", num(dq["ingest_validation"])),
                ("engine bad messages (metrics snapshot)",
                 f"{num(counters.get('bad_messages'))} at {e(counters.get('snapshot_ts') or '—')}")]
    if dr["checked"]:
        dr_pairs = [("drift detected", "<b>yes</b>" if dr["drift_detected"] else "no"),
                    ("share drifted / threshold", f"{num(dr['share_drifted'])} / {num(dr['threshold'])}"),
                    ("rows reference / current", f"{num(dr['n_reference'])} / {num(dr['n_current'])}"),
                    ("features drifted", e(", ".join(dr["features_drifted"]) or "none")),
                    ("retrain triggered", num(dr["retrain_triggered"])), ("checked at", e(dr["checked_at"])),
                    ("verdicts that day", num(dr["verdicts_that_day"]))]
    else:
        dr_pairs = [("drift", "not checked")]
    if lr["checked"]:
        lr_pairs = [("live = replay", "<b>yes</b>" if lr["equal"] else f"<b class='neg'>no: {lr['n_differences']} "
                     "difference(s)</b>"), ("bars live / replayed", f"{lr['bars_live']} / {lr['bars_replay']}"),
                    ("orders live / replayed", f"{lr['orders_live']} / {lr['orders_replay']}")]
        lr_pairs += [("difference", e(d)) for d in lr["differences"][:10]]
    else:
        lr_pairs = [("live vs replay", "not checked: " + e(lr["why"]))]
    return (f'<div class="grid2"><div><h2>Latency</h2>{kv(lat_pairs)}<p class="note">The engine\'s own measure '
            f'per decided bar: from the event that closed the bar to the decision.</p></div>'
            f'<div><h2>Data quality</h2>{kv(dq_pairs)}</div>'
            f'<div><h2>Drift</h2>{kv(dr_pairs)}</div><div><h2>Live vs replay</h2>{kv(lr_pairs)}</div></div>')


def risk_html(risk: Mapping[str, Any]) -> str:
    den = ", ".join(f"{k}: {v}" for k, v in risk["denials"].items()) or "none"
    if not risk["denials_recorded"]:
        den = "not recorded (a decision log from an engine before denials were logged)"
    pairs = [("entries / max_daily_trades", f"{risk['entries']} / {risk['max_daily_trades']}"),
             ("day's loss (closed trades) / daily_loss_limit",
              f"{num(risk['daily_loss'], 'money')} / {num(risk['daily_loss_limit'], 'money')}"),
             ("worst intraday PnL (marked)", num(risk["worst_intraday_pnl"], "money")),
             ("denials by reason", e(den)),
             ("bars by risk state", e(", ".join(f"{k}: {v}" for k, v in risk["bars_by_state"].items()) or "—")),
             ("limits from", e(risk["limits_from"]))]
    return f"<h2>Risk-limit usage</h2>{kv(pairs)}"


def daily_html(rep: Any, tz: str, top: int) -> str:
    """The daily report page from a :class:`reports.daily.DayReport`."""
    d = rep.doc
    parts = [summary_cards(d["summary"], d["risk"])]
    title = f"Equity through {d['day']}: PnL after costs, marked to every bar close; drawdown below"
    parts.append(f"<h2>PnL through the day</h2>{img(charts.equity_chart(rep.equity, tz, title), 'equity')}")
    if rep.decisions is not None and "close" in rep.decisions and len(rep.decisions):
        sc = charts.session_chart(rep.decisions[["ts_ns", "close"]], rep.trades, tz, d["day"])
        parts.append(f"<h2>Price, entries and exits</h2>{img(sc, 'session')}")
    parts.append(risk_html(d["risk"]))
    parts.append(status_html(d))
    parts.append("<h2>Agents: performance and coordinator weights</h2>")
    if rep.agents:
        parts.append(agents_table(rep.agents))
        w = rep.weights
        parts.append(img(charts.weights_of(w, tz), "weights"))
        parts.append('<p class="note">A directional call is right when the next bar of the session closed the way '
                     'it pointed; bars whose next close was unchanged are not counted.</p>')
        wj = d.get("weights_journal")
        if wj:
            now = ", ".join(f"{k} {v:.3f}" for k, v in wj["weights"].items())
            parts.append(f'<p class="note">Weights the journal holds now (what a restart resumes from, after '
                         f'{wj["updates"]} updates): {e(now)}.</p>')
    else:
        parts.append('<p class="note">No agent votes in the decision log for this day.</p>')
    parts.append(features_section(rep.features, top))
    parts.append(f"<h2>Trades ({len(rep.trades)})</h2>{trades_table(rep.trades, tz)}")
    sub = (f"{e(d['symbol'])} · model version(s) {e(', '.join(d['model_versions']) or '—')} · journal "
           f"{e(d['journal'])} · money in R$ after the fees the journal records")
    return page(f"Daily report {d['day']}", sub, "".join(parts))


def features_section(features: pd.DataFrame, top: int) -> str:
    if not len(features):
        return "<h2>Features that drove the model</h2><p class='note'>No decided bar logged.</p>"
    rows = int(features["rows"].iloc[0])
    return (f"<h2>Features that drove the model</h2>{img(charts.contributions_chart(features, top, rows), 'features')}"
            f"{features_table(features, top)}")


def weekly_html(doc: Mapping[str, Any], features: pd.DataFrame, top: int) -> str:
    """The weekly report page."""
    days = doc["days"]
    parts = [summary_cards(doc["summary"], None)]
    if days:
        chart = charts.week_chart([x["day"] for x in days], [x["pnl"] for x in days])
        parts.append(f"<h2>PnL per session</h2>{img(chart, 'days')}")
    rows = [{**x, "wr": rate_text(x["win_rate"])[0]} for x in days]
    parts.append("<h2>Sessions</h2>" + table(rows, [("day", "day", "l"), ("trades", "trades", ""),
                                                  ("pnl", "PnL net", "money"), ("fees", "fees", "cost"),
                                                  ("wr", "win rate", "l"), ("max_drawdown", "max drawdown", "cost"),
                                                  ("entries", "entries", ""), ("denials", "denials", ""),
                                                  ("latency_p99", "latency p99 (ms)", ""),
                                                  ("drift", "drift", "l")]))
    if doc["skipped"]:
        parts.append('<p class="note">Trading days without an engine session: ' + e(", ".join(doc["skipped"])) + "</p>")
    parts.append("<h2>Agents over the week</h2>" + (agents_table(doc["agents"]) if doc["agents"] else
                                                     "<p class='note'>No agent votes logged.</p>"))
    parts.append(features_section(features, top))
    sub = f"{e(doc['symbol'])} · {e(doc['first'])} to {e(doc['last'])} · money in R$ after fees"
    return page(f"Weekly report {doc['week']}", sub, "".join(parts))

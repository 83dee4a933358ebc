"""The reports' Excel export (openpyxl): sheets Summary, Trades (or Days for a week), Agents, Features.
Numbers are written as numbers (money with a ``R$`` number format), never as text, so they sum in Excel."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

MONEY = '"R$" #,##0.00;[Red]-"R$" #,##0.00'
PCT = "0.0%"


def _flat(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out += _flat(v, key + ".")
        elif isinstance(v, list | tuple):
            out.append((key, ", ".join(str(x) for x in v)))
        else:
            out.append((key, v))
    return out


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):  # numpy scalar
        return v.item()
    return v


def _sheet(wb: Any, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
           money: Sequence[str] = (), pct: Sequence[str] = ()) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    ws.append(list(header))
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([_cell(v) for v in r])
    for j, h in enumerate(header, start=1):
        fmt = MONEY if h in money else PCT if h in pct else None
        letter = ws.cell(row=1, column=j).column_letter
        ws.column_dimensions[letter].width = max(12, min(48, len(h) + 4))
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = fmt
    ws.freeze_panes = "A2"


def _summary_rows(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    skip = {"agents", "features_top", "days"}
    return [(k, v) for k, v in _flat({k: v for k, v in doc.items() if k not in skip})]


def _agents_rows(agents: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    header = ["agent", "votes", "calls", "right", "right_rate", "interval_lo", "interval_hi", "small_sample",
              "edge_bps", "weight_first", "weight_last", "weight_mean"]
    rows = [[a["agent"], a["votes"], a["calls"], a["hit_rate"]["wins"], a["hit_rate"]["rate"], a["hit_rate"]["lo"],
             a["hit_rate"]["hi"], a["hit_rate"]["small_sample"], a["edge_bps"], a["weight_first"], a["weight_last"],
             a["weight_mean"]] for a in agents]
    return header, rows


def _features_rows(features: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    header = ["feature", "mean_abs_contribution", "up_minus_down", "rows"]
    return header, [[r["feature"], r["mean_abs"], r["up_minus_down"], r["rows"]] for r in features.to_dict("records")]


def write_workbook(path: Path, doc: Mapping[str, Any], *, trades: pd.DataFrame | None = None,
                   days: Sequence[Mapping[str, Any]] | None = None, agents: Sequence[Mapping[str, Any]] = (),
                   features: pd.DataFrame | None = None, tz: str = "America/Sao_Paulo") -> Path:
    """Write the workbook (temp name, then rename: a reader never sees half a file)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws.append(["key", "value"])
    for k, v in _summary_rows(doc):
        ws.append([k, _cell(v)])
        if k.startswith("summary.") and k.split(".")[-1] in ("pnl", "fees", "gross_pnl", "max_drawdown",
                                                               "max_drawdown_marked", "best_trade", "worst_trade",
                                                               "avg_trade"):
            ws.cell(row=ws.max_row, column=2).number_format = MONEY
    ws.column_dimensions["A"].width = 44
    ws.column_dimensions["B"].width = 60
    if trades is not None:
        local = [pd.Timestamp(int(t), tz="UTC").tz_convert(tz).tz_localize(None) for t in trades["entry_ts_ns"]]
        xloc = [pd.Timestamp(int(t), tz="UTC").tz_convert(tz).tz_localize(None) for t in trades["exit_ts_ns"]]
        rows = [[a.to_pydatetime(), b.to_pydatetime(), "BUY" if r["side"] > 0 else "SELL", r["qty"], r["entry_price"],
                 r["exit_price"], r["points"], r["fees"], r["pnl"], r["exit_tag"]]
                for a, b, r in zip(local, xloc, trades.to_dict("records"), strict=True)]
        _sheet(wb, "Trades", ["entry (local)", "exit (local)", "side", "qty", "entry_price", "exit_price", "points",
                              "fees", "pnl", "exit_tag"], rows, money=("fees", "pnl"))
    if days is not None:
        header = ["day", "trades", "pnl", "fees", "wins", "win_rate", "max_drawdown", "entries", "denials",
                  "latency_p99_ms", "drift"]
        _sheet(wb, "Days", header, [[d["day"], d["trades"], d["pnl"], d["fees"], d["win_rate"]["wins"],
                                     d["win_rate"]["rate"], d["max_drawdown"], d["entries"], d["denials"],
                                     d["latency_p99"], d["drift"]] for d in days],
               money=("pnl", "fees", "max_drawdown"), pct=("win_rate",))
    h, rows = _agents_rows(agents)
    _sheet(wb, "Agents", h, rows, pct=("right_rate", "interval_lo", "interval_hi"))
    h, rows = _features_rows(features if features is not None else pd.DataFrame(
        columns=["feature", "mean_abs", "up_minus_down", "rows"]))
    _sheet(wb, "Features", h, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)
    return path

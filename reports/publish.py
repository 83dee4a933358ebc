"""Writing a report's files (report.json, report.html, report.xlsx) into its folder and logging it to MLflow
(through ``serving.tracking.ensure_experiment``, experiment ``reports.experiment``)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from quantumtrader.config import Settings
from quantumtrader.logging import get_logger

log = get_logger("reports.publish")


def clean(v: Any) -> Any:
    """JSON-ready: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def numeric_metrics(doc: dict[str, Any]) -> dict[str, float]:
    """The summary's and the risk section's numbers, flattened, as MLflow metrics."""
    out: dict[str, float] = {}

    def walk(d: Any, prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                out[f"{prefix}{k}"] = float(v)

    for section in ("summary", "risk", "latency_ms"):
        if isinstance(doc.get(section), dict):
            walk(doc[section], f"{section}.")
    return out


def publish(settings: Settings, kind: str, key: str, out: Path, doc: dict[str, Any], *, daily: Any = None,
            weekly: Any = None, log_mlflow: bool = True) -> dict[str, Path]:
    """Write the three files under ``out`` and (optionally) log them; returns name -> path."""
    from reports.excel import write_workbook
    from reports.html import daily_html, weekly_html

    out.mkdir(parents=True, exist_ok=True)
    doc = clean(doc)
    top = settings.reports.top_features
    from market.instruments import get_instrument

    tz = get_instrument(settings.market.symbol).timezone
    files = {"json": out / "report.json", "html": out / "report.html", "xlsx": out / "report.xlsx"}
    if daily is not None:
        html = daily_html(daily, tz, top)
        write_workbook(files["xlsx"], doc, trades=daily.trades, agents=doc["agents"],
                       features=daily.features.head(top), tz=tz)
    else:
        html = weekly_html(doc, weekly.features, top)
        write_workbook(files["xlsx"], doc, days=doc["days"], agents=doc["agents"], features=weekly.features.head(top),
                       tz=tz)
    _write_text(files["html"], html)
    _write_text(files["json"], json.dumps(doc, indent=2, default=str))
    if log_mlflow:  # the logged copy is the one above; the folder's copy also names the run
        doc["mlflow_run_id"] = log_run(settings, kind, key, doc, out)
        _write_text(files["json"], json.dumps(doc, indent=2, default=str))
    return files


def log_run(settings: Settings, kind: str, key: str, doc: dict[str, Any], out: Path) -> str:
    """One MLflow run per report: its numbers as metrics, its files as artifacts; returns the run id."""
    import mlflow

    from serving.tracking import ensure_experiment

    exp = ensure_experiment(settings, settings.reports.experiment)
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    run = client.create_run(exp, run_name=f"report-{kind}-{key}", tags={"report.kind": kind, "report.key": key})
    rid = run.info.run_id
    try:
        from mlflow.entities import Metric

        ts = int(1000 * time.time())
        metrics = [Metric(k, v, ts, 0) for k, v in numeric_metrics(doc).items()]
        for i in range(0, len(metrics), 900):
            client.log_batch(rid, metrics=metrics[i:i + 900])
        client.log_artifacts(rid, str(out))
        client.set_terminated(rid, "FINISHED")
    except Exception:
        client.set_terminated(rid, "FAILED")
        raise
    log.info(f"report {kind} {key} logged to MLflow run {rid}")
    return str(rid)

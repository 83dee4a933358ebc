"""The day's status from the platform's other records: the newest drift verdict of the day, data quality
(the engine's degraded bars and bad-message counters, the lake's quarantine for the day) and live vs
replay (``live_engine.service.live_replay.compare_day``, the same check as ``qtml engine replay-check``)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from quantumtrader.config import Settings
from quantumtrader.errors import InputError

DRIFT_KEYS = ("checked_at", "day", "drift_detected", "share_drifted", "threshold", "n_reference", "n_current",
              "report_html", "mlflow_run_id", "retrain_triggered")


def drift_status(reports_dir: Path, day: date) -> dict[str, Any]:
    """The newest verdict under ``<reports>/drift/<day>/<HHMMSS>/verdict.json``, or ``{"checked": False}``."""
    folder = reports_dir / "drift" / day.isoformat()
    found = sorted(folder.glob("*/verdict.json")) if folder.is_dir() else []
    for path in reversed(found):  # HHMMSS folders sort by time
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        out = {k: doc.get(k) for k in DRIFT_KEYS}
        feats = doc.get("features") or {}
        out["features_drifted"] = sorted(k for k, v in feats.items() if isinstance(v, dict) and v.get("drifted")) \
            if isinstance(feats, dict) else [str(f) for f in feats] if isinstance(feats, list) else []
        return {"checked": True, "path": str(path), "verdicts_that_day": len(found), **out}
    return {"checked": False, "path": None}


def data_quality(settings: Settings, day: date, decisions: pd.DataFrame | None) -> dict[str, Any]:
    """What the platform records about the day's input: degraded bars and reasons in the decision log; the
    lake's quarantined rows and validation result for the day (after ``qtml ingest`` of the recording); the
    engine's bad-message counters in ``var/metrics/current_metrics.json`` when that snapshot is of this day."""
    out: dict[str, Any] = {"bars": 0, "degraded_bars": 0, "reasons": {}}
    if decisions is not None and len(decisions):
        out["bars"] = len(decisions)
        deg = decisions["reason"].astype(str).str.upper().str.contains("DEGRADED")
        out["degraded_bars"] = int(deg.sum())
        out["reasons"] = {str(k): int(v) for k, v in decisions["reason"].astype(str).value_counts().items()}
    from market.lake import Lake

    lake = Lake(settings.lake_root)
    sym = settings.market.symbol
    q = lake.day_path("quarantine/trades", sym, day)
    out["quarantined_rows"] = int(pd.read_parquet(q, columns=["ts"]).shape[0]) if q.exists() else None
    val = lake.day_dir("trades", sym, day) / "_validation.json"
    out["ingest_validation"] = json.loads(val.read_text()).get("success") if val.exists() else None
    out["ingested"] = lake.day_path("trades", sym, day).exists()
    from live_engine.service.metrics import metrics_path

    mp = metrics_path(settings.var_dir)
    out["engine_counters"] = None
    if mp.exists():
        try:
            snap = json.loads(mp.read_text())
        except ValueError:
            snap = {}
        feed = snap.get("feed") or {}
        out["engine_counters"] = {"snapshot_ts": snap.get("ts"), "events": snap.get("events"),
                                  "bad_messages": snap.get("bad_messages"),
                                  "feed": {k: v for k, v in feed.items() if isinstance(v, int | float | str)}}
    return out


def live_vs_replay(settings: Settings, day: date, journal: Any) -> dict[str, Any]:
    """``compare_day``'s verdict (bars and orders live vs replayed, each difference), or why it could not run."""
    from live_engine.service.live_replay import compare_day

    try:
        cmp = compare_day(settings, day, journal=journal)
    except InputError as err:
        return {"checked": False, "why": str(err)}
    except Exception as err:  # the report still comes out, saying the check could not run and why
        return {"checked": False, "why": f"the replay could not run: {type(err).__name__}: {err}"}
    return {"checked": True, "equal": cmp.equal, "bars_live": cmp.bars_live, "bars_replay": cmp.bars_replay,
            "orders_live": cmp.orders_live, "orders_replay": cmp.orders_replay, "differences": cmp.differences[:50],
            "n_differences": len(cmp.differences)}

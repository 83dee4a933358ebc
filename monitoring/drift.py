"""Feature drift: the champion's training rows (reference) against the engine's logged vectors (current).

* reference — the qt65 rows of the champion's training window, found through its bundle's
  ``lineage.json`` (``training_window``), read from the feature Parquet the Feast offline store serves
  (:func:`features.offline.read_feature_table`), warm-up rows dropped as training drops them;
* current — the feature vectors the engine logged with every decision of ``day``
  (:func:`live_engine.service.recording.read_decisions`);
* one Evidently ``DataDriftPreset`` over the features both sides have values for: a verdict per feature
  (drifted, score, method) and the share of drifted features; dataset drift when that share reaches
  ``drift.drift_share``.

Each check writes ``<reports_dir>/drift/<YYYY-MM-DD>/<HHMMSS>/verdict.json`` (and ``report.html``);
the newest folder of a day is that day's verdict (the daily report reads it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.spec import FEATURE_NAMES
from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

log = get_logger("monitoring.drift")

VERDICT = "verdict.json"
REPORT = "report.html"


@dataclass
class Verdict:
    """What one drift check decided; ``status``: drift | no_drift | not_enough_data."""

    checked_at: str
    day: str
    symbol: str
    status: str
    drift_detected: bool
    share_drifted: float | None
    threshold: float
    n_reference: int
    n_current: int
    min_current_rows: int
    model_uri: str
    model_version: str | None
    reference_window: list[str] | None
    message: str
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_features: dict[str, str] = field(default_factory=dict)
    report_html: str | None = None
    mlflow_run_id: str | None = None
    retrain_triggered: bool = False
    retrain: dict[str, Any] | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def drift_root(settings: Settings) -> Path:
    return settings.reports_dir / "drift"


def champion_uri(settings: Settings) -> str:
    return settings.drift.model_uri or (
        f"models:/{settings.training.registered_model_name}@{settings.promotion.champion_alias}")


def reference_rows(settings: Settings, symbol: str, window: tuple[str, str]) -> pd.DataFrame:
    """The qt65 rows of the training window ``(first, last)``, warm-up dropped, sampled to the cap."""
    from features.offline import after_warmup, read_feature_table
    from market.lake import Lake

    first, last = (date.fromisoformat(w) for w in window)
    table = read_feature_table(Lake(settings.lake_root), symbol, None, last)
    if table.empty:
        raise InputError(f"no stored features of {symbol} up to {last} under {settings.lake_root}: the champion's "
                         "training rows are gone; rebuild them with `qtml features build`")
    table = after_warmup(table.sort_values("event_timestamp"))
    ts = pd.to_datetime(table["event_timestamp"], utc=True)
    from features.offline import session_dates

    table = table.loc[(session_dates(ts, symbol) >= first).to_numpy()]
    cap = settings.drift.max_reference_rows
    if len(table) > cap:
        table = table.sample(n=cap, random_state=settings.drift.seed).sort_index()
    return table.loc[:, list(FEATURE_NAMES)].reset_index(drop=True)


def current_rows(settings: Settings, symbol: str, day: date) -> pd.DataFrame:
    """The feature vectors the engine logged with its decisions of ``day`` (empty when none)."""
    from live_engine.service.recording import read_decisions

    df = read_decisions(settings.lake_root, symbol, day)
    if df is None:
        return pd.DataFrame(columns=list(FEATURE_NAMES), dtype=float)
    return df.loc[:, list(FEATURE_NAMES)].astype(float).reset_index(drop=True)


def comparable(settings: Settings, reference: pd.DataFrame,
               current: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """(features compared, {feature skipped: why}): excluded by config, or without two distinct values in
    the reference or any value in the current rows (a group the history lacks is NaN on both sides)."""
    from features.spec import SPEC

    cfg = settings.drift
    unknown = set(cfg.exclude_features) - set(FEATURE_NAMES)
    if unknown:
        raise InputError(f"drift.exclude_features names no qt65 feature: {', '.join(sorted(unknown))}; "
                         "see `qtml features show` for the names")
    group = {f.name: f.group for f in SPEC}
    keep: list[str] = []
    skip: dict[str, str] = {}
    for name in FEATURE_NAMES:
        r, c = reference[name].dropna(), current[name].dropna()
        if group[name] in cfg.exclude_groups or name in cfg.exclude_features:
            skip[name] = "excluded by config"
        elif r.nunique() < 2:
            skip[name] = "fewer than two distinct reference values"
        elif c.empty:
            skip[name] = "no current value"
        else:
            keep.append(name)
    return keep, skip


def _is_drifted(method: str, value: float, threshold: float) -> bool:
    # Evidently reports p-values for the tests (drift when below) and distances for the rest (drift at or above)
    return value < threshold if "p_value" in method else value >= threshold


def evidently_report(settings: Settings, reference: pd.DataFrame, current: pd.DataFrame,
                     columns: list[str]) -> tuple[Any, dict[str, dict[str, Any]], float]:
    """Run the preset; return (snapshot, per-feature verdicts, share of drifted features)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cfg = settings.drift
    definition = DataDefinition(numerical_columns=columns)
    ref = Dataset.from_pandas(reference[columns], data_definition=definition)
    cur = Dataset.from_pandas(current[columns], data_definition=definition)
    kwargs: dict[str, Any] = {"columns": columns, "drift_share": cfg.drift_share}
    if cfg.method is not None:
        kwargs["method"] = cfg.method
    if cfg.threshold is not None:
        kwargs["threshold"] = cfg.threshold
    snapshot = Report([DataDriftPreset(**kwargs)]).run(cur, ref)  # current first, then reference
    features: dict[str, dict[str, Any]] = {}
    share = None
    for m in snapshot.dict()["metrics"]:
        conf = m["config"]
        if conf["type"].endswith("ValueDrift"):
            value = float(m["value"])
            method, thr = str(conf["method"]), float(conf["threshold"])
            features[conf["column"]] = {"drifted": _is_drifted(method, value, thr), "score": value,
                                        "method": method, "threshold": thr}
        elif conf["type"].endswith("DriftedColumnsCount"):
            share = float(m["value"]["share"])
    if share is None:  # the preset always carries the count; derive it if a version does not
        share = sum(f["drifted"] for f in features.values()) / max(len(features), 1)
    return snapshot, features, share


def check_drift(settings: Settings, day: date, *, symbol: str | None = None,
                now: datetime | None = None) -> Verdict:
    """Compare ``day``'s logged vectors with the champion's training rows; write the verdict (and report)."""
    from serving.bundle import load_bundle

    symbol = symbol or settings.market.symbol
    cfg = settings.drift
    now = now or datetime.now(UTC)
    uri = champion_uri(settings)
    bundle = load_bundle(uri, settings.mlflow_tracking_uri)
    window = bundle.training_window
    if window is None:
        raise InputError(f"{bundle.uri}'s lineage.json records no training_window: the reference cannot be found; "
                         "retrain it (`qtml train`) so its bundle records the window")
    current = current_rows(settings, symbol, day)
    base: dict[str, Any] = {
        "checked_at": now.isoformat(), "day": day.isoformat(), "symbol": symbol, "threshold": cfg.drift_share,
        "n_current": len(current), "min_current_rows": cfg.min_current_rows, "model_uri": bundle.uri,
        "model_version": bundle.version, "reference_window": list(window)}
    folder = drift_root(settings) / day.isoformat() / now.strftime("%H%M%S")
    if len(current) < cfg.min_current_rows:
        verdict = Verdict(**base, status="not_enough_data", drift_detected=False, share_drifted=None,
                          n_reference=0,
                          message=f"not enough logged decisions (n={len(current)} < min {cfg.min_current_rows}) "
                                  f"for {symbol} on {day}: no verdict on drift")
        return write_verdict(verdict, folder)
    reference = reference_rows(settings, symbol, window)
    columns, skipped = comparable(settings, reference, current)
    snapshot, features, share = evidently_report(settings, reference, current, columns)
    detected = share >= cfg.drift_share
    n_drifted = sum(f["drifted"] for f in features.values())
    verdict = Verdict(**base, status="drift" if detected else "no_drift", drift_detected=detected,
                      share_drifted=share, n_reference=len(reference), features=features, skipped_features=skipped,
                      message=f"{n_drifted} of {len(features)} features drifted (share {share:.2f}, threshold "
                              f"{cfg.drift_share:.2f}): {'drift' if detected else 'no drift'}")
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / REPORT
    snapshot.save_html(str(html))
    verdict.report_html = str(html)
    if cfg.log_to_mlflow:
        verdict.mlflow_run_id = log_to_mlflow(settings, verdict, html)
    return write_verdict(verdict, folder)


def log_to_mlflow(settings: Settings, verdict: Verdict, html: Path) -> str:
    """One MLflow run per check: the share, counts, drifted features and the HTML report."""
    import mlflow

    from serving.tracking import ensure_experiment

    exp = ensure_experiment(settings, settings.drift.experiment)
    with mlflow.start_run(experiment_id=exp, run_name=f"drift-{verdict.day}") as run:
        mlflow.set_tags({"day": verdict.day, "symbol": verdict.symbol, "status": verdict.status,
                         "model_uri": verdict.model_uri})
        mlflow.log_params({"drift_share": verdict.threshold, "model_version": verdict.model_version,
                           "reference_window": ",".join(verdict.reference_window or [])})
        mlflow.log_metrics({"share_drifted": float(verdict.share_drifted or 0.0), "n_reference": verdict.n_reference,
                            "n_current": verdict.n_current,
                            "n_drifted": sum(f["drifted"] for f in verdict.features.values())})
        mlflow.log_artifact(str(html), artifact_path="drift")
        return str(run.info.run_id)


def write_verdict(verdict: Verdict, folder: Path) -> Verdict:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / VERDICT
    verdict.path = str(path)
    tmp = path.with_name(f".{VERDICT}.tmp")
    tmp.write_text(json.dumps(verdict.as_dict(), indent=2, sort_keys=True))
    tmp.replace(path)
    log.info("drift verdict", data={"day": verdict.day, "status": verdict.status, "share": verdict.share_drifted,
                                    "path": str(path)})
    return verdict


def latest_verdict(settings: Settings, day: date) -> dict[str, Any] | None:
    """The newest verdict of ``day`` (None when that day has none)."""
    folder = drift_root(settings) / day.isoformat()
    found = sorted(folder.glob(f"*/{VERDICT}")) if folder.is_dir() else []
    return json.loads(found[-1].read_text()) if found else None

"""Prefect flow ``retrain``: recorded sessions -> ingest -> features -> train -> promotion gate.

Thin: each stage is an existing flow run as a subflow (:mod:`flows.ingest`, :mod:`flows.features`,
:mod:`flows.train`, :mod:`flows.promote`). The monthly schedule, a detected drift and a person share
it; ``reason`` (schedule | drift | manual) names the run (``retrain-<reason>``) and is returned.
One retrain at a time: :func:`monitoring.retrain.retrain_lock` (a second run is skipped), besides the
deployment's concurrency limit and the promotion gate's own lock (docs/drift.md).
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow

from quantumtrader.config import Settings, get_settings
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

log = get_logger("flows.retrain")


@flow(name="retrain", flow_run_name="retrain-{reason}", validate_parameters=False, log_prints=False)
def retrain_flow(reason: str = "manual", symbol: str | None = None, settings: Any = None) -> dict[str, Any]:
    """Ingest the engine's recorded days the lake lacks, rebuild features, train, run the gate."""
    from flows.features import features_flow
    from flows.ingest import ingest_flow
    from flows.promote import promote_flow
    from flows.train import train_flow
    from monitoring.retrain import REASONS, recorded_days_to_ingest, retrain_lock

    if reason not in REASONS:
        raise InputError(f"retrain reason {reason!r} is not one of {', '.join(REASONS)}")
    # ``settings`` is for in-process callers (tests, the CLI); typed Any so that the deployment's parameter
    # schema stays JSON-small: a deployment leaves it unset and reads config + QT_ environment
    settings = cast(Settings, settings) if settings is not None else get_settings()
    symbol = symbol or settings.market.symbol
    with retrain_lock(settings) as held:
        if not held:
            msg = "another retrain holds the lock: this run is skipped"
            log.warning(msg, data={"reason": reason})
            return {"reason": reason, "symbol": symbol, "skipped": msg}
        days = recorded_days_to_ingest(settings, symbol)
        ingested = [ingest_flow(source="path", path=str(folder), symbol=symbol, settings=settings)
                    for _day, folder in days]
        features = features_flow(settings=settings, symbol=symbol)
        trained = train_flow(settings=settings, symbol=symbol)
        reg = trained["registered"]
        challenger = f"models:/{reg['name']}/{reg['version']}"
        promotion = promote_flow(settings=settings, challenger_uri=challenger)
    out = {"reason": reason, "symbol": symbol, "ingested_days": [d.isoformat() for d, _ in days],
           "ingested_trades": sum(int(s.get("trades_written", 0)) for s in ingested),
           "feature_rows": features["rows"], "trained": {"rows": trained["rows"], "version": reg["version"],
                                                         "run_id": reg["run_id"]},
           "challenger": challenger, "promotion": promotion}
    log.info("retrain finished", data={"reason": reason, "challenger": challenger,
                                       "decision": promotion.get("decision")})
    return out

"""Prefect flow ``promote``: the gate on the challenger, then (when it passes) one alias move to champion.

A thin wrapper over :func:`training.promotion.gate.promote`, which holds the promotion lock for the
whole evaluation and move, records the decision with every check in the ``promotions`` table and
writes ``verdict.json`` into the challenger's replay folder.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from rich.console import Console

from quantumtrader.config import Settings, get_settings
from quantumtrader.progress import STARTUP, until_next_step
from training.promotion.gate import promote


@flow(name="promote", validate_parameters=False, log_prints=False)
def promote_flow(settings: Settings | None = None, challenger_uri: str | None = None,
                 console: Console | None = None) -> dict[str, Any]:
    """Run the gate on ``challenger_uri`` (default ``models:/<name>@<training.alias>``); promote if it passes."""
    settings = settings or get_settings()
    return promote(settings, challenger_uri=challenger_uri, console=console).as_dict()


def demo_stage(settings: Settings, console: Console) -> dict[str, Any]:
    """``make demo``: the gate on the challenger just trained; print the decision and its reasons."""
    from training.promotion.cli import print_outcome
    from training.promotion.gate import Outcome, uris

    challenger, champion = uris(settings)
    console.print(f"Promotion gate: {challenger} against {champion} on the sessions after both training windows…")
    with until_next_step("promote", STARTUP, console=console):
        result = promote_flow(settings=settings, console=console)
    print_outcome(Outcome.from_dict(result), console)
    return result


@flow(name="promote-scheduled", log_prints=False)
def scheduled_promote_flow(challenger_uri: str | None = None) -> dict[str, Any]:
    """Deployable entry point (``prefect.yaml``): JSON-only parameters, settings from config + ``QT_`` env."""
    return promote_flow(challenger_uri=challenger_uri)

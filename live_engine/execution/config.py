"""Configuration of the one cost and fill model (``live_engine/execution/costs.py``).

The top-level ``costs:`` section of the configuration. The paper broker, the vectorised sweep and
the training labels all read it: the labels' round-trip cost is
:func:`live_engine.execution.costs.round_trip_cost_ticks` of this config, the fills are the broker's.
"""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class CostConfig(FrozenModel):
    """Latency, slippage and fill rules of simulated orders; fees come from the instrument catalogue."""

    latency_ms: int = Field(
        100, ge=0,
        description="Decision to order at the exchange. A market order fills at the first market event strictly "
        "after decision + latency, against the book standing when it arrives (never at the decision's own time).",
    )
    spread_ticks: int = Field(
        1, gt=0,
        description="Assumed bid-ask spread where no book is recorded (trades-only histories): a buy pays the "
        "print when it was an aggressive buy (at the ask), the print plus this spread otherwise. Half of it is "
        "the expected cost per side the labels assume.",
    )
    slippage_ticks: int = Field(
        0, ge=0,
        description="Extra ticks against us on every market fill, beyond crossing the spread / walking the book.",
    )
    stop_slippage_ticks: int = Field(
        1, ge=0, description="A triggered stop fills at the worse of stop and print, this many ticks further.",
    )
    touch_fills: bool = Field(
        False,
        description="Limit orders (targets) fill when a print touches their price; default: only when the tape "
        "trades through it (strictly beyond), since a touch may leave a resting order unfilled in the queue.",
    )

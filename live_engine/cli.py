"""CLI command ``qtml backtest``."""

from __future__ import annotations


def backtest() -> None:
    """Replay sessions through the decision core."""
    raise NotImplementedError("owned by the decision-core work")

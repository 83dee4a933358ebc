"""Consensus: the model's probabilities and the agents' weighted vote become one action.

- model signal ``m = p(up) - p(down)`` in [-1, 1];
- model confidence ``mc = max(p(up), p(down)) / (p(up) + p(down))`` in [0.5, 1] (0.5 when both are 0):
  how sure the model is about the *direction*, whatever it thinks of "flat";
- combined ``S = model_weight * m + agents_weight * a`` and confidence
  ``C = model_weight * mc + agents_weight * ac`` (``a``/``ac`` from the coordinator);
- band on ``|S|``: ``strong`` when ``>= strong_band`` (0.50), ``normal`` when ``>= normal_band``
  (0.20), else ``weak``;
- trade (direction ``sign(S)``) only when ``C >= min_confidence`` (0.60) and the band is not weak.

:func:`decide` is the core's, one bar at a time; :func:`directions` is the parameter sweep's, every bar
and every candidate configuration at once. Both are built from the same primitives
(:func:`model_signal`, :func:`combine`, :func:`not_weak`, :func:`confident`), which run on floats and on
numpy arrays alike (``live_engine/vectors.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from live_engine.config import ConsensusConfig
from live_engine.vectors import maximum, pick

STRONG, NORMAL, WEAK = "strong", "normal", "weak"

# Machine-readable reasons of a decision.
TRADE = "trade"
WEAK_BAND = "weak_band"
LOW_CONFIDENCE = "low_confidence"
DEGRADED = "degraded"
# A feature the model reads is NaN (warming up, or an input missing on this bar): training drops such
# rows (features.contract.complete_rows), so the model is not asked and there is no trade.
INCOMPLETE = "incomplete"


@dataclass(frozen=True, slots=True)
class ConsensusResult:
    model_signal: float
    model_confidence: float
    combined: float
    confidence: float
    band: str
    direction: int  # +1 buy, -1 sell, 0 no trade
    reason: str


def not_weak(abs_combined: Any, strong_band: Any, normal_band: Any) -> Any:
    """``|combined|`` reaches the strong or the normal band (a band that can trade)."""
    return (abs_combined >= strong_band) | (abs_combined >= normal_band)


def confident(confidence: Any, min_confidence: Any) -> Any:
    """The combined confidence is high enough to trade."""
    return confidence >= min_confidence


def band_of(combined: float, config: ConsensusConfig) -> str:
    """The action band of a combined signal."""
    a = abs(combined)
    if a >= config.strong_band:
        return STRONG
    if not_weak(a, config.strong_band, config.normal_band):
        return NORMAL
    return WEAK


def model_signal(p_down: Any, p_flat: Any, p_up: Any) -> tuple[Any, Any]:
    """(signal, confidence) of the model from its calibrated class probabilities."""
    directional = p_up + p_down
    some = directional > 0
    conf = pick(some, maximum(p_up, p_down) / pick(some, directional, 1.0), 0.5)
    return p_up - p_down, conf


def combine(m: Any, mc: Any, agents_signal: Any, agents_confidence: Any, model_weight: Any,
            agents_weight: Any) -> tuple[Any, Any]:
    """(combined signal, combined confidence) of the model and the agents."""
    return model_weight * m + agents_weight * agents_signal, model_weight * mc + agents_weight * agents_confidence


def decide(p_down: float, p_flat: float, p_up: float, agents_signal: float, agents_confidence: float,
           config: ConsensusConfig) -> ConsensusResult:
    """Combine the model and the agents into a :class:`ConsensusResult`."""
    m, mc = model_signal(p_down, p_flat, p_up)
    combined, confidence = combine(m, mc, agents_signal, agents_confidence, config.model_weight, config.agents_weight)
    band = band_of(combined, config)
    if band == WEAK:
        return ConsensusResult(m, mc, combined, confidence, band, 0, WEAK_BAND)
    if not confident(confidence, config.min_confidence):
        return ConsensusResult(m, mc, combined, confidence, band, 0, LOW_CONFIDENCE)
    return ConsensusResult(m, mc, combined, confidence, band, 1 if combined > 0 else -1, TRADE)


def directions(probs: np.ndarray, agents_signal: np.ndarray, agents_confidence: np.ndarray, decided: np.ndarray,
               configs: Sequence[ConsensusConfig]) -> np.ndarray:
    """What :func:`decide` returns as ``direction`` on every bar (rows) for every config (columns), int8.

    ``probs`` is (bars, 3) (down, flat, up); ``decided`` marks the bars the core asked the consensus
    (a complete row, no degraded agent or model): elsewhere the direction is 0, as in the core."""
    col = {f: np.array([getattr(c, f) for c in configs], dtype=np.float64)[None, :]
           for f in ("model_weight", "agents_weight", "min_confidence", "strong_band", "normal_band")}
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        m, mc = model_signal(p[:, 0], p[:, 1], p[:, 2])
        combined, confidence = combine(m[:, None], mc[:, None], np.asarray(agents_signal, np.float64)[:, None],
                                       np.asarray(agents_confidence, np.float64)[:, None],
                                       col["model_weight"], col["agents_weight"])
        trade = (not_weak(np.abs(combined), col["strong_band"], col["normal_band"])
                 & confident(confidence, col["min_confidence"]) & np.asarray(decided, dtype=bool)[:, None])
    return np.where(trade, np.where(combined > 0, 1, -1), 0).astype(np.int8)


def no_trade(reason: str) -> ConsensusResult:
    """A decision that does not trade (degraded core, warm-up)."""
    nan = float("nan")
    return ConsensusResult(nan, nan, nan, nan, WEAK, 0, reason)

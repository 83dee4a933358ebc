"""Consensus: the model's probabilities and the agents' weighted vote become one action.

- model signal ``m = p(up) - p(down)`` in [-1, 1];
- model confidence ``mc = max(p(up), p(down)) / (p(up) + p(down))`` in [0.5, 1] (0.5 when both are 0):
  how sure the model is about the *direction*, whatever it thinks of "flat";
- combined ``S = model_weight * m + agents_weight * a`` and confidence
  ``C = model_weight * mc + agents_weight * ac`` (``a``/``ac`` from the coordinator);
- band on ``|S|``: ``strong`` when ``>= strong_band`` (0.50), ``normal`` when ``>= normal_band``
  (0.20), else ``weak``;
- trade (direction ``sign(S)``) only when ``C >= min_confidence`` (0.60) and the band is not weak.
"""

from __future__ import annotations

from dataclasses import dataclass

from live_engine.config import ConsensusConfig

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


def band_of(combined: float, config: ConsensusConfig) -> str:
    """The action band of a combined signal."""
    a = abs(combined)
    if a >= config.strong_band:
        return STRONG
    if a >= config.normal_band:
        return NORMAL
    return WEAK


def model_signal(p_down: float, p_flat: float, p_up: float) -> tuple[float, float]:
    """(signal, confidence) of the model from its calibrated class probabilities."""
    directional = p_up + p_down
    conf = max(p_up, p_down) / directional if directional > 0 else 0.5
    return p_up - p_down, conf


def decide(p_down: float, p_flat: float, p_up: float, agents_signal: float, agents_confidence: float,
           config: ConsensusConfig) -> ConsensusResult:
    """Combine the model and the agents into a :class:`ConsensusResult`."""
    m, mc = model_signal(p_down, p_flat, p_up)
    combined = config.model_weight * m + config.agents_weight * agents_signal
    confidence = config.model_weight * mc + config.agents_weight * agents_confidence
    band = band_of(combined, config)
    if band == WEAK:
        return ConsensusResult(m, mc, combined, confidence, band, 0, WEAK_BAND)
    if confidence < config.min_confidence:
        return ConsensusResult(m, mc, combined, confidence, band, 0, LOW_CONFIDENCE)
    return ConsensusResult(m, mc, combined, confidence, band, 1 if combined > 0 else -1, TRADE)


def no_trade(reason: str) -> ConsensusResult:
    """A decision that does not trade (degraded core, warm-up)."""
    nan = float("nan")
    return ConsensusResult(nan, nan, nan, nan, WEAK, 0, reason)

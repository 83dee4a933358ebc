"""The four specialised agents: order flow, liquidity, tape reading and footprint.

Each agent reads a few qt65_v1 features (declared in its YAML under ``live_engine/decision/agents/`` as
``role: feature_name``; every name is checked against ``features.spec.FEATURE_NAMES`` when loaded)
and returns ``(signal, confidence)`` with signal in [-1, 1] and confidence in [0, 1]. The rules are
short enough to follow by hand; ``docs/decision-core.md`` states them with worked examples.

Notation below: ``clip(v) = max(-1, min(1, v))``; a value inside ``dead_zone`` means "no view" and
the vote is ``(0.0, 0.0)``.

An agent whose inputs need an input group the model's history lacked (:mod:`features.contract`:
book, broker ids, aggressor side) *abstains*: :meth:`Agent.has_view` is false, the decision core
does not ask it, records :data:`ABSTAIN` ``(nan, nan)`` as its vote, holds its weight and leaves it
out of the combined vote. The liquidity agent reads only book features: it has no view without book.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from quantumtrader.errors import ConfigError

AGENTS_DIR = Path(__file__).with_name("agents")
ABSTAIN: tuple[float, float] = (math.nan, math.nan)
"""The recorded vote of an agent that has no view because its inputs are absent from the history."""


def _clip(v: float) -> float:
    return -1.0 if v < -1.0 else (1.0 if v > 1.0 else v)


def _same_sign(a: float, b: float) -> bool:
    return (a > 0 and b > 0) or (a < 0 and b < 0)


class Agent:
    """Base: resolves roles to feature indices once; ``vote`` reads a 65-value numpy row."""

    ROLES: ClassVar[tuple[str, ...]] = ()
    PARAMS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, inputs: Mapping[str, str], params: Mapping[str, float],
                 feature_names: Sequence[str]) -> None:
        self.name = name
        missing_roles = [r for r in self.ROLES if r not in inputs]
        extra_roles = [r for r in inputs if r not in self.ROLES]
        if missing_roles or extra_roles:
            raise ConfigError(f"agent {name!r}: inputs must map roles {list(self.ROLES)}; "
                              f"missing {missing_roles}, unknown {extra_roles}")
        unknown = [f for f in inputs.values() if f not in feature_names]
        if unknown:
            raise ConfigError(f"agent {name!r}: input features {unknown} are not in the feature set")
        missing_params = [p for p in self.PARAMS if p not in params]
        extra_params = [p for p in params if p not in self.PARAMS]
        if missing_params or extra_params:
            raise ConfigError(f"agent {name!r}: params must be {list(self.PARAMS)}; "
                              f"missing {missing_params}, unknown {extra_params}")
        self.inputs: dict[str, str] = dict(inputs)
        self.params: dict[str, float] = {k: float(v) for k, v in params.items()}
        index = {f: i for i, f in enumerate(feature_names)}
        self.index: dict[str, int] = {role: index[feat] for role, feat in inputs.items()}
        self.feature_indices: tuple[int, ...] = tuple(self.index[r] for r in self.ROLES)
        from features.contract import FEATURE_GROUPS

        self.requires: frozenset[str] = frozenset().union(*(FEATURE_GROUPS.get(f, frozenset())
                                                           for f in self.inputs.values()))

    def has_view(self, input_groups: Mapping[str, bool] | None) -> bool:
        """False when an input group this agent reads is absent (``None``: every group present)."""
        return input_groups is None or all(input_groups.get(g, False) for g in self.requires)

    def read(self, x: np.ndarray) -> tuple[float, ...]:
        """The agent's inputs from the row, in ``ROLES`` order, as Python floats."""
        return tuple([float(x[i]) for i in self.feature_indices])

    def vote(self, x: np.ndarray) -> tuple[float, float]:
        return self.rule(*self.read(x))

    def rule(self, *values: float) -> tuple[float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, inputs={self.inputs})"


class OrderFlowAgent(Agent):
    """``raw = w*ofi_short + (1-w)*ofi_long``; signal ``clip(raw/full_scale)``; confidence ``|signal|``,
    plus ``large_bonus`` (capped at 1) when ``large_imbalance`` has the same sign as ``raw``."""

    ROLES = ("ofi_short", "ofi_long", "large_imbalance")
    PARAMS = ("short_weight", "dead_zone", "full_scale", "large_bonus")

    def rule(self, ofi_short: float, ofi_long: float, large: float) -> tuple[float, float]:  # type: ignore[override]
        p = self.params
        raw = p["short_weight"] * ofi_short + (1.0 - p["short_weight"]) * ofi_long
        if abs(raw) < p["dead_zone"]:
            return 0.0, 0.0
        signal = _clip(raw / p["full_scale"])
        conf = abs(signal)
        if _same_sign(large, raw):
            conf = min(1.0, conf + p["large_bonus"])
        return signal, conf


class LiquidityAgent(Agent):
    """No view when ``spread > max_spread_ticks``. Else ``raw = w*imb_l5 + (1-w)*imb_l1``; signal
    ``clip(raw/full_scale)``; confidence ``|signal|`` plus ``micro_bonus`` when the microprice
    deviation leans the same way."""

    ROLES = ("imb_l1", "imb_l5", "microprice", "spread")
    PARAMS = ("l5_weight", "max_spread_ticks", "dead_zone", "full_scale", "micro_bonus")

    def rule(self, imb_l1: float, imb_l5: float, micro: float, spread: float) -> tuple[float, float]:  # type: ignore[override]
        p = self.params
        if spread > p["max_spread_ticks"]:
            return 0.0, 0.0
        raw = p["l5_weight"] * imb_l5 + (1.0 - p["l5_weight"]) * imb_l1
        if abs(raw) < p["dead_zone"]:
            return 0.0, 0.0
        signal = _clip(raw / p["full_scale"])
        conf = abs(signal)
        if _same_sign(micro, raw):
            conf = min(1.0, conf + p["micro_bonus"])
        return signal, conf


class TapeReadingAgent(Agent):
    """``raw = 2*(aggr_ratio - 0.5)``; signal ``clip(raw/full_scale)``; confidence
    ``|signal| * min(1, intensity_ratio / busy_ratio)`` (a quiet tape is trusted less)."""

    ROLES = ("aggr_ratio", "intensity_ratio")
    PARAMS = ("dead_zone", "full_scale", "busy_ratio")

    def rule(self, aggr_ratio: float, intensity: float) -> tuple[float, float]:  # type: ignore[override]
        p = self.params
        raw = 2.0 * (aggr_ratio - 0.5)
        if abs(raw) < p["dead_zone"]:
            return 0.0, 0.0
        signal = _clip(raw / p["full_scale"])
        busy = min(1.0, max(0.0, intensity) / p["busy_ratio"])
        return signal, abs(signal) * busy


class FootprintAgent(Agent):
    """``s = clip(delta/full_scale)``, location ``loc = 2*range_pos - 1``. Delta agreeing with the
    location (buying near highs) is continuation: signal ``s``. Delta against it (buying near lows:
    passive sellers absorb) is absorption: signal ``-absorption_factor * s``. Confidence ``|signal|``."""

    ROLES = ("delta", "range_pos")
    PARAMS = ("dead_zone", "full_scale", "absorption_factor")

    def rule(self, delta: float, range_pos: float) -> tuple[float, float]:  # type: ignore[override]
        p = self.params
        if abs(delta) < p["dead_zone"]:
            return 0.0, 0.0
        s = _clip(delta / p["full_scale"])
        loc = 2.0 * range_pos - 1.0
        signal = s if delta * loc >= 0 else -p["absorption_factor"] * s
        return signal, abs(signal)


RULES: dict[str, type[Agent]] = {
    "order_flow": OrderFlowAgent,
    "liquidity": LiquidityAgent,
    "tape_reading": TapeReadingAgent,
    "footprint": FootprintAgent,
}
DEFAULT_AGENTS = ("order_flow", "liquidity", "tape_reading", "footprint")


def default_feature_names() -> tuple[str, ...]:
    from features.spec import FEATURE_NAMES

    return tuple(FEATURE_NAMES)


def agent_from_config(doc: Mapping[str, Any], feature_names: Sequence[str]) -> Agent:
    """Build one agent from its YAML document (``name``, ``rule``, ``inputs``, ``params``)."""
    for key in ("name", "rule", "inputs", "params"):
        if key not in doc:
            raise ConfigError(f"agent config is missing {key!r}: {dict(doc)}")
    rule = doc["rule"]
    if rule not in RULES:
        raise ConfigError(f"agent {doc['name']!r}: unknown rule {rule!r}; known: {sorted(RULES)}")
    return RULES[rule](str(doc["name"]), doc["inputs"], doc["params"], feature_names)


def load_agents(directory: Path | None = None, feature_names: Sequence[str] | None = None,
                names: Sequence[str] = DEFAULT_AGENTS) -> list[Agent]:
    """Load the agents ``names`` from ``directory/<name>.yaml``; a missing feature is a ConfigError."""
    directory = directory or AGENTS_DIR
    feature_names = tuple(feature_names) if feature_names is not None else default_feature_names()
    agents = []
    for name in names:
        path = directory / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(f"agent config {path} does not exist")
        agents.append(agent_from_config(yaml.safe_load(path.read_text(encoding="utf-8")), feature_names))
    return agents


def agent_configs(directory: Path | None = None, names: Sequence[str] = DEFAULT_AGENTS) -> dict[str, Any]:
    """The raw YAML documents (logged with a backtest and shipped in a bundle)."""
    directory = directory or AGENTS_DIR
    return {n: yaml.safe_load((directory / f"{n}.yaml").read_text(encoding="utf-8")) for n in names}


def is_valid_vote(signal: float, confidence: float) -> bool:
    """A vote is usable when both numbers are finite and inside their ranges."""
    return (math.isfinite(signal) and math.isfinite(confidence)
            and -1.0 <= signal <= 1.0 and 0.0 <= confidence <= 1.0)

"""The search space of a study: parameter specs parsed, candidates expanded (grid or random), and each
candidate applied to the base live config and agent YAMLs, validated like the config itself.

Names are paths under ``live``: ``consensus.<field>``, ``risk.<field>``, ``coordinator.<field>``, and
``agents.<agent>.<param>`` for a number in an agent YAML's ``params``. Values:

- ``a:b:step``: a grid from ``a`` to ``b``, both included (``0.50:0.75:0.05`` = 6 values);
- ``v1,v2,...``: a list (numbers, ``true`` / ``false``);
- random only: ``uniform(a,b)``, ``loguniform(a,b)``, ``int(a,b)`` (both ends included); a list is a choice.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from live_engine.config import LiveConfig
from quantumtrader.errors import InputError

SECTIONS = ("consensus", "risk", "coordinator")
_DIST = re.compile(r"^(uniform|loguniform|int)\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)$")


@dataclass(frozen=True)
class Dimension:
    name: str
    values: tuple[Any, ...] = ()  # a grid or a list
    dist: str = ""  # uniform | loguniform | int (method random)
    low: float = 0.0
    high: float = 0.0

    def draw(self, rng: np.random.Generator) -> Any:
        if self.values:
            return self.values[int(rng.integers(len(self.values)))]
        if self.dist == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.dist == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class Candidate:
    """One configuration of the study: its overrides, the live config and agent YAMLs they give."""

    index: int
    overrides: tuple[tuple[str, Any], ...]
    live: LiveConfig
    agent_configs: dict[str, Any] = field(hash=False, compare=False)
    baseline: bool = False  # the base configuration itself (added when the search does not contain it)

    @property
    def name(self) -> str:
        return ",".join(f"{k}={_fmt(v)}" for k, v in self.overrides) or "base"

    @property
    def decider_key(self) -> str:
        """Candidates with the same key cast the same votes (same agents and coordinator): one replay serves them."""
        agents = tuple((k, v) for k, v in self.overrides if k.startswith("agents."))
        return repr((self.live.coordinator.model_dump(mode="json"), agents))


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)


def _number(text: str, name: str) -> Any:
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        raise InputError(f"study parameter {name}: {t!r} is not a number (give 'a:b:step', 'v1,v2' or a "
                         "distribution such as 'uniform(0.5,0.7)')") from None


def parse_dimension(name: str, spec: str) -> Dimension:
    """One parameter's values from its spec (see the module docstring)."""
    s = str(spec).strip()
    m = _DIST.match(s)
    if m:
        low, high = float(_number(m.group(2), name)), float(_number(m.group(3), name))
        if not high > low or (m.group(1) == "loguniform" and low <= 0):
            raise InputError(f"study parameter {name}: {s} needs low < high (and low > 0 for loguniform)")
        return Dimension(name, dist=m.group(1), low=low, high=high)
    if s.count(":") == 2:
        a, b, step = (_number(x, name) for x in s.split(":"))
        if not step > 0 or b < a:
            raise InputError(f"study parameter {name}: {s} needs a <= b and step > 0 ('a:b:step')")
        n = math.floor((b - a) / step + 1e-9) + 1
        is_int = all(isinstance(x, int) for x in (a, b, step))
        vals = tuple(int(a + i * step) if is_int else round(a + i * step, 12) for i in range(n))
        return Dimension(name, values=vals)
    vals = tuple(_number(x, name) for x in s.split(",") if x.strip())
    if not vals:
        raise InputError(f"study parameter {name}: no values in {s!r}")
    return Dimension(name, values=vals)


def parse_space(params: Mapping[str, str]) -> list[Dimension]:
    if not params:
        raise InputError("a study needs at least one parameter: --param consensus.min_confidence=0.50:0.75:0.05")
    return [parse_dimension(k, v) for k, v in params.items()]


def expand(dims: Sequence[Dimension], *, method: str, n_random: int, seed: int,
           max_candidates: int) -> list[tuple[tuple[str, Any], ...]]:
    """The override sets of the search, in a stable order (grid: row-major in the order given)."""
    if method == "grid":
        loose = [d.name for d in dims if not d.values]
        if loose:
            raise InputError(f"method grid needs values, not distributions, for {', '.join(loose)}: "
                             "give 'a:b:step' or a list, or use --method random")
        size = math.prod(len(d.values) for d in dims)
        if size > max_candidates:
            raise InputError(f"the grid has {size:,} candidates, more than research.study.max_candidates "
                             f"({max_candidates:,}): narrow it, or use --method random --n N")
        combos = itertools.product(*(d.values for d in dims))
        return [tuple(zip((d.name for d in dims), c, strict=True)) for c in combos]
    if n_random > max_candidates:
        raise InputError(f"--n {n_random} is more than research.study.max_candidates ({max_candidates})")
    rng = np.random.default_rng(seed)
    seen: dict[tuple[tuple[str, Any], ...], None] = {}
    for _ in range(n_random * 20):
        if len(seen) >= n_random:
            break
        seen.setdefault(tuple((d.name, d.draw(rng)) for d in dims), None)
    return list(seen)


def apply(base: LiveConfig, base_agents: Mapping[str, Any],
          overrides: Sequence[tuple[str, Any]]) -> tuple[LiveConfig, dict[str, Any]]:
    """The live config and agent YAMLs with ``overrides``; a wrong name or value is one line."""
    live = base.model_dump(mode="python")
    agents = copy.deepcopy(dict(base_agents))
    for name, value in overrides:
        parts = name.split(".")
        if parts[0] == "agents" and len(parts) == 3:
            doc = agents.get(parts[1])
            if doc is None or parts[2] not in (doc.get("params") or {}):
                known = sorted(f"agents.{a}.{p}" for a, d in agents.items() for p in (d.get("params") or {}))
                raise InputError(f"study parameter {name}: no such agent parameter; known: {', '.join(known)}")
            doc["params"][parts[2]] = value
            continue
        if len(parts) != 2 or parts[0] not in SECTIONS or parts[1] not in live[parts[0]]:
            valid = sorted(f"{s}.{f}" for s in SECTIONS for f in live[s])
            raise InputError(f"study parameter {name}: not a live.* setting a study can vary; give one of "
                             f"{', '.join(valid)} or agents.<agent>.<param>")
        live[parts[0]][parts[1]] = value
    try:
        return LiveConfig.model_validate(live), agents
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(x) for x in e["loc"])
        raise InputError(f"study candidate {dict(overrides)}: live.{where}: {e['msg']}") from None


def candidates(base: LiveConfig, base_agents: Mapping[str, Any], params: Mapping[str, str], *, method: str,
               n_random: int, seed: int, max_candidates: int) -> list[Candidate]:
    """Every candidate of the search, plus the base configuration when the search does not contain it
    (the baseline every result is compared with; it counts as a trial)."""
    dims = parse_space(params)
    out: list[Candidate] = []
    base_values = {d.name: _current(base, base_agents, d.name) for d in dims}
    has_base = False
    for ov in expand(dims, method=method, n_random=n_random, seed=seed, max_candidates=max_candidates):
        live, agents = apply(base, base_agents, ov)
        is_base = all(_same(v, base_values[k]) for k, v in ov)
        has_base |= is_base
        out.append(Candidate(len(out), ov, live, agents, baseline=is_base))
    if not has_base:
        ov = tuple(base_values.items())
        live, agents = apply(base, base_agents, ov)
        out.append(Candidate(len(out), ov, live, agents, baseline=True))
    return out


def _current(base: LiveConfig, agents: Mapping[str, Any], name: str) -> Any:
    parts = name.split(".")
    if parts[0] == "agents" and len(parts) == 3 and parts[1] in agents:
        return (agents[parts[1]].get("params") or {}).get(parts[2])
    section = getattr(base, parts[0], None) if len(parts) == 2 else None
    return getattr(section, parts[1], None) if section is not None else None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return bool(a == b)

"""Hedge (multiplicative weights) over the agents: weights follow each agent's realised performance.

At every bar close the coordinator first scores the *previous* bar's votes on the return that bar
went on to make (known now, so no look-ahead), then combines the current votes:

- gain of agent i: ``g_i = clip(signal_i * r / return_scale, -1, 1)`` with ``r = ln(C_b / C_{b-1})``;
- update: ``w_i <- w_i * exp(learning_rate * g_i)``, normalise to sum 1, clip to ``[floor, cap]``
  and renormalise (repeated until stable) so no agent dies or dominates;
- combined agents' signal ``Σ w_i s_i``, confidence ``Σ w_i c_i``.

Optional volatility regimes (``regime_feature`` + ``regime_thresholds`` in the config): one weight
vector per regime. At a bar close :meth:`HedgeCoordinator.select_regime` reads the regime feature of
the current row (``bisect_right`` on the thresholds; a NaN value keeps the previous regime, regime 0
before any finite value). :meth:`update` scores the previous bar's votes into the weights of the
regime those votes were cast in (the caller passes it), and :meth:`combine` uses the current regime.

An agent that abstains (NaN signal: the inputs it reads are absent from the model's history, e.g.
the liquidity agent without book) is not a vote: its weight is held, the voters share the rest.

Weights are state: :meth:`state` / :meth:`restore` round-trip them (all regimes and the current
regime) exactly.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from features.spec import FEATURE_INDEX
from live_engine.config import CoordinatorConfig


def project_weights(weights: Sequence[float], floor: float, cap: float) -> list[float]:
    """Scale ``weights`` by the one factor ``k`` for which ``Σ clip(k * w_i, floor, cap) = 1``.

    ``f(k) = Σ clip(k w_i, floor, cap)`` is piecewise linear and non-decreasing in ``k`` with breakpoints
    ``floor / w_i`` and ``cap / w_i``: evaluate it at the sorted breakpoints and interpolate linearly.
    The order of the weights is kept and every weight lands in ``[floor, cap]``.
    """
    n = len(weights)
    lo, hi = min(floor, 1.0 / n), max(cap, 1.0 / n)
    if sum(weights) <= 0:
        return [1.0 / n] * n

    def clipped(k: float) -> list[float]:
        # == [min(hi, max(lo, k * w)) for w in weights], value for value (lo <= hi), without the calls
        return [lo if kw <= lo else (hi if kw >= hi else kw) for kw in [k * w for w in weights]]

    # f is non-decreasing (also in floating point: each rounded term is), so the first breakpoint
    # with f >= 1 is found by bisection; the bracketing values are the ones a linear scan would see.
    bps = sorted({b for w in weights if w > 0 for b in (lo / w, hi / w)})
    memo: dict[int, float] = {}

    def f_at(i: int) -> float:  # f at breakpoint i; i = -1 is k = 0
        v = memo.get(i)
        if v is None:
            v = memo[i] = sum(clipped(bps[i] if i >= 0 else 0.0))
        return v

    left, right = 0, len(bps)  # first index in [left, right) with f >= 1, else len(bps)
    while left < right:
        mid = (left + right) // 2
        if f_at(mid) >= 1.0:
            right = mid
        else:
            left = mid + 1
    if left == len(bps):
        k = bps[-1] if bps else 0.0
    else:
        bp, fb = bps[left], f_at(left)
        prev_k, prev_f = (bps[left - 1] if left else 0.0), f_at(left - 1)
        k = bp if fb == prev_f else prev_k + (1.0 - prev_f) * (bp - prev_k) / (fb - prev_f)
    return clipped(k)


class HedgeCoordinator:
    """Online weights over named agents, one weight vector per volatility regime (one if regimes are off)."""

    def __init__(self, names: Sequence[str], config: CoordinatorConfig | None = None) -> None:
        self.names: tuple[str, ...] = tuple(names)
        self.config = c = config or CoordinatorConfig()
        self.n_regimes = c.n_regimes
        self._thresholds: tuple[float, ...] = tuple(c.regime_thresholds) if self.n_regimes > 1 else ()
        self._regime_col = FEATURE_INDEX[c.regime_feature] if c.regime_feature is not None else -1
        self.regime_weights: list[list[float]] = []
        self.regime = 0
        self.updates = 0
        self.cum_gain: list[float] = []
        self.reset()

    def reset(self) -> None:
        """Equal weights in every regime, regime 0, no updates: the state of a new coordinator."""
        c = self.config
        start = project_weights([1.0] * len(self.names), c.floor, c.cap)
        self.regime_weights = [list(start) for _ in range(self.n_regimes)]
        self.regime = 0
        self.updates = 0
        self.cum_gain = [0.0] * len(self.names)

    @property
    def weights(self) -> list[float]:
        """The current regime's weights (the ones :meth:`combine` uses)."""
        return self.regime_weights[self.regime]

    def select_regime(self, x: np.ndarray) -> int:
        """Set and return the regime of feature row ``x``; a NaN value keeps the previous regime."""
        if self._regime_col >= 0:
            v = float(x[self._regime_col])
            if v == v:  # not NaN
                self.regime = bisect_right(self._thresholds, v)
        return self.regime

    def update(self, signals: Sequence[float], bar_return: float, regime: int | None = None) -> None:
        """Score ``signals`` (the votes cast one bar ago, in ``regime``; default: the current one) on the
        bar's realised log return; only that regime's weights move."""
        if not math.isfinite(bar_return):
            return
        r = self.regime if regime is None else regime
        c = self.config
        lr, scale, weights, cum = c.learning_rate, c.return_scale, self.regime_weights[r], self.cum_gain
        exp, isfinite = math.exp, math.isfinite
        if not all(isfinite(s) for s in signals):
            self._update_voters(signals, bar_return, r)
            return
        new = []
        for i, s in enumerate(signals):
            g = s * bar_return / scale if isfinite(s) else 0.0
            g = -1.0 if g < -1.0 else (1.0 if g > 1.0 else g)
            cum[i] += g
            new.append(weights[i] * exp(lr * g))
        self.regime_weights[r] = project_weights(new, c.floor, c.cap)
        self.updates += 1

    def _update_voters(self, signals: Sequence[float], bar_return: float, r: int) -> None:
        """The update when some agents abstained (NaN signal): their weights stay as they are, the
        voters share the rest of the mass (projected onto ``[floor, cap]`` within it)."""
        c, weights = self.config, self.regime_weights[r]
        voters = [i for i, s in enumerate(signals) if math.isfinite(s)]
        if not voters:
            return
        mass = sum(weights[i] for i in voters)
        new = []
        for i in voters:
            g = max(-1.0, min(1.0, signals[i] * bar_return / c.return_scale))
            self.cum_gain[i] += g
            new.append(weights[i] * math.exp(c.learning_rate * g))
        sub = project_weights(new, c.floor / mass, c.cap / mass) if mass > 0 else [0.0] * len(voters)
        out = list(weights)
        for i, w in zip(voters, sub, strict=True):
            out[i] = mass * w
        self.regime_weights[r] = out
        self.updates += 1

    def combine(self, signals: Sequence[float], confidences: Sequence[float]) -> tuple[float, float]:
        """Weighted agents' signal and confidence, with the current regime's weights. An agent that
        abstains (NaN signal) is not a vote: the others' weights are renormalised over the voters
        (``(0.0, 0.0)`` when nobody votes)."""
        w = self.regime_weights[self.regime]
        if not all(math.isfinite(x) for x in signals):
            vote = [i for i, x in enumerate(signals) if math.isfinite(x)]
            total = sum(w[i] for i in vote)
            if not vote or total <= 0:
                return 0.0, 0.0
            return (sum(w[i] * signals[i] for i in vote) / total, sum(w[i] * confidences[i] for i in vote) / total)
        s = sum([a * b for a, b in zip(w, signals, strict=True)])  # a list, not a generator: same order, fewer calls
        conf = sum([a * b for a, b in zip(w, confidences, strict=True)])
        return s, conf

    def weight_map(self) -> dict[str, float]:
        """Agent name -> weight, for the current regime."""
        return dict(zip(self.names, self.regime_weights[self.regime], strict=True))

    def state(self) -> dict[str, Any]:
        """Everything needed to resume: names, weights, update count, cumulative gains; with regimes on
        also every regime's weights and the current regime (``weights`` is then the current regime's)."""
        st: dict[str, Any] = {"names": list(self.names), "weights": list(self.weights), "updates": self.updates,
                              "cum_gain": list(self.cum_gain)}
        if self.n_regimes > 1:
            st["regime"] = self.regime
            st["regime_weights"] = [list(w) for w in self.regime_weights]
        return st

    def restore(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state`; the agent names and the number of regimes must match."""
        if tuple(state["names"]) != self.names:
            raise ValueError(f"coordinator state is for agents {state['names']}, not {list(self.names)}")
        rows = state.get("regime_weights", [state["weights"]])
        if len(rows) != self.n_regimes:
            raise ValueError(f"coordinator state has {len(rows)} regime(s) of weights, this coordinator has "
                             f"{self.n_regimes} (regime_feature / regime_thresholds differ)")
        regime = int(state.get("regime", 0))
        if not 0 <= regime < self.n_regimes or any(len(w) != len(self.names) for w in rows):
            raise ValueError(f"coordinator state is malformed: regime {regime}, weight rows of lengths "
                             f"{[len(w) for w in rows]} for {len(self.names)} agents")
        self.regime_weights = [[float(w) for w in row] for row in rows]
        self.regime = regime
        self.updates = int(state["updates"])
        self.cum_gain = [float(g) for g in state.get("cum_gain", [0.0] * len(self.names))]

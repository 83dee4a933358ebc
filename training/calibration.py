"""Temperature scaling: one JSON-serialisable number that calibrates LightGBM's raw scores.

Calibrated probabilities are ``softmax(raw / T)``; ``T`` minimises the log loss of the inner
validation slice (never the test fold). The calibration travels with the model as
``{"method": "temperature", "temperature": T}`` or ``{"method": "none"}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LOG_T_BOUNDS = (-3.0, 3.0)  # T in [0.05, 20]


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _nll(raw: np.ndarray, y_idx: np.ndarray, temperature: float) -> float:
    p = softmax(raw / temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-15, 1.0))))


def fit_temperature(raw: np.ndarray, y_idx: np.ndarray) -> float:
    """The temperature minimising the log loss of ``raw`` scores against class indices ``y_idx``."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(
        lambda log_t: _nll(raw, y_idx, float(np.exp(log_t))), bounds=LOG_T_BOUNDS, method="bounded"
    )
    return float(np.exp(res.x))


def apply_calibration(raw: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Probabilities from raw scores under a calibration record."""
    method = calibration.get("method", "none")
    if method == "none":
        return softmax(raw)
    if method == "temperature":
        return softmax(np.asarray(raw, dtype=np.float64) / float(calibration["temperature"]))
    raise ValueError(f"unknown calibration method {method!r}")

"""Per-fold scores of probabilistic three-class predictions.

Columns of every probability matrix follow :data:`training.labels.CLASSES` (down, flat, up).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score, log_loss, roc_auc_score

from training.labels import CLASSES

CLASS_ARRAY = np.asarray(CLASSES, dtype=np.int64)


def to_index(y: np.ndarray) -> np.ndarray:
    """Classes {-1, 0, 1} -> column indices {0, 1, 2}."""
    return np.asarray(y, dtype=np.int64) + 1


def signals(proba: np.ndarray) -> np.ndarray:
    """The trade each row implies: the most probable class (-1 sell, 0 no trade, 1 buy)."""
    return np.asarray(CLASS_ARRAY[np.argmax(proba, axis=1)])


def trading_proxy(proba: np.ndarray, fwd_ticks: np.ndarray, cost_ticks: float) -> tuple[float, int]:
    """Mean forward move (ticks) of the signalled trades net of the round-trip cost, and their count."""
    sig = signals(proba)
    active = sig != 0
    n = int(active.sum())
    if n == 0:
        return 0.0, 0
    return float(np.mean(sig[active] * fwd_ticks[active] - cost_ticks)), n


def auc_ovr(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC (NaN when a class is absent from ``y``)."""
    if len(np.unique(y)) < len(CLASSES):
        return float("nan")
    return float(roc_auc_score(to_index(y), proba, multi_class="ovr", average="macro", labels=[0, 1, 2]))


def auc_direction(y: np.ndarray, proba: np.ndarray) -> float:
    """AUC of p(up) - p(down) separating up from down rows (flat rows left out): direction skill only.

    Volatility alone predicts "flat vs move", so the macro OvR AUC can exceed 0.5 without any
    directional edge; this one stays at 0.5 unless the model knows the sign of the move.
    """
    moved = y != 0
    if len(np.unique(y[moved])) < 2:
        return float("nan")
    return float(roc_auc_score(y[moved] > 0, proba[moved, 2] - proba[moved, 0]))


def brier(y: np.ndarray, proba: np.ndarray) -> float:
    """Multiclass Brier score: mean over rows of the squared distance to the one-hot truth."""
    onehot = np.eye(len(CLASSES))[to_index(y)]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def score(y: np.ndarray, proba: np.ndarray, fwd_ticks: np.ndarray, cost_ticks: float) -> dict[str, float]:
    """Log loss, balanced accuracy, OvR AUC, Brier and the trading proxy of one fold."""
    proxy, n_sig = trading_proxy(proba, fwd_ticks, cost_ticks)
    return {
        "log_loss": float(log_loss(to_index(y), np.clip(proba, 1e-15, 1.0), labels=[0, 1, 2])),
        "balanced_accuracy": float(balanced_accuracy_score(to_index(y), np.argmax(proba, axis=1))),
        "auc_ovr": auc_ovr(y, proba),
        "auc_direction": auc_direction(y, proba),
        "brier": brier(y, proba),
        "proxy_net_ticks": proxy,
        "n_signals": float(n_sig),
    }


def confusion(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """3x3 counts, rows = true class, columns = predicted class (down, flat, up)."""
    out = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    np.add.at(out, (to_index(y), np.argmax(proba, axis=1)), 1)
    return out

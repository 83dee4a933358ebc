"""Purged walk-forward cross-validation with an embargo.

Rows are time-ordered. The rows are cut into ``n_folds + 1`` contiguous blocks; fold k tests on
block k+1 and trains on the rows before it (expanding window), minus

- **purged** rows: their label reads a bar at or after the first test bar (``end_pos >= pos_test``);
- **embargoed** rows: their decision bar lies within ``embargo`` bars before the first test bar
  (``pos_test - embargo <= pos``), so features that overlap the test period never train the model.

The training rows are then split the same way into an inner *fit* slice and, at its tail, an inner
*validation* slice used only for early stopping and calibration (purged and embargoed against it too).
The test block is never handed to any fitting step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantumtrader.errors import InputError
from training.labels import CLASS_NAMES, CLASSES


@dataclass(frozen=True)
class Fold:
    """Row ids (positions in the dataset) of one fold's slices."""

    k: int
    fit: np.ndarray
    val: np.ndarray
    test: np.ndarray
    purged: np.ndarray
    embargoed: np.ndarray

    @property
    def train(self) -> np.ndarray:
        """Every row a fitting step may read: fit + validation."""
        return np.concatenate([self.fit, self.val])


def purge_before(
    candidates: np.ndarray, pos: np.ndarray, end_pos: np.ndarray, first_test_pos: int, embargo: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``candidates`` (rows before a test block) into (kept, purged, embargoed)."""
    purged_mask = end_pos[candidates] >= first_test_pos
    embargo_mask = ~purged_mask & (pos[candidates] >= first_test_pos - embargo)
    keep = ~(purged_mask | embargo_mask)
    return candidates[keep], candidates[purged_mask], candidates[embargo_mask]


def walk_forward_folds(
    pos: np.ndarray,
    end_pos: np.ndarray,
    *,
    n_folds: int,
    embargo: int,
    inner_val_fraction: float,
) -> list[Fold]:
    """Purged walk-forward folds over rows whose bar positions are ``pos`` (increasing)."""
    n = len(pos)
    if n_folds < 1:
        raise InputError(f"cv.n_folds must be >= 1, got {n_folds}")
    if len(end_pos) != n or (n > 1 and np.any(np.diff(pos) <= 0)):
        raise InputError("rows must be strictly time-ordered (pos increasing) with one end_pos each")
    bounds = np.linspace(0, n, n_folds + 2).astype(int)
    folds: list[Fold] = []
    for k in range(n_folds):
        test = np.arange(bounds[k + 1], bounds[k + 2])
        if len(test) == 0:
            raise InputError(f"too few rows ({n}) for {n_folds} folds: fold {k} has no test rows")
        train, purged, embargoed = purge_before(
            np.arange(0, bounds[k + 1]), pos, end_pos, pos[test[0]], embargo
        )
        n_val = round(len(train) * inner_val_fraction)
        if n_val == 0 or n_val >= len(train):
            raise InputError(f"too few rows ({n}) for {n_folds} folds: fold {k} trains on {len(train)} rows")
        val = train[len(train) - n_val :]
        fit, p2, e2 = purge_before(train[: len(train) - n_val], pos, end_pos, int(pos[val[0]]), embargo)
        folds.append(
            Fold(
                k=k,
                fit=fit,
                val=val,
                test=test,
                purged=np.concatenate([purged, p2]),
                embargoed=np.concatenate([embargoed, e2]),
            )
        )
    return folds


def final_split(pos: np.ndarray, end_pos: np.ndarray, *, embargo: int, inner_val_fraction: float) -> Fold:
    """The final model's split: fit on everything but a purged validation tail (test is empty)."""
    rows = np.arange(len(pos))
    n_val = round(len(rows) * inner_val_fraction)
    if n_val == 0 or n_val >= len(rows):
        raise InputError(f"too few rows ({len(rows)}) for a final fit with a validation slice")
    val = rows[len(rows) - n_val :]
    fit, purged, embargoed = purge_before(rows[: len(rows) - n_val], pos, end_pos, int(pos[val[0]]), embargo)
    return Fold(k=-1, fit=fit, val=val, test=rows[:0], purged=purged, embargoed=embargoed)


def check_folds(
    folds: list[Fold], y: np.ndarray, *, min_train_rows: int, min_val_rows: int, min_test_rows: int
) -> None:
    """Raise :class:`InputError` when a slice is too small or lacks one of the three classes."""
    for f in folds:
        sizes = {"fit": (f.fit, min_train_rows), "validation": (f.val, min_val_rows), "test": (f.test, min_test_rows)}
        for name, (rows, minimum) in sizes.items():
            if f.k < 0 and name == "test":
                continue
            if len(rows) < minimum:
                raise InputError(
                    f"too few rows for the folds: fold {f.k} {name} slice has {len(rows)} rows (< {minimum}); "
                    f"use more sessions or fewer cv.n_folds"
                )
            present = set(np.unique(y[rows]).tolist())
            lacking = [CLASS_NAMES[i] for i, c in enumerate(CLASSES) if c not in present]
            if lacking:
                raise InputError(
                    f"class {lacking} missing in fold {f.k} {name} slice ({len(rows)} rows): "
                    f"check the flat band / horizon or use more data"
                )

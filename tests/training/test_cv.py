"""Purged walk-forward CV: exactly the overlapping rows are purged and embargoed; bad folds are refused."""

from __future__ import annotations

import numpy as np
import pytest

from quantumtrader.errors import InputError
from training.cv import check_folds, final_split, purge_before, walk_forward_folds


def test_purge_and_embargo_remove_exactly_the_overlapping_rows() -> None:
    pos = np.arange(100)
    end_pos = pos + 5  # horizon 5
    kept, purged, embargoed = purge_before(np.arange(60), pos, end_pos, first_test_pos=60, embargo=8)
    # purged: labels reading bar 60 or later -> decision bars 55..59
    assert purged.tolist() == [55, 56, 57, 58, 59]
    # embargoed: not purged and within 8 bars before the test -> 52..54
    assert embargoed.tolist() == [52, 53, 54]
    assert kept.tolist() == list(range(52))


def test_purge_uses_bar_positions_across_dropped_rows() -> None:
    # rows skip bars (session ends, warm-up): bar positions decide, not row numbers
    pos = np.array([0, 1, 2, 10, 11, 12, 20, 21])
    end_pos = pos + 3
    kept, purged, embargoed = purge_before(np.arange(6), pos, end_pos, first_test_pos=20, embargo=9)
    assert purged.tolist() == []  # the latest label ends at bar 15 < 20
    assert embargoed.tolist() == [4, 5]  # bars 11 and 12 lie within 9 bars of bar 20; bar 10 does not
    assert kept.tolist() == [0, 1, 2, 3]


def test_every_fold_keeps_test_rows_out_of_training_with_the_gap() -> None:
    n, horizon, embargo = 1000, 5, 7
    pos = np.arange(n) * 2  # every other bar
    end_pos = pos + horizon
    folds = walk_forward_folds(pos, end_pos, n_folds=4, embargo=embargo, inner_val_fraction=0.2)
    assert len(folds) == 4
    for f in folds:
        first_test = pos[f.test[0]]
        assert np.intersect1d(f.train, f.test).size == 0
        assert (end_pos[f.train] < first_test).all()
        assert (pos[f.train] < first_test - embargo).all()
        # inner slices: fit never overlaps the validation labels either
        assert (end_pos[f.fit] < pos[f.val[0]]).all()
        assert (pos[f.fit] < pos[f.val[0]] - embargo).all()
        # nothing else is lost: fit + val + purged + embargoed = everything before the test block
        before = np.arange(f.test[0])
        assert np.array_equal(np.sort(np.concatenate([f.fit, f.val, f.purged, f.embargoed])), before)
    tests = np.concatenate([f.test for f in folds])
    assert np.array_equal(tests, np.arange(folds[0].test[0], n))  # test blocks tile the tail


def test_final_split_purges_before_its_validation_tail() -> None:
    pos = np.arange(500)
    f = final_split(pos, pos + 5, embargo=5, inner_val_fraction=0.2)
    assert f.val.tolist() == list(range(400, 500))
    assert f.fit.tolist() == list(range(395))
    assert len(f.test) == 0


def test_too_few_rows_for_the_folds_is_an_input_error() -> None:
    pos = np.arange(40)
    folds = walk_forward_folds(pos, pos + 5, n_folds=3, embargo=5, inner_val_fraction=0.2)
    y = np.tile([-1, 0, 1], 14)[:40]
    with pytest.raises(InputError, match="too few rows for the folds"):
        check_folds(folds, y, min_train_rows=20, min_val_rows=5, min_test_rows=5)


def test_a_class_missing_in_a_fold_is_an_input_error() -> None:
    pos = np.arange(900)
    folds = walk_forward_folds(pos, pos + 5, n_folds=2, embargo=5, inner_val_fraction=0.2)
    y = np.tile([-1, 0, 1], 300)
    y[600:] = np.where(y[600:] == 1, 0, y[600:])  # no "up" in the last test block
    with pytest.raises(InputError, match=r"class \['up'\] missing in fold 1 test"):
        check_folds(folds, y, min_train_rows=10, min_val_rows=10, min_test_rows=10)

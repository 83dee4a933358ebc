"""Dataset assembly: join on decision time, warm-up rows dropped, snapshot hash sensitive to every value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.lake import Lake
from quantumtrader.errors import InputError, SchemaError
from training.dataset import assemble
from training.tracking import git_commit, validation_results


def _inputs(n: int = 50) -> tuple[pd.DataFrame, pd.DataFrame]:
    idx = pd.date_range("2026-01-05 12:00", periods=n, freq="60s", tz="UTC", name="close_ts")
    rng = np.random.default_rng(0)
    feats = pd.DataFrame(rng.standard_normal((n, 3)), index=idx, columns=["a", "b", "c"])
    labels = pd.DataFrame(
        {"label": np.tile([-1, 0, 1], n)[: n - 5], "fwd_ret": 0.0, "fwd_ticks": 1.0,
         "pos": np.arange(n - 5), "end_pos": np.arange(n - 5) + 5},
        index=idx[: n - 5],
    )
    return feats, labels


def test_assemble_joins_labels_and_drops_warmup_rows() -> None:
    feats, labels = _inputs()
    feats.iloc[:4, 1] = np.nan
    ds = assemble(feats, labels, ["a", "b", "c"])
    assert len(ds) == 45 - 4
    assert ds.info["dropped_warmup_rows"] == 4
    assert list(ds.X.index) == list(range(len(ds)))
    assert ds.close_ts[0] == feats.index[4]
    assert ds.pos[0] == 4


def test_snapshot_hash_changes_with_any_value_label_or_column_order() -> None:
    feats, labels = _inputs()
    base = assemble(feats, labels, ["a", "b", "c"]).snapshot_hash
    assert assemble(feats, labels, ["a", "b", "c"]).snapshot_hash == base
    f2 = feats.copy()
    f2.iloc[10, 2] += 1e-12
    assert assemble(f2, labels, ["a", "b", "c"]).snapshot_hash != base
    l2 = labels.copy()
    l2.iloc[3, 0] = 0 if l2.iloc[3, 0] != 0 else 1
    assert assemble(feats, l2, ["a", "b", "c"]).snapshot_hash != base
    assert assemble(feats, labels, ["b", "a", "c"]).snapshot_hash != base


def test_infinite_features_and_missing_columns_are_input_errors() -> None:
    feats, labels = _inputs()
    feats.iloc[7, 0] = np.inf
    with pytest.raises(InputError, match=r"infinite values in columns \['a'\]"):
        assemble(feats, labels, ["a", "b", "c"])
    with pytest.raises(SchemaError, match="lack 1 columns"):
        assemble(feats, labels, ["a", "b", "zzz"])


def test_validation_results_collect_every_lake_validation_file(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_json("trades", "WDO", date(2026, 1, 5), "_validation.json", {"success": True, "rows": 10})
    lake.write_json("bars/time_60s", "WDO", date(2026, 1, 5), "_validation.json", {"success": False})
    out = validation_results(tmp_path, "WDO")
    assert out["files"] == 2
    assert out["success"] is False
    assert out["failed"] == ["bars/time_60s/2026-01-05"]
    assert out["results"]["trades"]["2026-01-05"]["rows"] == 10
    assert validation_results(tmp_path, "WIN") == {"files": 0, "failed": [], "success": None, "results": {}}


def test_git_commit_is_unknown_outside_a_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "unknown"


def test_holdout_drops_the_newest_sessions_and_refuses_to_hold_out_everything() -> None:
    import pandas as pd
    import pytest

    from quantumtrader.errors import InputError
    from training.dataset import hold_out_sessions

    idx = pd.date_range("2026-01-05 12:00", periods=6, freq="1D", tz="UTC")
    bars = pd.DataFrame({"session": [d.date().isoformat() for d in idx], "close": range(6)}, index=idx)
    kept, held = hold_out_sessions(bars, 2)
    assert held == ["2026-01-09", "2026-01-10"]
    assert list(kept["close"]) == [0, 1, 2, 3]
    assert hold_out_sessions(bars, 0)[0] is bars
    with pytest.raises(InputError, match="holdout_sessions=6"):
        hold_out_sessions(bars, 6)


def _qt65_inputs(n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    from features.spec import FEATURE_NAMES

    idx = pd.date_range("2026-01-05 12:00", periods=n, freq="60s", tz="UTC", name="close_ts")
    feats = pd.DataFrame(np.random.default_rng(0).standard_normal((n, len(FEATURE_NAMES))), index=idx,
                         columns=list(FEATURE_NAMES))
    labels = pd.DataFrame(
        {"label": np.tile([-1, 0, 1], n)[: n - 5], "fwd_ret": 0.0, "fwd_ticks": 1.0,
         "pos": np.arange(n - 5), "end_pos": np.arange(n - 5) + 5},
        index=idx[: n - 5],
    )
    return feats, labels


def test_a_history_without_book_assembles_with_the_book_features_nan_and_records_it() -> None:
    from features.contract import GROUP_FEATURES

    feats, labels = _qt65_inputs()
    book = list(GROUP_FEATURES["book"])
    feats[book] = np.nan
    feats.iloc[:3, 0] = np.nan  # warm-up of a feature that does not need the book
    ds = assemble(feats, labels, list(feats.columns))
    assert ds.info["input_groups"] == {"book": False, "brokers": True, "side": True}
    assert len(ds) == len(labels) - 3 and ds.info["dropped_warmup_rows"] == 3
    assert ds.X[book].isna().all().all() and not ds.X.drop(columns=book).isna().any().any()
    assert ds.info["nan_features"] == book


def test_features_of_an_absent_group_are_masked_even_when_they_hold_values() -> None:
    from features.contract import GROUP_FEATURES

    feats, labels = _qt65_inputs()
    ds = assemble(feats, labels, list(feats.columns), {"book": True, "brokers": True, "side": False})
    side = list(GROUP_FEATURES["side"])  # e.g. ofi = 0 on a tape without aggressor side: NaN, as in serving
    assert ds.X[side].isna().all().all() and len(ds) == len(labels)


def test_no_complete_row_because_the_book_is_missing_names_the_book() -> None:
    from features.contract import GROUP_FEATURES

    feats, labels = _qt65_inputs()
    feats[list(GROUP_FEATURES["book"])] = np.nan
    with pytest.raises(InputError, match="all 7 book features are NaN: this history has no book") as err:
        assemble(feats, labels, list(feats.columns), {"book": True, "brokers": True, "side": True})
    assert "warm-up" not in str(err.value)


def test_no_complete_row_because_of_the_warmup_says_warmup() -> None:
    feats, labels = _qt65_inputs(n=60)
    feats["vol_ratio_100_200"] = np.nan  # 200 bars of warm-up, 55 labelled bars
    with pytest.raises(InputError, match=r"too little history for the warm-up \(55 labelled bars; "
                                         r"vol_ratio_100_200 needs 200 bars\)") as err:
        assemble(feats, labels, list(feats.columns))
    assert "book" not in str(err.value)

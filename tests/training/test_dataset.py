"""Dataset assembly: join on decision time, warm-up rows dropped, snapshot hash sensitive to every value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.lake import Lake
from quantumtrader.config import Settings
from quantumtrader.errors import InputError, SchemaError
from training.dataset import assemble, hold_out_sessions
from training.tracking import git_commit, validation_results


def _inputs(n: int = 50, columns: tuple[str, ...] = ("a", "b", "c")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` bars of random features named ``columns`` and labels for all but the last 5."""
    idx = pd.date_range("2026-01-05 12:00", periods=n, freq="60s", tz="UTC", name="close_ts")
    rng = np.random.default_rng(0)
    feats = pd.DataFrame(rng.standard_normal((n, len(columns))), index=idx, columns=list(columns))
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

    return _inputs(n, tuple(FEATURE_NAMES))


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


@pytest.mark.slow
def test_load_dataset_is_the_same_through_the_asof_join_and_feasts_own(settings: Settings) -> None:
    from features import store
    from features.offline import feature_table, write_feature_table
    from features.spec import FEATURE_NAMES
    from market.lake import bars_dataset
    from tests.training.conftest import synthetic_bars_and_features
    from training.dataset import labels_for_bars, load_dataset

    settings = settings.model_copy(update={"training": settings.training.model_copy(update={"holdout_sessions": 5})})
    bars, feats, _ = synthetic_bars_and_features(8, 120, names=list(FEATURE_NAMES), seed=4)
    feats.iloc[[40, 41, 200], [3, 9]] = np.nan  # holes past the warm-up drop those rows
    lake = Lake(settings.lake_root)
    for day, part in bars.groupby("session"):
        lake.write_day(bars_dataset(settings.market.bars.spec), "WDO", date.fromisoformat(str(day)), part, index=True)
    write_feature_table(lake, feature_table(feats, "WDO", created=pd.Timestamp("2026-02-01", tz="UTC")), "WDO")
    store.apply_repo(settings)

    fast = load_dataset(settings, symbol="WDO", engine="asof")
    feast = load_dataset(settings, symbol="WDO", engine="feast")
    assert fast.snapshot_hash == feast.snapshot_hash
    pd.testing.assert_frame_equal(fast.X, feast.X, check_exact=True)
    np.testing.assert_array_equal(fast.close_ts.asi8, feast.close_ts.asi8)
    for name in ("y", "fwd_ticks", "pos", "end_pos"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(feast, name))
    assert {k: v for k, v in fast.info.items() if k != "retrieval"} == {
        k: v for k, v in feast.info.items() if k != "retrieval"
    }
    # ... and both are the features that were written, joined with the labels (nothing shifted).
    kept, _ = hold_out_sessions(bars, settings.training.holdout_sessions)
    direct = assemble(feats, labels_for_bars(kept, settings, "WDO"), list(FEATURE_NAMES))
    assert fast.snapshot_hash == direct.snapshot_hash
    assert fast.info["dropped_warmup_rows"] == direct.info["dropped_warmup_rows"] > 3

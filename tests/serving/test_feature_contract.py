"""The feature contract at serving: input groups, bar spec, large_trade_qty and tick size, refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_model import contract, train_booster

from features.contract import GROUP_FEATURES, all_present, feature_contract
from features.spec import FEATURE_INDEX, FEATURE_NAMES
from serving.predictor import ModelRefused, Predictor, check_feature_contract

NO_BOOK = {"book": False, "brokers": True, "side": True}


def serving(**overrides) -> dict:
    args = {"bar_spec": "time:60s", "large_trade_qty": 10, "tick_size": 0.5, "input_groups": all_present()}
    args.update(overrides)
    return feature_contract(**args)


def test_book_group_holds_the_seven_book_features() -> None:
    assert GROUP_FEATURES["book"] == ("spread_ticks", "spread_mean_20", "microprice_dev", "book_imb_l1",
                                      "book_imb_l5", "depth_ratio_5", "book_imb_l5_chg_10")
    assert "buyer_conc_50" in GROUP_FEATURES["brokers"] and "buyer_conc_50" in GROUP_FEATURES["side"]
    assert "ofi_5" in GROUP_FEATURES["side"] and "vol_10" not in {f for g in GROUP_FEATURES.values() for f in g}


def test_model_trained_with_book_is_refused_on_data_without_book_by_name() -> None:
    meta = contract()
    with pytest.raises(ModelRefused, match=r"input_groups.book: model was trained with book features \(7\); "
                                           r"this data has no book: retrain on this trades-only history"):
        check_feature_contract(meta, serving(input_groups=NO_BOOK))


def test_model_trained_without_book_is_accepted_on_data_with_book() -> None:
    check_feature_contract(contract(input_groups=NO_BOOK), serving())


@pytest.mark.parametrize(("item", "value"), [("bar_spec", "time:30s"), ("large_trade_qty", 20), ("tick_size", 5.0),
                                             ("session_template", "WDO:000000000000")])
def test_a_different_bar_spec_large_trade_qty_tick_size_or_session_template_is_refused_by_name(item, value) -> None:
    with pytest.raises(ModelRefused, match=rf"{item}: model was trained with .*, this engine runs {value!r}"):
        check_feature_contract(contract(), serving(**{item: value}))


def test_model_without_input_groups_in_its_contract_is_refused() -> None:
    meta = contract()
    del meta["feature_contract"]
    with pytest.raises(ModelRefused, match=r"no feature_contract\.input_groups"):
        Predictor.from_booster(train_booster(), meta)


def book_booster():
    """A booster whose label follows book_imb_l1: its predictions depend on the book values."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, len(FEATURE_NAMES)))
    imb = X[:, FEATURE_INDEX["book_imb_l1"]]
    y = np.where(imb > 0.5, 2, np.where(imb < -0.5, 0, 1))
    params = {"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbose": -1, "num_threads": 1,
              "deterministic": True}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=8)


def test_model_trained_without_book_is_fed_nan_in_the_book_positions_whatever_the_row_holds() -> None:
    booster = book_booster()
    pred = Predictor.from_booster(booster, contract(input_groups=NO_BOOK))
    assert pred.input_groups == NO_BOOK and pred.nan_features == GROUP_FEATURES["book"]
    rng = np.random.default_rng(1)
    row = rng.normal(size=len(FEATURE_NAMES))
    masked = row.copy()
    masked[[FEATURE_INDEX[f] for f in GROUP_FEATURES["book"]]] = np.nan
    expected = booster.predict(masked.reshape(1, -1), raw_score=True, num_threads=1)[0]
    assert np.allclose(pred.raw_score(row), expected, rtol=0, atol=1e-12)
    assert np.allclose(pred.predict_proba(row), pred.predict_proba(masked), rtol=0, atol=1e-15)
    assert np.allclose(pred.predict_proba3(row), pred.predict_proba3(masked), rtol=0, atol=1e-15)
    assert np.isfinite(row).all()  # the caller's row is not changed


def test_model_with_every_group_reads_the_book_values() -> None:
    booster = book_booster()
    pred = Predictor.from_booster(booster, contract())
    row = np.random.default_rng(2).normal(size=len(FEATURE_NAMES))
    row[FEATURE_INDEX["book_imb_l1"]] = 2.0
    masked = row.copy()
    masked[FEATURE_INDEX["book_imb_l1"]] = np.nan
    expected = booster.predict(row.reshape(1, -1), raw_score=True, num_threads=1)[0]
    assert pred.nan_features == () and np.allclose(pred.raw_score(row), expected, rtol=0, atol=1e-12)
    assert not np.allclose(pred.predict_proba(row), pred.predict_proba(masked))  # the book value matters


def test_the_session_template_comes_from_the_instruments_dated_hours() -> None:
    from market.instruments import get_instrument

    wdo = serving()["session_template"]
    assert wdo == get_instrument("WDO").session_template_hash()
    assert serving(symbol="WIN", tick_size=None)["session_template"] != wdo  # index hours differ from dollar hours
    with pytest.raises(ModelRefused, match="session_template: model was trained with 'WDO:"):
        check_feature_contract(contract(), serving(symbol="WIN", tick_size=None))

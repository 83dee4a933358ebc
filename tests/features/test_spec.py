"""The qt65_v1 registry: order, groups, warm-ups as computed, and a hash that only changes on purpose."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import features.spec as spec_mod
from benchmarks.bench_features import synthetic_bars
from features.batch import compute_batch
from features.spec import FEATURE_NAMES, SPEC, VERSION, SpecMismatchError, check_spec_hash, spec_hash
from quantumtrader.errors import InputError

# The documented order (FEATURES.md numbering 1..65); changing it needs a new version.
DOCUMENTED_ORDER = (
    "vol_10", "vol_20", "vol_50", "vol_100", "vol_ratio_10_20", "vol_ratio_20_50", "vol_ratio_50_100",
    "vol_ratio_100_200", "garman_klass_20", "parkinson_20", "ret_1", "ret_2", "ret_5", "ret_10", "ret_20", "ret_50",
    "ret_100", "ret_session", "vwap_dev_session", "range_pos_20", "ofi_5", "ofi_10", "ofi_20", "ofi_50",
    "signed_volume", "cum_signed_volume_session", "large_trade_imbalance_20", "vw_return_20", "volume_ratio_20",
    "volume_ratio_50", "volume_ratio_100", "volume_z_20", "volume_z_50", "volume_z_100", "trade_intensity",
    "trade_intensity_ratio_50", "ma_ratio_5_20", "ma_ratio_20_50", "rsi_14", "macd_hist", "bb_pos_20", "atr_14_rel",
    "stoch_k_14", "sharpe_20", "spread_ticks", "spread_mean_20", "microprice_dev", "book_imb_l1", "book_imb_l5",
    "depth_ratio_5", "book_imb_l5_chg_10", "buyer_conc_50", "seller_conc_50", "top_broker_net_50",
    "broker_turnover_20", "buyer_switch_rate_20", "aggr_buy_ratio_20", "kyle_lambda_50", "amihud_20",
    "session_progress", "tod_sin", "tod_cos", "day_of_week", "is_opening_30", "is_closing_30",
)

# Pinned: a failing assertion here means the spec changed. Bump VERSION and update on purpose.
PINNED_HASH = "2c282a3b9f35bb0c2d5d55bfa801572a756d873aacf38de0036fb1832575f824"


def test_spec_lists_the_65_features_in_the_documented_order() -> None:
    assert VERSION == "qt65_v1"
    assert tuple(DOCUMENTED_ORDER) == FEATURE_NAMES
    assert len(SPEC) == 65 and len(set(FEATURE_NAMES)) == 65


def test_groups_have_the_documented_sizes() -> None:
    sizes = {g: sum(f.group == g for f in SPEC) for g in spec_mod.GROUPS}
    assert sizes == {"volatility": 10, "returns": 10, "order_flow": 8, "volume": 8, "technical": 8,
                     "microstructure": 15, "temporal": 6}


def test_session_features_are_the_three_that_reset() -> None:
    assert {f.name for f in SPEC if f.session_reset} == {"ret_session", "vwap_dev_session",
                                                          "cum_signed_volume_session"}


def test_spec_hash_is_pinned_and_stable() -> None:
    assert spec_hash() == spec_hash() == PINNED_HASH


def test_spec_hash_changes_with_a_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = list(SPEC)
    changed[0] = dataclasses.replace(changed[0], params=(("n", 11),))
    monkeypatch.setattr(spec_mod, "SPEC", tuple(changed))
    assert spec_hash() != PINNED_HASH


def test_spec_hash_changes_with_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_mod, "SPEC", (SPEC[1], SPEC[0], *SPEC[2:]))
    assert spec_hash() != PINNED_HASH


def test_check_spec_hash_accepts_its_own_and_names_both_on_mismatch() -> None:
    check_spec_hash(spec_hash())
    with pytest.raises(SpecMismatchError, match="deadbeef") as err:
        check_spec_hash("deadbeef", what="model 'm1'")
    assert PINNED_HASH in str(err.value) and isinstance(err.value, InputError)


def test_warmups_match_the_first_valid_bar_of_the_batch() -> None:
    bars = synthetic_bars(400)  # prices and book valid from bar 0
    feats = compute_batch(bars)
    assert list(feats.columns) == list(FEATURE_NAMES)
    assert (feats.dtypes == np.float64).all() and feats.index.equals(bars.index)
    for f in SPEC:
        col = feats[f.name].to_numpy()
        assert np.isnan(col[: f.warmup]).all(), f.name
        assert np.isfinite(col[f.warmup :]).all(), f.name

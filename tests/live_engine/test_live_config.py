"""The ``live`` section of config/default.yaml states every default of LiveConfig, and bad values fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from live_engine.config import LiveConfig
from quantumtrader.config import load_settings
from quantumtrader.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_default_yaml_live_section_matches_the_code_defaults():
    doc = yaml.safe_load((REPO / "config" / "default.yaml").read_text())["live"]
    assert LiveConfig.model_validate(doc) == LiveConfig()


def test_a_bad_risk_value_fails_at_load_with_its_path(tmp_path):
    with pytest.raises(ConfigError, match=r"live\.risk\.max_position"):
        load_settings(root=tmp_path, live={"risk": {"max_position": 0}})


def test_volatility_regimes_are_off_by_default_and_load_when_both_fields_are_set(tmp_path):
    assert LiveConfig().coordinator.n_regimes == 1
    s = load_settings(root=tmp_path, live={"coordinator": {"regime_feature": "atr_14_rel",
                                                           "regime_thresholds": [0.00035, 0.0006]}})
    assert s.live.coordinator.n_regimes == 3 and s.live.coordinator.regime_thresholds == (0.00035, 0.0006)


@pytest.mark.parametrize(("coordinator", "path"), [
    ({"regime_feature": "atr_14", "regime_thresholds": [0.0004]}, r"live\.coordinator\.regime_feature"),
    ({"regime_feature": "atr_14_rel", "regime_thresholds": [0.0006, 0.0003]}, r"live\.coordinator\.regime_thresholds"),
    ({"regime_feature": "atr_14_rel", "regime_thresholds": [0.0004, 0.0004]}, r"live\.coordinator\.regime_thresholds"),
    ({"regime_feature": "atr_14_rel", "regime_thresholds": [float("nan")]}, r"live\.coordinator\.regime_thresholds"),
    ({"regime_feature": "atr_14_rel"}, r"live\.coordinator.*regime_thresholds"),
    ({"regime_thresholds": [0.0004]}, r"live\.coordinator.*regime_feature"),
])
def test_a_bad_regime_split_fails_at_load_naming_the_field(tmp_path, coordinator, path):
    with pytest.raises(ConfigError, match=path):
        load_settings(root=tmp_path, live={"coordinator": coordinator})

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

"""The ``promotion`` section and ``stores.promotions_db_url``: defaults, mirrored YAML, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quantumtrader.config import load_settings
from quantumtrader.errors import ConfigError
from training.promotion.config import PromotionConfig

REPO = Path(__file__).resolve().parents[3]


def test_the_yaml_section_mirrors_the_model_and_the_table_lives_under_var_dir(tmp_path: Path) -> None:
    section = yaml.safe_load((REPO / "config" / "default.yaml").read_text())["promotion"]
    assert set(section) == set(PromotionConfig.model_fields)
    assert PromotionConfig.model_validate(section) == PromotionConfig()  # the documented defaults are the code's
    s = load_settings(root=tmp_path)
    assert s.stores.promotions_db_url == f"sqlite:///{tmp_path / 'var' / 'promotions.db'}"


def test_an_unknown_promotion_key_and_a_bad_table_url_stop_at_start(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_PROMOTION__MIN_DAYZ", "3")
    with pytest.raises(ConfigError, match=r"unknown key 'min_dayz' in promotion.*did you mean min_days"):
        load_settings(root=tmp_path)
    monkeypatch.delenv("QT_PROMOTION__MIN_DAYZ")
    monkeypatch.setenv("QT_STORES__PROMOTIONS_DB_URL", "postgresql://h:xx/db")
    with pytest.raises(ConfigError, match=r"stores\.promotions_db_url .*port that is no number"):
        load_settings(root=tmp_path)
    monkeypatch.delenv("QT_STORES__PROMOTIONS_DB_URL")
    monkeypatch.setenv("QT_PROMOTION__MIN_PROB_POSITIVE", "1.5")
    with pytest.raises(ConfigError, match=r"promotion\.min_prob_positive"):
        load_settings(root=tmp_path)

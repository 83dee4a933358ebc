"""The ``research`` section and ``stores.kb_db_url``: defaults stated in the YAML, refusals, and what
loading the settings (or ``qtml``'s command table) imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantumtrader.config import load_settings
from quantumtrader.errors import ConfigError
from research.config import ArxivConfig, ResearchConfig

REPO = Path(__file__).resolve().parents[2]


def test_the_yaml_section_states_the_code_defaults_and_the_kb_lives_under_var_dir(tmp_path: Path) -> None:
    section = yaml.safe_load((REPO / "config" / "default.yaml").read_text())["research"]
    assert set(section) == set(ResearchConfig.model_fields) and set(section["arxiv"]) == set(ArxivConfig.model_fields)
    assert ResearchConfig.model_validate(section) == ResearchConfig()
    s = load_settings(root=tmp_path)
    assert s.stores.kb_db_url == f"sqlite:///{tmp_path / 'var' / 'research' / 'kb.db'}"
    assert s.research.arxiv.delay_s == 3.0 and 'all:"backtest overfitting"' in s.research.queries
    assert not (tmp_path / "var" / "research").exists()  # loading the settings creates no database


def test_a_kb_url_queries_and_arxiv_settings_come_from_the_environment(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_STORES__KB_DB_URL", "postgresql://qt@db:5432/research")
    monkeypatch.setenv("QT_RESEARCH__QUERIES", '["cat:q-fin.TR"]')
    monkeypatch.setenv("QT_RESEARCH__ARXIV__PROXIES", '{"https": "http://proxy:3128"}')
    s = load_settings(root=tmp_path)
    assert s.stores.kb_db_url == "postgresql://qt@db:5432/research" and s.research.queries == ("cat:q-fin.TR",)
    assert s.research.arxiv.proxies == {"https": "http://proxy:3128"}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("QT_STORES__KB_DB_URL", "postgresql://h:xx/db", r"stores\.kb_db_url .*port that is no number"),
    ("QT_RESEARCH__ARXIV__DELAY_S", "-1", r"research\.arxiv\.delay_s \(from QT_RESEARCH__ARXIV__DELAY_S\)"),
    ("QT_RESEARCH__ARXIV__BASE_URL", "ftp://x", r"research\.arxiv\.base_url"),
    ("QT_RESEARCH__MIN_SCOR", "0.5", r"unknown key 'min_scor' in research.*did you mean min_score"),
])
def test_a_bad_research_value_stops_at_start_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(root=tmp_path)


def test_settings_and_the_command_table_import_no_knowledge_base_code() -> None:
    code = ("import sys, quantumtrader.config, quantumtrader.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'research.kb'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

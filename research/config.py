"""``research:``: the knowledge base's listing limits, the weekly arXiv queries and how arXiv is asked
(docs/research.md). The knowledge base's database is ``stores.kb_db_url``.

Only pydantic here: the settings object imports this module in every process, the engine's included.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from quantumtrader.frozen import FrozenModel
from research.study.config import StudyConfig


class ArxivConfig(FrozenModel):
    """The arXiv API client: where, how fast and how politely (https://info.arxiv.org/help/api/tou.html)."""

    base_url: str = Field("https://export.arxiv.org/api/query", pattern=r"^https?://",
                          description="The arXiv API's query endpoint (Atom feed).")
    page_size: int = Field(100, gt=0, le=2000, description="Results asked per request (arXiv allows up to 2000).")
    delay_s: float = Field(3.0, ge=0.0, description="Seconds between two requests: arXiv's terms ask for at most "
                                                    "one request every 3 s.")
    retries: int = Field(3, ge=0, description="Retries of a request that failed or timed out, or a page that came "
                                              "back empty mid-query (arXiv's API does that under load).")
    backoff_s: float = Field(3.0, ge=0.0, description="Wait before the first retry; doubled at each further one.")
    timeout_s: float = Field(30.0, gt=0.0, description="Seconds one request may take.")
    user_agent: str = Field("QuantumTrader-research/1 (+https://github.com/quantumtrader)", min_length=1,
                            description="User-Agent of every request (arXiv asks clients to identify themselves).")
    proxies: dict[str, str] | None = Field(None, description="Proxies by scheme, e.g. {https: http://proxy:3128}; "
                                                             "null = the environment's (HTTPS_PROXY, ...).")
    limit: int = Field(200, gt=0, description="Most papers taken per query per run (newest first).")


class ResearchConfig(FrozenModel):
    """The research knowledge base (``qtml kb``) and the weekly research flow that feeds it from arXiv."""

    search_limit: int = Field(50, gt=0, description="Rows of each kind `qtml kb search` shows by default.")
    list_limit: int = Field(200, gt=0, description="Ideas `qtml kb ideas` lists by default.")
    queries: tuple[str, ...] = Field(
        ('all:"order flow imbalance"',
         'all:"limit order book" AND all:"deep learning"',
         'all:"backtest overfitting"',
         "cat:q-fin.TR AND all:futures"),
        description="Saved arXiv search queries (arXiv's query syntax) the weekly research flow runs.")
    min_score: float = Field(0.3, ge=0.0,
                             description="Ideas extracted with a lower score are not stored.")
    rules_path: Path | None = Field(None, description="The idea extractor's rules (YAML), relative to root; "
                                                      "null = the packaged research/rules.yaml.")
    arxiv: ArxivConfig = ArxivConfig()
    study: StudyConfig = StudyConfig()  # qtml study (docs/studies.md)

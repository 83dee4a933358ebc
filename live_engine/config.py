"""Configuration of the live engine: one section per subpackage, composed here.

Every value has a documented default; the ``live`` section of ``config/default.yaml`` mirrors it. Each
subpackage owns its part (``decision/``, ``risk/``, ``backtest/``, ``feeds/``, ``journal/``, ``service/``
``config.py``); the names
are re-exported here for callers that read the whole section. The cost and fill model's config
(``execution/config.py``, :class:`CostConfig`) is the top-level ``costs:`` section, not part of
``live``: the training labels read it too.
"""

from __future__ import annotations

from live_engine.backtest.config import BacktestConfig
from live_engine.decision.config import ConsensusConfig, CoordinatorConfig
from live_engine.execution.config import CostConfig
from live_engine.feeds.config import FeedsConfig
from live_engine.journal.config import JournalConfig
from live_engine.risk.config import RiskConfig
from live_engine.service.config import AlertsConfig, ServiceConfig
from quantumtrader.frozen import FrozenModel

__all__ = ["AlertsConfig", "BacktestConfig", "ConsensusConfig", "CoordinatorConfig", "CostConfig", "FeedsConfig",
           "JournalConfig", "LiveConfig", "RiskConfig", "ServiceConfig"]


class LiveConfig(FrozenModel):
    coordinator: CoordinatorConfig = CoordinatorConfig()
    consensus: ConsensusConfig = ConsensusConfig()
    risk: RiskConfig = RiskConfig()
    backtest: BacktestConfig = BacktestConfig()
    feeds: FeedsConfig = FeedsConfig()
    journal: JournalConfig = JournalConfig()
    service: ServiceConfig = ServiceConfig()
    zmq_pub_endpoint: str = "tcp://127.0.0.1:5559"

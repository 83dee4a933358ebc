"""Configuration of the live engine: one section per subpackage, composed here.

Every value has a documented default; the ``live`` section of ``config/default.yaml`` mirrors it. Each
subpackage owns its part (``decision/config.py``, ``risk/config.py``, ``execution/config.py``,
``backtest/config.py``); the names are re-exported here for callers that read the whole section.
"""

from __future__ import annotations

from live_engine.backtest.config import BacktestConfig
from live_engine.decision.config import ConsensusConfig, CoordinatorConfig
from live_engine.execution.config import BrokerConfig
from live_engine.risk.config import RiskConfig
from quantumtrader.frozen import FrozenModel

__all__ = ["BacktestConfig", "BrokerConfig", "ConsensusConfig", "CoordinatorConfig", "LiveConfig", "RiskConfig"]


class LiveConfig(FrozenModel):
    coordinator: CoordinatorConfig = CoordinatorConfig()
    consensus: ConsensusConfig = ConsensusConfig()
    risk: RiskConfig = RiskConfig()
    broker: BrokerConfig = BrokerConfig()
    backtest: BacktestConfig = BacktestConfig()
    zmq_pub_endpoint: str = "tcp://127.0.0.1:5559"

"""Configuration of the feature set."""

from __future__ import annotations

from quantumtrader.frozen import FrozenModel


class FeaturesConfig(FrozenModel):
    version: str = "qt65_v1"
    online_store: str = "sqlite"  # "sqlite" (embedded) or "redis" (production profile)
    redis_connection: str = "127.0.0.1:6379"

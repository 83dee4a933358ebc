"""Configuration of the feature set."""

from __future__ import annotations

from typing import Literal

from quantumtrader.frozen import FrozenModel


class FeaturesConfig(FrozenModel):
    version: str = "qt65_v1"
    # Feast online store profile: feature_repo/feature_store.yaml (sqlite, under var/feast) or
    # feature_repo/feature_store.redis.yaml (redis, production).
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_connection: str = "127.0.0.1:6379"  # Feast's host:port[,db=N,...]; passwords via QT_ env only

"""Base class for component configs: frozen, strict about unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A frozen pydantic model that rejects unknown fields (a typo is an error, not a default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

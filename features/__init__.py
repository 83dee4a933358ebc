"""The feature set ``qt65_v1``: spec (:mod:`features.spec`), batch (:mod:`features.batch`) and streaming
(:mod:`features.streaming`) executions. Names are exported lazily so importing the package stays cheap."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SPEC": "features.spec",
    "FEATURE_NAMES": "features.spec",
    "VERSION": "features.spec",
    "FeatureSpec": "features.spec",
    "SpecMismatchError": "features.spec",
    "spec_hash": "features.spec",
    "check_spec_hash": "features.spec",
    "compute_batch": "features.batch",
    "FeatureEngine": "features.streaming",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'features' has no attribute {name!r}")

"""CLI command ``qtml train``."""

from __future__ import annotations


def train() -> None:
    """Train, cross-validate and register a model."""
    raise NotImplementedError("owned by the training work")

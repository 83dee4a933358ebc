"""CLI commands of the feature domain: ``qtml features build|apply|show``."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)

"""Configuration of the engine's journal and its backups (``live_engine/journal/``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class JournalConfig(FrozenModel):
    """The engine's journal. Its URL is ``stores.journal_db_url`` (default sqlite ``var/journal/<mode>.db``,
    WAL mode); paper and live state never share a database."""

    mode: Literal["paper", "live"] = Field("paper", description="Trading mode; the journal records it and refuses "
                                                                "to open for the other mode.")
    backup_every_minutes: int = Field(60, gt=0, description="State snapshot under var/backups/ this often.")
    backup_keep: int = Field(48, gt=0, description="Snapshots kept; older ones are deleted.")

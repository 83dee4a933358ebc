"""Rows of the knowledge base as plain dicts, the shape every read of :mod:`research.kb.store` returns.

SQLite keeps no time zone: its datetimes were written in UTC and are returned aware, as PostgreSQL's are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from research.kb.models import Experiment, Idea, Paper, Result


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def paper(p: Paper, *, full: bool = False) -> dict[str, Any]:
    """A paper; ``full`` adds the text of its analysed sections (``sections``, or null)."""
    out: dict[str, Any] = {
        "key": p.arxiv_id, "id": p.id, "arxiv_id": p.arxiv_id, "version": p.version, "title": p.title,
        "authors": list(p.authors or []), "abstract": p.abstract, "published": _utc(p.published),
        "updated": _utc(p.updated), "categories": list(p.categories or []), "primary_category": p.primary_category,
        "pdf_url": p.pdf_url, "doi": p.doi, "comment": p.comment, "fetched_at": _utc(p.fetched_at),
        "section_names": list(p.sections or {}),
    }
    if full:
        out["sections"] = p.sections
    return out


def idea(i: Idea, p: Paper | None = None) -> dict[str, Any]:
    """An idea, with its paper's arXiv id and title when ``p`` is given."""
    return {
        "key": f"idea:{i.id}", "id": i.id, "paper_id": i.paper_id,
        "arxiv_id": p.arxiv_id if p is not None else None, "paper_title": p.title if p is not None else None,
        "kind": i.kind, "target": i.target, "rule": i.rule, "title": i.title, "score": i.score,
        "evidence": i.evidence, "status": i.status, "created_at": _utc(i.created_at),
    }


def experiment(e: Experiment, results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An experiment with its results (``results`` as :func:`result` gives them)."""
    return {"key": f"experiment:{e.id}", "id": e.id, "kind": e.kind, "ref": e.ref, "name": e.name,
            "params": dict(e.params or {}), "created_at": _utc(e.created_at), "results": list(results or [])}


def result(r: Result) -> dict[str, Any]:
    return {"metric": r.metric, "value": r.value, "detail": r.detail, "recorded_at": _utc(r.recorded_at)}


def like_pattern(word: str) -> str:
    """``%word%`` for ``ILIKE ... ESCAPE '\\'``: the word's own ``%``, ``_`` and ``\\`` match themselves."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

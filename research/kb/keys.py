"""How the knowledge base names its records on the command line, and the plain values it stores.

Pure functions: no database here.

A *key* names one record (docs/research.md, "Naming a record"):

- ``2401.01234``: a paper by arXiv id (``arXiv:``, ``v2``, an abs/pdf URL accepted);
- ``paper:N``: a paper by its row id (``paper:2401.01234`` also works);
- ``idea:N``: an idea by its row id (a bare ``N`` only where nothing but an idea fits);
- ``experiment:N``: an experiment by its row id;
- ``exp:REF``: an experiment by its ref (an MLflow run id or a study id), whatever its kind;
- ``mlflow_run:REF``, ``study:REF``: the MLflow run or the study REF.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from quantumtrader.errors import InputError
from research.kb.models import EXPERIMENT_KINDS

_ARXIV = re.compile(r"^(?P<id>\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Za-z]{2})?/\d{7})(?:v(?P<v>\d+))?$")
_ARXIV_PREFIX = re.compile(r"^(?:https?://(?:export\.)?arxiv\.org/(?:abs|pdf)/|arxiv:)", re.IGNORECASE)

PAPER = "paper"
IDEA = "idea"
EXPERIMENT = "experiment"
PAPER_FIELDS = ("arxiv_id", "version", "title", "authors", "abstract", "published", "updated", "categories",
                "primary_category", "pdf_url", "doi", "comment", "sections", "fetched_at")
KEY_HELP = ("give an arXiv id (2401.01234), paper:N, idea:N, experiment:N, exp:REF, mlflow_run:REF or study:REF")


@dataclass(frozen=True)
class Key:
    """What a key names: ``table`` (paper | idea | experiment) and how (``by`` id | arxiv | ref)."""

    table: str
    by: str
    value: str | int
    kind: str | None = None  # an experiment's kind when the key gave it (mlflow_run:REF, study:REF)


def split_arxiv_id(text: str) -> tuple[str, int | None]:
    """``(arxiv_id, version)`` of ``2401.01234v2``, ``arXiv:2401.01234``, an abs or pdf URL; version None
    when the text gives none. Raises :class:`InputError` when it is no arXiv identifier."""
    s = _ARXIV_PREFIX.sub("", text.strip()).removesuffix(".pdf")
    m = _ARXIV.match(s)
    if m is None:
        raise InputError(f"{text!r} is no arXiv identifier (e.g. 2401.01234, 2401.01234v2 or q-fin/0601001)")
    return m.group("id"), int(m.group("v")) if m.group("v") else None


def _row_id(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise InputError(f"{what}:{text}: the id after '{what}:' must be a whole number") from None
    if n <= 0:
        raise InputError(f"{what}:{text}: ids start at 1")
    return n


def parse_key(text: str) -> Key:
    """The record ``text`` names (the scheme of this module's docstring)."""
    s = text.strip()
    head, sep, rest = s.partition(":")
    head = head.lower()
    if sep and rest and head == PAPER and not rest.strip().isdigit():
        return Key(PAPER, "arxiv", split_arxiv_id(rest)[0])
    if sep and rest and head in (PAPER, IDEA, EXPERIMENT):
        return Key(head, "id", _row_id(rest, head))
    if sep and rest and head in ("exp", *EXPERIMENT_KINDS):
        return Key(EXPERIMENT, "ref", rest, kind=None if head == "exp" else head)
    if s.isdigit():
        raise InputError(f"{text!r} is ambiguous: say idea:{s}, experiment:{s} or paper:{s}")
    try:
        arxiv_id, _ = split_arxiv_id(s)
    except InputError:
        raise InputError(f"{text!r} names no record: {KEY_HELP}") from None
    return Key(PAPER, "arxiv", arxiv_id)


def parse_idea_id(text: str) -> int:
    """An idea's row id from ``N`` or ``idea:N``."""
    s = text.strip()
    if s.lower().startswith("idea:"):
        s = s[5:]
    return _row_id(s, IDEA)


def utc(value: Any, field: str) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime (naive = UTC), a date or ISO text; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{field}: {value!r} is no ISO date or time") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise InputError(f"{field}: {value!r} is no date or time")


def texts(value: Any, field: str) -> list[str]:
    """A list of strings from a list, a tuple or one string (None = empty)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    raise InputError(f"{field}: {value!r} is no list of strings")


def finite(value: Any, field: str) -> float:
    """``value`` as a finite float, else :class:`InputError`."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{field}: {value!r} is no number") from None
    if not math.isfinite(f):
        raise InputError(f"{field}: {value!r} is not a finite number")
    return f


def one_of(value: str, allowed: tuple[str, ...], field: str) -> str:
    """``value`` when it is one of ``allowed``, else :class:`InputError` listing them."""
    if value not in allowed:
        raise InputError(f"{field} {value!r} is not one of {', '.join(allowed)}")
    return value


def paper_values(given: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The columns of a paper from its given fields (arxiv_id and title required; fetched_at default ``now``)."""
    if not given.get("arxiv_id"):
        raise InputError("upsert_paper: arxiv_id is required")
    arxiv_id, id_version = split_arxiv_id(str(given["arxiv_id"]))
    raw = given.get("version") or id_version or 1
    try:
        version = int(str(raw).removeprefix("v"))
    except ValueError:
        version = 0
    if version < 1 or isinstance(raw, bool):
        raise InputError(f"paper {arxiv_id}: version {raw!r} is no whole number from 1")
    title = " ".join(str(given.get("title") or "").split())
    if not title:
        raise InputError(f"paper {arxiv_id}: title is required")
    sections = given.get("sections")
    if sections is not None and not isinstance(sections, Mapping):
        raise InputError(f"paper {arxiv_id}: sections must be a mapping of section name to text")
    return {
        "arxiv_id": arxiv_id, "version": version, "title": title,
        "authors": texts(given.get("authors"), "authors"), "abstract": str(given.get("abstract") or ""),
        "published": utc(given.get("published"), "published"), "updated": utc(given.get("updated"), "updated"),
        "categories": texts(given.get("categories"), "categories"),
        "primary_category": given.get("primary_category") or None, "pdf_url": given.get("pdf_url") or None,
        "doi": given.get("doi") or None, "comment": given.get("comment") or None,
        "sections": dict(sections) if sections is not None else None,
        "fetched_at": utc(given.get("fetched_at"), "fetched_at") or now,
    }


def fields_of(paper: Any) -> dict[str, Any]:
    """The paper fields of a dataclass or a mapping (others are ignored); None gives none."""
    if paper is None:
        return {}
    if dataclasses.is_dataclass(paper) and not isinstance(paper, type):
        return {f.name: getattr(paper, f.name) for f in dataclasses.fields(paper) if f.name in PAPER_FIELDS}
    if isinstance(paper, Mapping):
        return {k: v for k, v in paper.items() if k in PAPER_FIELDS}
    raise InputError(f"upsert_paper: {type(paper).__name__} is neither a dataclass nor a mapping")

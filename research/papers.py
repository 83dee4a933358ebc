"""A paper's metadata (:class:`Paper`) and its text split into sections (:func:`analyse_pdf`).

``Paper`` is what the arXiv client (:mod:`research.arxiv`) returns and what the idea extractor
(:mod:`research.ideas`) reads; ``to_row`` gives the plain values a database row stores. The analyser
reads a PDF's text layer with pypdf, page by page, and cuts it at the lines that look like section
headings: numbered ("1 Introduction", "2.1 Data"), ALL-CAPS ("ABSTRACT", "REFERENCES") or a common
section name on a line of its own ("Related Work", "Conclusion"). Text before the first heading is
the ``front`` section (title, authors and often the abstract). ``docs/research-arxiv.md``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from quantumtrader.errors import InputError

FRONT = "front"

# Section names that are headings when they stand alone on a line (compared lower-cased, without a
# trailing colon or period).
COMMON_HEADINGS = frozenset({
    "abstract", "introduction", "background", "related work", "related works", "literature review",
    "method", "methods", "methodology", "model", "models", "data", "dataset", "datasets", "data and methods",
    "experiments", "experimental setup", "experimental results", "empirical results", "evaluation",
    "results", "discussion", "conclusion", "conclusions", "concluding remarks", "future work",
    "references", "bibliography", "acknowledgements", "acknowledgments", "appendix",
})

_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 10
# "3 Results", "2.1 Data sources", "4. Experiments" — a number (at most 3 levels, top level < 30), a
# capitalised title of a few words that does not end like a sentence.
_NUMBERED = re.compile(r"^(?P<num>[1-9]\d?(?:\.\d{1,2}){0,2})\.?\s+(?P<title>[A-Z][^\n]*?)$")
# "IV. RESULTS" / "II. Related Work" — Roman-numbered headings of IEEE-style papers.
_ROMAN = re.compile(r"^(?P<num>(?:X{0,2})(?:IX|IV|V?I{0,3}))\.\s+(?P<title>[A-Z][^\n]*?)$")
_ALL_CAPS = re.compile(r"^[A-Z][A-Z&\-/ ]{2,60}[A-Z]$")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
# First words of footnotes and affiliations that follow a number ("1 We thank ...", "2 Email: ...").
_SENTENCE_STARTS = frozenset({"we", "our", "i", "it", "this", "these", "note", "see", "email", "e-mail",
                              "corresponding", "available", "supported", "thanks"})


@dataclass(frozen=True)
class Paper:
    """One arXiv paper (one version) as the API describes it. Datetimes are timezone-aware UTC."""

    arxiv_id: str  # without the version: "2101.01234", "math/0101001"
    version: int
    title: str
    authors: tuple[str, ...]
    abstract: str
    published: datetime
    updated: datetime
    categories: tuple[str, ...]
    primary_category: str
    pdf_url: str
    doi: str | None = None
    comment: str | None = None

    @property
    def versioned_id(self) -> str:
        """The id with its version, e.g. ``2101.01234v2``."""
        return f"{self.arxiv_id}v{self.version}"

    def to_row(self) -> dict[str, Any]:
        """Plain JSON-able values (ISO-8601 UTC strings, lists) for a database row."""
        return {
            "arxiv_id": self.arxiv_id,
            "version": self.version,
            "title": self.title,
            "authors": list(self.authors),
            "abstract": self.abstract,
            "published": self.published.isoformat(),
            "updated": self.updated.isoformat(),
            "categories": list(self.categories),
            "primary_category": self.primary_category,
            "pdf_url": self.pdf_url,
            "doi": self.doi,
            "comment": self.comment,
        }


@dataclass(frozen=True)
class Section:
    """A section of a paper's text: its heading as printed (``front`` before the first) and its text."""

    title: str
    text: str


def heading_of(line: str) -> str | None:
    """The heading ``line`` is, as printed, or None when it is body text."""
    s = line.strip()
    if not s or len(s) > _MAX_HEADING_CHARS:
        return None
    bare = s.rstrip(":.").strip()
    if bare.lower() in COMMON_HEADINGS:
        return bare
    for pattern in (_NUMBERED, _ROMAN):
        m = pattern.match(s)
        if m and m.group("num") and _looks_like_title(m.group("title")):
            return s
    # One capitalised word is a heading only when it is a section name (above): "BEGIN" in a listing is not.
    if _ALL_CAPS.match(s) and 2 <= len(s.split()) <= 6:
        return s
    return None


def _looks_like_title(title: str) -> bool:
    words = title.split()
    if not words or len(words) > _MAX_HEADING_WORDS:
        return False
    if title.rstrip()[-1] in ".,;=" or "@" in title or "http" in title.lower():
        return False
    if words[0].lower().rstrip(":") in _SENTENCE_STARTS:
        return False
    # Body lines that start with a number ("2 Figures show ...") are mostly lower-case words: a title has
    # few of them beyond short function words.
    lower = [w for w in words[1:] if w[:1].islower() and len(w) > 4]
    return len(lower) <= max(2, len(words) // 2)


def split_sections(text: str) -> list[Section]:
    """Cut ``text`` at its heading lines. Text before the first heading becomes the ``front`` section."""
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    sections: list[Section] = []
    title: str = FRONT
    lines: list[str] = []
    for raw in text.splitlines():
        heading = heading_of(raw)
        if heading is None:
            if raw.strip():
                lines.append(raw.strip())
            continue
        if title != FRONT or lines:
            sections.append(Section(title, "\n".join(lines)))
        title, lines = heading, []
    if title != FRONT or lines:
        sections.append(Section(title, "\n".join(lines)))
    return sections


def analyse_pdf(source: Path | bytes, max_pages: int | None = None, *, name: str | None = None) -> list[Section]:
    """The sections of a PDF's text (its first ``max_pages`` pages when given).

    ``source`` is a file path or the PDF's bytes (``name`` labels bytes in errors). A file that is not a
    PDF, is encrypted with a password, or has no text layer raises one :class:`InputError` line naming
    the file and what to do.
    """
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    label = name or (str(source) if isinstance(source, Path) else "<PDF bytes>")
    try:
        data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    except OSError as e:
        raise InputError(f"{label}: cannot read the file ({e.strerror or e}): check the path") from e
    if not data.lstrip()[:5] == b"%PDF-":
        raise InputError(f"{label} is not a PDF (no %PDF- header): pass the paper's PDF file, not an HTML or "
                         f"abstract page")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(f"{label} is encrypted with a password: save an unencrypted copy and analyse that")
        pages = reader.pages if max_pages is None else reader.pages[: max(0, max_pages)]
        texts = [page.extract_text() or "" for page in pages]
    except InputError:
        raise
    except (FileNotDecryptedError, DependencyError) as e:
        raise InputError(f"{label} is encrypted and cannot be opened ({e}): save an unencrypted copy and analyse "
                         f"that") from e
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise InputError(f"{label} is not a readable PDF ({type(e).__name__}: {e}): download it again or "
                         f"re-save it with a PDF tool") from e
    text = "\n".join(t.strip("\n") for t in texts)
    if not text.strip():
        raise InputError(f"{label} has no text layer (a scanned PDF?): run OCR on it (e.g. ocrmypdf) and analyse "
                         f"the result")
    return split_sections(text)

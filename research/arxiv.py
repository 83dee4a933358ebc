"""A client of arXiv's public Atom API (https://info.arxiv.org/help/api/): search with paging, PDFs.

The API's terms ask for one request every 3 seconds; :class:`ArxivClient` waits so that a request
starts at least ``delay_s`` after the previous one ended (measured with the injected monotonic clock)
and retries what is temporary — HTTP 5xx and 429, timeouts, a cut connection, a malformed feed and the
empty page arXiv sometimes returns mid-paging — with a doubling backoff. An unreachable network (DNS
failure, connection refused, no route) raises :class:`ArxivUnreachable` at once, and every socket has a
timeout: the client never hangs. ``docs/research-arxiv.md``.

:func:`parse_feed` is pure: Atom bytes in, a :class:`FeedPage` of :class:`research.papers.Paper` out.
"""

from __future__ import annotations

import errno
import http.client
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from quantumtrader.errors import ConfigError, InputError, TransientError
from quantumtrader.logging import get_logger
from research.papers import Paper

log = get_logger("research.arxiv")

DEFAULT_BASE_URL = "https://export.arxiv.org/api/query"
DEFAULT_USER_AGENT = "QuantumTrader-research/1.0 (paper search; one request every 3 s)"
MAX_PAGE_SIZE = 2000  # the API refuses larger max_results
MAX_RETRY_AFTER_S = 60.0  # a server's Retry-After is honoured up to this, never an unbounded wait
SORT_BY = ("relevance", "lastUpdatedDate", "submittedDate")
SORT_ORDER = ("ascending", "descending")

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
    "arxiv": "http://arxiv.org/schemas/atom",
}
_ERROR_ID = "arxiv.org/api/errors"
_ABS_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/abs/(?P<id>.+?)(?:v(?P<version>\d+))?$")
_BARE_ID = re.compile(r"^(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>\d+))?$")
_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ECONNREFUSED}

T = TypeVar("T")


class ArxivError(InputError):
    """arXiv refused the request (HTTP 4xx other than 429, or an error entry): fix the query or id."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail or message


class ArxivUnreachable(TransientError):
    """No connection to arXiv at all (DNS, refused, no route): check the network or proxy, or run offline."""


class ArxivUnavailable(TransientError):
    """arXiv answered, but with temporary failures on every attempt: try again later."""


class ArxivFeedError(TransientError):
    """The response is not a well-formed arXiv Atom feed (arXiv sends truncated ones now and then)."""


class Opener(Protocol):
    """What the client needs of ``urllib.request.OpenerDirector``: ``open(request, timeout=...)``."""

    def open(self, fullurl: urllib.request.Request, data: bytes | None = None, timeout: float = ...) -> Any: ...


@dataclass(frozen=True)
class FeedPage:
    """One page of a search: ``total`` results in all, this page starting at ``start`` (0-based)."""

    total: int
    start: int
    per_page: int
    papers: tuple[Paper, ...]


class _Retry(Exception):
    """A temporary failure of one attempt (internal: the retry loop turns it into a wait or ArxivUnavailable)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


# ---------------------------------------------------------------------------------------------- parsing


def _text(el: ET.Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return " ".join(el.text.split()) or None


def _int(root: ET.Element, path: str, default: int) -> int:
    value = _text(root.find(path, NS))
    try:
        return int(value) if value is not None else default
    except ValueError as e:
        raise ArxivFeedError(f"arXiv feed has a non-integer {path}: {value!r}") from e


def _when(value: str | None, what: str, entry_id: str) -> datetime:
    if value is None:
        raise ArxivFeedError(f"arXiv entry {entry_id} has no <{what}> date")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise ArxivFeedError(f"arXiv entry {entry_id} has a bad <{what}> date {value!r}") from e
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_id(url: str) -> tuple[str, int]:
    """``http://arxiv.org/abs/2101.01234v2`` → ``("2101.01234", 2)``; old style ``math/0101001v1`` too.

    A bare id (``2101.01234``) is accepted; an id without a version is version 1.
    """
    m = _ABS_ID.match(url.strip())
    if m is None:
        bare = _BARE_ID.match(url.strip())
        if bare is None:
            raise ArxivFeedError(f"not an arXiv abstract id: {url!r}")
        m = bare
    return m.group("id"), int(m.group("version") or 1)


def _paper(entry: ET.Element) -> Paper:
    raw_id = _text(entry.find("atom:id", NS))
    if raw_id is None:
        raise ArxivFeedError("arXiv entry without an <id>")
    arxiv_id, version = parse_id(raw_id)
    title = _text(entry.find("atom:title", NS))
    if title is None:
        raise ArxivFeedError(f"arXiv entry {raw_id} has no <title>")
    categories: list[str] = []
    for cat in entry.findall("atom:category", NS):
        term = cat.get("term")
        if term and term not in categories:
            categories.append(term)
    primary_el = entry.find("arxiv:primary_category", NS)
    primary = (primary_el.get("term") if primary_el is not None else None) or (categories[0] if categories else "")
    pdf_url = next((link.get("href", "") for link in entry.findall("atom:link", NS)
                    if link.get("title") == "pdf" or link.get("type") == "application/pdf"), "")
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        authors=tuple(n for a in entry.findall("atom:author", NS) if (n := _text(a.find("atom:name", NS)))),
        abstract=_text(entry.find("atom:summary", NS)) or "",
        published=_when(_text(entry.find("atom:published", NS)), "published", raw_id),
        updated=_when(_text(entry.find("atom:updated", NS)) or _text(entry.find("atom:published", NS)),
                      "updated", raw_id),
        categories=tuple(categories),
        primary_category=primary,
        pdf_url=pdf_url or f"https://arxiv.org/pdf/{arxiv_id}v{version}",
        doi=_text(entry.find("arxiv:doi", NS)),
        comment=_text(entry.find("arxiv:comment", NS)),
    )


def parse_feed(xml_bytes: bytes, *, status: int | None = None) -> FeedPage:
    """One page of an arXiv API response.

    Raises :class:`ArxivError` when the feed is arXiv's error entry (its summary is the message) and
    :class:`ArxivFeedError` when the bytes are not a well-formed Atom feed.
    """
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as e:
        raise ArxivFeedError(f"arXiv returned a malformed feed ({e})") from e
    if root.tag != f"{{{NS['atom']}}}feed":
        raise ArxivFeedError(f"arXiv returned {root.tag!r}, not an Atom feed")
    entries = root.findall("atom:entry", NS)
    for entry in entries:
        entry_id = _text(entry.find("atom:id", NS)) or ""
        if _ERROR_ID in entry_id:
            detail = _text(entry.find("atom:summary", NS)) or entry_id
            http = f" (HTTP {status})" if status else ""
            raise ArxivError(f"arXiv refused the query{http}: {detail}", status=status, detail=detail)
    papers = tuple(_paper(e) for e in entries)
    start = _int(root, "opensearch:startIndex", 0)
    return FeedPage(
        total=_int(root, "opensearch:totalResults", start + len(papers)),
        start=start,
        per_page=_int(root, "opensearch:itemsPerPage", len(papers)),
        papers=papers,
    )


# ---------------------------------------------------------------------------------------------- client


def _unreachable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means no connection at all, or None when it is something a retry may fix."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return f"DNS lookup failed: {reason.strerror or reason}"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {reason.verify_message or reason}"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and not isinstance(reason, TimeoutError) and reason.errno in _UNREACHABLE_ERRNOS:
        return reason.strerror or str(reason)
    return None


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff is used instead


class ArxivClient:
    """Search arXiv and fetch PDFs, at most one request every ``delay_s`` seconds.

    ``proxies`` maps a scheme to a proxy URL (``{"https": "http://proxy:3128"}``); None uses the
    environment's ``https_proxy`` / ``http_proxy``. ``opener``, ``sleep`` and ``monotonic`` are for tests.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        page_size: int = 100,
        delay_s: float = 3.0,
        retries: int = 3,
        backoff_s: float = 3.0,
        timeout_s: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        proxies: Mapping[str, str] | None = None,
        *,
        opener: Opener | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        checks: dict[str, tuple[object, bool]] = {
            "page_size": (page_size, 1 <= page_size <= MAX_PAGE_SIZE), "delay_s": (delay_s, delay_s >= 0),
            "retries": (retries, retries >= 0), "backoff_s": (backoff_s, backoff_s >= 0),
            "timeout_s": (timeout_s, timeout_s > 0), "base_url": (base_url, base_url.startswith(("http://", "https://"))),
        }
        for name, (value, ok) in checks.items():
            if not ok:
                raise ConfigError(f"research.arxiv.{name} is invalid: {value!r} "
                                  f"(page_size 1..{MAX_PAGE_SIZE}, delays >= 0, timeout > 0, an http(s) URL)")
        self.base_url = base_url
        self.page_size = page_size
        self.delay_s = delay_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self.proxies = dict(proxies) if proxies is not None else None
        if opener is None:
            handlers = [urllib.request.ProxyHandler(self.proxies)] if self.proxies is not None else []
            opener = urllib.request.build_opener(*handlers)
        self._opener = opener
        self._sleep = sleep
        self._monotonic = monotonic
        self._last_end: float | None = None
        self._lock = threading.Lock()  # threads sharing a client share its rate limit

    @classmethod
    def from_config(cls, cfg: Any, **kwargs: Any) -> ArxivClient:
        """A client from any object with the constructor's attribute names (``research.config.ArxivConfig``)."""
        names = ("base_url", "page_size", "delay_s", "retries", "backoff_s", "timeout_s", "user_agent", "proxies")
        return cls(**{n: getattr(cfg, n) for n in names}, **kwargs)

    # ------------------------------------------------------------------------------------------ public

    def search(self, query: str, limit: int = 200, sort_by: str = "submittedDate",
               sort_order: str = "descending") -> list[Paper]:
        """Up to ``limit`` papers matching ``query`` (arXiv syntax: ``cat:q-fin.TR AND abs:"order flow"``).

        Pages of ``page_size`` until ``opensearch:totalResults``, an empty page or ``limit``. A paper
        repeated across pages (the index moved while paging) is kept once.
        """
        if not query.strip():
            raise InputError("arXiv search needs a query, e.g. 'cat:q-fin.TR AND abs:\"order flow\"'")
        if sort_by not in SORT_BY or sort_order not in SORT_ORDER:
            raise InputError(f"arXiv sort must be one of {SORT_BY} / {SORT_ORDER}, not {sort_by!r} / {sort_order!r}")
        if limit < 0:
            raise InputError(f"arXiv search limit must be >= 0, not {limit}")
        papers: dict[str, Paper] = {}
        start = 0
        while len(papers) < limit:
            params = {"search_query": query, "start": start, "max_results": min(self.page_size, limit - len(papers)),
                      "sortBy": sort_by, "sortOrder": sort_order}
            url = f"{self.base_url}?{urllib.parse.urlencode(params)}"
            page = self._fetch(url, self._page_check(start))
            if not page.papers:
                break
            for paper in page.papers:
                papers.setdefault(paper.arxiv_id, paper)
            start += len(page.papers)
            if start >= page.total:
                break
        return list(papers.values())[:limit]

    def fetch_pdf(self, paper: Paper) -> bytes:
        """The PDF of ``paper`` (its ``pdf_url``), under the same rate limit and retries as a search."""

        def check(body: bytes, last: bool) -> bytes:
            if not body.lstrip()[:5] == b"%PDF-":
                raise _Retry(f"{paper.pdf_url} did not return a PDF (got {body[:40]!r})")
            return body

        return self._fetch(paper.pdf_url, check)

    # ------------------------------------------------------------------------------------------ internals

    @staticmethod
    def _page_check(start: int) -> Callable[[bytes, bool], FeedPage]:
        def check(body: bytes, last: bool) -> FeedPage:
            try:
                page = parse_feed(body)
            except ArxivFeedError as e:
                raise _Retry(str(e)) from e
            if not page.papers and start < page.total and not last:
                raise _Retry(f"empty page at start={start} of {page.total} results")
            if not page.papers and start < page.total:
                log.warning("arXiv kept returning an empty page: paging stops early",
                            data={"start": start, "total": page.total})
            return page

        return check

    def _throttle(self) -> None:
        if self._last_end is not None:
            wait = self.delay_s - (self._monotonic() - self._last_end)
            if wait > 0:
                self._sleep(wait)

    def _fetch(self, url: str, check: Callable[[bytes, bool], T]) -> T:
        """GET ``url`` and ``check`` the body, retrying temporary failures with a doubling backoff."""
        with self._lock:
            return self._fetch_locked(url, check)

    def _fetch_locked(self, url: str, check: Callable[[bytes, bool], T]) -> T:
        attempts = self.retries + 1
        reason = ""
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self._throttle()
            try:
                try:
                    body = self._get(url)
                finally:
                    self._last_end = self._monotonic()
                return check(body, last)
            except _Retry as r:
                reason = r.reason
                if last:
                    break
                wait = max(self.backoff_s * 2**attempt, r.retry_after or 0.0)
                log.warning("arXiv request failed, retrying", data={
                    "url": url, "reason": r.reason, "attempt": attempt + 1, "wait_s": wait})
                self._sleep(wait)
        raise ArxivUnavailable(f"arXiv did not answer {url} after {attempts} attempts (last: {reason}): "
                               f"try again later")

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as e:
            if e.code == 429 or e.code >= 500:
                raise _Retry(f"HTTP {e.code} {e.reason}", _retry_after(e.headers)) from e
            try:
                body = e.read() if e.fp is not None else b""
            except (OSError, http.client.HTTPException):
                body = b""
            detail = _error_message(body, e.code)
            raise ArxivError(f"arXiv refused {url} (HTTP {e.code}): {detail}", status=e.code, detail=detail) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            unreachable = _unreachable_reason(e)
            if unreachable is not None:
                parts = urllib.parse.urlsplit(url)
                proxy = (self.proxies or {}).get(parts.scheme)
                unreachable += f" via proxy {proxy}" if proxy else ""
                raise ArxivUnreachable(
                    f"arXiv is unreachable at {parts.scheme}://{parts.netloc}{parts.path} ({unreachable}): check the "
                    f"network or proxy (research.arxiv.proxies), or run offline") from None
            why = e.reason if isinstance(e, urllib.error.URLError) else e
            raise _Retry(f"{type(why).__name__}: {why}" if str(why) else type(why).__name__) from e


def _error_message(body: bytes, status: int) -> str:
    """arXiv's explanation of a refused request: the summary of its error entry, else the body's start."""
    try:
        parse_feed(body, status=status)
    except ArxivError as e:
        return e.detail
    except ArxivFeedError:
        pass
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[:200] or "no explanation"

"""The arXiv client on recorded Atom responses: parsing, paging, the rate limit, retries and offline errors.

A fake opener and a fake clock drive most tests (the sleeps are asserted, nothing waits); a local HTTP
server on 127.0.0.1 exercises the real urllib path. Nothing reaches arxiv.org.
"""

from __future__ import annotations

import email.message
import http.server
import io
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from minipdf import PAPER_PAGES, make_pdf

from quantumtrader.errors import ConfigError, InputError, TransientError
from research.arxiv import (
    ArxivClient,
    ArxivError,
    ArxivFeedError,
    ArxivUnavailable,
    ArxivUnreachable,
    parse_feed,
    parse_id,
)
from research.papers import Paper

DATA = Path(__file__).parent / "data"


def _data(name: str) -> bytes:
    return (DATA / name).read_bytes()


PAGES = {0: _data("search_page1.xml"), 2: _data("search_page2.xml"), 4: _data("search_page3.xml")}


class FakeClock:
    """``monotonic`` and ``sleep`` over one number: a sleep moves the clock and is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def _http_error(url: str, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Exception:
    msg = email.message.Message()
    for k, v in (headers or {}).items():
        msg[k] = v
    return urllib.error.HTTPError(url, code, "error", msg, io.BytesIO(body))


class FakeOpener:
    """Answers each request with the next scripted item: bytes, an exception, or a callable of the URL."""

    def __init__(self, clock: FakeClock, *script: Any, request_s: float = 0.0) -> None:
        self.clock = clock
        self.script = list(script)
        self.urls: list[str] = []
        self.timeouts: list[float] = []
        self.request_s = request_s

    def open(self, request: urllib.request.Request, data: bytes | None = None, timeout: float = 0) -> Any:
        self.urls.append(request.full_url)
        self.timeouts.append(timeout)
        self.clock.now += self.request_s
        item = self.script.pop(0)
        if callable(item):
            item = item(request.full_url)
        if isinstance(item, BaseException):
            raise item
        return io.BytesIO(item)

    def params(self, i: int) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.urls[i]).query))


def _client(*script: Any, request_s: float = 0.0, **kwargs: Any) -> tuple[ArxivClient, FakeOpener, FakeClock]:
    clock = FakeClock()
    opener = FakeOpener(clock, *script, request_s=request_s)
    kwargs.setdefault("page_size", 2)
    client = ArxivClient(opener=opener, sleep=clock.sleep, monotonic=clock.monotonic, **kwargs)
    return client, opener, clock


# ---------------------------------------------------------------------------------------------- parsing


def test_a_recorded_page_parses_to_papers_with_totals() -> None:
    page = parse_feed(PAGES[0])

    assert (page.total, page.start, page.per_page, len(page.papers)) == (5, 0, 2, 2)
    cont = page.papers[0]
    assert cont.arxiv_id == "1011.6402" and cont.version == 3
    assert cont.title == "The Price Impact of Order Book Events"
    assert cont.authors == ("Rama Cont", "Arseniy Kukanov", "Sasha Stoikov")
    assert cont.abstract.startswith("We study the price impact of order book events - limit orders")
    assert "\n" not in cont.abstract
    assert cont.published == datetime(2010, 11, 29, 21, 17, 44, tzinfo=UTC)
    assert cont.updated == datetime(2012, 4, 4, 14, 5, 22, tzinfo=UTC)
    assert cont.categories == ("q-fin.TR", "q-fin.ST") and cont.primary_category == "q-fin.TR"
    assert cont.pdf_url == "http://arxiv.org/pdf/1011.6402v3"
    assert cont.doi == "10.1093/jjfinec/nbt003" and cont.comment == "27 pages, 9 figures"


def test_an_old_style_id_and_a_local_time_offset_are_read() -> None:
    old = parse_feed(PAGES[0]).papers[1]

    assert (old.arxiv_id, old.version) == ("math/0101001", 1)
    assert old.title == "Random walks with drift and their first passage times"
    assert old.published == datetime(2001, 1, 1, 14, 12, tzinfo=UTC)  # 09:12 -05:00
    assert old.published.tzinfo is UTC
    assert old.doi is None and old.comment is None


@pytest.mark.parametrize("url, parsed", [
    ("http://arxiv.org/abs/2101.01234v2", ("2101.01234", 2)),
    ("https://arxiv.org/abs/math/0101001v1", ("math/0101001", 1)),
    ("http://arxiv.org/abs/hep-th/9901001", ("hep-th/9901001", 1)),
    ("2101.01234v12", ("2101.01234", 12)),
])
def test_ids_lose_their_version_into_an_int(url: str, parsed: tuple[str, int]) -> None:
    assert parse_id(url) == parsed


def test_the_error_entry_is_an_arxiv_error_with_its_message() -> None:
    with pytest.raises(ArxivError, match=r"incorrect id format for 1234\.12345") as info:
        parse_feed(_data("error.xml"), status=400)
    assert info.value.status == 400 and info.value.detail == "incorrect id format for 1234.12345"
    assert isinstance(info.value, InputError)


def test_an_error_entry_in_a_200_answer_is_an_arxiv_error_too_and_is_not_retried() -> None:
    client, opener, _ = _client(_data("error.xml"))

    with pytest.raises(ArxivError, match=r"^arXiv refused the query: incorrect id format") as info:
        client.search("id:1234.12345")
    assert info.value.status is None and len(opener.urls) == 1


@pytest.mark.parametrize("body", [PAGES[0][:900], b"<html>Service Unavailable</html>", b""])
def test_a_truncated_or_foreign_body_is_a_feed_error(body: bytes) -> None:
    with pytest.raises(ArxivFeedError):
        parse_feed(body)


# ---------------------------------------------------------------------------------------------- paging


def test_search_pages_until_the_total_and_waits_the_delay_between_requests() -> None:
    client, opener, clock = _client(PAGES[0], PAGES[2], PAGES[4])

    papers = client.search("cat:q-fin.TR", limit=200)

    assert [p.arxiv_id for p in papers] == ["1011.6402", "math/0101001", "1504.00717", "2306.01234", "2401.05678"]
    assert [opener.params(i)["start"] for i in range(3)] == ["0", "2", "4"]
    assert opener.params(0) == {"search_query": "cat:q-fin.TR", "start": "0", "max_results": "2",
                                "sortBy": "submittedDate", "sortOrder": "descending"}
    assert clock.sleeps == [3.0, 3.0]
    assert opener.timeouts == [30.0, 30.0, 30.0]


def test_the_limit_shrinks_the_last_page_and_stops_paging() -> None:
    client, opener, _ = _client(PAGES[0], PAGES[2])

    papers = client.search("cat:q-fin.TR", limit=3)

    assert len(papers) == 3
    assert [opener.params(i)["max_results"] for i in range(2)] == ["2", "1"]


def test_no_results_is_an_empty_list_after_one_request() -> None:
    client, opener, clock = _client(_data("no_results.xml"))

    assert client.search("abs:zzqqxx") == []
    assert len(opener.urls) == 1 and clock.sleeps == []


def test_the_delay_counts_from_the_end_of_the_previous_request() -> None:
    client, _, clock = _client(PAGES[4], PAGES[4], request_s=0.5, page_size=100)

    client.search("q", limit=1)
    clock.now += 2.0  # the caller worked 2 s between two searches
    client.search("q", limit=1)

    assert clock.sleeps == [1.0]


def test_a_transient_empty_page_is_retried_and_paging_continues() -> None:
    client, opener, clock = _client(PAGES[0], _data("empty_page.xml"), PAGES[2], PAGES[4])

    papers = client.search("cat:q-fin.TR")

    assert len(papers) == 5
    assert [opener.params(i)["start"] for i in range(4)] == ["0", "2", "2", "4"]
    assert clock.sleeps == [3.0, 3.0, 3.0]  # delay, backoff (covers the delay), delay


def test_an_empty_page_that_stays_empty_ends_the_search_with_what_was_found() -> None:
    empty = _data("empty_page.xml")
    client, opener, clock = _client(PAGES[0], empty, empty, empty, retries=2)

    papers = client.search("cat:q-fin.TR")

    assert len(papers) == 2 and len(opener.urls) == 4
    assert clock.sleeps == [3.0, 3.0, 6.0]


# ---------------------------------------------------------------------------------------------- retries


def test_5xx_429_and_timeouts_are_retried_with_a_doubling_backoff() -> None:
    url = "https://export.arxiv.org/api/query"
    client, opener, clock = _client(
        _http_error(url, 503), _http_error(url, 429, headers={"Retry-After": "5"}),
        urllib.error.URLError(TimeoutError("timed out")), PAGES[4], page_size=100)

    papers = client.search("q", limit=1)

    assert [p.arxiv_id for p in papers] == ["2401.05678"]
    assert clock.sleeps == [3.0, 6.0, 12.0]
    assert len(opener.urls) == 4


def test_a_longer_retry_after_is_honoured_up_to_a_minute() -> None:
    url = "https://export.arxiv.org/api/query"
    client, _, clock = _client(_http_error(url, 429, headers={"Retry-After": "20"}),
                               _http_error(url, 503, headers={"Retry-After": "3600"}), PAGES[4], page_size=100)

    client.search("q", limit=1)

    assert clock.sleeps == [20.0, 60.0]


def test_a_truncated_feed_and_a_cut_connection_are_retried() -> None:
    import http.client

    client, _, clock = _client(PAGES[4][:700], http.client.RemoteDisconnected("closed"), PAGES[4], page_size=100)

    assert len(client.search("q", limit=1)) == 1
    assert clock.sleeps == [3.0, 6.0]


def test_failures_on_every_attempt_end_in_arxiv_unavailable() -> None:
    url = "https://export.arxiv.org/api/query"
    client, opener, clock = _client(*[_http_error(url, 502) for _ in range(4)])

    with pytest.raises(ArxivUnavailable, match=r"after 4 attempts \(last: HTTP 502 error\): try again later"):
        client.search("q")
    assert len(opener.urls) == 4 and clock.sleeps == [3.0, 6.0, 12.0]


def test_a_4xx_is_an_arxiv_error_with_arxivs_message_and_is_not_retried() -> None:
    url = "https://export.arxiv.org/api/query"
    client, opener, clock = _client(_http_error(url, 400, _data("error.xml")))

    with pytest.raises(ArxivError, match=r"HTTP 400\): incorrect id format for 1234.12345") as info:
        client.search("id:1234.12345")
    assert info.value.status == 400 and info.value.detail == "incorrect id format for 1234.12345"
    assert len(opener.urls) == 1 and clock.sleeps == []


def test_a_4xx_without_an_atom_body_shows_the_start_of_the_body() -> None:
    client, _, _ = _client(_http_error("u", 404, b"<html>\n  Not   Found </html>"))

    with pytest.raises(ArxivError, match=r"HTTP 404\): <html> Not Found </html>"):
        client.search("q")


def test_a_refused_connection_is_unreachable_at_once_without_retries() -> None:
    client, opener, clock = _client(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))

    with pytest.raises(ArxivUnreachable, match=r"^arXiv is unreachable at https://export.arxiv.org/api/query "
                                               r"\(connection refused\): check the network or proxy "
                                               r"\(research.arxiv.proxies\), or run offline$"):
        client.search("q")
    assert len(opener.urls) == 1 and clock.sleeps == []


@pytest.mark.parametrize("kwargs", [{"page_size": 0}, {"page_size": 2001}, {"timeout_s": 0}, {"retries": -1},
                                    {"delay_s": -1.0}, {"base_url": "ftp://x"}])
def test_bad_settings_are_config_errors_naming_the_field(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=f"research.arxiv.{next(iter(kwargs))} is invalid"):
        ArxivClient(**kwargs)


@pytest.mark.parametrize("kwargs", [{"query": " "}, {"query": "q", "sort_by": "date"}, {"query": "q", "limit": -1}])
def test_bad_search_arguments_are_input_errors_before_any_request(kwargs: dict[str, Any]) -> None:
    client, opener, _ = _client()
    with pytest.raises(InputError):
        client.search(**kwargs)
    assert opener.urls == []


def test_from_config_takes_any_object_with_the_settings_names() -> None:
    cfg = SimpleNamespace(base_url="http://127.0.0.1:9/api/query", page_size=50, delay_s=3.5, retries=1,
                          backoff_s=2.0, timeout_s=5.0, user_agent="qt-test/1", proxies={"https": "http://p:3128"})

    client = ArxivClient.from_config(cfg)

    assert (client.base_url, client.page_size, client.delay_s, client.retries, client.backoff_s, client.timeout_s,
            client.user_agent, client.proxies) == (cfg.base_url, 50, 3.5, 1, 2.0, 5.0, "qt-test/1", cfg.proxies)


def test_fetch_pdf_keeps_the_rate_limit_and_retries_a_page_that_is_not_a_pdf() -> None:
    pdf = make_pdf(PAPER_PAGES)
    client, opener, clock = _client(PAGES[4], b"<html>PDF is being generated</html>", pdf, page_size=100)
    paper = client.search("q", limit=1)[0]

    assert client.fetch_pdf(paper) == pdf
    assert opener.urls[1:] == ["http://arxiv.org/pdf/2401.05678v1"] * 2
    assert clock.sleeps == [3.0, 3.0]


# ---------------------------------------------------------------------------------------------- real sockets


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("base_url, reason", [
    (f"http://127.0.0.1:{_closed_port()}/api/query", "connection refused"),
    ("http://nonexistent.invalid/api/query", "DNS lookup failed"),
])
def test_no_network_is_arxiv_unreachable_in_under_two_seconds(base_url: str, reason: str) -> None:
    client = ArxivClient(base_url=base_url, proxies={}, timeout_s=1.0)

    started = time.monotonic()
    with pytest.raises(ArxivUnreachable, match=reason) as info:
        client.search("cat:q-fin.TR")

    assert time.monotonic() - started < 2.0
    assert isinstance(info.value, TransientError)
    assert str(info.value).endswith("check the network or proxy (research.arxiv.proxies), or run offline")


def test_the_configured_proxy_is_used_and_named_when_it_is_down() -> None:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    client = ArxivClient(base_url="http://nonexistent.invalid/api/query", proxies={"http": proxy}, timeout_s=1.0)

    with pytest.raises(ArxivUnreachable, match=rf"\(connection refused via proxy {proxy}\)"):
        client.search("q")  # not a DNS failure: the request went to the proxy


def test_a_server_that_never_answers_times_out_instead_of_hanging() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections complete in the kernel; nobody ever reads or writes
        port = silent.getsockname()[1]
        client = ArxivClient(base_url=f"http://127.0.0.1:{port}/api/query", proxies={}, timeout_s=0.2,
                             retries=1, backoff_s=0.0, delay_s=0.0)

        started = time.monotonic()
        with pytest.raises(ArxivUnavailable, match="after 2 attempts"):
            client.search("q")
        assert time.monotonic() - started < 2.0


class _ArxivHandler(http.server.BaseHTTPRequestHandler):
    pdf = make_pdf(PAPER_PAGES)
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("User-Agent", "")))
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path.startswith("/pdf/"):
            self._send(200, self.pdf, "application/pdf")
        elif query.get("search_query") == "id:bad":
            self._send(400, _data("error.xml"), "application/atom+xml")
        else:
            self._send(200, PAGES[int(query["start"])], "application/atom+xml")

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def local_arxiv() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ArxivHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_real_urllib_path_pages_fetches_a_pdf_and_reads_an_error(local_arxiv: str) -> None:
    _ArxivHandler.seen.clear()
    client = ArxivClient(base_url=f"{local_arxiv}/api/query", page_size=2, delay_s=0.05, proxies={},
                         user_agent="qt-test/1", timeout_s=2.0)

    started = time.monotonic()
    papers = client.search("cat:q-fin.TR")
    assert len(papers) == 5 and time.monotonic() - started >= 0.1  # two waits of the delay

    paper = papers[0]
    local = Paper(**{**paper.__dict__, "pdf_url": f"{local_arxiv}/pdf/{paper.versioned_id}"})
    assert client.fetch_pdf(local).startswith(b"%PDF-1.4")

    with pytest.raises(ArxivError, match=r"HTTP 400.*incorrect id format"):
        client.search("id:bad")
    assert [ua for _, ua in _ArxivHandler.seen] == ["qt-test/1"] * 5
    assert _ArxivHandler.seen[3][0] == "/pdf/1011.6402v3"

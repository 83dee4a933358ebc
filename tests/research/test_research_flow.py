"""The research flow in real Prefect flow runs: papers from a local arXiv stand-in (the recorded Atom
pages) become ideas in the knowledge base, linked to the studies and training runs MLflow holds; with
arXiv unreachable the run completes at once, saying so, and still links what it has."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).with_name("data")
PAGES = {0: "search_page1.xml", 2: "search_page2.xml", 4: "search_page3.xml"}


class _Arxiv(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        body = (DATA / PAGES[int(query.get("start", 0))]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_arxiv() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Arxiv)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/query"
    finally:
        server.shutdown()
        server.server_close()


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_url: str) -> Any:
    from quantumtrader.config import get_settings

    monkeypatch.setenv("QT_ROOT", str(tmp_path))
    monkeypatch.setenv("QT_RESEARCH__ARXIV__BASE_URL", base_url)
    monkeypatch.setenv("QT_RESEARCH__ARXIV__DELAY_S", "0.05")
    monkeypatch.setenv("QT_RESEARCH__ARXIV__PAGE_SIZE", "2")
    monkeypatch.setenv("QT_RESEARCH__ARXIV__PROXIES", "{}")
    get_settings.cache_clear()
    return get_settings()


def _a_study_in_mlflow(settings: Any) -> str:
    import mlflow

    from serving.tracking import ensure_experiment

    exp = ensure_experiment(settings, settings.research.study.experiment)
    with mlflow.start_run(experiment_id=exp, run_name="study-t") as run:
        mlflow.set_tags({"kind": "study", "study_id": "study-t"})
        mlflow.log_metric("deflated_sharpe", 0.4)
    return str(run.info.run_id)


@pytest.mark.slow
def test_papers_become_linked_ideas_and_offline_is_a_completed_run(prefect_harness: None, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   local_arxiv: str) -> None:
    from flows.research import research_flow
    from quantumtrader.config import get_settings
    from research.kb.store import KnowledgeBase

    try:
        settings = _env(monkeypatch, tmp_path, local_arxiv)
        _a_study_in_mlflow(settings)
        state = research_flow(queries=["cat:q-fin.TR"], return_state=True)
        assert state.is_completed()
        out = state.result()
        assert out["status"] == "ok" and out["papers"] == 5 and out["ideas"] > 0 and out["experiments"] == 1
        with KnowledgeBase.for_settings(settings) as kb:
            ideas = kb.ideas(limit=1000)
            study = kb.experiment("study:study-t")
            linked = kb.ideas_of(int(study["id"]))
        assert {i["kind"] for i in ideas} >= {"feature", "validation"}
        # the study used the deflated Sharpe, PBO and a walk-forward: the ideas about them are linked, and tried
        assert linked and {i["target"] for i in linked} <= {"deflated_sharpe", "pbo", "walk_forward",
                                                           "transaction_costs", "model:gradient_boosting"}
        assert all(i["status"] == "tried" for i in linked) and out["links"] == len(linked)
        again = research_flow(queries=["cat:q-fin.TR"])  # idempotent: nothing new, no new link
        assert again["links"] == 0 and again["papers"] == 5

        with socket.socket() as closed:  # a port nobody listens on: arXiv unreachable
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        _env(monkeypatch, tmp_path, f"http://127.0.0.1:{port}/api/query")
        t0 = time.monotonic()
        state = research_flow(queries=["cat:q-fin.TR"], return_state=True)
        assert state.is_completed() and time.monotonic() - t0 < 30
        off = state.result()
        assert off["status"] == "offline" and off["papers"] == 0 and "unreachable" in off["errors"][0]
        assert off["experiments"] == 1  # the experiments are still recorded and linked
    finally:
        get_settings.cache_clear()


def test_qtml_kb_fetch_offline_says_so_in_one_line_and_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from quantumtrader.cli import app
    from quantumtrader.config import get_settings

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    try:
        _env(monkeypatch, tmp_path, f"http://127.0.0.1:{port}/api/query")
        t0 = time.monotonic()
        out = CliRunner().invoke(app, ["kb", "fetch", "-q", "cat:q-fin.TR"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert "offline: 0 papers" in out.output and "arXiv is unreachable" in out.output
    assert time.monotonic() - t0 < 20

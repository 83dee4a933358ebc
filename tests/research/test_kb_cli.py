"""``qtml kb search | show | ideas | link | status`` on a knowledge base under a test root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from research.kb.store import KnowledgeBase


@pytest.fixture
def filled(settings: Settings) -> Iterator[Settings]:
    """Two papers, three ideas, one MLflow run with a result (nothing linked yet)."""
    with KnowledgeBase.for_settings(settings) as kb:
        ofi = kb.upsert_paper(arxiv_id="2401.01234v2", title="Order flow imbalance and short-horizon prices",
                              authors=["R. Cont"], abstract="OFI explains price changes.", published="2024-01-02")
        pbo = kb.upsert_paper(arxiv_id="1409.5555", title="The probability of backtest overfitting",
                              authors=["D. Bailey"], abstract="CSCV.")
        kb.add_idea(ofi, "feature", "order_flow", "ofi", title="Multi-level OFI", score=0.8)
        kb.add_idea(ofi, "model", "lstm", "deep_lob", title="An LSTM on the book", score=0.4)
        kb.add_idea(pbo, "validation", "cscv", "pbo", title="Report the PBO of every study", score=0.9)
        run = kb.add_experiment("mlflow_run", "9f1c2ab0", name="qt65 + mlofi")
        kb.add_result(run, "deflated_sharpe", 0.71)
    yield settings


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str, ok: bool = True) -> Any:
    from quantumtrader.cli import app
    from quantumtrader.config import get_settings

    monkeypatch.setenv("QT_ROOT", str(settings.root))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["kb", *args])
    finally:
        get_settings.cache_clear()
    if ok:
        assert out.exit_code == 0, (out.output, out.exception)
    return out


def _json(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    return json.loads(_cli(settings, monkeypatch, *args, "--json").stdout)


def test_search_show_ideas_and_link_from_the_shell(filled: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    found = _json(filled, monkeypatch, "search", "ORDER", "flow")
    assert [p["arxiv_id"] for p in found["papers"]] == ["2401.01234"] and found["query"] == "ORDER flow"
    assert [i["target"] for i in found["ideas"]] == ["order_flow"]
    text = _cli(filled, monkeypatch, "search", "overfitting").stdout
    assert "1409.5555" in text and "papers matching" in text
    assert "nothing matches" in _cli(filled, monkeypatch, "search", "zzz").stdout

    listed = _json(filled, monkeypatch, "ideas")
    assert [(i["key"], i["score"]) for i in listed] == [("idea:3", 0.9), ("idea:1", 0.8), ("idea:2", 0.4)]
    assert [i["key"] for i in _json(filled, monkeypatch, "ideas", "--kind", "feature", "--min-score", "0.5")] \
        == ["idea:1"]
    assert [i["key"] for i in _json(filled, monkeypatch, "ideas", "--limit", "1")] == ["idea:3"]
    assert "3 ideas" in _cli(filled, monkeypatch, "ideas").stdout

    linked = _json(filled, monkeypatch, "link", "idea:1", "exp:9f1c2ab0")  # a recorded run, by its ref
    assert linked["linked"] and linked["idea"]["status"] == "tried" and linked["experiment"]["key"] == "experiment:1"
    assert not _json(filled, monkeypatch, "link", "1", "1")["linked"]  # the same pair by row ids: no second link
    new = _json(filled, monkeypatch, "link", "3", "study:pbo-sweep", "--name", "PBO of the window sweep")
    assert new["experiment"]["kind"] == "study" and new["experiment"]["name"] == "PBO of the window sweep"
    assert "already linked" in _cli(filled, monkeypatch, "link", "3", "pbo-sweep").stdout  # a bare ref

    paper = _json(filled, monkeypatch, "show", "2401.01234")
    assert paper["type"] == "paper" and paper["version"] == 2
    assert [(i["key"], [e["ref"] for e in i["experiments"]]) for i in paper["ideas"]] == [
        ("idea:1", ["9f1c2ab0"]), ("idea:2", [])]
    run = _json(filled, monkeypatch, "show", "mlflow_run:9f1c2ab0")
    assert run["results"][0]["value"] == 0.71 and [i["key"] for i in run["ideas"]] == ["idea:1"]
    for key, words in (("2401.01234", ("Order flow imbalance", "ideas of 2401.01234", "experiments that tried")),
                       ("idea:2", ("An LSTM on the book", "not tried yet")),
                       ("experiment:1", ("deflated_sharpe", "0.71", "ideas tried by experiment:1"))):
        shown = _cli(filled, monkeypatch, "show", key).stdout
        assert all(w in shown for w in words), (key, shown)

    assert _json(filled, monkeypatch, "status", "idea:1", "adopted")["status"] == "adopted"
    assert [i["key"] for i in _json(filled, monkeypatch, "ideas", "--status", "adopted")] == ["idea:1"]


@pytest.mark.parametrize(("args", "message"), [
    (("show", "idea:99"), "no idea:99 in the knowledge base"),
    (("show", "42"), "ambiguous"),
    (("link", "1", "exp:nope"), "no experiment with ref 'nope'"),
    (("link", "99", "study:new"), "no idea:99"),
    (("status", "1", "maybe"), "status 'maybe' is not one of new, tried, adopted, rejected"),
    (("ideas", "--kind", "hunch"), "idea kind 'hunch' is not one of"),
])
def test_bad_input_is_one_line_naming_what_to_fix(filled: Settings, monkeypatch: pytest.MonkeyPatch,
                                                  args: tuple[str, ...], message: str) -> None:
    out = _cli(filled, monkeypatch, *args, ok=False)
    assert isinstance(out.exception, InputError) and message in str(out.exception)
    with KnowledgeBase.for_settings(filled) as kb:  # a refused command changed nothing
        assert kb.ideas(status="tried") == [] and kb.ideas(status="adopted") == []
        with pytest.raises(InputError, match="no experiment with ref 'new'"):
            kb.show("study:new")

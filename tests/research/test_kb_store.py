"""The knowledge base on both backends for real (a SQLite file and a fresh PostgreSQL schema): round trip,
idempotent writes, links both ways, search; and its refusals, one line each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from quantumtrader.errors import InputError
from research.kb.store import KnowledgeBase

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class ArxivPaper:
    """The shape of an arXiv client's paper record (research/papers.py), plus a field the table has not."""

    arxiv_id: str
    version: int
    title: str
    authors: tuple[str, ...]
    abstract: str
    published: datetime
    updated: datetime
    categories: tuple[str, ...]
    primary_category: str
    pdf_url: str | None = None
    doi: str | None = None
    comment: str | None = None
    query: str = field(default="all:ofi")  # not a column: ignored


OFI = ArxivPaper("2401.01234", 1, "Multi-level order flow imbalance in a limit order book",
                 ("R. Cont", "A. Kukanov", "S. Stoikov"), "We show that OFI explains short-horizon price changes.",
                 datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), ("q-fin.TR", "q-fin.ST"),
                 "q-fin.TR", pdf_url="https://arxiv.org/pdf/2401.01234v1")
PBO = ArxivPaper("1409.5555", 2, "The probability of backtest overfitting", ("D. Bailey", "M. Lopez de Prado"),
                 "Combinatorially symmetric cross-validation estimates the PBO_100% of a strategy search.",
                 datetime(2014, 9, 19, tzinfo=UTC), datetime(2015, 2, 1, tzinfo=UTC), ("q-fin.CP",), "q-fin.CP")


@pytest.fixture
def kb(db_url: str) -> Iterator[KnowledgeBase]:
    with KnowledgeBase.open(db_url, now=lambda: T0) as opened:
        yield opened


def test_a_paper_round_trips_with_its_ideas_experiments_and_results(kb: KnowledgeBase, db_url: str) -> None:
    pid = kb.upsert_paper(OFI)
    iid = kb.add_idea(pid, "feature", "order_flow", "ofi_multilevel", title="Multi-level OFI", score=0.82,
                      evidence="OFI explains short-horizon price changes")
    eid = kb.add_experiment("mlflow_run", "9f1c2ab0", name="qt65 + mlofi", params={"levels": 5, "window": "60s"})
    kb.add_result(eid, "deflated_sharpe", 0.71, detail={"trials": 12})
    kb.add_result(eid, "pbo", float("nan"))
    kb.link(iid, eid)
    kb.close()

    with KnowledgeBase.open(db_url) as again:  # a new process' view: everything was committed
        p = again.show("arXiv:2401.01234v1")
    assert p["type"] == "paper" and p["id"] == pid and p["version"] == 1
    assert p["title"] == OFI.title and p["authors"] == list(OFI.authors) and p["categories"] == ["q-fin.TR", "q-fin.ST"]
    assert p["published"] == OFI.published and p["fetched_at"] == T0 and p["pdf_url"] == OFI.pdf_url
    (idea,) = p["ideas"]
    assert (idea["key"], idea["kind"], idea["target"], idea["rule"], idea["score"], idea["status"]) == (
        f"idea:{iid}", "feature", "order_flow", "ofi_multilevel", 0.82, "tried")
    (exp,) = idea["experiments"]
    assert exp["ref"] == "9f1c2ab0" and exp["params"] == {"levels": 5, "window": "60s"}
    assert {r["metric"]: r["value"] for r in exp["results"]} == {"deflated_sharpe": 0.71, "pbo": None}
    assert next(r for r in exp["results"] if r["metric"] == "deflated_sharpe")["detail"] == {"trials": 12}


def test_storing_a_paper_again_is_idempotent_and_a_newer_version_replaces_it(kb: KnowledgeBase) -> None:
    pid = kb.upsert_paper(PBO)
    assert kb.upsert_paper(PBO) == pid
    assert kb.upsert_paper(arxiv_id="1409.5555v1", title="An older title") == pid  # an older version: no change
    assert kb.paper(pid)["title"] == PBO.title and kb.paper(pid)["version"] == 2
    assert kb.upsert_paper({"arxiv_id": "1409.5555", "version": 2, "title": PBO.title,
                            "sections": {"Introduction": "…", "CSCV": "…"}}) == pid  # same version fills empties
    assert kb.paper("1409.5555")["section_names"] == ["Introduction", "CSCV"]
    assert kb.upsert_paper(PBO, version=3, title="The probability of backtest overfitting (revised)",
                           sections=None) == pid
    p = kb.paper("1409.5555v3")
    assert p["version"] == 3 and p["title"].endswith("(revised)") and p["section_names"] == []
    assert kb.search("backtest", limit=10)["papers"] == [p]


def test_the_same_idea_again_keeps_one_row_with_the_higher_score(kb: KnowledgeBase) -> None:
    pid = kb.upsert_paper(OFI)
    first = kb.add_idea(pid, "feature", "order_flow", "ofi", title="OFI", score=0.5, evidence="weak")
    assert kb.add_idea(pid, "feature", "order_flow", "ofi", score=0.4, evidence="weaker") == first
    assert kb.add_idea(pid, "feature", "order_flow", "ofi", score=0.9, evidence="strong") == first
    other_rule = kb.add_idea(pid, "feature", "order_flow", "ofi_levels", score=0.3)
    assert other_rule != first
    rows = kb.ideas(target="order_flow")
    assert [(r["id"], r["score"], r["evidence"], r["title"]) for r in rows] == [
        (first, 0.9, "strong", "OFI"), (other_rule, 0.3, "", "feature: order_flow")]
    kb.set_status(first, "rejected")
    assert kb.add_idea(pid, "feature", "order_flow", "ofi", score=0.95) == first
    assert kb.idea(first)["status"] == "rejected"  # a new finding never resets what was decided


def test_links_read_both_ways_and_linking_marks_only_a_new_idea_tried(kb: KnowledgeBase) -> None:
    ofi, pbo = kb.upsert_paper(OFI), kb.upsert_paper(PBO)
    a = kb.add_idea(ofi, "feature", "order_flow", "ofi", score=0.8)
    b = kb.add_idea(ofi, "model", "lstm", "deep_lob", score=0.6)
    c = kb.add_idea(pbo, "validation", "cscv", "pbo", score=0.9)
    kb.set_status(c, "adopted")
    run = kb.add_experiment("mlflow_run", "run-1")
    study = kb.add_experiment("study", "study-7", name="ofi window sweep")
    assert kb.add_experiment("study", "study-7", name="renamed", params={"x": 1}) == study
    assert kb.experiment(study)["name"] == "ofi window sweep" and kb.experiment(study)["params"] == {"x": 1}
    assert kb.link(a, run) and kb.link(a, study) and kb.link(c, study)
    assert not kb.link(a, run)  # twice: one link
    assert [e["ref"] for e in kb.experiments_of(a)] == ["run-1", "study-7"]
    assert [i["id"] for i in kb.ideas_of(study)] == [c, a]  # best score first
    assert kb.experiments_of(b) == [] and [i["id"] for i in kb.ideas_of(run)] == [a]
    assert [kb.idea(i)["status"] for i in (a, b, c)] == ["tried", "new", "adopted"]
    assert [i["id"] for i in kb.ideas(status="new")] == [b]
    assert [i["id"] for i in kb.ideas(min_score=0.7)] == [c, a] and [i["id"] for i in kb.ideas(limit=1)] == [c]
    shown = kb.show("study:study-7")
    assert shown["type"] == "experiment" and [i["key"] for i in shown["ideas"]] == [f"idea:{c}", f"idea:{a}"]
    assert kb.show(f"experiment:{study}") == shown == kb.show("exp:study-7")
    assert [e["id"] for e in kb.show(f"idea:{a}")["experiments"]] == [run, study]


def test_search_is_case_insensitive_needs_every_word_and_takes_wildcards_literally(kb: KnowledgeBase) -> None:
    ofi, pbo = kb.upsert_paper(OFI), kb.upsert_paper(PBO)
    kb.add_idea(ofi, "feature", "order_flow", "ofi", title="Order flow imbalance at 5 levels", score=0.8)
    kb.add_idea(pbo, "validation", "purged_cv", "pbo", title="Probability of overfitting", score=0.7)

    def found(text: str) -> tuple[list[str], list[str]]:
        r = kb.search(text, limit=10)
        return [p["arxiv_id"] for p in r["papers"]], [i["target"] for i in r["ideas"]]

    assert found("ORDER Flow") == (["2401.01234"], ["order_flow"])
    assert found("order overfitting") == ([], [])  # every word, in one record
    assert found("overfitting") == (["1409.5555"], ["purged_cv"])
    assert found("purged_cv") == ([], ["purged_cv"])
    # '_' and '%' are characters here, not LIKE's wildcards: only PBO's abstract ("PBO_100%") has them
    assert found("_") == (["1409.5555"], ["order_flow", "purged_cv"])
    assert found("%") == (["1409.5555"], []) == found("pbo_100%")
    assert found("pbo-100") == ([], [])
    assert found("100%%") == ([], [])
    assert len(kb.search("a", limit=1)["papers"]) == 1


def test_bad_kinds_statuses_and_unknown_records_are_one_line_input_errors(tmp_path) -> None:
    with KnowledgeBase.open(f"sqlite:///{tmp_path / 'kb.db'}") as kb:
        pid = kb.upsert_paper(OFI)
        iid = kb.add_idea(pid, "feature", "book", "depth", score=0.5)
        eid = kb.add_experiment("study", "s1")
        cases = [
            (lambda: kb.add_idea(pid, "hunch", "book", "x"), "idea kind 'hunch' is not one of feature, model"),
            (lambda: kb.add_idea(999, "feature", "book", "x"), "no paper:999"),
            (lambda: kb.add_idea(pid, "feature", "book", "x", score=float("nan")), "not a finite number"),
            (lambda: kb.set_status(iid, "maybe"), "status 'maybe' is not one of new, tried, adopted, rejected"),
            (lambda: kb.set_status(999, "tried"), "no idea:999"),
            (lambda: kb.add_experiment("notebook", "n1"), "experiment kind 'notebook' is not one of mlflow_run"),
            (lambda: kb.add_result(999, "pbo", 0.1), "no experiment:999"),
            (lambda: kb.link(iid, 999), "no experiment:999"),
            (lambda: kb.link(999, eid), "no idea:999"),
            (lambda: kb.ideas(kind="hunch"), "idea kind 'hunch'"),
            (lambda: kb.show("2999.99999"), "no paper 2999.99999"),
            (lambda: kb.show("idea:x"), "must be a whole number"),
            (lambda: kb.show("7"), "ambiguous: say idea:7, experiment:7 or paper:7"),
            (lambda: kb.show("nonsense"), "names no record"),
            (lambda: kb.show("exp:nope"), "no experiment with ref 'nope'"),
            (lambda: kb.upsert_paper(arxiv_id="2401.01234", title="x", stars=5), "unknown field(s) stars"),
            (lambda: kb.upsert_paper(arxiv_id="not-an-id", title="x"), "no arXiv identifier"),
            (lambda: kb.search("  "), "at least one word"),
        ]
        for call, message in cases:
            with pytest.raises(InputError) as info:
                call()
            assert message in str(info.value) and "\n" not in str(info.value)
        kb.add_experiment("mlflow_run", "s1")
        with pytest.raises(InputError, match="both an MLflow run and a study: say mlflow_run:s1 or study:s1"):
            kb.show("exp:s1")
        assert kb.experiment_id("study:s1") == eid and kb.experiment_id(str(eid)) == eid


def test_concurrent_writers_of_the_same_records_store_each_once(kb: KnowledgeBase, db_url: str) -> None:
    import threading

    writers = [KnowledgeBase.open(db_url) for _ in range(6)]
    start = threading.Barrier(len(writers))
    ids: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []

    def write(w: KnowledgeBase) -> None:
        try:
            start.wait(10)
            pid = w.upsert_paper(OFI)
            iid = w.add_idea(pid, "feature", "order_flow", "ofi", score=0.5)
            eid = w.add_experiment("study", "study-1")
            w.link(iid, eid)
            ids.append((pid, iid, eid))
        except BaseException as err:  # reported below, with the others
            errors.append(err)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for w in writers:
        w.close()
    assert not errors and len(set(ids)) == 1
    (pid, iid, eid) = ids[0]
    assert [p["id"] for p in kb.search("order", limit=5)["papers"]] == [pid]
    assert [i["id"] for i in kb.ideas()] == [iid] and [e["id"] for e in kb.experiments_of(iid)] == [eid]

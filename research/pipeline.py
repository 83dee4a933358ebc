"""The weekly research run (flow ``research``, deployment ``research-weekly``): new papers for the saved
queries when arXiv answers, ideas extracted from them, and every idea linked to the experiments that
tried it (training runs and studies found in MLflow; ``research/links.py``).

Offline is a normal outcome, not a failure: when arXiv is unreachable the run says so in one line,
stores nothing new from arXiv, and still records and links the experiments (docs/research.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quantumtrader.config import Settings
from quantumtrader.logging import get_logger
from research.links import STUDY_TARGETS, link_tried, training_targets

log = get_logger("research.pipeline")


@dataclass
class ResearchRun:
    status: str = "ok"  # ok | offline | partial (some queries failed)
    papers: int = 0  # stored or updated this run
    ideas: int = 0
    experiments: int = 0
    links: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "papers": self.papers, "ideas": self.ideas, "experiments": self.experiments,
                "links": self.links, "errors": self.errors}


def fetch_and_extract(settings: Settings, kb: Any, queries: Sequence[str], *, limit: int, pdf: bool,
                      run: ResearchRun, client: Any = None) -> None:
    """Search arXiv for each query, store every paper and the ideas its text suggests."""
    from research.arxiv import ArxivClient, ArxivUnreachable
    from research.ideas import extract_ideas, load_rules
    from research.papers import analyse_pdf

    cfg = settings.research
    rules_path = cfg.rules_path if cfg.rules_path is None or cfg.rules_path.is_absolute() else \
        settings.root / cfg.rules_path
    rules = load_rules(rules_path)
    client = client or ArxivClient.from_config(cfg.arxiv)
    for query in queries:
        try:
            papers = client.search(query, limit=limit)
        except ArxivUnreachable as err:
            run.status = "offline"
            run.errors.append(str(err))
            log.warning("arXiv is unreachable: no new papers this run", data={"error": str(err)})
            return
        except Exception as err:  # one bad query (a 4xx, a feed error after retries) does not stop the others
            run.status = "partial"
            run.errors.append(f"{query}: {err}")
            log.warning("an arXiv query failed", data={"query": query, "error": str(err)})
            continue
        for paper in papers:
            sections: tuple[Any, ...] = ()
            if pdf:
                try:
                    sections = tuple(analyse_pdf(client.fetch_pdf(paper), name=paper.arxiv_id))
                except Exception as err:
                    run.errors.append(f"{paper.arxiv_id} pdf: {err}")
            pid = kb.upsert_paper(paper)
            run.papers += 1
            for idea in extract_ideas(paper, sections, rules, min_score=cfg.min_score):
                kb.add_idea(pid, idea.kind, idea.target, idea.rule, title=idea.title, score=idea.score,
                            evidence=" … ".join(idea.evidence))
                run.ideas += 1


def record_experiments(settings: Settings, kb: Any, run: ResearchRun, *, max_runs: int = 200) -> None:
    """Every training run and study in MLflow as a knowledge-base experiment, linked to the ideas it tried."""
    import mlflow

    from features.spec import GROUPS

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    kinds: list[tuple[str, Callable[[Any], set[str]]]] = [
        (settings.training.experiment, lambda r: training_targets(r.data.params, GROUPS)),
        (settings.research.study.experiment, lambda _r: set(STUDY_TARGETS)),
    ]
    for name, targets_of in kinds:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            continue
        for r in client.search_runs([exp.experiment_id], max_results=max_runs, order_by=["start_time DESC"]):
            is_study = r.data.tags.get("kind") == "study"
            kind = "study" if is_study else "mlflow_run"
            ref = r.data.tags.get("study_id", r.info.run_id) if is_study else r.info.run_id
            eid = kb.add_experiment(kind, ref, name=r.info.run_name or ref,
                                    params={"experiment": name, "mlflow_run_id": r.info.run_id})
            for metric in sorted(r.data.metrics)[:20]:
                kb.add_result(eid, metric, r.data.metrics[metric])
            run.experiments += 1
            run.links += link_tried(kb, eid, targets_of(r))


def research_run(settings: Settings, *, queries: Sequence[str] | None = None, limit: int | None = None,
                 pdf: bool = False, client: Any = None) -> ResearchRun:
    """One research run over ``queries`` (default ``research.queries``), ``limit`` papers each."""
    from research.kb.store import KnowledgeBase

    cfg = settings.research
    run = ResearchRun()
    with KnowledgeBase.for_settings(settings) as kb:
        fetch_and_extract(settings, kb, list(queries if queries is not None else cfg.queries),
                          limit=limit or cfg.arxiv.limit, pdf=pdf, run=run, client=client)
        record_experiments(settings, kb, run)
    log.info("research run finished", data=run.as_dict())
    return run

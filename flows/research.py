"""Prefect flow ``research`` (deployment ``research-weekly``): new arXiv papers for the saved queries,
ideas extracted, ideas linked to the experiments that tried them (research/pipeline.py, docs/research.md).
Offline, the run completes saying so."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from quantumtrader.config import get_settings


@flow(name="research", log_prints=False)
def research_flow(queries: list[str] | None = None, limit: int | None = None, pdf: bool = False) -> dict[str, Any]:
    """``queries``: arXiv queries (default ``research.queries``); ``limit``: papers per query
    (``research.arxiv.limit``); ``pdf``: also read each paper's PDF (slower: one more request each)."""
    from research.pipeline import research_run

    run = research_run(get_settings(), queries=queries, limit=limit, pdf=pdf)
    logger = get_run_logger()
    logger.info("research: %s · %d papers, %d ideas, %d experiments, %d new links", run.status, run.papers,
                run.ideas, run.experiments, run.links)
    for err in run.errors:
        logger.warning("%s", err)
    return run.as_dict()

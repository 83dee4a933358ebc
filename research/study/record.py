"""A finished study as a knowledge-base experiment: its space, its verdict's numbers as results, and
links to the ideas it tried (``research/links.py``)."""

from __future__ import annotations

import math
from typing import Any

from quantumtrader.config import Settings
from research.links import STUDY_TARGETS, link_tried


def record_study(settings: Settings, result: Any) -> int:
    """Record ``result`` (a :class:`research.study.run.StudyResult`) in the knowledge base; returns the
    experiment's id. Re-recording the same study id updates its results."""
    from research.kb.store import KnowledgeBase

    v = result.verdict
    with KnowledgeBase.for_settings(settings) as kb:
        exp = kb.add_experiment("study", result.study_id, name=f"study {result.study_id}: {v['best_name']}",
                                params={"params": result.info["params"], "method": result.info["method"],
                                        "model": result.info["model"], "mlflow_run_id": result.mlflow_run_id or "",
                                        "report": str(result.report_path)})
        values = {"n_trials": v["n_trials"], "sessions": v["sessions"], "deflated_sharpe": v["deflated_sharpe"],
                  "pbo": (v["pbo"] or {}).get("pbo", math.nan), "significant": float(v["significant"]),
                  "confirmed": float(v["confirmed"]), "best_metric": v["best_metric"],
                  "walk_forward_sharpe_per_day": v["walk_forward"].get("sharpe_per_day", math.nan)}
        for metric, value in values.items():
            kb.add_result(exp, metric, value, {"best": v["best_name"]} if metric == "best_metric" else None)
        link_tried(kb, exp, STUDY_TARGETS)
    return exp

"""Child process of ``test_train_concurrency``: run the ``train`` flow RUNS times on small in-memory
datasets with the thread task runner, then print the LightGBM section's counters as one JSON line.

Usage: ``python -X faulthandler train_repeat.py ROOT RUNS`` (Prefect API from ``PREFECT_API_URL``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def main(root: Path, runs: int) -> None:
    from quantumtrader.config import load_settings
    from quantumtrader.runtime import configure_environment

    settings = load_settings(root=root, stores={"feast_repo": str(TESTS.parent / "feature_repo")})
    tr = settings.training.model_dump()
    tr.update({"task_runner": "thread", "max_workers": 2})
    tr["cv"].update({"n_folds": 3})
    tr["tuning"].update({"num_leaves": [7, 15], "learning_rate": [0.1], "n_estimators": [60]})
    settings = settings.model_copy(update={"training": type(settings.training).model_validate(tr)})
    configure_environment(settings)  # before Prefect is imported; PREFECT_API_URL from the parent wins

    sys.path.insert(0, str(TESTS / "training"))
    from conftest import synthetic_dataset  # tests/training/conftest.py: no Feast needed

    from flows.train import train_flow
    from quantumtrader.lgbm_section import STATS

    for i in range(runs):
        summary = train_flow(settings=settings, dataset=synthetic_dataset(n_sessions=6, seed=i), register=False)
        assert summary["folds"] == 3 and summary["combos"] == 2, summary
    print(json.dumps({"runs": runs, "entries": STATS.entries, "peak": STATS.peak, "threads": len(STATS.threads)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))

"""No native crash under load: two processes each run the ``train`` flow ten times at once.

``make demo`` used to segfault about one run in ten in the train stage (two CV threads inside
LightGBM at once). Each child runs the real flow on the default thread task runner (two CV threads)
against the session's Prefect API; together they keep both cores of the test machine busy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("train_repeat.py")
REPO = Path(__file__).resolve().parents[2]
RUNS_PER_PROCESS = 10
LGBM_JOBS_PER_RUN = 6  # 2 combinations x 3 folds


@pytest.mark.slow
def test_twenty_train_flows_two_at_a_time_never_crash(prefect_harness: None, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "QT_LOGGING__LEVEL": "WARNING",
           "PYTHONFAULTHANDLER": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-X", "faulthandler", str(CHILD), str(tmp_path / f"p{k}"),
                          str(RUNS_PER_PROCESS)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert "Segmentation fault" not in err and "Fatal Python error" not in err, err[-3000:]
        assert p.returncode == 0, f"exit {p.returncode}\n{out[-1000:]}\n{err[-3000:]}"
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["runs"] == RUNS_PER_PROCESS
        # every fit and test-fold prediction of every CV job went through the section, one at a time
        assert stats["entries"] >= 2 * LGBM_JOBS_PER_RUN * RUNS_PER_PROCESS
        assert stats["peak"] == 1 and stats["threads"] >= 2

"""The feeds run inside the engine process: they import none of Prefect, Feast, Great Expectations,
MLflow or ``training/`` (its config sections, which the settings compose, aside)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CODE = """
import sys, tempfile, pathlib
import live_engine.feeds.replay, live_engine.feeds.sim, live_engine.feeds.zmq_ingress, live_engine.feeds.publish
from quantumtrader.config import load_settings
feed = live_engine.feeds.sim.SimFeed(load_settings(root=pathlib.Path(tempfile.mkdtemp())), sessions=1, speed=0)
assert feed.poll(0)
print(" ".join(sorted(sys.modules)))
"""


def test_the_feeds_import_no_pipeline_library():
    proc = subprocess.run([sys.executable, "-c", CODE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    mods = proc.stdout.split()
    banned = [m for m in mods if m.split(".")[0] in ("prefect", "feast", "great_expectations", "mlflow", "expectations")
              or (m.startswith("training.") and not m.endswith(".config") and m != "training.promotion")]
    assert banned == []
    assert "zmq" in mods and "market.simulator" in mods  # the check saw the feeds' real imports

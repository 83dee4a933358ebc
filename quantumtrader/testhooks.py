"""The kill tests' seam: a process pauses at a named point so a test can SIGKILL it exactly there.

When the environment variable ``env`` names ``point`` (``"<point>"`` or ``"<point>:<seconds>"``), the
process prints ``"<who> paused at <point>"`` on stderr and sleeps (600 s by default); otherwise nothing
happens. Each user names its variable (listed in ``quantumtrader.config_check`` as a known name):
``QT_INGEST_TEST_PAUSE`` (market.append), ``QT_PROMOTION_TEST_PAUSE`` (training.promotion.gate),
``QT_ENGINE_TEST_PAUSE`` (live_engine.service.persistence).
"""

from __future__ import annotations

import os
import sys
import time


def pause_point(env: str, point: str, who: str) -> None:
    want, _, seconds = os.environ.get(env, "").partition(":")
    if want == point:
        print(f"{who} paused at {point}", file=sys.stderr, flush=True)
        time.sleep(float(seconds) if seconds else 600.0)

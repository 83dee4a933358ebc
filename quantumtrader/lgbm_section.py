"""One process-wide lock around every LightGBM call that builds or uses a native predictor or dataset.

LightGBM is not safe for concurrent jobs in one process: ``make demo`` segfaulted about one run in
ten with one CV thread in ``Booster.predict`` while another constructed a ``Dataset`` (a data race
in the predictor initialisation on shared native state). Its thread count is shared state too:
every C call that takes ``num_threads`` writes the process-wide ``LGBM_DEFAULT_NUM_THREADS``, so the
live predictor's ``num_threads=1`` would silently make a later fit with the default (0) single-threaded.

The rule (``docs/training.md``, "Tuning and task runners"): Dataset construction, training and
batch prediction run inside :func:`lightgbm_section`, one thread at a time per process, and every
such call passes an explicit thread count (``training.lgbm.num_threads``; 0 = :func:`all_cores`,
never LightGBM's 0). Worker processes would cost ~4 s each just to import LightGBM, pandas and
scikit-learn on the 2-core demo machine, so the thread runner keeps its threads: the baselines and
metrics still run in parallel, the LightGBM fits run one after another.

The serving fast path's per-row call (``LGBM_BoosterPredictForMatSingleRowFast``) stays outside the
lock: it builds no predictor (its config is parsed once, at init, inside the section) and the
decision core does not share a process with training.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_LOCK = threading.RLock()
_DEPTH = threading.local()


@dataclass
class SectionStats:
    """How the section was used since the last :meth:`reset` (read by tests and diagnostics).

    ``active`` and ``peak`` are kept under a lock of their own, so a section that failed to exclude
    a second thread would show ``peak == 2``.
    """

    entries: int = 0
    active: int = 0
    peak: int = 0
    threads: set[int] = field(default_factory=set)  # idents of the threads that entered

    def reset(self) -> None:
        with _STATS_LOCK:
            self.entries = self.peak = 0
            self.threads = set()


_STATS_LOCK = threading.Lock()
STATS = SectionStats()


@contextmanager
def lightgbm_section() -> Iterator[None]:
    """Hold the process-wide LightGBM lock (re-entrant: a nested section in the same thread is free)."""
    with _LOCK:
        depth = getattr(_DEPTH, "n", 0)
        _DEPTH.n = depth + 1
        if depth == 0:
            with _STATS_LOCK:
                STATS.entries += 1
                STATS.active += 1
                STATS.peak = max(STATS.peak, STATS.active)
                STATS.threads.add(threading.get_ident())
        try:
            yield
        finally:
            _DEPTH.n = depth
            if depth == 0:
                with _STATS_LOCK:
                    STATS.active -= 1


def all_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one, else ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def lightgbm_thread_default() -> int:
    """LightGBM's process-wide thread default as the last C call left it (-1 = OpenMP's own default)."""
    import ctypes

    from lightgbm.basic import _LIB

    return int(ctypes.c_int.in_dll(_LIB, "LGBM_DEFAULT_NUM_THREADS").value)

"""LightGBM never runs two jobs at once in one process, and every fit uses its configured threads.

Concurrent LightGBM jobs crashed ``make demo`` (one CV thread in ``Booster.predict`` while another
built a ``Dataset``); the live predictor's ``num_threads=1`` is process-wide LightGBM state.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from tiny_model import contract, train_booster

from quantumtrader.config import Settings, load_settings
from quantumtrader.lgbm_section import STATS, all_cores, lightgbm_section, lightgbm_thread_default
from serving.predictor import Predictor
from training import pipeline
from training.config import LGBMConfig
from training.models import fit_lightgbm, lgb_params
from training.tuning import run_jobs

REPO = Path(__file__).resolve().parents[2]
PARAMS = {"num_leaves": 7, "learning_rate": 0.1, "min_data_in_leaf": 20, "feature_fraction": 0.8,
          "lambda_l2": 1.0, "n_estimators": 60}


def test_zero_threads_means_every_core_passed_explicitly_and_the_yaml_agrees_with_the_code(tmp_path):
    yaml_lgbm = yaml.safe_load((REPO / "config" / "default.yaml").read_text())["training"]["lgbm"]
    assert yaml_lgbm["num_threads"] == LGBMConfig().num_threads == 1
    assert load_settings(root=tmp_path).training.lgbm.num_threads == 1
    assert LGBMConfig(num_threads=0).threads == all_cores() >= 1
    assert LGBMConfig(num_threads=3).threads == 3
    native, _ = lgb_params(PARAMS, LGBMConfig(num_threads=0))
    assert native["num_threads"] == all_cores()  # never 0: LightGBM's default is process-wide state
    assert LGBMConfig(num_threads=4).shared_by(2).threads == 2
    assert LGBMConfig(num_threads=1).shared_by(2).threads == 1
    with pytest.raises(ValueError):
        LGBMConfig(num_threads=-1)


def _fit_watching_the_thread_default(make_dataset, cfg: LGBMConfig) -> tuple[object, list[int]]:
    """Fit once while another thread samples LightGBM's process-wide thread default."""
    ds = make_dataset(n_sessions=6)
    n = len(ds)
    fit, val = slice(0, int(n * 0.6)), slice(int(n * 0.6), int(n * 0.8))
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(lightgbm_thread_default())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        model = fit_lightgbm(ds.X.iloc[fit], ds.y[fit], ds.X.iloc[val], ds.y[val], PARAMS, cfg)
    finally:
        done.set()
        watcher.join()
    return model, seen


@pytest.mark.parametrize("num_threads", [0, 3])
def test_the_live_predictors_single_thread_does_not_leak_into_a_later_fit(make_dataset, num_threads):
    Predictor.from_booster(train_booster(), contract())  # the serving fast path: num_threads=1
    assert lightgbm_thread_default() == 1  # it did change LightGBM's process-wide default
    cfg = LGBMConfig(num_threads=num_threads)
    expected = num_threads or all_cores()

    model, seen = _fit_watching_the_thread_default(make_dataset, cfg)

    assert model.booster.params["num_threads"] == expected  # what LightGBM recorded for the fit
    assert model.num_threads == expected
    # Sampled during the fit: once the fit's first call set its threads, nothing but them was seen
    # (with num_threads=0 passed, LightGBM would show -1 here, i.e. "whatever OpenMP says").
    assert expected in seen, seen[:20]
    after = seen[seen.index(expected):]
    assert set(after) == {expected}, sorted(set(after))
    assert lightgbm_thread_default() == expected


def test_two_cv_threads_take_turns_inside_lightgbm(make_dataset, small_settings: Settings):
    """The real job runner of ``pipeline.train`` (a 2-thread pool): the LightGBM sections never overlap,
    and both pool threads did enter them (so the jobs did run side by side around them)."""
    ds = make_dataset(n_sessions=6)
    plan = pipeline.plan_training(ds, small_settings)
    n_lgbm = sum(j.kind == "lgbm" for j in plan.jobs)
    assert n_lgbm >= 4
    STATS.reset()
    results = run_jobs(ds, plan.jobs, small_settings.training.lgbm, plan.cost_ticks, max_workers=2)
    assert len(results) == n_lgbm + 2 * (len(plan.jobs) - n_lgbm)
    assert STATS.entries >= 2 * n_lgbm  # each LightGBM job: one fit section, one test-fold predict section
    assert len(STATS.threads) == 2, STATS.threads
    assert STATS.peak == 1 and STATS.active == 0


def test_a_second_thread_waits_while_one_is_inside_the_section():
    STATS.reset()
    inside, release = threading.Barrier(2), threading.Event()

    def hold() -> None:
        with lightgbm_section():
            inside.wait(timeout=10)
            release.wait(timeout=10)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(timeout=10)  # the other thread holds the lock now
    got = threading.Event()

    def try_enter() -> None:
        with lightgbm_section():
            got.set()

    u = threading.Thread(target=try_enter)
    u.start()
    assert not got.wait(0.2)  # a second thread cannot enter while the first is inside
    release.set()
    t.join()
    u.join()
    assert got.is_set() and STATS.peak == 1 and STATS.entries == 2

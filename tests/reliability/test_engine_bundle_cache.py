"""The engine trades only a verified bundle (RELIABILITY.md 18, 20), as a real ``qtml engine start``:
a @champion whose files differ from the registry's hashes is refused with one line naming the file
(exit 2, not restarted); with the registry unreachable the engine starts from its local cache and
alerts; a cache edited on disk is refused like a tampered registry bundle.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from engine_rel import EngineEnv, alerts, artifacts_dir, free_port, make_env, refused
from tiny_model import train_booster

pytestmark = pytest.mark.slow


def _overwrite_booster(path: Path) -> None:
    """Another valid booster in its place: loadable, but not the file the registry recorded."""
    path.write_text(train_booster(seed=5).model_to_string())


def test_a_champion_whose_files_differ_from_the_registry_is_refused(tmp_path):
    env = make_env(tmp_path, sessions=2)
    _overwrite_booster(artifacts_dir(env, "1") / "model.lgb")
    line = refused(env, "--feed", "replay", "--speed", "600")
    assert "model.lgb" in line and "models:/quantumtrader/1" in line, line


def _run_until_ready(env: EngineEnv, **extra: str) -> dict:
    p = env.start("--feed", "replay", "--speed", "600", **extra)
    st = env.wait_status(lambda s: s["state"] != "WARMING", what="the engine after its warm-up")
    os.killpg(p.pid, signal.SIGTERM)
    assert p.wait(60) == 0, env.log()[-3000:]
    return st


def test_registry_unreachable_starts_from_the_cache_and_a_tampered_cache_is_refused(tmp_path):
    env = make_env(tmp_path, sessions=2)
    cache = env.var / "engine" / "bundle-cache"
    try:
        assert _run_until_ready(env)["model_version"] == "1"
        assert (cache / "version.json").is_file() and (cache / "files" / "model.lgb").is_file()
        assert not alerts(env, "registry_unreachable")
        down = {"QT_STORES__MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing listens there
                "QT_STORES__CONNECT_TIMEOUT_S": "2"}
        st = _run_until_ready(env, **down)
        assert st["model_version"] == "1", st
        hit = alerts(env, "registry_unreachable")
        assert len(hit) == 1 and hit[0]["level"] == "WARNING" and "cached bundle" in hit[0]["message"], hit
        _overwrite_booster(cache / "files" / "model.lgb")
        line = refused(env, "--feed", "replay", "--speed", "600", **down)
        assert "model.lgb" in line, line
    finally:
        env.sigkill_all()

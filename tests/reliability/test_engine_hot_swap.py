"""Hot-swap (RELIABILITY.md 17) on a real running engine: a new @champion registered while it trades is
swapped in between decisions (every recorded decision was made by the version it names, with that
version's probabilities; no bar has two records); a new @champion whose bundle no longer matches its
registry hashes is not swapped in: the engine keeps trading the old version and raises ``swap_failed``.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pytest
from engine_rel import NAME, EngineEnv, alerts, artifacts_dir, make_env, wait_alert
from tiny_model import contract, register, train_booster

pytestmark = pytest.mark.slow


def recorded_decisions(env: EngineEnv) -> pd.DataFrame:
    from live_engine.service.recording import read_decisions, recorded_days

    sym = env.settings.market.symbol
    frames = [read_decisions(env.settings.lake_root, sym, d) for d in recorded_days(env.settings.lake_root, sym,
                                                                                  "decisions")]
    return pd.concat([f for f in frames if f is not None], ignore_index=True).sort_values("ts_ns", kind="stable")


def test_new_champion_swaps_between_decisions_and_a_broken_one_keeps_the_old(tmp_path):
    env = make_env(tmp_path, sessions=3)
    try:
        sup = env.start("--feed", "replay", "--speed", "300", QT_LIVE__SERVICE__CHAMPION_POLL_S="1")
        env.wait_status(lambda s: s["state"] != "WARMING" and s["bars"] >= 3 and s["model_version"] == "1",
                        what="bars on v1")
        register(env.settings, train_booster(seed=7), contract(), alias="champion")  # v2
        st = env.wait_status(lambda s: s["model_version"] == "2", timeout=60, what="v2 swapped in")
        swapped = wait_alert(env, "model_swapped")
        assert swapped["level"] == "INFO" and "models:/quantumtrader/2" in swapped["message"], swapped
        bars_at_swap = st["bars"]

        # v3: registered under another alias, its booster overwritten on disk, then made @champion
        register(env.settings, train_booster(seed=11), contract(), alias="staging")
        booster = artifacts_dir(env, "3") / "model.lgb"
        booster.write_text(train_booster(seed=12).model_to_string())
        import mlflow

        mlflow.MlflowClient(env.settings.mlflow_tracking_uri).set_registered_model_alias(NAME, "champion", "3")
        failed = wait_alert(env, "swap_failed")
        assert failed["level"] == "ERROR" and "v3" in failed["message"] and "model.lgb" in failed["message"], failed
        st = env.wait_status(lambda s: s["bars"] >= bars_at_swap + 5, what="bars after the failed swap")
        assert st["model_version"] == "2" and not alerts(env, "model_swapped")[1:], st
        os.killpg(sup.pid, signal.SIGTERM)  # safe stop: the recording flushed
        assert sup.wait(60) == 0, env.log()[-3000:]
    finally:
        env.sigkill_all()

    dec = recorded_decisions(env)
    assert dec["ts_ns"].is_unique, "a bar recorded twice"
    versions = dec["model_version"].astype(str).tolist()
    first_v2 = versions.index("2")
    assert set(versions) == {"1", "2"} and versions[:first_v2] == ["1"] * first_v2, "versions interleave"
    assert all(v == "2" for v in versions[first_v2:]) and first_v2 > 0
    # each record's probabilities are its own version's, on the bar's own features: no mixed decision
    from features.spec import FEATURE_NAMES
    from serving.bundle import load_bundle

    traded = dec[dec["traded"] & dec["p_up"].notna()]
    preds = {v: load_bundle(f"models:/{NAME}/{v}", env.settings.mlflow_tracking_uri).predictor for v in ("1", "2")}
    for v, other in (("1", "2"), ("2", "1")):
        rows = traded[traded["model_version"] == v]
        assert len(rows) > 0, v
        x = rows[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
        got = rows[["p_down", "p_flat", "p_up"]].to_numpy(dtype=np.float64)
        want = np.array([preds[v].predict_proba3(r) for r in x])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=f"a v{v} record not made by v{v}")
        theirs = np.array([preds[other].predict_proba3(r) for r in x])
        assert np.abs(theirs - got).max() > 1e-6, "the two versions agree: the check above proves nothing"

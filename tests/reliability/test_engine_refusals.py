"""The engine refuses bad configuration at start with one line and exit 2, and its supervisor does not
restart it (RELIABILITY.md 5, 7, 22): no @champion, a journal of the other mode, a PUB or ingress
endpoint off this machine. With the defaults every TCP socket the engine listens on is on 127.0.0.1.

Each start is a real ``qtml engine start`` process group (supervisor + engine) on a real lake and MLflow.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from engine_rel import EngineEnv, free_port, make_env, refused

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> EngineEnv:
    return make_env(tmp_path_factory.mktemp("refusals"), sessions=3)


def test_no_champion_exits_2_and_is_not_restarted(tmp_path):
    env = make_env(tmp_path, sessions=2)
    import mlflow

    mlflow.MlflowClient(env.settings.mlflow_tracking_uri).delete_registered_model_alias("quantumtrader", "champion")
    line = refused(env, "--feed", "replay", "--speed", "600")
    assert "models:/quantumtrader@champion not found" in line, line


def test_pub_and_ingress_off_loopback_are_refused(env):
    port = str(free_port())
    line = refused(env, "--feed", "replay", "--speed", "600", QT_LIVE__ZMQ_PUB_ENDPOINT=f"tcp://0.0.0.0:{port}")
    assert "live.zmq_pub_endpoint" in line and "0.0.0.0" in line and "loopback" in line, line
    line = refused(env, "--feed", "zmq", QT_LIVE__FEEDS__INGRESS_ENDPOINT=f"tcp://0.0.0.0:{port}")
    assert "live.feeds.ingress_endpoint" in line and "0.0.0.0" in line and "loopback" in line, line


def test_a_journal_of_the_other_mode_is_refused(env):
    from live_engine.journal.journal import Journal

    paper = env.var / "journal" / "paper.db"
    Journal.open(f"sqlite:///{paper}", mode="paper").close()
    line = refused(env, "--feed", "replay", "--speed", "600", QT_LIVE__JOURNAL__MODE="live",
                   QT_STORES__JOURNAL_DB_URL=f"sqlite:///{paper}")
    assert "paper" in line and "live" in line and "never share a database" in line, line
    renamed = env.root / "state.db"  # a paper journal under a neutral name: its meta row names the mode
    shutil.copy(paper, renamed)
    line = refused(env, "--feed", "replay", "--speed", "600", QT_LIVE__JOURNAL__MODE="live",
                   QT_STORES__JOURNAL_DB_URL=f"sqlite:///{renamed}")
    assert "belongs to mode 'paper'" in line, line


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN that process ``pid`` holds (its fds' inodes in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = row.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:
                continue
            hexaddr, hexport = local.split(":")
            assert len(hexaddr) == width
            if width == 8:
                addr = ".".join(str(int(hexaddr[i:i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                addr = "::1" if hexaddr == "0" * 24 + "01000000" else hexaddr
            out.append((addr, int(hexport, 16)))
    return out


def test_with_the_defaults_the_engine_listens_on_loopback_only(tmp_path):
    env = make_env(tmp_path, sessions=2)
    try:
        env.start("--feed", "zmq")
        env.wait_status(lambda s: s["state"] != "WARMING", what="the engine on its ingress")
        pid = env.engine_pid()
        deadline = time.monotonic() + 10
        socks = _listening(pid)
        while len(socks) < 3 and time.monotonic() < deadline:  # PUB, ingress, Prometheus
            time.sleep(0.2)
            socks = _listening(pid)
        ports = {p for _, p in socks}
        pub = int(env.env["QT_LIVE__ZMQ_PUB_ENDPOINT"].rsplit(":", 1)[1])
        ingress = int(env.env["QT_LIVE__FEEDS__INGRESS_ENDPOINT"].rsplit(":", 1)[1])
        assert {pub, ingress} <= ports and len(socks) >= 3, socks
        assert all(addr == "127.0.0.1" for addr, _ in socks), socks
    finally:
        env.sigkill_all()

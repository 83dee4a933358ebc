"""``qtml ui``: real servers in real subprocesses; "ready" means the port answers; a stop leaves nothing.

Each test runs the installed ``qtml`` on its own var dir and a free port, and checks the server's
session from outside (``os.getsid`` over ``/proc``), independently of the code under test.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QTML = Path(sys.executable).parent / "qtml"
READY_TIMEOUT_S = 240.0  # a cold start on a busy 2-core machine; the CLI's own default is 180 s
HEALTH = {"mlflow": "/health", "prefect": "/api/health"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _left_in_session(sid: int) -> list[str]:
    """Command lines of the live (not zombie) processes of session ``sid``."""
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ProcessLookupError):
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            left.append(f"{entry}: {cmdline[:120]}")
    return left


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Cli:
    """``qtml <args>`` with its merged output read line by line on a thread."""

    def __init__(self, args: list[str], var_dir: Path) -> None:
        env = {**os.environ, "QT_STORES__VAR_DIR": str(var_dir)}
        self.proc = subprocess.Popen(
            [str(QTML), *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.seen: list[str] = []
        self.sids: list[int] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"qtml exited ({self.proc.wait()}) before {pattern!r}; output: {self.seen}")
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"no {pattern!r} within {timeout_s:.0f} s; output: {self.seen}")

    def rest(self) -> list[str]:
        """The remaining output, once the process has exited."""
        self.proc.wait(timeout=30)
        while (line := self._lines.get(timeout=10)) is not None:
            self.seen.append(line)
        return self.seen

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def clis() -> Iterator[list[Cli]]:
    """Started CLIs; after a failed test, any still running and whatever its server left are killed."""
    started: list[Cli] = []
    yield started
    for cli in started:
        cli.kill()
        for sid in cli.sids:
            for line in _left_in_session(sid):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)


def _start(clis: list[Cli], server: str, port: int, var_dir: Path, *extra: str) -> tuple[Cli, int]:
    cli = Cli(["ui", server, "--port", str(port), *extra], var_dir)
    clis.append(cli)
    sid = int(cli.wait_for(r"^starting \w+ on \S+ \(pid (\d+),", 60).group(1))
    cli.sids.append(sid)
    return cli, sid


@pytest.mark.slow
@pytest.mark.parametrize("server", ["mlflow", "prefect"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_is_ready_only_when_it_answers_and_a_signal_stops_every_process(
    server: str, signum: signal.Signals, tmp_path: Path, clis: list[Cli]
) -> None:
    port = _free_port()
    var_dir = tmp_path / "var"
    cli, sid = _start(clis, server, port, var_dir)
    assert _children(cli.proc.pid) == [sid], "the server is the CLI's only child"
    assert os.getsid(sid) == sid and os.getpgid(sid) == sid, "the server leads its own session and group"

    url = cli.wait_for(r"^ready: (\S+)$", READY_TIMEOUT_S).group(1)
    assert url == f"http://127.0.0.1:{port}"
    assert _answers(url + HEALTH[server]), "said ready but the health URL does not answer"
    assert _left_in_session(sid), "the server's session is visible while it runs"

    t0 = time.monotonic()
    cli.proc.send_signal(signum)
    assert cli.proc.wait(timeout=60) == 0
    stop_s = time.monotonic() - t0
    assert stop_s < 20, f"stopping took {stop_s:.1f} s (grace is 10 s, then SIGKILL)"
    assert _left_in_session(sid) == []
    assert not _answers(url + HEALTH[server])
    output = cli.rest()
    assert output[-2:] == [f"stopping {server} ({signum.name})", f"stopped {server}"]
    assert (var_dir / "logs" / f"ui-{server}.log").stat().st_size > 0, "server output goes to its log file"


def test_ui_on_a_busy_port_says_so_in_one_line_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "QT_STORES__VAR_DIR": str(tmp_path / "var")}
        proc = subprocess.run(
            [str(QTML), "ui", "mlflow", "--port", str(port)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"port {port}" in lines[0] and "already in use" in lines[0] and "--port" in lines[0]
    assert "starting" not in proc.stdout
    assert not (tmp_path / "var" / "logs" / "ui-mlflow.log").exists()


def test_ui_that_misses_its_startup_timeout_is_stopped_with_one_line(tmp_path: Path, clis: list[Cli]) -> None:
    cli, sid = _start(clis, "mlflow", _free_port(), tmp_path / "var", "--startup-timeout", "1")
    assert cli.proc.wait(timeout=60) == 1
    output = cli.rest()
    assert not any(line.startswith("ready") for line in output)
    errors = [line for line in output if line.startswith("error:")]
    assert len(errors) == 1 and "did not answer" in errors[0] and "ui-mlflow.log" in errors[0], output
    assert "Traceback" not in "\n".join(output)
    assert _left_in_session(sid) == []


@pytest.mark.slow
def test_ui_whose_server_dies_before_ready_names_its_exit_code_and_log(tmp_path: Path, clis: list[Cli]) -> None:
    port = _free_port()
    cli, sid = _start(clis, "mlflow", port, tmp_path / "var")
    # Take the port before uvicorn binds it (seconds after start): the server fails to start. What
    # listens here accepts connections but never answers HTTP, so it must not count as "ready".
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert cli.proc.wait(timeout=READY_TIMEOUT_S) == 1
    output = cli.rest()
    assert not any(line.startswith("ready") for line in output)
    errors = [line for line in output if line.startswith("error:")]
    assert len(errors) == 1, output
    assert re.search(r"exited with code -?\d+ before it was ready", errors[0]) and "ui-mlflow.log" in errors[0]
    log = (tmp_path / "var" / "logs" / "ui-mlflow.log").read_text()
    assert "address already in use" in log.lower()
    assert _left_in_session(sid) == []

"""prefect.yaml on a real Prefect server: deploy every deployment, run one on a process worker, read them back.

One server per backend (SQLite, and PostgreSQL on 127.0.0.1:5432 in a fresh database dropped afterwards), each a
real ``prefect server start`` with its own PREFECT_HOME on a free port, a ``process`` work pool, ``prefect
--no-prompt deploy --all``, a ``prefect worker start`` and a run of ``clean-weekly`` on tmp stores that must reach
COMPLETED and remove a 40-day-old log file (and one of ``backup-daily`` that must write an archive). The UI's
deployments page is photographed in headless Chromium (``test-artifacts/``; the SQLite one is
docs/images/prefect-deployments.png). Every process started is stopped,
and the test checks none is left.

Deployments whose entrypoint file is not in this checkout are left out of the deploy (flows merged from other
branches); the last test of each backend asserts that every deployment declared in prefect.yaml was deployed,
so it fails until every entrypoint exists.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from quantumtrader.servers import session_members, stop_session

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROJECT: dict[str, Any] = yaml.safe_load((ROOT / "prefect.yaml").read_text())
DECLARED: dict[str, dict[str, Any]] = {d["name"]: d for d in PROJECT["deployments"]}
POOL = "quantumtrader"
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMAGE = ROOT / "docs" / "images" / "prefect-deployments.png"
CHROMIUM = Path("/usr/bin/chromium")
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
BIN = Path(sys.executable).parent


def _flow_file(entrypoint: str) -> Path:
    """``flows.drift:drift_flow`` -> ROOT/flows/drift.py (prefect.yaml names flows by module, see its header)."""
    return ROOT / (entrypoint.split(":")[0].replace(".", "/") + ".py")


def _present(d: dict[str, Any]) -> bool:
    return _flow_file(d["entrypoint"]).is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    backend: str
    api: str
    var: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    deployed: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    backup_run: dict[str, Any] = field(default_factory=dict)
    old_log: Path | None = None

    def get(self, path: str) -> Any:
        r = httpx.get(self.api + path, timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(self.api + path, json=body, timeout=30)
        r.raise_for_status()
        return r.json()


def _env(tmp: Path, api: str | None, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PREFECT_"))}
    env.update({"PREFECT_HOME": str(tmp / "prefect-home"), "PREFECT_API_DATABASE_CONNECTION_URL": db_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
                "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_LOGGING_LEVEL": "WARNING",
                # the stores of the flows a worker runs: all in tmp (quantumtrader/config.py)
                "QT_ROOT": str(ROOT), "QT_CONFIG": str(ROOT / "config" / "default.yaml"),
                "QT_STORES__VAR_DIR": str(tmp / "var")})
    if api:
        env["PREFECT_API_URL"] = api
    return env


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _prefect(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BIN / "prefect"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"prefect {' '.join(args)}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _wait(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what}: the process exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _pg_database(name: str, action: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if action == "create":
                cur.execute(f'CREATE DATABASE "{name}"')
            else:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def _deploy_and_run(stack: Stack, tmp: Path, db_url: str) -> None:
    env = _env(tmp, None, db_url)
    env["PREFECT_SERVER_UI_API_URL"] = stack.api  # the UI's pages call this (default: port 4200)
    port = int(stack.api.rsplit(":", 1)[1].split("/")[0])
    server_log = tmp / "server.log"
    t0 = time.monotonic()
    server = _start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", "1"], env, server_log)
    stack.procs.append(server)
    _wait(lambda: httpx.get(stack.api + "/health", timeout=2).status_code == 200, 240, "server health", server,
          server_log)
    stack.timings["server start"] = time.monotonic() - t0
    env = _env(tmp, stack.api, db_url)
    _prefect(["work-pool", "create", POOL, "--type", "process"], env)
    # the deployments whose flow file exists here; the strict test below compares with the whole file
    project = {**PROJECT, "deployments": [d for d in PROJECT["deployments"] if _present(d)]}
    prefect_file = tmp / "prefect.yaml"
    prefect_file.write_text(yaml.safe_dump(project, sort_keys=False))
    t0 = time.monotonic()
    _prefect(["--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file)], env, timeout=300)
    stack.timings["deploy --all"] = time.monotonic() - t0
    stack.deployed = stack.post("/deployments/filter", {"limit": 200})
    # a file the clean-weekly run must remove (40 days old) and one it must keep (new)
    logs = stack.var / "logs"
    logs.mkdir(parents=True)
    stack.old_log = logs / "old-run.log"
    stack.old_log.write_text("x" * 1000)
    past = time.time() - 40 * 86400
    os.utime(stack.old_log, (past, past))
    (logs / "new-run.log").write_text("keep")
    worker_log = tmp / "worker.log"
    worker = _start([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"], env,
                    worker_log)
    stack.procs.append(worker)
    by_name = {d["name"]: d for d in stack.deployed}
    t0 = time.monotonic()
    # the clean run is timed; a backup run goes beside it (the worker runs both at once)
    run = stack.post(f"/deployments/{by_name['clean-weekly']['id']}/create_flow_run", {})
    backup = stack.post(f"/deployments/{by_name['backup-daily']['id']}/create_flow_run", {})
    done = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")

    def finished() -> bool:
        stack.run = stack.get(f"/flow_runs/{run['id']}")
        return stack.run["state"]["type"] in done

    _wait(finished, 300, "finished clean-weekly run", worker, worker_log)
    stack.timings["clean-weekly run (trigger to COMPLETED)"] = time.monotonic() - t0

    def backed_up() -> bool:
        stack.backup_run = stack.get(f"/flow_runs/{backup['id']}")
        return stack.backup_run["state"]["type"] in done

    _wait(backed_up, 300, "finished backup-daily run", worker, worker_log)
    stack.run["worker_log"] = worker_log.read_text()[-3000:]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"prefect-{backend}")
    db_name = f"qt_prefect_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp / 'prefect.db'}"
    else:
        _pg_database(db_name, "create")  # PostgreSQL not running: this raises, the test fails
        db_url = PG + db_name
    stack = Stack(backend, f"http://127.0.0.1:{_free_port()}/api", tmp / "var")
    try:
        _deploy_and_run(stack, tmp, db_url)
        yield stack
    finally:
        for proc in reversed(stack.procs):
            stop_session(proc)
        left = {p.pid: session_members(p.pid) for p in stack.procs}
        if backend == "postgres":
            _pg_database(db_name, "drop")
        (ARTIFACTS).mkdir(exist_ok=True)
        (ARTIFACTS / f"prefect-deployments-{backend}-timings.json").write_text(json.dumps(stack.timings, indent=1))
    assert all(p.returncode is not None for p in stack.procs), "a server or worker is still running"
    assert not any(left.values()), f"processes left behind: {left}"


def test_a_deployment_run_completes_on_the_process_worker(stack: Stack) -> None:
    state = stack.run["state"]
    assert state["type"] == "COMPLETED", f"{state}\n{stack.run.get('worker_log')}"
    assert stack.old_log is not None and not stack.old_log.exists(), "clean-weekly left the 40-day-old log"
    assert (stack.var / "logs" / "new-run.log").exists(), "clean-weekly removed a new log"


def test_the_backup_deployment_writes_an_archive_of_the_workers_stores(stack: Stack) -> None:
    state = stack.backup_run["state"]
    assert state["type"] == "COMPLETED", f"{state}\n{stack.run.get('worker_log')}"
    archives = sorted((stack.var / "backups").glob("qt-backup-*.tar.gz"))
    assert len(archives) == 1, archives


def test_each_deployment_has_its_b3_schedule_on_the_process_pool(stack: Stack) -> None:
    pools = {p["name"]: p["type"] for p in stack.post("/work_pools/filter", {})}
    assert pools.get(POOL) == "process"
    assert stack.deployed, "nothing was deployed"
    for dep in stack.deployed:
        declared = DECLARED[dep["name"]]
        assert dep["work_pool_name"] == POOL, dep["name"]
        assert dep["entrypoint"] == declared["entrypoint"], dep["name"]
        got = sorted((s["schedule"]["cron"], s["schedule"]["timezone"]) for s in dep["schedules"])
        want = sorted((s["cron"], s["timezone"]) for s in declared.get("schedules") or [])
        assert got == want, f"{dep['name']}: {got} != {want}"
        assert all(tz == "America/Sao_Paulo" for _, tz in got), dep["name"]
        assert all(s["active"] for s in dep["schedules"]), dep["name"]


def test_retrain_monthly_runs_one_at_a_time(stack: Stack) -> None:
    declared = DECLARED["retrain-monthly"]["concurrency_limit"]
    assert declared == {"limit": 1, "collision_strategy": "ENQUEUE"}
    dep = next((d for d in stack.deployed if d["name"] == "retrain-monthly"), None)
    assert dep is not None, f"retrain-monthly was not deployed: {DECLARED['retrain-monthly']['entrypoint']} is " \
                            "not in this checkout"
    assert dep["global_concurrency_limit"]["limit"] == 1, dep
    assert dep["concurrency_options"]["collision_strategy"] == "ENQUEUE", dep


def test_the_prefect_ui_lists_the_deployments(stack: Stack) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    ui = stack.api.removesuffix("/api")
    shots: list[Path] = []
    text = ""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(ui + "/deployments", timeout=60_000)
            page.get_by_text(f"{len(stack.deployed)} Deployments").first.wait_for(timeout=60_000)
            # the list shows 10 a page: one picture per page, "next page" until the last
            for number in range(1, 10):
                page.get_by_text(f"Page {number} of").first.wait_for(timeout=30_000)
                page.wait_for_load_state("networkidle", timeout=30_000)
                shots.append(ARTIFACTS / f"prefect-deployments-{stack.backend}-page{number}.png")
                page.screenshot(path=str(shots[-1]), full_page=True)
                text += page.inner_text("body")
                pager = page.get_by_text(f"Page {number} of").first.inner_text()
                if pager.strip() == f"Page {number} of {number}":
                    break
                page.locator(".p-pager__buttons button").nth(2).click()  # first, previous, next, last
        finally:
            browser.close()
    shown = [d["name"] for d in stack.deployed if d["name"] in text]
    assert len(shown) == len(stack.deployed), f"the UI shows {shown} of {[d['name'] for d in stack.deployed]}"
    if stack.backend == "sqlite":
        _stack_images(shots, DOCS_IMAGE)
    assert DOCS_IMAGE.stat().st_size > 10_000


def _stack_images(shots: list[Path], out: Path) -> None:
    """The pages of the list one under the other, in one PNG."""
    from PIL import Image

    images = [Image.open(s) for s in shots]
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)))
    y = 0
    for image in images:
        sheet.paste(image, (0, y))
        y += image.height
    out.parent.mkdir(exist_ok=True)
    sheet.save(out, optimize=True)


def test_every_declared_deployment_was_deployed(stack: Stack) -> None:
    """Strict: fails while a flow file named in prefect.yaml is missing from this checkout."""
    missing = sorted(set(DECLARED) - {d["name"] for d in stack.deployed})
    absent = sorted({DECLARED[n]["entrypoint"] for n in missing if not _present(DECLARED[n])})
    assert not missing, f"declared in prefect.yaml but not deployed: {missing} (entrypoint files missing: {absent})"

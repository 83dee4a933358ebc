"""The separate environment that the vectorbt comparison runs in (never part of the project's uv.lock).

:func:`ensure_env` builds ``.venv-vectorbt`` (at the repository root unless told otherwise) with uv
from ``benchmarks/vectorbt/requirements.txt`` (exact pins with hashes, Python 3.11) and leaves a
stamp with the requirements' hash in it, so later calls return at once until the file changes.
When it cannot be built (no uv, no Python 3.11, no package index reachable) it prints one line
saying why and returns ``None``: the benchmark then reports vectorbt as "not measured".

Usage by hand: ``python -m benchmarks.vectorbt_env [PATH]`` prints the environment's python.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VBT_DIR = Path(__file__).resolve().parent / "vectorbt"
REQUIREMENTS = VBT_DIR / "requirements.txt"
RUNNER = VBT_DIR / "run_vbt.py"
PYTHON_VERSION = "3.11"
STAMP_NAME = ".requirements-sha256"
STEP_TIMEOUT_S = 900


def _python_in(path: Path) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    local = Path.home() / ".local" / "bin" / "uv"
    return str(local) if local.exists() else None


def requirements_hash(requirements: Path = REQUIREMENTS) -> str:
    """What the stamp holds: the requirements file's bytes and the Python version, hashed."""
    h = hashlib.sha256(requirements.read_bytes())
    h.update(f"\npython={PYTHON_VERSION}".encode())
    return h.hexdigest()


def _one_line(text: str, limit: int = 240) -> str:
    """uv's failure in one line: its ``error:`` line and its ``hint:`` (e.g. network disabled), else the last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "(no output)"
    picked = [ln for ln in lines if ln.lower().startswith(("error", "hint"))][:2] or lines[-1:]
    line = "; ".join(picked)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def ensure_env(path: Path = Path(".venv-vectorbt"), *, requirements: Path = REQUIREMENTS) -> Path | None:
    """Create (or reuse) the vectorbt environment; return its python, or ``None`` with a printed reason.

    A relative ``path`` is taken from the repository root. Idempotent: when the stamp file inside
    the environment matches :func:`requirements_hash` and its python exists, nothing runs.
    Otherwise the environment is made anew (``uv venv --clear``) and synced to the requirements
    exactly (``uv pip sync --require-hashes``); the stamp is written only after both succeeded.
    """
    python, reason = ensure_env_reason(path, requirements=requirements)
    if python is None:
        print(f"vectorbt: not measured ({reason})")
    return python


def ensure_env_reason(path: Path = Path(".venv-vectorbt"), *,
                      requirements: Path = REQUIREMENTS) -> tuple[Path | None, str]:
    """:func:`ensure_env` without the printing: ``(python, "")`` or ``(None, one-line reason)``."""
    env = path if path.is_absolute() else REPO_ROOT / path
    python = _python_in(env)
    stamp = env / STAMP_NAME
    try:
        want = requirements_hash(requirements)
    except OSError as exc:
        return None, f"cannot read {requirements}: {exc.strerror}"
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8").strip() == want:
        return python, ""
    uv = _uv()
    if uv is None:
        return None, "uv not found: it builds the separate vectorbt environment"
    # the project's own environment must not leak into the one made here
    child_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    steps = [
        ("uv venv", [uv, "venv", "--clear", "--quiet", "--python", PYTHON_VERSION, str(env)]),
        ("uv pip sync", [uv, "pip", "sync", "--quiet", "--require-hashes", "--python", str(python), str(requirements)]),
    ]
    print(f"vectorbt: building {env} from {requirements.name} (a one-off)", flush=True)
    for what, cmd in steps:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, env=child_env,
                                  check=False)
        except subprocess.TimeoutExpired:
            return None, f"`{what}` took over {STEP_TIMEOUT_S} s: package index unreachable?"
        except OSError as exc:
            return None, f"cannot run uv: {exc.strerror}"
        if proc.returncode != 0:
            return None, f"`{what}` failed: {_one_line(proc.stderr or proc.stdout)}"
    if not python.exists():
        return None, f"no python at {python} after uv venv"
    stamp.write_text(want + "\n", encoding="utf-8")
    return python, ""


if __name__ == "__main__":
    result = ensure_env(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".venv-vectorbt"))
    if result is None:
        raise SystemExit(1)
    print(result)

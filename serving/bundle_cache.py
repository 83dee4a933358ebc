"""The engine's local copy of the bundle it trades, for a start while the registry is unreachable.

After every successful load from the registry the engine keeps the verified files under
``<var>/engine/bundle-cache/`` with ``version.json`` (name, version, run id and the version's
``bundle.sha256.*`` tags). :func:`load_cached` verifies every file against those hashes again, so a
cache edited on disk is refused like a tampered registry bundle (RELIABILITY.md 18, 20).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from quantumtrader.errors import InputError
from serving.bundle import Bundle, _load_from, load_bundle, resolve_version
from serving.bundle_layout import expected_hashes

VERSION_FILE = "version.json"


def cache_dir(var_dir: Path) -> Path:
    return var_dir / "engine" / "bundle-cache"


def load_and_cache(model_uri: str, tracking_uri: str, cache: Path, *,
                   serving_contract: Mapping[str, Any] | None = None) -> Bundle:
    """:func:`serving.bundle.load_bundle`, keeping the verified files as the new cache (swapped atomically)."""
    mv = resolve_version(model_uri, tracking_uri)
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=cache.parent))
    try:
        files = staging / "files"
        bundle = load_bundle(f"models:/{mv.name}/{mv.version}", tracking_uri, serving_contract=serving_contract,
                             keep=files)
        tags = {k: v for k, v in dict(mv.tags or {}).items() if k.startswith("bundle.")}
        doc = {"name": str(mv.name), "version": str(mv.version), "run_id": getattr(mv, "run_id", None),
               "requested": model_uri, "tags": tags}
        (staging / VERSION_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True))
        old = cache.with_name(cache.name + ".old")
        if cache.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(cache, old)
        os.replace(staging, cache)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dataclasses.replace(bundle, requested_uri=model_uri)


def cached_version(cache: Path) -> dict[str, Any] | None:
    p = cache / VERSION_FILE
    return json.loads(p.read_text()) if p.is_file() else None


def load_cached(cache: Path, *, serving_contract: Mapping[str, Any] | None = None) -> Bundle:
    """The cached bundle, verified again; one line when there is none."""
    doc = cached_version(cache)
    if doc is None:
        raise InputError(f"no cached bundle at {cache}: the engine has never loaded one from the registry; "
                         "start it once with the registry reachable")
    mv = SimpleNamespace(name=doc["name"], version=doc["version"], run_id=doc.get("run_id"), tags=doc["tags"])
    with tempfile.TemporaryDirectory(prefix="qt-cached-", dir=cache.parent) as tmp:
        root = Path(tmp) / "files"
        shutil.copytree(cache / "files", root)
        return _load_from(root, mv, expected_hashes(doc["tags"]), str(doc.get("requested") or ""), serving_contract)

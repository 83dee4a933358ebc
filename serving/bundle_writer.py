"""Build a model bundle, log it to MLflow and register it with every file's SHA-256 on the version.

:func:`log_bundle` runs inside the training's MLflow run (``training/tracking.py``; test helpers call
it too): it logs the native Booster with the LightGBM flavor, adds the bundle files to the same
logged model, hashes every file *as stored* (downloaded back from the artifact store), writes the
manifest, and registers the version with one ``bundle.sha256.<path>`` tag per file before the alias
moves, so an alias never points at a version without hashes. Layout: :mod:`serving.bundle_layout`.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantumtrader.logging import get_logger
from serving.bundle_layout import (
    AGENTS,
    BOOSTER,
    FEATURE_CONTRACT,
    LINEAGE,
    LIVE,
    MANIFEST,
    BundleRefused,
    check_manifest,
    hash_tags,
    hash_tree,
    json_bytes,
    manifest_doc,
    read_json,
    sha256_file,
    unsafe_entries,
)

if TYPE_CHECKING:
    from quantumtrader.config import Settings

log = get_logger("serving.bundle_writer")

DECISION_AND_RISK_SECTIONS = ("coordinator", "consensus", "risk")
"""The ``live`` sections a backtest of the bundle runs with (the strategy the version was trained for)."""


def execution_config(settings: Settings) -> dict[str, Any]:
    """The execution and cost config a bundle records (``live.json``), one key per section: the cost
    and fill model (top-level ``costs:``) the version's evidence was produced with. A record only:
    backtests and the gate run every version under the running config's costs (``docs/bundle.md``)."""
    return {"costs": settings.costs.model_dump(mode="json")}


EXECUTION_SECTIONS = ("costs",)
"""The keys :func:`execution_config` writes; the loader refuses any other section of ``live.json``."""


def live_doc(settings: Settings) -> dict[str, Any]:
    """``live.json``: ``settings.live`` without ``backtest`` and ``zmq_pub_endpoint`` (where and how a
    run is driven, not what it trades), plus :func:`execution_config`."""
    doc = {k: getattr(settings.live, k).model_dump(mode="json") for k in DECISION_AND_RISK_SECTIONS}
    return {**doc, **execution_config(settings)}


def agents_dir(settings: Settings) -> Path:
    """The agent YAMLs a training snapshots: ``live.backtest.agents_dir``, else the package's own."""
    from live_engine.decision.agents import AGENTS_DIR

    return settings.live.backtest.agents_dir or AGENTS_DIR


@dataclass(frozen=True)
class LoggedBundle:
    """A registered bundle: the logged model, its version and every file's verified hash."""

    model_uri: str  # models:/m-... (the logged model)
    model_id: str
    name: str
    version: str
    hashes: dict[str, str]


def write_bundle_files(dst: Path, *, feature_contract: Mapping[str, Any], agents_from: Path,
                       agent_names: Sequence[str], live: Mapping[str, Any], lineage: Mapping[str, Any]) -> None:
    """Write ``feature_contract.json``, ``agents/<name>.yaml`` (copied byte for byte), ``live.json``
    and ``lineage.json`` into ``dst``."""
    from quantumtrader.errors import ConfigError

    (dst / AGENTS).mkdir(parents=True, exist_ok=True)
    (dst / FEATURE_CONTRACT).write_bytes(json_bytes(feature_contract))
    for name in agent_names:
        src = agents_from / f"{name}.yaml"
        if not src.is_file():
            raise ConfigError(f"agent config {src} does not exist: the bundle needs all of {list(agent_names)}")
        shutil.copyfile(src, dst / AGENTS / f"{name}.yaml")
    (dst / LIVE).write_bytes(json_bytes(live))
    (dst / LINEAGE).write_bytes(json_bytes(lineage))


def _download(client: Any, model_id: str, dst: Path) -> Path:
    import mlflow

    location = client.get_logged_model(model_id).artifact_location
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst)))


def log_bundle(
    booster: Any,
    *,
    settings: Settings,
    metadata: Mapping[str, Any],
    lineage: Mapping[str, Any],
    registered_model_name: str,
    alias: str | None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
) -> LoggedBundle:
    """Log ``booster`` and its bundle in the active MLflow run, register it with the hashes, set ``alias``.

    ``metadata`` is the model contract (``training.tracking.model_contract``); its
    ``feature_contract`` becomes ``feature_contract.json``. The agent YAMLs come from
    :func:`agents_dir`, ``live.json`` from :func:`live_doc`. Nothing is registered when a stored
    file differs from what was written or the stored model holds code or a pickle.
    """
    import mlflow

    from live_engine.decision.agents import DEFAULT_AGENTS

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    info = mlflow.lightgbm.log_model(booster, name="model", signature=signature, input_example=input_example,
                                     pip_requirements=pip_requirements or ["lightgbm"], metadata=dict(metadata))
    model_id = str(info.model_id)
    with tempfile.TemporaryDirectory(prefix="qt-bundle-") as tmp:
        extra = Path(tmp) / "extra"
        write_bundle_files(extra, feature_contract=metadata.get("feature_contract") or {},
                           agents_from=agents_dir(settings), agent_names=DEFAULT_AGENTS,
                           live=live_doc(settings), lineage=lineage)
        written = hash_tree(extra)
        client.log_model_artifacts(model_id, str(extra))
        stored_dir = _download(client, model_id, Path(tmp) / "stored")
        problems = unsafe_entries(stored_dir)
        stored = hash_tree(stored_dir)
        problems += [f"{rel}: stored bytes differ from the written ones" for rel, h in sorted(written.items())
                     if stored.get(rel) != h]
        if BOOSTER not in stored:
            problems.append(f"{BOOSTER}: missing (MLflow did not store a native Booster text file)")
        if MANIFEST in stored:
            problems.append(f"{MANIFEST}: already present before the manifest was written")
        if problems:
            raise BundleRefused(f"bundle of {info.model_uri} not registered: " + "; ".join(problems))
        sizes = {rel: p.stat().st_size for rel, p in ((r, stored_dir / r) for r in stored)}
        manifest = Path(tmp) / MANIFEST
        manifest.write_bytes(json_bytes(manifest_doc(stored, sizes, list(DEFAULT_AGENTS))))
        client.log_model_artifact(model_id, str(manifest))
        hashes = {**stored, MANIFEST: sha256_file(manifest)}
    tags = hash_tags(hashes)
    with contextlib.redirect_stderr(io.StringIO()) as said:  # MLflow prints "Successfully registered ..."
        version = mlflow.register_model(info.model_uri, registered_model_name, tags=tags)
    log.debug("mlflow register_model", data={"said": said.getvalue().strip()})
    if alias:
        client.set_registered_model_alias(registered_model_name, alias, version.version)
    log.info("bundle registered", data={"name": registered_model_name, "version": str(version.version),
                                        "files": len(hashes), "booster_sha256": hashes[BOOSTER][:12]})
    return LoggedBundle(model_uri=str(info.model_uri), model_id=model_id, name=registered_model_name,
                        version=str(version.version), hashes=hashes)


def register_logged_bundle(model_uri: str, registered_model_name: str, *, tracking_uri: str) -> str:
    """Register a bundle already logged by :func:`log_bundle` (``models:/m-...``) as a new version of
    ``registered_model_name``, with the hashes of its stored files; returns the version.

    The stored files must be safe and agree with the bundle's own manifest: a logged model whose
    files changed since it was logged is refused, not blessed with new hashes."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    model_id = model_uri.removeprefix("models:/")
    with tempfile.TemporaryDirectory(prefix="qt-bundle-") as tmp:
        stored_dir = _download(client, model_id, Path(tmp))
        problems = unsafe_entries(stored_dir)
        if problems:
            raise BundleRefused(f"{model_uri} not registered: " + "; ".join(problems))
        hashes = hash_tree(stored_dir)
        if MANIFEST not in hashes:
            raise BundleRefused(f"{model_uri} not registered: it has no {MANIFEST} (not logged as a bundle)")
        check_manifest(read_json(stored_dir, MANIFEST, where=model_uri), hashes, where=model_uri)
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Successfully registered ..."
        version = mlflow.register_model(model_uri, registered_model_name, tags=hash_tags(hashes))
    return str(version.version)

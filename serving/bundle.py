"""Resolve a registered model version, verify its bundle against the registry, load it.

:func:`load_bundle` is the one way a model reaches a backtest, the promotion gate or the engine:

1. resolve ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` to one version (an alias is read once,
   so a concurrent promotion cannot mix two versions' files);
2. read that version's ``bundle.sha256.*`` tags (a version without them is refused);
3. download exactly the version's artifacts and refuse, naming the file: any code folder, code
   file, pickle or link; any file missing, unexpected or whose SHA-256 differs from the tag;
4. read the manifest, the model contract (``MLmodel`` metadata, checked against this code's feature
   set), ``feature_contract.json``, ``live.json``, the agent YAMLs and ``lineage.json``;
5. load the Booster from its verified text into the fast :class:`~serving.predictor.Predictor`.

Given the engine's ``serving_contract`` (:func:`features.contract.feature_contract` of its config
and data), a model whose feature contract differs is refused naming the field. The layout of a
bundle is :mod:`serving.bundle_layout`; writing one is :mod:`serving.bundle_writer`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantumtrader.errors import ConfigError, InputError
from quantumtrader.lgbm_section import lightgbm_section
from quantumtrader.logging import get_logger
from serving.bundle_layout import (
    AGENTS,
    BOOSTER,
    FEATURE_CONTRACT,
    LINEAGE,
    LIVE,
    MANIFEST,
    MLMODEL,
    BundleRefused,
    check_manifest,
    drop_registry_note,
    expected_hashes,
    read_json,
    verify_tree,
)
from serving.predictor import Predictor, check_contract, check_feature_contract

if TYPE_CHECKING:
    from live_engine.config import LiveConfig
    from live_engine.decision.agents import Agent
    from live_engine.decision.config import ConsensusConfig, CoordinatorConfig
    from live_engine.execution.config import CostConfig
    from live_engine.risk.config import RiskConfig

log = get_logger("serving.bundle")

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class Bundle:
    """A verified model version: the fast predictor and everything it was trained to run with."""

    name: str
    version: str
    uri: str  # models:/NAME/VERSION, the version that was verified
    requested_uri: str  # as given: models:/NAME@ALIAS or models:/NAME/VERSION
    predictor: Predictor
    coordinator: CoordinatorConfig
    consensus: ConsensusConfig
    risk: RiskConfig
    costs: CostConfig  # the cost and fill model the version was evaluated with (a record; runs use the config's)
    execution: dict[str, Any]  # live.json's execution sections as recorded (costs)
    agents: tuple[Agent, ...]
    agent_configs: dict[str, Any]  # the agent YAML documents, by agent name
    feature_contract: dict[str, Any]
    lineage: dict[str, Any]
    manifest: dict[str, Any]
    hashes: dict[str, str] = field(repr=False)  # path -> verified sha256, every file of the bundle
    run_id: str | None = None  # the training run that logged it

    @property
    def metadata(self) -> dict[str, Any]:
        """The model contract (``MLmodel`` metadata)."""
        return self.predictor.metadata

    @property
    def training_window(self) -> tuple[str, str] | None:
        """(first, last) training session from the lineage, or None when it does not record them."""
        w = self.lineage.get("training_window") or {}
        first, last = w.get("first_session"), w.get("last_session")
        return (str(first), str(last)) if first and last else None

    def live_sections(self) -> dict[str, Any]:
        """The decision and risk config the version runs with, as plain dicts (coordinator, consensus, risk)."""
        return {k: getattr(self, k).model_dump(mode="json") for k in ("coordinator", "consensus", "risk")}

    def live_config(self, base: LiveConfig) -> LiveConfig:
        """``base`` with the bundle's coordinator, consensus and risk config. Execution (the top-level
        ``costs``), ``backtest`` and ``zmq_pub_endpoint`` stay ``base``'s: fills and costs model the market
        and must be the same for every version a gate compares (``docs/bundle.md``)."""
        return base.model_copy(update={"coordinator": self.coordinator, "consensus": self.consensus,
                                       "risk": self.risk})

    def check_serving(self, serving_contract: Mapping[str, Any]) -> None:
        """Refuse (naming each field) when this engine's feature contract differs from the model's."""
        check_feature_contract(self.metadata, dict(serving_contract))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for a person: version, files and hashes, contract, configs, lineage."""
        return {"name": self.name, "version": self.version, "uri": self.uri, "requested_uri": self.requested_uri,
                "run_id": self.run_id, "files": dict(sorted(self.hashes.items())),
                "feature_contract": self.feature_contract, "live": {**self.live_sections(), **self.execution},
                "agents": self.agent_configs, "lineage": self.lineage}


def parse_model_uri(model_uri: str) -> tuple[str, str | None, str | None]:
    """``(name, alias, version)`` of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    m = _URI.match(model_uri.strip())
    if m is None:
        raise InputError(f"model URI {model_uri!r}: a bundle is loaded from the registry; give "
                         "models:/NAME@ALIAS (e.g. models:/quantumtrader@challenger) or models:/NAME/VERSION")
    return m["name"], m["alias"], m["version"]


def resolve_version(model_uri: str, tracking_uri: str) -> Any:
    """The MLflow ``ModelVersion`` that ``model_uri`` names (an alias read once)."""
    import mlflow

    name, alias, version = parse_model_uri(model_uri)
    client = mlflow.MlflowClient(tracking_uri)
    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as err:
        raise InputError(f"model {model_uri} not found in the registry at {tracking_uri}: train and register "
                         f"one first (`qtml train`). ({err.message})") from None


def load_bundle(model_uri: str, tracking_uri: str, *, serving_contract: Mapping[str, Any] | None = None,
                keep: Path | None = None) -> Bundle:
    """Resolve, download, verify every file against the version's tags, and load (module docstring).

    ``serving_contract``: refuse a model whose feature contract differs from it, naming the field.
    ``keep``: download into this (new or empty) folder and leave the verified files there (inspection);
    by default they go to a temporary folder removed once loaded (everything is in memory by then).
    Raises :class:`~serving.bundle_layout.BundleRefused` (an ``InputError``) with one line naming the file.
    """
    mv = resolve_version(model_uri, tracking_uri)
    name, version = str(mv.name), str(mv.version)
    where = f"models:/{name}/{version}"
    expected = expected_hashes(dict(mv.tags or {}))
    if not expected:
        raise BundleRefused(f"{where} has no bundle (no bundle.sha256.* tags on the version): it was registered "
                            "without one; retrain with this code (`qtml train`)")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            raise InputError(f"{keep} is not empty: give a new or empty folder to keep the bundle's files in")
        with tempfile.TemporaryDirectory(prefix="qt-bundle-", dir=keep.parent) as tmp:
            for child in _download(mv, tracking_uri, Path(tmp), where).iterdir():
                child.rename(keep / child.name)
        return _load_from(keep, mv, expected, model_uri, serving_contract)
    with tempfile.TemporaryDirectory(prefix="qt-bundle-") as tmp:
        return _load_from(_download(mv, tracking_uri, Path(tmp), where), mv, expected, model_uri, serving_contract)


def _download(mv: Any, tracking_uri: str, dst: Path, where: str) -> Path:
    """Exactly the version's stored files (not through ``models:/``, which adds a file of its own)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    location = client.get_model_version_download_uri(mv.name, mv.version)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst),
                                                        tracking_uri=tracking_uri))
    except (OSError, mlflow.exceptions.MlflowException) as err:
        raise BundleRefused(f"{where} refused: its artifacts at {location} cannot be read ({err})") from None


def _load_from(root: Path, mv: Any, expected: dict[str, str], requested: str,
               serving_contract: Mapping[str, Any] | None) -> Bundle:
    name, version = str(mv.name), str(mv.version)
    where = f"models:/{name}/{version}"
    drop_registry_note(root, name, version, where=where)
    hashes = verify_tree(root, expected, where=where)
    manifest = read_json(root, MANIFEST, where=where)
    check_manifest(manifest, hashes, where=where)
    metadata = _model_contract(root, where)
    feature_contract = read_json(root, FEATURE_CONTRACT, where=where)
    differs = sorted(k for k in set(feature_contract) | set(metadata["feature_contract"])
                     if feature_contract.get(k) != metadata["feature_contract"].get(k))
    if differs:
        raise BundleRefused(f"{where}: {FEATURE_CONTRACT} and the MLmodel metadata differ on {', '.join(differs)}: "
                            "the bundle was not written by this code's trainer; retrain (`qtml train`)")
    if serving_contract is not None:
        check_feature_contract(metadata, dict(serving_contract))
    live = _live_parts(read_json(root, LIVE, where=where), where)
    names = [str(n) for n in manifest.get("agents") or []]
    agents, agent_docs = _agents(root, names, where)
    lineage = read_json(root, LINEAGE, where=where)
    predictor = _predictor(root / BOOSTER, metadata, where, hashes[BOOSTER])
    bundle = Bundle(name=name, version=version, uri=where, requested_uri=requested, predictor=predictor,
                    coordinator=live["coordinator"], consensus=live["consensus"], risk=live["risk"],
                    costs=live["costs"], execution=live["execution"], agents=tuple(agents),
                    agent_configs=agent_docs, feature_contract=feature_contract, lineage=lineage,
                    manifest=manifest, hashes=hashes, run_id=getattr(mv, "run_id", None) or None)
    log.info("bundle loaded", data={"uri": where, "requested": requested, "files": len(hashes),
                                    "booster_sha256": hashes[BOOSTER][:12]})
    return bundle


def _model_contract(root: Path, where: str) -> dict[str, Any]:
    """The ``MLmodel`` metadata, after checking the flavor is a native Booster text file without code."""
    from mlflow.models import Model

    try:
        mlmodel = Model.load(str(root / MLMODEL))
    except Exception as err:  # MLflow raises several types for a bad YAML
        raise BundleRefused(f"{where}: {MLMODEL} is not readable ({err})") from None
    flavor = (mlmodel.flavors or {}).get("lightgbm")
    if flavor is None:
        raise BundleRefused(f"{where}: {MLMODEL} has no lightgbm flavor (flavors: {sorted(mlmodel.flavors or {})})")
    data, model_class = str(flavor.get("data", "")), str(flavor.get("model_class", ""))
    if data != BOOSTER or model_class != "lightgbm.basic.Booster":
        raise BundleRefused(f"{where}: {MLMODEL} points at {data!r} ({model_class}), a pickled or non-native "
                            f"model; a bundle holds a native lightgbm.Booster as {BOOSTER}")
    if flavor.get("code"):
        raise BundleRefused(f"{where}: {MLMODEL} declares code ({flavor.get('code')!r}); a bundle carries no code")
    metadata = dict(mlmodel.metadata or {})
    check_contract(metadata)
    return metadata


def _live_parts(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """``live.json`` validated against this code's config models (unknown keys refused by name)."""
    from pydantic import BaseModel, ValidationError

    from live_engine.decision.config import ConsensusConfig, CoordinatorConfig
    from live_engine.execution.config import CostConfig
    from live_engine.risk.config import RiskConfig
    from serving.bundle_writer import DECISION_AND_RISK_SECTIONS, EXECUTION_SECTIONS

    unknown = sorted(set(doc) - set(DECISION_AND_RISK_SECTIONS) - set(EXECUTION_SECTIONS))
    missing = sorted(set(DECISION_AND_RISK_SECTIONS) - set(doc))
    if unknown or missing:
        raise BundleRefused(f"{where}: {LIVE} sections unknown {unknown}, missing {missing}: "
                            "retrain with this code (`qtml train`)")
    models: dict[str, type[BaseModel]] = {"coordinator": CoordinatorConfig, "consensus": ConsensusConfig,
                                          "risk": RiskConfig, "costs": CostConfig}
    out: dict[str, Any] = {"execution": {k: doc[k] for k in EXECUTION_SECTIONS if k in doc}}
    for key, model in models.items():
        try:
            out[key] = model.model_validate(doc.get(key, {}))
        except ValidationError as err:
            first = err.errors()[0]
            path = ".".join(str(p) for p in (key, *first["loc"]))
            raise BundleRefused(f"{where}: {LIVE} {path}: {first['msg']}") from None
    return out


def _agents(root: Path, names: list[str], where: str) -> tuple[list[Agent], dict[str, Any]]:
    from live_engine.decision.agents import agent_configs, load_agents

    if not names:
        raise BundleRefused(f"{where}: {MANIFEST} lists no agents")
    directory = root / AGENTS
    try:
        return load_agents(directory, names=names), agent_configs(directory, names=names)
    except (ConfigError, OSError, ValueError) as err:
        raise BundleRefused(f"{where}: {AGENTS}/: {err}") from None


def _predictor(path: Path, metadata: dict[str, Any], where: str, sha256: str) -> Predictor:
    import lightgbm as lgb  # ~5 s: only once every file is verified

    try:
        with lightgbm_section():
            booster = lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as err:
        raise BundleRefused(f"{where}: {BOOSTER} is not a LightGBM model ({err})") from None
    return Predictor.from_booster(booster, metadata, model_uri=where, model_sha256=sha256)

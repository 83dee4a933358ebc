"""The bundle: every file hashed on the model version, verified on load; tampered, missing, pickled
or code-carrying bundles and contract mismatches are refused naming the file or field."""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pytest
import yaml
from tiny_model import contract, register, register_plain, train_booster

from features.contract import all_present, feature_contract
from features.spec import FEATURE_NAMES
from live_engine.decision.agents import AGENTS_DIR, DEFAULT_AGENTS
from quantumtrader.config import Settings, load_settings
from quantumtrader.errors import InputError
from serving.bundle import load_bundle
from serving.bundle_layout import TAG_PREFIX, BundleRefused, sha256_file
from serving.predictor import ModelRefused

MLFLOW_FILES = {"MLmodel", "model.lgb", "conda.yaml", "python_env.yaml", "requirements.txt"}
BUNDLE_FILES = {"feature_contract.json", "live.json", "lineage.json", "manifest.json",
                *(f"agents/{n}.yaml" for n in DEFAULT_AGENTS)}


@pytest.fixture(scope="module")
def mlflow_settings(tmp_path_factory) -> Settings:
    """One MLflow database for the module (creating one costs seconds); each test registers its own alias."""
    return load_settings(root=tmp_path_factory.mktemp("bundle"))


def stored_dir(settings: Settings, name: str, version: str) -> Path:
    """Where the artifact store keeps the version's files (a local folder in these tests)."""
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    return Path(urlparse(client.get_model_version_download_uri(name, version)).path)


def version_of(settings: Settings, uri: str) -> str:
    name, alias = uri.removeprefix("models:/").split("@")
    return str(mlflow.MlflowClient(settings.mlflow_tracking_uri).get_model_version_by_alias(name, alias).version)


def test_every_file_of_the_bundle_is_hashed_on_the_version_and_verified_on_load(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="full", lineage={"dataset": {"snapshot_hash": "abc"}})
    version = version_of(s, uri)
    tags = mlflow.MlflowClient(s.mlflow_tracking_uri).get_model_version("quantumtrader", version).tags
    recorded = {k.removeprefix(TAG_PREFIX): v for k, v in tags.items() if k.startswith(TAG_PREFIX)}
    assert set(recorded) == MLFLOW_FILES | BUNDLE_FILES
    assert tags["bundle.format"] == "1" and tags["bundle.files"] == str(len(recorded))
    folder = stored_dir(s, "quantumtrader", version)
    assert recorded == {rel: sha256_file(folder / rel) for rel in recorded}

    b = load_bundle(uri, s.mlflow_tracking_uri)
    assert (b.name, b.version, b.uri, b.requested_uri) == ("quantumtrader", version, f"models:/quantumtrader/{version}",
                                                           uri)
    assert b.hashes == recorded and b.predictor.model_sha256 == recorded["model.lgb"]
    assert set(b.manifest["files"]) == set(recorded) - {"manifest.json"}
    assert [a.name for a in b.agents] == list(DEFAULT_AGENTS)
    for n in DEFAULT_AGENTS:  # the YAMLs byte for byte as they were at registration
        assert (folder / "agents" / f"{n}.yaml").read_bytes() == (AGENTS_DIR / f"{n}.yaml").read_bytes()
        assert b.agent_configs[n] == yaml.safe_load((AGENTS_DIR / f"{n}.yaml").read_text())
    assert b.risk == s.live.risk and b.consensus == s.live.consensus and b.coordinator == s.live.coordinator
    assert b.costs == s.costs and b.execution == {"costs": s.costs.model_dump(mode="json")}
    assert b.feature_contract == contract()["feature_contract"] and b.lineage["dataset"]["snapshot_hash"] == "abc"
    # a version number names the same bundle as the alias
    assert load_bundle(f"models:/quantumtrader/{version}", s.mlflow_tracking_uri).hashes == b.hashes
    row = np.random.default_rng(0).normal(size=len(FEATURE_NAMES))
    assert b.predictor.predict_proba3(row) == b.predictor.predict_proba3(row)
    assert b.describe()["files"] == dict(sorted(recorded.items()))


@pytest.mark.parametrize(("uri", "match"), [("runs:/abc/model", "a bundle is loaded from the registry"),
                                            ("models:/m-0123456789", "a bundle is loaded from the registry"),
                                            ("models:/nothing@challenger", "qtml train")])
def test_uris_other_than_a_registered_alias_or_version_are_refused(mlflow_settings, uri, match):
    with pytest.raises(InputError, match=match):
        load_bundle(uri, mlflow_settings.mlflow_tracking_uri)


def test_a_version_registered_without_a_bundle_is_refused(mlflow_settings):
    uri = register_plain(mlflow_settings, train_booster(), contract(), alias="nobundle")
    with pytest.raises(BundleRefused, match=r"models:/quantumtrader/\d+ has no bundle .*`qtml train`"):
        load_bundle(uri, mlflow_settings.mlflow_tracking_uri)


def test_a_changed_agent_yaml_is_refused_naming_the_file(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="tampered")
    path = stored_dir(s, "quantumtrader", version_of(s, uri)) / "agents" / "order_flow.yaml"
    path.write_text(path.read_text().replace("dead_zone: 0.05", "dead_zone: 0.50"))
    with pytest.raises(BundleRefused, match=r"agents/order_flow\.yaml: sha256 \w+… differs from the registry's"):
        load_bundle(uri, s.mlflow_tracking_uri)


def test_a_changed_booster_is_refused_naming_the_file(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="booster")
    path = stored_dir(s, "quantumtrader", version_of(s, uri)) / "model.lgb"
    path.write_text(train_booster(seed=1).model_to_string())  # a valid model, but not the registered one
    with pytest.raises(BundleRefused, match=r"refused: model\.lgb: sha256"):
        load_bundle(uri, s.mlflow_tracking_uri)


def test_a_missing_file_is_refused_naming_it(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="missing")
    (stored_dir(s, "quantumtrader", version_of(s, uri)) / "live.json").unlink()
    with pytest.raises(BundleRefused, match=r"refused: live\.json: missing \(the registry records it"):
        load_bundle(uri, s.mlflow_tracking_uri)


def test_an_unrecorded_file_is_refused_naming_it(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="extra")
    (stored_dir(s, "quantumtrader", version_of(s, uri)) / "agents" / "fifth.yaml").write_text("name: fifth\n")
    with pytest.raises(BundleRefused, match=r"agents/fifth\.yaml: unexpected file"):
        load_bundle(uri, s.mlflow_tracking_uri)


def test_a_pickle_is_refused_naming_it_even_when_its_hash_is_recorded(mlflow_settings):
    """Someone with write access to both stores adds a pickle and records its hash: still refused,
    also when the pickle hides behind another suffix."""
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="pickle")
    version = version_of(s, uri)
    folder = stored_dir(s, "quantumtrader", version)
    client = mlflow.MlflowClient(s.mlflow_tracking_uri)
    for rel in ("model.pkl", "weights.bin"):
        (folder / rel).write_bytes(pickle.dumps({"not": "a booster"}))
        client.set_model_version_tag("quantumtrader", version, TAG_PREFIX + rel, sha256_file(folder / rel))
    with pytest.raises(BundleRefused, match=r"model\.pkl: a pickle.*weights\.bin: a pickle"):
        load_bundle(uri, s.mlflow_tracking_uri)


def test_a_code_folder_is_refused_naming_it(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="code")
    code = stored_dir(s, "quantumtrader", version_of(s, uri)) / "code"
    code.mkdir()
    (code / "hook.txt").write_text("import os\n")
    with pytest.raises(BundleRefused, match=r"refused: code/: a code folder"):
        load_bundle(uri, s.mlflow_tracking_uri)


def test_a_python_file_is_refused_naming_it(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="pyfile")
    (stored_dir(s, "quantumtrader", version_of(s, uri)) / "agents" / "loader.py").write_text("print(1)\n")
    with pytest.raises(BundleRefused, match=r"refused: agents/loader\.py: a code file"):
        load_bundle(uri, s.mlflow_tracking_uri)


def serving(**overrides) -> dict:
    args = {"bar_spec": "time:60s", "large_trade_qty": 10, "tick_size": 0.5, "input_groups": all_present(),
            **overrides}
    return feature_contract(**args)


def test_a_feature_contract_mismatch_is_refused_naming_the_field(mlflow_settings):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="contract")
    assert load_bundle(uri, s.mlflow_tracking_uri, serving_contract=serving()).version
    with pytest.raises(ModelRefused, match=r"bar_spec: model was trained with 'time:60s', this engine runs "
                                            r"'time:300s': the model reads time:60s bars and this engine builds "
                                            r"time:300s bars"):
        load_bundle(uri, s.mlflow_tracking_uri, serving_contract=serving(bar_spec="time:300s"))
    with pytest.raises(ModelRefused, match=r"large_trade_qty: model was trained with 10, this engine runs 50"):
        load_bundle(uri, s.mlflow_tracking_uri, serving_contract=serving(large_trade_qty=50))


def test_a_feature_contract_file_that_disagrees_with_the_model_metadata_is_refused_naming_the_field(mlflow_settings):
    """Consistent hashes, inconsistent bundle (not written by this trainer): refused by field."""
    import json

    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="fcfile")
    version = version_of(s, uri)
    folder = stored_dir(s, "quantumtrader", version)
    path = folder / "feature_contract.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "large_trade_qty": 50}))
    client = mlflow.MlflowClient(s.mlflow_tracking_uri)
    client.set_model_version_tag("quantumtrader", version, TAG_PREFIX + "feature_contract.json", sha256_file(path))
    with pytest.raises(BundleRefused, match=r"manifest\.json disagrees with the registry on feature_contract\.json"):
        load_bundle(uri, s.mlflow_tracking_uri)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["feature_contract.json"]["sha256"] = sha256_file(path)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    client.set_model_version_tag("quantumtrader", version, TAG_PREFIX + "manifest.json",
                                 sha256_file(folder / "manifest.json"))
    with pytest.raises(BundleRefused, match=r"feature_contract\.json and the MLmodel metadata differ on "
                                            r"large_trade_qty"):
        load_bundle(uri, s.mlflow_tracking_uri)


def test_keep_leaves_the_verified_files_for_inspection(mlflow_settings, tmp_path):
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="keep")
    b = load_bundle(uri, s.mlflow_tracking_uri, keep=tmp_path / "b")
    assert {p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file()} \
        == set(b.hashes)
    with pytest.raises(InputError, match="not empty"):
        load_bundle(uri, s.mlflow_tracking_uri, keep=tmp_path / "b")


def test_mlflows_own_registry_note_is_accepted_only_with_its_own_content(mlflow_settings):
    """``mlflow.lightgbm.load_model("models:/NAME/VERSION")`` writes ``registered_model_meta`` into a
    local artifact store: the bundle still loads; other content in that file is refused."""
    s = mlflow_settings
    uri = register(s, train_booster(), contract(), alias="note")
    version = version_of(s, uri)
    mlflow.set_tracking_uri(s.mlflow_tracking_uri)
    mlflow.lightgbm.load_model(f"models:/quantumtrader/{version}")
    note = stored_dir(s, "quantumtrader", version) / "registered_model_meta"
    assert note.exists()
    assert load_bundle(uri, s.mlflow_tracking_uri).version == version
    note.write_text("model_name: quantumtrader\nmodel_version: '1'\nhook: run-me\n")
    with pytest.raises(BundleRefused, match=r"registered_model_meta: unexpected content"):
        load_bundle(uri, s.mlflow_tracking_uri)

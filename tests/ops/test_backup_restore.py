"""qtml backup / restore on real stores: a journal, a tiny champion in a real MLflow, a promotion record."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from tiny_model import contract, register, train_booster

from live_engine.journal.journal import Journal
from ops.backup import archives, create_backup
from ops.restore import read_manifest, restore_backup
from quantumtrader.config import Settings, load_settings
from quantumtrader.errors import InputError
from training.promotion import gate

REPO = Path(__file__).resolve().parents[2]


def _settings(root: Path) -> Settings:
    return load_settings(root=root, stores={"feast_repo": str(REPO / "feature_repo")})


@pytest.fixture
def stores(settings: Settings) -> Settings:
    """A paper journal with one engine start, quantumtrader v1 @champion (forced, recorded)."""
    with Journal.open(Journal.url_for(settings), mode="paper") as journal:
        journal.record_start("epoch-1", {"live": {"risk": {"max_position": 1}}})
    register(settings, train_booster(), contract())
    gate.promote(settings, version="1", force=True, reason="first champion for the backup test")
    from research.kb.store import KnowledgeBase

    with KnowledgeBase.for_settings(settings) as kb:  # the research knowledge base is backed up too
        kb.add_experiment("study", "study-backup", name="a study")
    return settings


def _qtml(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update({"QT_ROOT": str(root), "QT_CONFIG": str(REPO / "config" / "default.yaml"),
                "QT_STORES__FEAST_REPO": str(REPO / "feature_repo")})
    return subprocess.run([str(Path(sys.executable).parent / "qtml"), *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_restore_into_an_empty_var_dir_brings_back_journal_and_registry_the_engine_accepts(
        stores: Settings, tmp_path: Path) -> None:
    result = create_backup(stores)
    assert {"journal/paper.db", "mlflow/mlflow.db", "mlflow/artifacts-index.json", "promotions.db", "kb.db",
            "config/resolved.yaml"} <= set(result.members), result.members
    with tarfile.open(result.path) as tar:
        index = json.loads(tar.extractfile("mlflow/artifacts-index.json").read())  # type: ignore[union-attr]
        sizes = {m.name.removeprefix("mlflow/artifacts/"): m.size for m in tar.getmembers() if m.isfile()}
    assert index and all(len(e["sha256"]) == 64 and sizes[e["path"]] == e["bytes"] for e in index)
    archive = tmp_path / "keep" / result.path.name
    archive.parent.mkdir()
    shutil.move(result.path, archive)
    shutil.rmtree(stores.var_dir)  # the original stores are gone: everything must come from the archive

    other = _settings(tmp_path / "elsewhere")
    restored = restore_backup(other, archive)
    assert {"journal", "mlflow", "mlflow artifacts", "promotions", "kb"} <= set(restored.restored), restored
    from research.kb.store import KnowledgeBase

    with KnowledgeBase.for_settings(other) as kb:
        assert kb.experiment("study:study-backup")["name"] == "a study"
    journal, quarantined = Journal.open_or_quarantine(Journal.url_for(other), mode="paper")  # as the engine opens it
    with journal:
        assert quarantined is None and journal.last_start() is not None
        assert journal.last_start().epoch == "epoch-1"  # type: ignore[union-attr]
    from serving.bundle import load_bundle

    bundle = load_bundle(other.live.service.model_uri, other.mlflow_tracking_uri)  # the engine's loader, SHA-256s
    assert str(bundle.version) == "1"
    listed = _qtml(tmp_path / "elsewhere", "model", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["aliases"].get("champion") == "1" and len(doc["promotions"]) == 1
    checked = _qtml(tmp_path / "elsewhere", "check")  # the pre-market check accepts the restored champion
    assert "[PASS] champion" in checked.stdout and checked.returncode == 0, checked.stdout + checked.stderr

    with pytest.raises(InputError, match="already exists"):
        restore_backup(other, archive)
    again = restore_backup(other, archive, force=True)
    assert again.moved_aside and all(p.exists() for p in again.moved_aside)


def test_backups_beyond_keep_are_deleted_oldest_first(stores: Settings) -> None:
    paths = [create_backup(stores, keep=2).path for _ in range(3)]
    assert archives(stores.backup_dir) == paths[1:]


def test_a_file_that_is_no_backup_is_one_clear_line(stores: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not an archive")
    with pytest.raises(InputError, match="is not a QuantumTrader backup") as err:
        read_manifest(junk)
    assert "\n" not in str(err.value)
    other_tar = tmp_path / "other.tar.gz"
    with tarfile.open(other_tar, "w:gz") as tar:
        tar.add(REPO / "pyproject.toml", arcname="pyproject.toml")
    with pytest.raises(InputError, match=r"no manifest\.json"):
        restore_backup(stores, other_tar)
    out = _qtml(tmp_path, "restore", str(junk))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "is not a QuantumTrader backup" in out.stderr
    out = _qtml(tmp_path, "clean", "--older-than", "30x")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "unknown unit 'x'" in out.stderr


def test_a_damaged_member_is_refused_before_anything_is_written(stores: Settings, tmp_path: Path) -> None:
    good = create_backup(stores).path
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(good) as src, tarfile.open(bad, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name == "promotions.db" and data is not None:
                blob = bytearray(data.read())
                blob[-1] ^= 0xFF
                import io

                member.size = len(blob)
                dst.addfile(member, io.BytesIO(bytes(blob)))
            else:
                dst.addfile(member, data)
    target = _settings(tmp_path / "fresh")
    with pytest.raises(InputError, match=r"promotions\.db is missing or its SHA-256 differs"):
        restore_backup(target, bad)
    assert not (target.var_dir / "journal").exists() and not (target.var_dir / "mlflow").exists()

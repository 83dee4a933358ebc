"""What a model bundle holds on disk, and the rules a downloaded bundle must pass before anything reads it.

A registered model version is one folder of plain files (``docs/bundle.md``):

- MLflow's own files of the LightGBM flavor: ``MLmodel`` (with the model contract as metadata),
  ``model.lgb`` (the native Booster text), ``conda.yaml``, ``python_env.yaml``, ``requirements.txt``
  and, when training gave an input example, ``input_example.json`` / ``serving_input_example.json``;
- :data:`FEATURE_CONTRACT` (``feature_contract.json``), the agent YAMLs under :data:`AGENTS`,
  :data:`LIVE` (``live.json``: coordinator, consensus, risk and execution config) and
  :data:`LINEAGE` (``lineage.json``);
- :data:`MANIFEST` (``manifest.json``): every other file with its SHA-256 and size.

The SHA-256 of every file (the manifest's too) is a tag ``bundle.sha256.<path>`` on the model
version: the registry, not the artifact store, says what the bundle is. :func:`verify_tree` compares
a downloaded folder with those tags. The functions here read and hash files; they import nothing
from MLflow.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.predictor import ModelRefused

BUNDLE_FORMAT = 1
BOOSTER = "model.lgb"
MLMODEL = "MLmodel"
FEATURE_CONTRACT = "feature_contract.json"
AGENTS = "agents"
LIVE = "live.json"
LINEAGE = "lineage.json"
MANIFEST = "manifest.json"

TAG_PREFIX = "bundle.sha256."
"""Model version tag of one file's SHA-256: ``bundle.sha256.agents/order_flow.yaml``."""
FORMAT_TAG = "bundle.format"
FILES_TAG = "bundle.files"

# Files that carry code or serialised Python objects: never loaded, whatever their hash.
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".dll", ".dylib", ".whl", ".egg", ".ipynb")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle", ".dill", ".skops", ".pt", ".pth", ".npy", ".npz")
CODE_DIRS = ("code", "__pycache__")


class BundleRefused(ModelRefused):
    """A bundle file is missing, changed, unexpected or unsafe: the message names it. Re-register the
    model (``qtml train``) or restore the artifact store; never load it as is."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


def tree_files(root: Path) -> dict[str, Path]:
    """Every regular file under ``root`` by its POSIX path relative to ``root``."""
    return {p.relative_to(root).as_posix(): p for p in _entries(root) if p.is_file() and not p.is_symlink()}


def hash_tree(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``root``."""
    return {rel: sha256_file(p) for rel, p in tree_files(root).items()}


def _is_pickle(path: Path) -> bool:
    """A pickle stream starts with PROTO (0x80) and a protocol number 2..5."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def unsafe_entries(root: Path) -> list[str]:
    """Why each unsafe entry under ``root`` is refused: code folders, code files, pickles, symlinks."""
    out: list[str] = []
    for p in _entries(root):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out.append(f"{rel}: a symbolic link (a bundle holds plain files only)")
        elif p.is_dir() and p.name in CODE_DIRS:
            out.append(f"{rel}/: a code folder (a bundle carries no code; MLflow's code_paths are refused)")
        elif p.is_file() and p.suffix.lower() in CODE_SUFFIXES:
            out.append(f"{rel}: a code file (a bundle carries no code)")
        elif p.is_file() and (p.suffix.lower() in PICKLE_SUFFIXES or _is_pickle(p)):
            out.append(f"{rel}: a pickle or other serialised object (only native LightGBM text is loaded)")
    return out


MLFLOW_REGISTRY_NOTE = "registered_model_meta"
"""A file MLflow's client writes *into a local artifact store* whenever a ``models:/NAME/VERSION``
URI is loaded (``mlflow.lightgbm.load_model``): ``model_name`` and ``model_version`` only. It is not
part of the bundle; :func:`drop_registry_note` accepts it with exactly that content and nothing else."""


def drop_registry_note(root: Path, name: str, version: str, *, where: str) -> None:
    """Remove MLflow's :data:`MLFLOW_REGISTRY_NOTE` from a downloaded copy, refusing any other content."""
    import yaml

    path = root / MLFLOW_REGISTRY_NOTE
    if not path.is_file() or path.is_symlink():
        return
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) if path.stat().st_size < 4096 else None
    except (OSError, ValueError, yaml.YAMLError):
        doc = None
    if doc != {"model_name": name, "model_version": version} and doc != {"model_name": name,
                                                                        "model_version": int(version)}:
        raise BundleRefused(f"{where} refused: {MLFLOW_REGISTRY_NOTE}: unexpected content (MLflow writes only "
                            "this version's name and number there)")
    path.unlink()


def expected_hashes(tags: Mapping[str, str]) -> dict[str, str]:
    """The ``bundle.sha256.*`` tags of a model version as ``path -> sha256``."""
    return {k.removeprefix(TAG_PREFIX): v for k, v in tags.items() if k.startswith(TAG_PREFIX)}


def hash_tags(hashes: Mapping[str, str]) -> dict[str, str]:
    """The model version tags that record ``hashes`` (and the format and file count)."""
    return {FORMAT_TAG: str(BUNDLE_FORMAT), FILES_TAG: str(len(hashes)),
            **{f"{TAG_PREFIX}{rel}": h for rel, h in sorted(hashes.items())}}


def verify_tree(root: Path, expected: Mapping[str, str], *, where: str) -> dict[str, str]:
    """Refuse the folder unless it holds exactly the ``expected`` files with those hashes and nothing unsafe.

    ``where`` names the version in the message (``models:/quantumtrader/3``). Returns the verified
    ``path -> sha256``. Unsafe entries are refused first, whatever the tags say (a pickle with a
    recorded hash is still a pickle).
    """
    unsafe = unsafe_entries(root)
    if unsafe:
        raise BundleRefused(f"{where} refused: " + "; ".join(unsafe))
    found = hash_tree(root)
    problems: list[str] = []
    for rel in sorted(set(expected) - set(found)):
        problems.append(f"{rel}: missing (the registry records it, the artifact store does not have it)")
    for rel in sorted(set(found) - set(expected)):
        problems.append(f"{rel}: unexpected file (not recorded on the version)")
    for rel in sorted(set(found) & set(expected)):
        if found[rel] != expected[rel]:
            problems.append(f"{rel}: sha256 {found[rel][:12]}… differs from the registry's {expected[rel][:12]}… "
                            "(changed after registration)")
    if problems:
        raise BundleRefused(f"{where} refused: " + "; ".join(problems)
                            + ": re-register the model (`qtml train`) or restore its artifacts")
    return found


def check_manifest(manifest: Mapping[str, Any], verified: Mapping[str, str], *, where: str) -> None:
    """The manifest lists every other file with the hash the registry records, in a known format."""
    fmt = manifest.get("bundle_format")
    if fmt != BUNDLE_FORMAT:
        raise BundleRefused(f"{where}: {MANIFEST} bundle_format {fmt!r}, this code reads {BUNDLE_FORMAT}: "
                            "retrain with this code (`qtml train`)")
    files = manifest.get("files") or {}
    listed = {rel: str((entry or {}).get("sha256")) for rel, entry in files.items()}
    others = {rel: h for rel, h in verified.items() if rel != MANIFEST}
    wrong = sorted(rel for rel in set(listed) | set(others) if listed.get(rel) != others.get(rel))
    if wrong:
        raise BundleRefused(f"{where}: {MANIFEST} disagrees with the registry on {', '.join(wrong)}")


def manifest_doc(hashes: Mapping[str, str], sizes: Mapping[str, int], agents: list[str]) -> dict[str, Any]:
    """The manifest of a bundle whose other files have ``hashes``."""
    return {"bundle_format": BUNDLE_FORMAT, "booster": BOOSTER, "feature_contract": FEATURE_CONTRACT,
            "live": LIVE, "lineage": LINEAGE, "agents": list(agents),  # in voting order: agents/<name>.yaml
            "files": {rel: {"sha256": h, "bytes": int(sizes[rel])} for rel, h in sorted(hashes.items())}}


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None  # unknown is not a value: JSON null, never NaN or 0
    if isinstance(v, dict):
        return {str(k): _finite_or_none(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite_or_none(x) for x in v]
    return v


def json_bytes(doc: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, 2-space indent, non-finite numbers as null): the same bytes for the same doc."""
    return (json.dumps(_finite_or_none(dict(doc)), sort_keys=True, indent=2, allow_nan=False) + "\n").encode()


def read_json(root: Path, rel: str, *, where: str) -> dict[str, Any]:
    try:
        doc = json.loads((root / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BundleRefused(f"{where}: {rel} is not readable JSON ({err})") from None
    if not isinstance(doc, dict):
        raise BundleRefused(f"{where}: {rel} is not a JSON object")
    return doc

"""The MLflow registry as the promotion gate sees it: versions, aliases, tags and training lineage.

The champion is one MLflow alias. Moving it is one call (``set_registered_model_alias``: a single
row merged in one transaction of the registry's store), so at every instant the alias names exactly
one version: the previous champion or the new one, never none and never both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quantumtrader.errors import InputError

PREVIOUS_CHAMPION_TAG = "previous_champion"  # on a version that became champion: the version it replaced
PROMOTION_ID_TAG = "promotion_id"  # the promotions row that made it champion
NO_VERSION = "none"


@dataclass(frozen=True)
class ModelRef:
    """A registered model version."""

    name: str
    version: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def client(tracking_uri: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri)


def _not_found(err: Exception) -> bool:
    code = getattr(err, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or "not found" in str(err).lower()


def alias_version(c: Any, name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the alias (or the registered model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_model_version_by_alias(name, alias).version)
    except MlflowException as err:
        if _not_found(err):
            return None
        raise


def resolve(c: Any, uri: str) -> ModelRef:
    """``models:/name@alias`` or ``models:/name/version`` -> the version; :class:`InputError` when absent."""
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        raise InputError(f"{uri!r} is no registry URI: give models:/<name>@<alias> or models:/<name>/<version>")
    rest = uri.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        version = alias_version(c, name, alias)
        if version is None:
            raise InputError(f"{uri}: no version of {name!r} has the alias {alias!r} (train one: `qtml train`)")
        return ModelRef(name, version)
    name, _, version = rest.partition("/")
    if not version.isdigit():
        raise InputError(f"{uri}: the version must be a number (models:/{name}/3)")
    try:
        c.get_model_version(name, version)
    except MlflowException as err:
        if _not_found(err):
            raise InputError(f"{uri}: {name!r} has no version {version} (see `qtml model list`)") from None
        raise
    return ModelRef(name, version)


def move_alias(c: Any, ref: ModelRef, alias: str) -> None:
    """Point ``alias`` at ``ref``: the one atomic step of a promotion or a rollback."""
    c.set_registered_model_alias(ref.name, alias, ref.version)


def set_tags(c: Any, ref: ModelRef, tags: dict[str, str]) -> None:
    for k, v in tags.items():
        c.set_model_version_tag(ref.name, ref.version, k, v)


def version_tags(c: Any, ref: ModelRef) -> dict[str, str]:
    return dict(c.get_model_version(ref.name, ref.version).tags or {})


def versions(c: Any, name: str) -> list[Any]:
    """Every version of ``name``, newest first (empty when the model is not registered)."""
    found = c.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def aliases(c: Any, name: str) -> dict[str, str]:
    """alias -> version of the registered model (empty when it is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        rm = c.get_registered_model(name)
    except MlflowException as err:
        if _not_found(err):
            return {}
        raise
    return {str(k): str(v) for k, v in (rm.aliases or {}).items()}


@dataclass(frozen=True)
class Lineage:
    """What the version's training run recorded."""

    run_id: str | None
    train_window: tuple[str, str] | None
    data_validation: bool | None
    validation_detail: str
    n_trials: int | None


def lineage(c: Any, ref: ModelRef) -> Lineage:
    """The training run's window, GE result (tag, else ``data_validation.json``) and tuning combos."""
    run_id = c.get_model_version(ref.name, ref.version).run_id
    if not run_id:
        return Lineage(None, None, None, "the version has no training run", None)
    run = c.get_run(run_id)
    tags, params = run.data.tags, run.data.params
    first, last = tags.get("train_first_session"), tags.get("train_last_session")
    window = (first, last) if first and last else None
    combos = params.get("tuning.combos")
    n_trials = int(combos) if combos is not None and str(combos).isdigit() and int(combos) > 0 else None
    validation, detail = _validation(c, run_id, tags.get("data_validation_success"))
    return Lineage(run_id, window, validation, detail, n_trials)


def _validation(c: Any, run_id: str, tag: str | None) -> tuple[bool | None, str]:
    """(passed?, detail) from the run's tag and its ``data_validation.json`` (which names failures)."""
    doc: dict[str, Any] | None = None
    try:
        import mlflow

        text = mlflow.artifacts.load_text(f"runs:/{run_id}/data_validation.json")
        doc = json.loads(text)
    except Exception:  # an absent or unreadable artifact counts as "not recorded", said below
        doc = None
    success: bool | None = {"True": True, "False": False}.get(str(tag)) if tag is not None else None
    if doc is not None and success is None and tag is None:
        success = doc.get("success")
    if doc is not None and doc.get("success") is False:
        success = False  # either record failing is a failure
    files = doc.get("files") if doc else None
    if success is True:
        return True, f"all {files} validation results of the training data passed" if files else "passed"
    if success is False:
        failed = list((doc or {}).get("failed") or [])
        shown = ", ".join(failed[:5]) + (" …" if len(failed) > 5 else "")
        return False, f"{len(failed)} batches of the training data failed validation: {shown}" if failed \
            else "the training data failed validation"
    return None, "the training run records no data validation result (train on validated data: `qtml ingest`)"

"""The one validated configuration of QuantumTrader.

Sources, highest priority first:

1. keyword arguments to :func:`load_settings` (tests),
2. environment variables with prefix ``QT_`` and ``__`` between nested keys
   (``QT_MARKET__BARS__SPEC=time:30s``, ``QT_STORES__MLFLOW_TRACKING_URI=postgresql://...``),
3. a ``.env`` file in the working directory (same names),
4. the YAML file named by ``QT_CONFIG`` (default ``config/default.yaml``).

Secrets (passwords in database URLs) come only from the environment. Nothing unknown passes: a
``QT_`` name that is no setting, an unknown YAML key, broken YAML, a wrong value, a store URI that
does not parse or a ``var_dir`` that cannot be created fail at start with one line each in a
:class:`~quantumtrader.errors.ConfigError` (:mod:`quantumtrader.config_check`, docs/configuration.md).

Every store lives under one git-ignored ``var/`` folder by default; relative paths are resolved
against ``root`` (the project directory, ``QT_ROOT``, default: the working directory).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from features.config import FeaturesConfig
from live_engine.config import LiveConfig
from live_engine.execution.config import CostConfig
from market.config import MarketConfig
from monitoring.config import DriftConfig
from quantumtrader import config_check as check
from quantumtrader.errors import ConfigError
from quantumtrader.frozen import FrozenModel
from quantumtrader.logging import redact
from reports.config import ReportsConfig
from research.config import ResearchConfig
from training.config import TrainingConfig
from training.promotion.config import PromotionConfig

DEFAULT_CONFIG_FILE = Path("config/default.yaml")
DOTENV_FILE = Path(".env")


class LoggingConfig(FrozenModel):
    level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    json_file: str | None = "logs/qt.jsonl"  # relative to stores.var_dir; null disables the file


class StoresConfig(FrozenModel):
    """Where every store lives. Empty values are derived from ``var_dir``."""

    var_dir: Path = Path("var")
    lake_root: Path | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_artifact_root: Path | None = None
    feast_repo: Path = Path("feature_repo")
    feast_dir: Path | None = None
    journal_db_url: str | None = None
    promotions_db_url: str | None = None  # the append-only promotions table (SQLAlchemy URL)
    kb_db_url: str | None = None  # the research knowledge base (SQLAlchemy URL; research/kb/)
    prefect_home: Path | None = None
    prefect_api_database_url: str | None = None
    prefect_api_url: str | None = None  # set to use a Prefect server instead of the local ephemeral API
    reports_dir: Path | None = None
    connect_timeout_s: float = Field(10.0, gt=0)  # a server store that does not answer in this time fails the command


# ---- ops/: backup, restore, clean, pre-market check (docs/housekeeping.md) --------------------------------
# Declared here rather than in ops/ so that the engine process, which loads Settings, never imports ops/.
class OpsConfig(FrozenModel):
    """``qtml backup|restore|clean|check`` and the backup-daily, clean-weekly, check-premarket deployments."""

    backup_dir: Path | None = None  # default <var_dir>/backups (beside the engine's journal snapshots)
    backup_keep: int = Field(14, gt=0, description="qtml backup archives kept; older ones are deleted.")
    backup_artifacts: bool = Field(True, description="Put the MLflow artifact files in the archive (with their "
                                                     "index); false: the index only.")
    retention: str = Field("30d", pattern=r"^[0-9]+[smhdw]$", description="qtml clean's default --older-than.")
    min_free_disk_gb: float = Field(2.0, ge=0, description="qtml check: less free space under var_dir is FAIL.")
    warn_free_disk_gb: float = Field(10.0, ge=0, description="qtml check: less free space is WARN.")
    max_clock_offset_s: float = Field(1.0, gt=0, description="qtml check: a larger clock offset is FAIL.")


class Settings(BaseSettings):
    """Root configuration composed of one frozen config per component."""

    model_config = SettingsConfigDict(
        env_prefix="QT_",
        env_nested_delimiter="__",
        env_file=DOTENV_FILE,
        dotenv_filtering="only_existing",  # other tools' names may share .env; QT_ ones are checked below
        extra="forbid",
        frozen=True,
    )

    root: Path = Field(default_factory=Path.cwd)
    stores: StoresConfig = StoresConfig()
    logging: LoggingConfig = LoggingConfig()
    market: MarketConfig = MarketConfig()
    costs: CostConfig = CostConfig()  # one cost and fill model: labels, paper broker and sweep
    features: FeaturesConfig = FeaturesConfig()
    training: TrainingConfig = TrainingConfig()
    live: LiveConfig = LiveConfig()
    promotion: PromotionConfig = PromotionConfig()
    # the daily and weekly reports and `qtml analyze` (reports/config.py)
    reports: ReportsConfig = ReportsConfig()
    ops: OpsConfig = OpsConfig()  # ops/ (docs/housekeeping.md)
    # the hourly drift check and the retrain it triggers (monitoring/config.py, docs/drift.md)
    drift: DriftConfig = DriftConfig()
    # the research knowledge base and the arXiv queries that feed it (research/config.py, docs/research.md)
    research: ResearchConfig = ResearchConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        problems = check.unknown_env_names(os.environ, cls) + check.unknown_env_names(
            _dotenv_vars(), cls, origin=f"{DOTENV_FILE}: ")  # pydantic-settings would ignore these
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        yaml_file = _yaml_file()
        if yaml_file.exists():
            try:
                data, _ = check.read_yaml(yaml_file, cls)
                sources.append(InitSettingsSource(settings_cls, init_kwargs=data))
            except ConfigError as err:
                problems.append(str(err))
        elif "QT_CONFIG" in os.environ:
            problems.append(f"QT_CONFIG: config file {yaml_file} does not exist")
        if problems:
            raise ConfigError("\n".join(problems))
        return tuple(sources)

    @model_validator(mode="after")
    def _resolve_stores(self) -> Settings:
        root = self.root.resolve()
        s = self.stores

        def under(p: Path | None, default: Path) -> Path:
            p = p if p is not None else default
            return p if p.is_absolute() else (root / p)

        var = under(s.var_dir, Path("var"))
        mlflow_dir = var / "mlflow"
        resolved = s.model_copy(
            update={
                "var_dir": var,
                "lake_root": under(s.lake_root, var / "lake"),
                "mlflow_tracking_uri": s.mlflow_tracking_uri or f"sqlite:///{mlflow_dir / 'mlflow.db'}",
                "mlflow_artifact_root": under(s.mlflow_artifact_root, mlflow_dir / "artifacts"),
                "feast_repo": under(s.feast_repo, Path("feature_repo")),
                "feast_dir": under(s.feast_dir, var / "feast"),
                # one file per trading mode: paper and live state never share a database (live_engine/journal)
                "journal_db_url": s.journal_db_url or f"sqlite:///{var / 'journal' / (self.live.journal.mode + '.db')}",
                "promotions_db_url": s.promotions_db_url or f"sqlite:///{var / 'promotions.db'}",
                "kb_db_url": s.kb_db_url or f"sqlite:///{var / 'research' / 'kb.db'}",
                "prefect_home": under(s.prefect_home, var / "prefect"),
                "prefect_api_database_url": s.prefect_api_database_url
                or f"sqlite+aiosqlite:///{var / 'prefect' / 'prefect.db'}",
                "reports_dir": under(s.reports_dir, var / "reports"),
            }
        )
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "stores", resolved)
        return self

    # Typed accessors: after validation these are never None.
    @property
    def lake_root(self) -> Path:
        assert self.stores.lake_root is not None
        return self.stores.lake_root

    @property
    def var_dir(self) -> Path:
        return self.stores.var_dir

    @property
    def mlflow_tracking_uri(self) -> str:
        assert self.stores.mlflow_tracking_uri is not None
        return self.stores.mlflow_tracking_uri

    @property
    def backup_dir(self) -> Path:
        """``ops.backup_dir`` (relative to ``var_dir``), default ``<var_dir>/backups``."""
        d = self.ops.backup_dir
        return self.var_dir / "backups" if d is None else d if d.is_absolute() else self.var_dir / d

    @property
    def reports_dir(self) -> Path:
        assert self.stores.reports_dir is not None
        return self.stores.reports_dir


def _yaml_file() -> Path:
    return Path(os.environ.get("QT_CONFIG", DEFAULT_CONFIG_FILE))


def _dotenv_vars() -> dict[str, str | None]:
    if not DOTENV_FILE.is_file():
        return {}
    from dotenv import dotenv_values

    return dotenv_values(DOTENV_FILE)


def _origin(loc: tuple[str, ...], overrides: dict[str, Any]) -> str:
    """`` (from QT_X__Y)`` or `` (from file.yaml:line)``: where the value at ``loc`` came from (error path only).

    Sources in priority order: keyword arguments (no origin shown), environment, ``.env``, YAML.
    """
    node: Any = overrides
    for part in loc:
        node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
    if node is not KeyError:
        return ""
    name = check.PREFIX + check.DELIMITER.join(loc).upper()
    if any(k.upper() == name for k in os.environ):
        return f" (from {name})"
    if any(k.upper() == name for k in _dotenv_vars()):
        return f" (from {name} in {DOTENV_FILE})"
    yaml_file = _yaml_file()
    if loc and yaml_file.exists():
        line = check.read_yaml(yaml_file, Settings)[1].get(loc)
        if line is not None:
            return f" (from {yaml_file}:{line})"
    return ""


def _format_validation_error(err: ValidationError, overrides: dict[str, Any]) -> str:
    """One line per bad field: ``path (from QT_NAME): reason (got value)``."""
    lines = []
    for e in err.errors():
        loc = tuple(str(part) for part in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        value = e.get("input")
        scalar = isinstance(value, str | int | float | bool)  # a section's input is its whole mapping
        got = f" (got {value!r})" if scalar and len(repr(value)) < 80 else ""
        lines.append(f"{'.'.join(loc) or 'configuration'}{_origin(loc, overrides) if scalar else ''}: {msg}{got}")
    return "\n".join(lines)


def _value_problems(s: Settings, overrides: dict[str, Any]) -> list[str]:
    """Values that parse but cannot work: store URIs, the Redis address, a var_dir that cannot be made."""
    st = s.stores
    checks: list[tuple[tuple[str, ...], str | None, str | None]] = [
        (("stores", "mlflow_tracking_uri"), st.mlflow_tracking_uri, check.mlflow_uri_problem(s.mlflow_tracking_uri)),
        (("stores", "journal_db_url"), st.journal_db_url, check.db_url_problem(st.journal_db_url or "")),
        (("stores", "promotions_db_url"), st.promotions_db_url, check.db_url_problem(st.promotions_db_url or "")),
        (("stores", "kb_db_url"), st.kb_db_url, check.db_url_problem(st.kb_db_url or "")),
        (("stores", "prefect_api_database_url"), st.prefect_api_database_url,
         check.db_url_problem(st.prefect_api_database_url or "")),
        (("stores", "prefect_api_url"), st.prefect_api_url,
         check.http_url_problem(st.prefect_api_url) if st.prefect_api_url else None),
        (("features", "redis_connection"), s.features.redis_connection,
         check.redis_problem(s.features.redis_connection)),
        (("stores", "var_dir"), None, check.creatable_dir_problem(s.var_dir)),
    ]
    return [f"{'.'.join(loc)}{_origin(loc, overrides)}: " + (f"{value!r} {why}" if value is not None else why)
            for loc, value, why in checks if why]


def load_settings(**overrides: Any) -> Settings:
    """Load and validate the configuration; raise :class:`ConfigError` with one line per bad field."""
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(redact(_format_validation_error(err, overrides))) from None
    except SettingsError as err:  # a JSON value pydantic-settings cannot parse (most are caught earlier)
        reason = " ".join(str(err).split())
        raise ConfigError(redact(f"{reason} (a list or section set in QT_ must be JSON)")) from None
    except ConfigError as err:
        raise ConfigError(redact(str(err))) from None
    problems = _value_problems(settings, overrides)
    if problems:
        raise ConfigError(redact("\n".join(problems)))
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (loaded once). Tests use :func:`load_settings` instead."""
    return load_settings()

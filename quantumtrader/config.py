"""The one validated configuration of QuantumTrader.

Sources, highest priority first:

1. keyword arguments to :func:`load_settings` (tests),
2. environment variables with prefix ``QT_`` and ``__`` between nested keys
   (``QT_MARKET__BARS__SPEC=time:30s``, ``QT_STORES__MLFLOW_TRACKING_URI=postgresql://...``),
3. a ``.env`` file in the working directory (same names),
4. the YAML file named by ``QT_CONFIG`` (default ``config/default.yaml``).

Secrets (passwords in database URLs) come only from the environment. A wrong value fails at
start with :class:`~quantumtrader.errors.ConfigError` naming the field's path and the reason.

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
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from features.config import FeaturesConfig
from live_engine.config import LiveConfig
from market.config import MarketConfig
from quantumtrader.errors import ConfigError
from quantumtrader.frozen import FrozenModel
from training.config import TrainingConfig

DEFAULT_CONFIG_FILE = Path("config/default.yaml")


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
    prefect_home: Path | None = None
    prefect_api_database_url: str | None = None
    prefect_api_url: str | None = None  # set to use a Prefect server instead of the local ephemeral API
    reports_dir: Path | None = None
    connect_timeout_s: float = Field(10.0, gt=0)  # a server store that does not answer in this time fails the command


class Settings(BaseSettings):
    """Root configuration composed of one frozen config per component."""

    model_config = SettingsConfigDict(
        env_prefix="QT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        frozen=True,
    )

    root: Path = Field(default_factory=Path.cwd)
    stores: StoresConfig = StoresConfig()
    logging: LoggingConfig = LoggingConfig()
    market: MarketConfig = MarketConfig()
    features: FeaturesConfig = FeaturesConfig()
    training: TrainingConfig = TrainingConfig()
    live: LiveConfig = LiveConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = Path(os.environ.get("QT_CONFIG", DEFAULT_CONFIG_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if yaml_file.exists():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        elif "QT_CONFIG" in os.environ:
            raise ConfigError(f"config file {yaml_file} (from QT_CONFIG) does not exist")
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
                "journal_db_url": s.journal_db_url or f"sqlite:///{var / 'journal.db'}",
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
    def reports_dir(self) -> Path:
        assert self.stores.reports_dir is not None
        return self.stores.reports_dir


def _format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(part) for part in e["loc"]) or "<root>"
        lines.append(f"  {path}: {e['msg']} (got {e.get('input')!r})")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Load and validate the configuration; raise :class:`ConfigError` naming each bad field."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (loaded once). Tests use :func:`load_settings` instead."""
    return load_settings()

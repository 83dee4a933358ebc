"""Start-up checks of the configuration beyond types: names nobody reads, values that cannot work.

:mod:`quantumtrader.config` calls these; each returns one line per problem (no traceback) so that
``qtml`` stops at start with every line a user has to fix:

- :func:`unknown_env_names`: a ``QT_`` variable (environment or ``.env``) that is no setting,
- :func:`read_yaml`: the YAML file, with ``file:line: reason`` for broken YAML and unknown keys,
- :func:`value_problems`: store URIs that do not parse, a Redis address without a port, a ``var_dir``
  that cannot be created.

Cheap on purpose (``qtml config`` must answer in well under 2 s): no SQLAlchemy, MLflow or Redis import;
database URLs are checked with SQLAlchemy's own URL grammar (``sqlalchemy.engine.url._parse_url``,
the test suite compares both).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel

from quantumtrader.errors import ConfigError

PREFIX = "QT_"
DELIMITER = "__"

# QT_ names that are read by code but are no settings field. Every other QT_ name must be a field.
NON_SETTING_ENV = {
    "QT_CONFIG": "the YAML file to load (quantumtrader.config)",
    "QT_INGEST_TEST_PAUSE": "test hook of market.append (PAUSE_ENV)",
    "QT_PROMOTION_TEST_PAUSE": "test hook of training.promotion.gate (PAUSE_ENV)",
    "QT_ENGINE_TEST_PAUSE": "test hook of live_engine.service.persistence (PAUSE_ENV)",
    "QT_DB_PASSWORD": "a secret interpolated into URLs in .env (.env.example)",
}

# The Qt GUI toolkit (and qtpy/matplotlib's QT_API) share the prefix; desktops set several of these.
# They never contain "__", so they cannot shadow a section; they are not ours and are left alone.
FOREIGN_PREFIXES = (
    "QT_QPA_", "QT_IM_", "QT_ACCESSIBILITY", "QT_LINUX_ACCESSIBILITY", "QT_SCALE_FACTOR", "QT_AUTO_SCREEN_",
    "QT_SCREEN_SCALE_", "QT_ENABLE_HIGHDPI_", "QT_FONT_DPI", "QT_DEVICE_PIXEL_RATIO", "QT_X11_", "QT_XCB_",
    "QT_XKB_", "QT_WAYLAND_", "QT_QUICK_", "QT_OPENGL", "QT_STYLE_OVERRIDE", "QT_LOGGING_RULES",
    "QT_MESSAGE_PATTERN", "QT_FATAL_", "QT_PLUGIN_PATH", "QT_DEBUG_PLUGINS", "QT_SELECT", "QT_HASH_SEED",
    "QT_NO_", "QT_USE_", "QT_API",
)

# Keys that moved: the old path -> the new one. An old key is refused with this hint instead of a
# plain "unknown key" (each old key: one line naming where its value goes now).
MOVED: dict[tuple[str, ...], str] = {
    ("live", "broker"): "costs",
    ("live", "broker", "slippage_ticks"): "costs.slippage_ticks",
    ("live", "broker", "latency_ms"): "costs.latency_ms",
    ("live", "broker", "stop_slippage_ticks"): "costs.stop_slippage_ticks",
    # the labels' cost per side is now the broker's expected fill cost: costs.spread_ticks / 2 + costs.slippage_ticks
    ("training", "labels", "slippage_ticks_per_side"): "costs.spread_ticks / costs.slippage_ticks",
}

MLFLOW_SCHEMES = ("file", "http", "https", "databricks", "databricks-uc", "uc")
MLFLOW_DB_ENGINES = ("postgresql", "mysql", "sqlite", "mssql")  # mlflow.store.db.db_types, +driver allowed

# SQLAlchemy's URL grammar, as in sqlalchemy/engine/url.py _parse_url (a prefix match there too).
_SQLALCHEMY_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
        """,
    re.X,
)
_REDIS_OPTION = re.compile(r"^[a-z_]+=.*$")


def did_you_mean(word: str, choices: Iterable[str], show: Callable[[str], str] = str) -> str:
    """`` (did you mean market?)`` for the closest of ``choices`` (difflib), or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {show(close[0])}?)" if close else ""


# -- names ------------------------------------------------------------------------------------------


def _kind(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """``model`` (a section), ``dict``/``list`` (of sections), ``json`` (a list or mapping of values, which
    pydantic-settings reads from the environment as JSON) or ``value`` for a field's annotation."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _kind(members[0]) if len(members) == 1 else ("value", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    args = get_args(annotation)
    if origin is dict and len(args) == 2 and _kind(args[1])[0] == "model":
        return "dict", _kind(args[1])[1]
    if origin in (tuple, list) and args and _kind(args[0])[0] == "model":
        return "list", _kind(args[0])[1]
    if origin in (dict, list, tuple, set, frozenset):
        return "json", None
    return "value", None


def _sections(model: type[BaseModel]) -> list[str]:
    return [name for name, f in model.model_fields.items() if _kind(f.annotation)[0] in ("model", "dict", "list")]


def _moved(path: list[str], below: Iterable[str] = ()) -> str | None:
    """The hint for an old key at ``path`` (with the keys ``below`` it that an env name or a YAML
    section sets), naming the new key of each; None when ``path`` did not move."""
    old = tuple(p.lower() for p in path)
    if old not in MOVED:
        return None
    new = [MOVED.get((*old, str(k).lower()), f"{MOVED[old]}.{k}") for k in below] or [MOVED[old]]
    return f"{'.'.join(path)} was moved: set {', '.join(new)} instead (docs/costs-and-warmup.md)"


def _unknown(part: str, path: list[str], model: type[BaseModel], below: Iterable[str] = ()) -> str:
    """``unknown section 'markt'; valid sections: ...`` or ``unknown key 'x' in market.bars; valid keys: ...``;
    for a key that moved, where it went (:data:`MOVED`)."""
    moved = _moved([*path, part], below)
    if moved is not None:
        return moved
    if not path:
        sections = _sections(model)
        return f"unknown section {part!r}; valid sections: {', '.join(sections)}{did_you_mean(part, sections)}"
    keys = list(model.model_fields)
    where = ".".join(path)
    return f"unknown key {part!r} in {where}; valid keys: {', '.join(keys)}{did_you_mean(part, keys)}"


def _env_name(path: list[str]) -> str:
    return PREFIX + DELIMITER.join(path).upper()


def _env_problem(name: str, value: str | None, root: type[BaseModel]) -> str | None:
    parts = name[len(PREFIX):].lower().split(DELIMITER)
    if len(parts) == 1 and parts[0] not in root.model_fields:
        top = [n for n in root.model_fields if n not in _sections(root)]
        names = sorted({_env_name([n]) for n in top} | set(NON_SETTING_ENV))
        choices = [n[len(PREFIX):].lower() for n in names] + [f"{s}__" for s in _sections(root)]
        hint = did_you_mean(parts[0], choices,
                            show=lambda c: _env_name([c[:-2]]) + "__<KEY>" if c.endswith("__") else _env_name([c]))
        return (f"{name}: unknown setting {parts[0]!r}; valid names: {', '.join(names)}, or "
                f"QT_<SECTION>__<KEY> with a section of {', '.join(_sections(root))}{hint}")
    return _walk(name, parts, value, root, [])


def _walk(name: str, parts: list[str], value: str | None, model: type[BaseModel], path: list[str]) -> str | None:
    part, rest = parts[0], parts[1:]
    if part not in model.model_fields:
        return f"{name}: {_unknown(part, path, model, rest[:1])}"
    here = [*path, part]
    kind, sub = _kind(model.model_fields[part].annotation)
    if rest and kind == "value":
        return f"{name}: {'.'.join(here)} is a value, not a section; set {_env_name(here)}"
    if rest and kind in ("json", "list"):  # items are not addressable one by one
        return f"{name}: {'.'.join(here)} is set whole, as JSON in {_env_name(here)}"
    if kind in ("json", "list") and not _is_json(value):
        return f"{name}: {'.'.join(here)} takes a JSON list or mapping, e.g. [1, 2] (got {value!r})"
    if kind != "model" and kind != "dict":
        return None
    assert sub is not None
    if kind == "dict" and rest:  # the next part is a free key (an instrument symbol), then a section
        here, rest = [*here, rest[0]], rest[1:]
    if not rest:
        if _is_json_object(value):
            return None
        return (f"{name}: {'.'.join(here)} is a section, not a value; set its keys as {name.upper()}__<KEY>"
                + ("" if kind == "dict" and len(here) == len(path) + 1 else f" (keys: {', '.join(sub.model_fields)})"))
    return _walk(name, rest, value, sub, here)


def _is_json(value: str | None, kinds: tuple[type, ...] = (list, dict)) -> bool:
    """Whether ``value`` is a JSON text of one of ``kinds`` (how pydantic-settings reads lists and sections)."""
    try:
        return isinstance(json.loads(value or ""), kinds)
    except ValueError:
        return False


def _is_json_object(value: str | None) -> bool:
    return _is_json(value, (dict,))


def unknown_env_names(env: Mapping[str, str | None], root: type[BaseModel], *, origin: str = "") -> list[str]:
    """One line per ``QT_`` name in ``env`` that is no field of ``root`` (nor in :data:`NON_SETTING_ENV`)."""
    allowed = {n.upper() for n in NON_SETTING_ENV}
    lines = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in allowed:
            continue
        if DELIMITER not in upper and upper.startswith(FOREIGN_PREFIXES):
            continue
        problem = _env_problem(name, env[name], root)
        if problem:
            lines.append(f"{origin}{problem}")
    return lines


# -- YAML -------------------------------------------------------------------------------------------


def read_yaml(path: Path, root: type[BaseModel]) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The mapping in ``path`` and the line of each key; :class:`ConfigError` ``file:line: reason``."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file: {err}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: {' '.join(str(err).split())}") from None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must be a mapping of sections ({', '.join(_sections(root))}), "
                          f"not a {type(data).__name__}")
    lines: dict[tuple[str, ...], int] = {}
    _key_lines(node, (), lines)
    problems = _yaml_problems(data, root, [], path, lines)
    if problems:
        raise ConfigError("\n".join(problems))
    return data, lines


def _key_lines(node: Any, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            _key_lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _key_lines(item, (*path, str(i)), out)


def _yaml_problems(data: Mapping[Any, Any], model: type[BaseModel], path: list[str], file: Path,
                   lines: Mapping[tuple[str, ...], int]) -> list[str]:
    out = []
    for raw_key, value in data.items():
        key = str(raw_key).lower() if not path else str(raw_key)  # top-level names ignore case, as env
        here = [*path, str(raw_key)]
        if key not in model.model_fields:
            below = list(value) if isinstance(value, Mapping) else []
            out.append(f"{file}:{lines.get(tuple(here), '?')}: {_unknown(key, path, model, below)}")
            continue
        kind, sub = _kind(model.model_fields[key].annotation)
        if sub is None:
            continue
        if kind == "model" and isinstance(value, Mapping):
            out += _yaml_problems(value, sub, here, file, lines)
        elif kind == "dict" and isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(v, Mapping):
                    out += _yaml_problems(v, sub, [*here, str(k)], file, lines)
        elif kind == "list" and isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, Mapping):
                    out += _yaml_problems(v, sub, [*here, str(i)], file, lines)
    return out


# -- values -----------------------------------------------------------------------------------------


def db_url_problem(url: str) -> str | None:
    """Why SQLAlchemy's ``make_url`` would refuse ``url`` (None when it parses)."""
    m = _SQLALCHEMY_URL.match(url)
    if m is None:
        return "is no database URL (dialect[+driver]://[user[:password]@]host[:port]/database, or sqlite:///<path>)"
    port = m.group("port")
    if port:
        try:
            int(port)
        except ValueError:
            return f"has a port that is no number ({port!r})"
    return None


def mlflow_uri_problem(uri: str) -> str | None:
    """Why MLflow would not open ``uri`` as a tracking store (None when the scheme is one it has)."""
    scheme = urlsplit(uri).scheme.lower() if "://" in uri or ":" in uri else ""
    engine = scheme.split("+", 1)[0]
    if engine in MLFLOW_DB_ENGINES:
        return db_url_problem(uri)
    if scheme in ("http", "https"):
        return http_url_problem(uri)
    if scheme in MLFLOW_SCHEMES or uri in ("databricks", "databricks-uc", "uc"):
        return None
    return ("is no tracking URI MLflow accepts; use sqlite:///<path>.db, postgresql://..., mysql://..., "
            "file:<dir>, http(s)://<server> or databricks")


def http_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is no http(s)://<host>[:<port>]/... URL"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        return "has a port that is no number"
    return None


def redis_problem(connection: str) -> str | None:
    """Feast's ``host:port[,host:port...][,key=value...]`` (``db=0``, ``password=...``, ``ssl=true``)."""
    hosts = 0
    for part in (p.strip() for p in connection.split(",")):
        if _REDIS_OPTION.match(part):
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            which = "is" if part == connection.strip() else f"has {part!r}, which is"
            return f"{which} not host:port (Feast's form: host:port[,db=N][,password=...][,ssl=true])"
        hosts += 1
    return None if hosts else "names no host:port (Feast's form: host:port[,db=N][,password=...][,ssl=true])"


def creatable_dir_problem(path: Path) -> str | None:
    """Why the directory ``path`` could not be created (or used) by this process; None when it can."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe == path:
        if not path.is_dir():
            return f"{path} exists and is not a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return f"{path} is not writable by this user"
        return None
    if not probe.is_dir():
        return f"{path} cannot be created: {probe} is a file, not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{path} cannot be created: {probe} is not writable by this user"
    return None

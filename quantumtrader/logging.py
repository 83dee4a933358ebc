"""One logging setup for every process: JSON lines for machines, a readable console for humans.

Every record carries ``ts`` (UTC ISO-8601 with ms), ``level``, ``component``, ``message`` and ``data``
(a dict of structured values). Use :func:`get_logger` with a component name and pass structured
values through ``data=``::

    log = get_logger("market.ingest")
    log.info("day written", data={"symbol": "WDO", "rows": 1234})

The console is for our own messages: third-party libraries (Prefect, MLflow, Great Expectations, Feast,
warnings) log to the JSON file only, through the root logger, unless ``debug`` is on. A record logged with
``extra={"console": False}`` (a failure's traceback) goes to the file and never to the console.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

_ROOT = "qt"
_SECRET_MARKERS = ("password", "secret", "token", "api_key", "apikey")
# userinfo ends at the first "@" and, per RFC 3986, holds no "/", "?", "#" (quotes and commas end a URL in a
# JSON line): without that, ``http://host:5000/x","who":"a@b"`` lost everything from the port to the "@"
_URL_PASSWORD = re.compile(r"([A-Za-z][\w+.-]*://[^:/@\s\"',]*:)[^@\s/?#\"',]*@")


def redact(text: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host`` everywhere in ``text``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def redact_url(url: str) -> str:
    """A URL for a log line: ``scheme://host[:port]/***``. Webhook URLs carry their token in the path or the
    query, so everything after the host is hidden (and any ``user:password@``)."""
    match = re.match(r"^([A-Za-z][\w+.-]*://)(?:[^@/\s]*@)?([^/?#\s]*)(.*)$", url.strip())
    if match is None:
        return "***"
    scheme, host, rest = match.groups()
    return f"{scheme}{host}/***" if rest.strip("/") else f"{scheme}{host}"


def redact_data(data: Mapping[Any, Any]) -> dict[str, Any]:
    """``data`` with the values of secret-looking keys masked (what every log line gets), for payloads
    that leave the process another way (alerts)."""
    return _redact(data)


def _redact(data: Mapping[Any, Any]) -> dict[str, Any]:
    """Secrets never reach a log line: values of secret-looking keys are masked.

    Keys are stringified (a dict keyed by int or date is still loggable as JSON)."""
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        if any(marker in key.lower() for marker in _SECRET_MARKERS):
            out[key] = "***"
        elif isinstance(value, Mapping):
            out[key] = _redact(value)
        else:
            out[key] = value
    return out


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "component": getattr(record, "component", record.name),
            "message": redact(record.getMessage()),
            "data": _redact(getattr(record, "data", None) or {}),
        }
        if record.exc_info:
            payload["data"]["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(payload, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL component: message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S")
        component = getattr(record, "component", record.name)
        data = _redact(getattr(record, "data", None) or {})
        extras = " ".join(f"{k}={v}" for k, v in data.items())
        line = f"{ts} {record.levelname:<7} {component}: {redact(record.getMessage())}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class ComponentLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to a component; accepts ``data=`` with structured values."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        data = kwargs.pop("data", None)
        extra = dict(kwargs.get("extra") or {})
        extra["component"] = (self.extra or {}).get("component", _ROOT)
        extra["data"] = dict(data) if data else {}
        kwargs["extra"] = extra
        return msg, kwargs


def get_logger(component: str) -> ComponentLogger:
    """Return the logger of a component (e.g. ``"market.ingest"``)."""
    return ComponentLogger(logging.getLogger(f"{_ROOT}.{component}"), {"component": component})


class _ConsoleFilter(logging.Filter):
    """Drops records marked ``console=False`` (they are for the log file only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "console", True) is not False


class _OurHandler:
    """Marks the handlers this module installs, so a second setup replaces exactly those."""


class QTStreamHandler(logging.StreamHandler, _OurHandler):  # type: ignore[type-arg]
    pass


class QTFileHandler(logging.FileHandler, _OurHandler):
    pass


def _replace_handlers(logger: logging.Logger, handlers: list[logging.Handler]) -> None:
    for handler in list(logger.handlers):
        if isinstance(handler, _OurHandler):
            logger.removeHandler(handler)
            handler.close()
    for handler in handlers:
        logger.addHandler(handler)


def setup_logging(
    level: str = "INFO",
    *,
    console: bool = True,
    json_path: Path | None = None,
    json_console: bool = False,
    debug: bool = False,
) -> None:
    """Configure logging once per process (calling it again replaces what it installed).

    ``console`` writes our ``qt`` records in the human format to stderr (JSON lines when
    ``json_console``); ``json_path`` appends JSON lines of every record, ours and third-party (root
    logger, INFO and above), to a file. ``debug`` also shows third-party records and tracebacks on
    the console.
    """
    ours = logging.getLogger(_ROOT)
    ours.setLevel("DEBUG" if debug else level.upper())
    ours.propagate = False
    file_handler: logging.Handler | None = None
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = QTFileHandler(json_path, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
    handlers: list[logging.Handler] = []
    stream: logging.Handler | None = None
    if console:
        stream = QTStreamHandler(sys.stderr)
        stream.setFormatter(JsonFormatter() if json_console else ConsoleFormatter())
        if not debug:
            stream.addFilter(_ConsoleFilter())
        handlers.append(stream)
    if file_handler is not None:
        handlers.append(file_handler)
    _replace_handlers(ours, handlers)
    # Third-party records: the file (and, with debug, the console); Python warnings become records.
    third_party: list[logging.Handler] = [h for h in (file_handler, stream if debug else None) if h is not None]
    root = logging.getLogger()
    if third_party:
        root.setLevel(logging.DEBUG if debug else logging.INFO)
    _replace_handlers(root, third_party)
    logging.captureWarnings(True)


def log_path(handlers_of: str = _ROOT) -> Path | None:
    """Where the JSON log file of this process is (None when there is none)."""
    for handler in logging.getLogger(handlers_of).handlers:
        if isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None

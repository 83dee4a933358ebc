"""A stable broker-name -> integer id dictionary, persisted as JSON.

Nelogica Profit exports name brokers (``XP``, ``BTG``, ...) where ProfitDLL and the lake use integer
ids. The registry gives every name an id once and keeps it forever: a known name always gets its old
id, a new name gets ``max(existing ids) + 1`` (ids start at 1). The file is typically
``{lake_root}/_meta/brokers.json`` and looks like::

    {"version": 1, "brokers": {"BTG": 85, "XP": 3}}

A user may seed it with the B3 participant codes ProfitDLL uses (``register("XP", 3)``) so that
names from Profit exports and ids from ProfitDLL recordings land in the same id space.

Names are compared after stripping surrounding whitespace; case is kept (``XP`` and ``Xp`` differ).
A missing or empty name maps to :data:`MISSING_BROKER` (-1), which is never stored.

Saving is atomic (temporary file + ``os.replace``). The registry is not safe for two processes
writing the same file at once: run one ingest per lake at a time.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from quantumtrader.errors import InputError

MISSING_BROKER = -1
FORMAT_VERSION = 1
DEFAULT_FILE = Path("_meta") / "brokers.json"


class BrokerRegistry:
    """Stable mapping of broker names to int ids (see the module docstring)."""

    def __init__(self, names: Mapping[str, int] | None = None, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._ids: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._dirty = False
        for name, ident in (names or {}).items():
            self.register(name, int(ident))
        self._dirty = False

    # ---- persistence ----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> BrokerRegistry:
        """Read the registry at ``path``; a missing file gives an empty registry bound to ``path``."""
        path = Path(path)
        if not path.exists():
            return cls(path=path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            names = payload["brokers"]
            if not isinstance(names, dict):
                raise TypeError("'brokers' is not an object")
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"broker registry {path} is unreadable: {err}") from None
        return cls(names, path=path)

    @classmethod
    def for_lake(cls, lake_root: Path) -> BrokerRegistry:
        """The registry of a data lake: ``{lake_root}/_meta/brokers.json``."""
        return cls.load(Path(lake_root) / DEFAULT_FILE)

    def save(self) -> None:
        """Atomically write the registry to its path (no-op when nothing changed since load/save)."""
        if self.path is None:
            raise InputError("broker registry has no path: pass one to BrokerRegistry(...) or load()")
        if not self._dirty and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": FORMAT_VERSION, "brokers": dict(sorted(self._ids.items(), key=lambda kv: kv[1]))}
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=1, ensure_ascii=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._dirty = False

    @property
    def dirty(self) -> bool:
        """True when names were added since the last load or save."""
        return self._dirty

    # ---- lookups --------------------------------------------------------------------------------
    def register(self, name: str, ident: int) -> None:
        """Bind ``name`` to a chosen id (e.g. its B3 participant code). Conflicts raise InputError."""
        key = _key(name)
        if not key:
            raise InputError("broker name is empty")
        if ident < 0:
            raise InputError(f"broker id for {name!r} must be >= 0, got {ident}")
        if self._ids.get(key, ident) != ident:
            raise InputError(f"broker {key!r} already has id {self._ids[key]}, not {ident}")
        if self._names.get(ident, key) != key:
            raise InputError(f"broker id {ident} already belongs to {self._names[ident]!r}, not {key!r}")
        if key not in self._ids:
            self._ids[key] = ident
            self._names[ident] = key
            self._dirty = True

    def id_for(self, name: str) -> int:
        """The id of ``name``, allocating the next free id for a new name; -1 for an empty name."""
        key = _key(name)
        if not key:
            return MISSING_BROKER
        ident = self._ids.get(key)
        if ident is None:
            ident = max(self._names, default=0) + 1
            self._ids[key] = ident
            self._names[ident] = key
            self._dirty = True
        return ident

    def ids_for(self, names: pd.Series) -> np.ndarray:
        """Vectorised :meth:`id_for`: int32 ids aligned with ``names`` (missing -> -1)."""
        codes, uniques = pd.factorize(names, use_na_sentinel=True)
        table = np.array([self.id_for(str(n)) for n in uniques] + [MISSING_BROKER], dtype=np.int32)
        return table[codes]  # code -1 (NA) indexes the trailing MISSING_BROKER entry

    def name_for(self, ident: int) -> str | None:
        """The name bound to ``ident``, or None."""
        return self._names.get(int(ident))

    def as_dict(self) -> dict[str, int]:
        return dict(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._ids

    def __repr__(self) -> str:
        return f"BrokerRegistry({len(self)} brokers, path={self.path})"


def _key(name: str) -> str:
    return name.strip()

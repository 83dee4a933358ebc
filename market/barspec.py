"""The bar spec grammar, shared by the config validator, batch bars and the streaming engine.

``time:<N>s`` (seconds), ``volume:<N>`` (contracts) or ``tick:<N>`` (trades), lower case, N > 0.
Pure Python (no pandas), so the live engine's streaming path can use it.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"^(?:(time):(\d+)s|(volume):(\d+)|(tick):(\d+))$")


def split_bar_spec(spec: str) -> tuple[str, int]:
    """``(kind, size)`` of ``spec``; ``ValueError`` naming the accepted forms when it is malformed."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"bar spec {spec!r} is not one of time:<N>s, volume:<N>, tick:<N>")
    kind, size = (g for g in m.groups() if g is not None)
    if int(size) <= 0:
        raise ValueError(f"bar spec {spec!r}: the size must be > 0")
    return kind, int(size)

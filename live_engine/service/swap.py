"""Hot-swap of the champion and the optional shadow challenger (RELIABILITY.md 17).

A background thread asks the registry for ``live.service.model_uri`` every ``champion_poll_s``; a new
version is loaded through the bundle loader (every file verified, feature contract checked) and
smoke-predicted there, off the engine's thread. The engine's loop then swaps it in between bars
(:meth:`Swapper.between_bars`), so no decision ever mixes two models. A failure keeps the old model and
raises ``swap_failed``. With ``shadow_challenger`` the ``@challenger`` is scored on every bar too:
logged and broadcast, never traded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from quantumtrader.logging import get_logger

log = get_logger("live_engine.service.swap")


class Shadow:
    """A challenger scored on every bar."""

    def __init__(self, predictor: Any, version: str) -> None:
        self.predictor, self.version = predictor, version

    def score(self, x: np.ndarray) -> dict[str, Any] | None:
        try:
            p = self.predictor.predict_proba3(x)
        except Exception:
            return None
        return {"version": self.version, "probs": [float(v) for v in p]}


class Swapper:
    def __init__(self, *, model_uri: str, tracking_uri: str, current_version: str, poll_s: float,
                 serving_contract: Mapping[str, Any] | None, cache: Path,
                 alert: Callable[[str, str, str], None]) -> None:
        self.model_uri, self.tracking_uri, self.version = model_uri, tracking_uri, current_version
        self.poll_s, self.serving_contract, self.cache, self.alert = poll_s, serving_contract, cache, alert
        self._ready: Any = None  # a verified bundle waiting for the loop
        self._failed_version: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="engine-swap", daemon=True)
        self.swaps = 0
        self.failures = 0

    def start(self) -> Swapper:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.check_once()

    def check_once(self) -> None:
        """Look for a new version and prepare it (the background thread; tests call it directly)."""
        from serving.bundle import resolve_version
        from serving.bundle_cache import load_and_cache

        try:
            mv = resolve_version(self.model_uri, self.tracking_uri)
        except Exception as err:  # registry down: keep trading the current model
            log.warning(f"hot-swap: cannot ask the registry for {self.model_uri}: {err}")
            return
        version = str(mv.version)
        if version == self.version or version == self._failed_version:
            return
        try:
            bundle = load_and_cache(self.model_uri, self.tracking_uri, self.cache,
                                    serving_contract=self.serving_contract)
            bundle.predictor.smoke_test()
        except Exception as err:
            self._failed_version = version
            self.failures += 1
            self.alert("ERROR", "swap_failed", f"{self.model_uri} v{version} not swapped in, still trading "
                       f"v{self.version}: {err}")
            return
        with self._lock:
            self._ready = bundle

    def between_bars(self, engine: Any) -> None:
        """Called by the engine's loop between events: swap in a prepared bundle."""
        with self._lock:
            bundle, self._ready = self._ready, None
        if bundle is None:
            return
        old = self.version
        engine.core.decider.swap_model(bundle.predictor)
        engine.model_version = self.version = str(bundle.version)
        self.swaps += 1
        self.alert("INFO", "model_swapped", f"now trading {bundle.uri} (was v{old})")
        live = bundle.live_sections()
        if live != engine.bundle_live:
            log.warning("the new version's coordinator / consensus / risk config differs from the running one: "
                        "the running config stays until the engine restarts", data={"version": bundle.version})

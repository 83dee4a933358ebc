"""Fast predictor: a native LightGBM Booster, one thread, predicting on one numpy row.

:meth:`Predictor.from_model_uri` loads the registered bundle at an MLflow model URI
(``models:/quantumtrader@challenger``) through :func:`serving.bundle.load_bundle`, which verifies
every file's SHA-256 against the version's tags and refuses pickles and code; :meth:`Predictor.from_booster`
**refuses** a model whose feature spec hash is not this code's ``features.spec.spec_hash()``, then
smoke-predicts once. ``predict_proba(row)`` returns the calibrated class
probabilities ``[p(down), p(flat), p(up)] = softmax(raw_score / T)``.

The model's ``feature_contract`` records which input groups its training history had (book, broker
ids, aggressor side; :mod:`features.contract`). The predictor feeds NaN in the positions of every
absent group, whatever the row holds, so a model trained without book sees exactly what it saw in
training even on a feed with book (no train/serve skew). :func:`check_feature_contract` refuses, by
name, a model whose contract differs from the serving side's (bar spec, ``large_trade_qty``, tick
size, or a group the model needs and the data lacks).

Loading, the predictor set-up and the smoke test run inside the process-wide LightGBM section
(:mod:`quantumtrader.lgbm_section`), so a model loaded while a training fits in the same process
does not race it; the per-row fast call stays outside (it builds no predictor).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from math import exp, nan
from typing import Any

import numpy as np

from quantumtrader.errors import InputError
from quantumtrader.lgbm_section import lightgbm_section
from quantumtrader.logging import get_logger

log = get_logger("serving.predictor")

CONTRACT_VERSION = 2  # training.tracking.MODEL_CONTRACT_VERSION
EXPECTED_CLASSES = [-1, 0, 1]


class ModelRefused(InputError):
    """The model does not satisfy the serving contract (hash, format, classes): fix or retrain it."""


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    out: np.ndarray = e / e.sum()
    return out


class _FastRow:
    """LightGBM's single-row fast path (``LGBM_BoosterPredictForMatSingleRowFast``): the prediction
    config is parsed once at init, so a call is the tree walk plus one ctypes call (~10 µs for 300
    trees, against ~35 µs for ``_InnerPredictor.predict`` and ~45 µs for ``Booster.predict``, which
    rebuild a C++ predictor and parse the parameter string every call). Raw scores only; the row is
    copied into a preallocated float64 buffer whose address is passed as is, so one instance serves
    one thread (the decision core's)."""

    def __init__(self, booster: Any, n_features: int) -> None:
        import ctypes

        from lightgbm.basic import _LIB, _safe_call

        self._lib, self._booster = _LIB, booster  # the config points into the booster: keep it alive
        # The two buffers are never reassigned: the C call reads and writes their addresses (in _args).
        self._buf = np.empty(n_features, dtype=np.float64)
        self._out = np.empty(3, dtype=np.float64)
        handle = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            # C_API_PREDICT_RAW_SCORE from iteration 0, as many trees as Booster.predict uses by default,
            # C_API_DTYPE_FLOAT64 rows of n_features columns
            booster._handle, ctypes.c_int(1), ctypes.c_int(0), ctypes.c_int(int(booster.best_iteration or -1)),
            ctypes.c_int(1), ctypes.c_int32(n_features), ctypes.c_char_p(b"num_threads=1"), ctypes.byref(handle)))
        self._handle = handle
        # int (FastConfigHandle, const void* data, int64_t* out_len, double* out_result). ``_LIB[name]``
        # is a private function object: setting argtypes on ``_LIB.<name>`` would change lightgbm's own.
        fn = _LIB["LGBM_BoosterPredictForMatSingleRowFast"]
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p]
        fn.restype = ctypes.c_int
        self._fn = fn
        self._n = ctypes.c_int64(0)
        self._args = (handle, ctypes.c_void_p(self._buf.ctypes.data), ctypes.byref(self._n),
                      ctypes.c_void_p(self._out.ctypes.data))

    def raw3(self, row: np.ndarray) -> tuple[float, float, float]:
        self._buf[:] = row
        if self._fn(*self._args) != 0 or self._n.value != 3:
            err = self._lib.LGBM_GetLastError().decode("utf-8", "replace")
            raise RuntimeError(f"LightGBM single-row prediction failed (out_len={self._n.value}): {err}")
        o = self._out
        return float(o[0]), float(o[1]), float(o[2])

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            with contextlib.suppress(Exception):  # interpreter shutdown
                self._lib.LGBM_FastConfigFree(handle)
            handle.value = None


@dataclass
class Predictor:
    """A loaded, verified model. Build it with :meth:`from_model_uri` or :meth:`from_booster`."""

    booster: Any  # lightgbm.Booster
    metadata: dict[str, Any]
    temperature: float = 1.0
    model_uri: str = ""
    model_sha256: str = ""
    n_features: int = 0
    _buf: np.ndarray = field(default_factory=lambda: np.empty((1, 0)))

    _inner: Any = None
    _fast: _FastRow | None = None
    _nan_idx: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        from features.contract import absent_indices

        self.n_features = int(self.booster.num_feature())
        self._nan_idx = np.asarray(absent_indices(self.input_groups), dtype=np.int64)
        self._buf = np.empty((1, self.n_features), dtype=np.float64)
        # Booster.predict rebuilds a predictor (and parses parameters) on every call. LightGBM's
        # single-row fast path (private ctypes API) avoids that; ``_InnerPredictor`` is the second
        # choice. Each is used only when it exists and agrees with Booster.predict (see smoke_test).
        with lightgbm_section():
            self._init_predictors()

    def _init_predictors(self) -> None:
        try:
            from lightgbm.basic import _InnerPredictor

            self._inner = _InnerPredictor.from_booster(self.booster, {"num_threads": 1})
        except (ImportError, AttributeError, TypeError):  # pragma: no cover - other lightgbm versions
            self._inner = None
        try:
            n_class = int(self.booster.num_model_per_iteration())
            self._fast = _FastRow(self.booster, self.n_features) if n_class == 3 else None
        except Exception as err:  # pragma: no cover - other lightgbm versions: fall back to the slower paths
            log.warning("LightGBM single-row fast path unavailable, using the slower path",
                        data={"error": repr(err)})
            self._fast = None

    @classmethod
    def from_booster(cls, booster: Any, metadata: dict[str, Any], *, model_uri: str = "",
                     model_sha256: str = "") -> Predictor:
        """Verify ``metadata`` against this code's feature spec, then wrap ``booster``."""
        check_contract(metadata)
        calib = metadata.get("calibration") or {"method": "none"}
        method = calib.get("method", "none")
        if method not in ("temperature", "none"):
            raise ModelRefused(f"unknown calibration method {method!r} in the model metadata "
                               "(serving applies 'temperature' or 'none')")
        t = float(calib.get("temperature", 1.0)) if method == "temperature" else 1.0
        if not (math.isfinite(t) and t > 0):
            raise ModelRefused(f"calibration temperature must be > 0, got {t}")
        pred = cls(booster, dict(metadata), t, model_uri, model_sha256)
        if pred.n_features != len(metadata["feature_names"]):
            raise ModelRefused(f"booster has {pred.n_features} features, "
                               f"the contract lists {len(metadata['feature_names'])}")
        pred.smoke_test()
        return pred

    @classmethod
    def from_model_uri(cls, model_uri: str, *, tracking_uri: str | None = None) -> Predictor:
        """The predictor of the registered bundle at ``model_uri`` (``models:/NAME@ALIAS`` or
        ``models:/NAME/VERSION``), after :func:`serving.bundle.load_bundle` has verified every file's
        SHA-256 against the version's tags and refused pickles and code."""
        from serving.bundle import load_bundle

        if tracking_uri is None:
            import mlflow

            tracking_uri = mlflow.get_tracking_uri()
        return load_bundle(model_uri, tracking_uri).predictor

    @property
    def input_groups(self) -> dict[str, bool]:
        """Which input groups the model was trained with (``feature_contract.input_groups``)."""
        from features.contract import INPUT_GROUPS

        groups = (self.metadata.get("feature_contract") or {}).get("input_groups") or {}
        return {g: bool(groups.get(g, False)) for g in INPUT_GROUPS}

    @property
    def nan_features(self) -> tuple[str, ...]:
        """The features this model is always fed NaN (those of the groups its history lacked)."""
        from features.contract import absent_features

        return absent_features(self.input_groups)

    def _masked(self, row: np.ndarray) -> np.ndarray:
        if not len(self._nan_idx):
            return row
        out = np.array(row, dtype=np.float64, copy=True)
        out[self._nan_idx] = np.nan
        return out

    def raw_score(self, row: np.ndarray) -> np.ndarray:
        if self._fast is not None:
            return np.array(self._fast.raw3(self._masked(row)))
        return self._raw_slow(row)

    def _raw_slow(self, row: np.ndarray) -> np.ndarray:
        buf = self._buf
        buf[0, :] = row
        if len(self._nan_idx):
            buf[0, self._nan_idx] = np.nan
        with lightgbm_section():  # the slower paths build a native predictor per call
            if self._inner is not None:
                fast: np.ndarray = self._inner.predict(buf, raw_score=True)[0]
                return fast
            out: np.ndarray = self.booster.predict(buf, raw_score=True, num_threads=1)[0]
            return out

    def predict_proba3(self, row: np.ndarray) -> tuple[float, float, float]:
        """``(p(down), p(flat), p(up))`` as Python floats: the decision core's per-bar call."""
        if self._fast is None:
            p = self.predict_proba(row)
            return float(p[0]), float(p[1]), float(p[2])
        a, b, c = self._fast.raw3(self._masked(row) if len(self._nan_idx) else row)
        t = self.temperature
        a, b, c = a / t, b / t, c / t
        m = max(a, b, c)
        if m != m:  # NaN raw score: let the caller see NaN probabilities
            return nan, nan, nan
        ea, eb, ec = exp(a - m), exp(b - m), exp(c - m)
        s = ea + eb + ec
        return ea / s, eb / s, ec / s

    def predict_proba(self, row: np.ndarray) -> np.ndarray:
        """Calibrated ``[p(down), p(flat), p(up)]`` for one 65-value row."""
        if self._fast is not None:
            return np.array(self.predict_proba3(row))
        return _softmax(self.raw_score(row) / self.temperature)

    def smoke_test(self) -> None:
        """One prediction on an all-NaN row (and one on a row of zeros) must agree with
        ``Booster.predict`` and give 3 finite probabilities summing to 1."""
        with lightgbm_section():
            self._smoke_test()

    def _smoke_test(self) -> None:
        for row in (np.full(self.n_features, np.nan), self._masked(np.zeros(self.n_features))):
            slow = self.booster.predict(row.reshape(1, -1), raw_score=True, num_threads=1)[0]
            if self._fast is not None and not np.allclose(np.array(self._fast.raw3(row)), slow, rtol=0, atol=1e-12):
                log.warning("LightGBM single-row fast path disagrees with Booster.predict: not used",
                            data={"fast": list(self._fast.raw3(row)), "booster": slow.tolist()})
                self._fast = None
            if self._inner is not None and not np.allclose(self._raw_slow(row), slow, rtol=0, atol=1e-12):
                log.warning("_InnerPredictor disagrees with Booster.predict: not used")
                self._inner = None
        p = self.predict_proba(np.full(self.n_features, np.nan))
        if p.shape != (3,) or not np.all(np.isfinite(p)) or abs(float(p.sum()) - 1.0) > 1e-6:
            raise ModelRefused(f"smoke prediction failed: {p!r}")


def check_contract(metadata: dict[str, Any]) -> None:
    """Raise :class:`ModelRefused` unless ``metadata`` matches this code's feature set and classes."""
    from features.contract import INPUT_GROUPS
    from features.spec import FEATURE_NAMES, spec_hash

    if metadata.get("qt_model_contract") != CONTRACT_VERSION:
        raise ModelRefused(f"model metadata qt_model_contract={metadata.get('qt_model_contract')!r}, "
                           f"expected {CONTRACT_VERSION}: retrain the model with this code (`qtml train`)")
    mine = spec_hash()
    theirs = metadata.get("feature_spec_hash")
    if theirs != mine:
        raise ModelRefused(f"model feature_spec_hash {theirs!r} differs from this code's {mine!r}: "
                           "retrain the model with this feature set")
    if list(metadata.get("feature_names", [])) != list(FEATURE_NAMES):
        raise ModelRefused("model feature_names differ from features.spec.FEATURE_NAMES (order matters)")
    if list(metadata.get("classes", [])) != EXPECTED_CLASSES:
        raise ModelRefused(f"model classes {metadata.get('classes')!r}, expected {EXPECTED_CLASSES}")
    raw = metadata.get("feature_contract")
    fc: dict[str, Any] = raw if isinstance(raw, dict) else {}
    groups = fc.get("input_groups")
    if not isinstance(groups, dict) or set(groups) != set(INPUT_GROUPS):
        raise ModelRefused(f"model metadata has no feature_contract.input_groups with {list(INPUT_GROUPS)}: "
                           "retrain the model with this code (`qtml train`)")
    if fc.get("feature_spec_hash", mine) != mine:
        raise ModelRefused(f"model feature_contract.feature_spec_hash {fc.get('feature_spec_hash')!r} differs from "
                           f"this code's {mine!r}: retrain the model with this feature set")


def check_feature_contract(metadata: dict[str, Any], serving: dict[str, Any]) -> None:
    """Raise :class:`ModelRefused` naming every item where the model's ``feature_contract`` and the
    serving side's (``features.contract.feature_contract`` of the engine's config and data) differ."""
    from features.contract import contract_refusals

    problems = contract_refusals(metadata.get("feature_contract") or {}, serving)
    if problems:
        raise ModelRefused("model refused by its feature contract: " + "; ".join(problems))

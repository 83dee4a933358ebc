"""The fast predictor loads only native Boosters whose feature spec hash is this code's."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_model import contract, register, train_booster

from features.spec import FEATURE_NAMES
from quantumtrader.config import Settings, load_settings
from serving.predictor import ModelRefused, Predictor


@pytest.fixture(scope="module")
def mlflow_settings(tmp_path_factory) -> Settings:
    """One MLflow database for the module (creating one costs seconds); each test uses its own alias."""
    return load_settings(root=tmp_path_factory.mktemp("predictor"))


def test_registered_native_booster_loads_and_predicts_calibrated_probabilities(mlflow_settings):
    settings = mlflow_settings
    booster = train_booster()
    uri = register(settings, booster, contract(), alias="good")
    pred = Predictor.from_model_uri(uri, tracking_uri=settings.mlflow_tracking_uri)
    row = np.random.default_rng(1).normal(size=len(FEATURE_NAMES))
    p = pred.predict_proba(row)
    raw = booster.predict(row.reshape(1, -1), raw_score=True)[0] / 1.5
    expected = np.exp(raw - raw.max()) / np.exp(raw - raw.max()).sum()
    assert p.shape == (3,)
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    assert pred.temperature == 1.5 and len(pred.model_sha256) == 64


def test_model_with_a_different_feature_spec_hash_is_refused(mlflow_settings):
    settings = mlflow_settings
    uri = register(settings, train_booster(), contract(feature_spec_hash="0" * 64), alias="otherhash")
    with pytest.raises(ModelRefused, match="feature_spec_hash"):
        Predictor.from_model_uri(uri, tracking_uri=settings.mlflow_tracking_uri)


def test_pickled_sklearn_model_is_never_registered_as_a_bundle(mlflow_settings):
    from lightgbm import LGBMClassifier

    from serving.bundle_layout import BundleRefused

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, len(FEATURE_NAMES))), rng.integers(0, 3, 200)
    clf = LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    with pytest.raises(BundleRefused, match=r"not registered: model\.skops: a pickle or other serialised object"):
        register(mlflow_settings, clf, contract(), alias="pickled")


def test_contract_with_other_feature_names_or_classes_is_refused():
    booster = train_booster()
    with pytest.raises(ModelRefused, match="feature_names"):
        Predictor.from_booster(booster, contract(feature_names=list(reversed(FEATURE_NAMES))))
    with pytest.raises(ModelRefused, match="classes"):
        Predictor.from_booster(booster, contract(classes=[0, 1, 2]))
    with pytest.raises(ModelRefused, match="qt_model_contract"):
        Predictor.from_booster(booster, contract(qt_model_contract=1))


def test_missing_model_names_the_uri_and_what_to_do(mlflow_settings):
    from quantumtrader.errors import InputError

    with pytest.raises(InputError, match="qtml train"):
        Predictor.from_model_uri("models:/nothing@challenger", tracking_uri=mlflow_settings.mlflow_tracking_uri)


def test_fast_path_is_used_and_bit_identical_to_booster_predict():
    booster = train_booster()
    pred = Predictor.from_booster(booster, contract())
    assert pred._fast is not None  # a 3-class native Booster takes the single-row fast path
    rows = np.random.default_rng(2).normal(size=(50, len(FEATURE_NAMES)))
    rows[::7, ::3] = np.nan
    for row in rows:
        slow = booster.predict(row.reshape(1, -1), raw_score=True)[0]
        np.testing.assert_array_equal(pred.raw_score(row), slow)
        p3 = np.array(pred.predict_proba3(row))
        np.testing.assert_allclose(p3, pred.predict_proba(row), rtol=0, atol=1e-15)
        assert abs(p3.sum() - 1.0) < 1e-12


def test_a_fast_path_that_disagrees_is_dropped_and_the_booster_path_used(monkeypatch):
    from serving import predictor as mod

    booster = train_booster()
    real_raw3 = mod._FastRow.raw3
    monkeypatch.setattr(mod._FastRow, "raw3", lambda self, row: tuple(v + 1e-6 for v in real_raw3(self, row)))
    pred = Predictor.from_booster(booster, contract())
    assert pred._fast is None
    row = np.random.default_rng(3).normal(size=len(FEATURE_NAMES))
    raw = booster.predict(row.reshape(1, -1), raw_score=True)[0] / 1.5
    expected = np.exp(raw - raw.max()) / np.exp(raw - raw.max()).sum()
    np.testing.assert_allclose(pred.predict_proba(row), expected, rtol=1e-12)
    np.testing.assert_allclose(pred.predict_proba3(row), expected, rtol=1e-12)


def test_unknown_calibration_method_or_bad_temperature_is_refused():
    booster = train_booster()
    with pytest.raises(ModelRefused, match="isotonic"):
        Predictor.from_booster(booster, contract(calibration={"method": "isotonic"}))
    with pytest.raises(ModelRefused, match="temperature must be > 0"):
        Predictor.from_booster(booster, contract(calibration={"method": "temperature", "temperature": 0.0}))

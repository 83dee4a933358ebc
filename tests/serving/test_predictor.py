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


def test_pickled_sklearn_model_is_refused(mlflow_settings):
    settings = mlflow_settings
    from lightgbm import LGBMClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, len(FEATURE_NAMES))), rng.integers(0, 3, 200)
    clf = LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    uri = register(settings, clf, contract(), alias="pickled")
    with pytest.raises(ModelRefused, match="pickled"):
        Predictor.from_model_uri(uri, tracking_uri=settings.mlflow_tracking_uri)


def test_contract_with_other_feature_names_or_classes_is_refused():
    booster = train_booster()
    with pytest.raises(ModelRefused, match="feature_names"):
        Predictor.from_booster(booster, contract(feature_names=list(reversed(FEATURE_NAMES))))
    with pytest.raises(ModelRefused, match="classes"):
        Predictor.from_booster(booster, contract(classes=[0, 1, 2]))
    with pytest.raises(ModelRefused, match="qt_model_contract"):
        Predictor.from_booster(booster, contract(qt_model_contract=2))


def test_missing_model_names_the_uri_and_what_to_do(mlflow_settings):
    from quantumtrader.errors import InputError

    with pytest.raises(InputError, match="qtml train"):
        Predictor.from_model_uri("models:/nothing@challenger", tracking_uri=mlflow_settings.mlflow_tracking_uri)

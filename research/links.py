"""Which ideas an experiment tried: the rule that links the knowledge base's ideas to experiments.

An idea names a target (a feature group, a training option, a validation method, a model family;
``research/rules.yaml``). An experiment *tried* an idea when it used that target:

- a **study** (``qtml study``) judged its candidates with the deflated Sharpe, the probability of
  backtest overfitting and a walk-forward, on the cost model's fills, with a gradient-boosting model;
- a **training run** (MLflow, ``qtml train``) fitted a gradient-boosting model on the feature groups
  of its feature set, with the options its parameters record (purged CV and embargo, triple-barrier
  labels, class weights, calibration, LightGBM parameters).

Linking is idempotent; it marks a ``new`` idea ``tried`` (the knowledge base's rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STUDY_TARGETS = frozenset({"deflated_sharpe", "pbo", "walk_forward", "transaction_costs", "model:gradient_boosting"})


def training_targets(params: Mapping[str, Any], feature_groups: Iterable[str]) -> set[str]:
    """The targets a training run used, from its MLflow params (``training/tracking.py``): its feature
    groups, gradient boosting and LightGBM parameters always, purged walk-forward CV with an embargo
    (``training.cv.*``), triple-barrier labels when ``training.labels.method`` says so, and calibration
    when a temperature was fitted."""
    out = {"model:gradient_boosting", "lgbm_params", *feature_groups}
    if any(k.startswith("training.cv.") for k in params):
        out |= {"purged_cv", "embargo", "walk_forward"}
    if str(params.get("training.labels.method", "")) == "triple_barrier":
        out.add("triple_barrier")
    if "temperature" in params:
        out.add("calibration")
    return out


def link_tried(kb: Any, experiment_id: int, targets: Iterable[str]) -> int:
    """Link every idea whose target is in ``targets`` to the experiment; returns the number of new links."""
    n = 0
    for target in sorted(set(targets)):
        for idea in kb.ideas(target=target, limit=10_000):
            n += bool(kb.link(int(idea["id"]), experiment_id))
    return n

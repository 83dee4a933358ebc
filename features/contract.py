"""The feature contract: everything a model's inputs depend on, recorded at training, checked at serving.

Three *input groups* of ``qt65_v1`` need data that a history may not have (ProfitDLL history has no
book at all; a CSV export may lack broker ids or the aggressor side):

- ``book``: the 7 features that read the resting book (spread, microprice, book imbalances);
- ``brokers``: the features that read buyer / seller broker ids (concentration, turnover, switches);
- ``side``: the features that read the aggressor side (order-flow imbalance, signed volume, ...).

Each group's features are derived from the spec's declared inputs (:data:`features.spec.SPEC`), so
the mapping cannot drift from the definitions. The rule (``docs/features.md``, "Histories without
book, brokers or aggressor side"): a model trained on a history without a group is fed NaN in that
group's positions everywhere it runs (training, backtest, live), whatever the feed delivers, and
serving refuses a model trained *with* a group on data that lacks it.

:func:`feature_contract` builds the ``feature_contract`` dict a model carries (one key per item);
:func:`contract_refusals` lists, by name, every way a model's contract and the serving side differ.

**The rule for incomplete rows**, one for training and serving (:func:`required_positions`,
:func:`complete_rows`): a row is complete when every feature is a number, except the features of
input groups the history lacks (they are NaN everywhere, by the rule above). Training drops every
labelled row that is not complete; serving never asks the model about such a row (the decision is
"no trade", reason ``incomplete``), so the model only ever sees the kind of row it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from features.spec import FEATURE_NAMES, SPEC, spec_hash

if TYPE_CHECKING:  # the decision core imports this module: no pandas at run time
    import pandas as pd

INPUT_GROUPS: tuple[str, ...] = ("book", "brokers", "side")

_BROKER_INPUTS = frozenset({"broker_ids", "broker_bought", "broker_sold", "broker_aggr_buy", "broker_aggr_sell",
                            "buyer_switches", "first_buyer", "last_buyer"})
_SIDE_INPUTS = frozenset({"buy_vol", "sell_vol", "large_buy_qty", "large_sell_qty", "n_buy_trades",
                          "broker_aggr_buy", "broker_aggr_sell"})
# trade types that carry an aggressor side (2 = aggressive buy, 3 = aggressive sell)
_SIDED_TRADE_TYPES = (2, 3)


def _groups_of_inputs(inputs: tuple[str, ...]) -> frozenset[str]:
    out = set()
    for i in inputs:
        if i.startswith(("bid_", "ask_")):
            out.add("book")
        if i in _BROKER_INPUTS:
            out.add("brokers")
        if i in _SIDE_INPUTS:
            out.add("side")
    return frozenset(out)


FEATURE_GROUPS: dict[str, frozenset[str]] = {f.name: _groups_of_inputs(f.inputs) for f in SPEC}
"""Feature name -> the optional input groups it needs (empty: trades' prices, sizes and times only)."""

GROUP_FEATURES: dict[str, tuple[str, ...]] = {
    g: tuple(n for n in FEATURE_NAMES if g in FEATURE_GROUPS[n]) for g in INPUT_GROUPS
}
"""Group -> the features that need it, in feature-set order (``book`` has 7)."""


def groups_of(features: tuple[str, ...] | list[str]) -> frozenset[str]:
    """The optional input groups any of ``features`` needs."""
    return frozenset().union(*(FEATURE_GROUPS[f] for f in features)) if features else frozenset()


def all_present() -> dict[str, bool]:
    """Every group present (a history with book, broker ids and aggressor side)."""
    return dict.fromkeys(INPUT_GROUPS, True)


def absent_features(groups: Mapping[str, bool]) -> tuple[str, ...]:
    """The features that read a group absent from ``groups``, in feature-set order."""
    missing = {g for g in INPUT_GROUPS if not groups.get(g, False)}
    return tuple(n for n in FEATURE_NAMES if FEATURE_GROUPS[n] & missing)


def absent_indices(groups: Mapping[str, bool]) -> tuple[int, ...]:
    """Positions (in the 65-value row) of :func:`absent_features`."""
    idx = {n: i for i, n in enumerate(FEATURE_NAMES)}
    return tuple(idx[n] for n in absent_features(groups))


def required_positions(feature_names: tuple[str, ...] | list[str],
                       groups: Mapping[str, bool] | None) -> tuple[int, ...]:
    """Positions in ``feature_names`` that a complete row must fill: all but the features of absent
    groups. ``groups=None`` (a model without a recorded contract) requires every feature."""
    absent = set(absent_features(groups)) if groups is not None else set()
    return tuple(i for i, n in enumerate(feature_names) if n not in absent)


def complete_rows(values: np.ndarray, required: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """Which rows of ``values`` (n x features, or one row) are complete: no NaN at ``required``.

    The one incomplete-row rule: training keeps only complete labelled rows, serving decides only on
    complete rows. Returns a boolean array (a 0-d one for a single row)."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.asarray(required, dtype=np.intp)
    return np.asarray(~np.isnan(v[..., idx]).any(axis=-1))


def _only(group: str) -> tuple[str, ...]:
    """Features that need ``group`` and no other optional group: their values witness the group alone."""
    return tuple(n for n in GROUP_FEATURES[group] if FEATURE_GROUPS[n] == {group})


def groups_in_features(features: pd.DataFrame) -> dict[str, bool]:
    """A group is present when any of its own features (those needing no other group) has a value."""
    out = {}
    for g in INPUT_GROUPS:
        cols = [c for c in _only(g) if c in features.columns]
        out[g] = bool(cols) and bool(features[cols].notna().to_numpy().any())
    return out


def groups_in_bars(bars: pd.DataFrame) -> dict[str, bool]:
    """Evidence in the bars: a book price at a close, a known (> 0) broker id, a signed volume.

    A column the bars do not have is no evidence against the group (True); features decide then.
    """
    out = dict.fromkeys(INPUT_GROUPS, True)
    if "bid_px_1" in bars.columns:
        out["book"] = bool(bars["bid_px_1"].notna().any())
    if "broker_ids" in bars.columns:
        out["brokers"] = any(v is not None and len(v) and bool(np.any(np.asarray(v) > 0)) for v in bars["broker_ids"])
    if {"buy_vol", "sell_vol"} <= set(bars.columns):
        out["side"] = bool(((bars["buy_vol"].fillna(0) + bars["sell_vol"].fillna(0)) > 0).any())
    return out


def groups_in_tape(trades: pd.DataFrame, book: pd.DataFrame | None) -> dict[str, bool]:
    """The groups a raw tape carries: book snapshots, known (> 0) broker ids, trade types 2 / 3."""
    if not len(trades):
        return {"book": False, "brokers": False, "side": False}
    brokers = bool(((trades["buyer"].to_numpy() > 0) | (trades["seller"].to_numpy() > 0)).any())
    side = bool(np.isin(trades["trade_type"].to_numpy(), _SIDED_TRADE_TYPES).any())
    has_book = book is not None and len(book) > 0 and bool(book["bid_px_1"].notna().any())
    return {"book": has_book, "brokers": brokers, "side": side}


def combine(*evidence: Mapping[str, bool]) -> dict[str, bool]:
    """A group is present only when every piece of evidence says so."""
    return {g: all(bool(e.get(g, True)) for e in evidence) for g in INPUT_GROUPS}


def feature_contract(*, bar_spec: str, large_trade_qty: int, input_groups: Mapping[str, bool],
                     symbol: str = "WDO", tick_size: float | None = None,
                     session_template: str | None = None) -> dict[str, Any]:
    """The feature contract, one key per item its inputs depend on.

    ``tick_size`` and ``session_template`` (``Instrument.session_template_hash``: calendar, zone, dated
    hours, Ash Wednesday rule, special days) default to those of ``symbol``'s instrument.
    """
    from market.instruments import get_instrument

    unknown = sorted(set(input_groups) - set(INPUT_GROUPS))
    if unknown:
        raise ValueError(f"unknown input groups {unknown}; known: {list(INPUT_GROUPS)}")
    inst = get_instrument(symbol)
    return {
        "feature_spec_hash": spec_hash(),
        "bar_spec": str(bar_spec),
        "large_trade_qty": int(large_trade_qty),
        "tick_size": float(inst.tick_size if tick_size is None else tick_size),
        "session_template": session_template or inst.session_template_hash(),
        "input_groups": {g: bool(input_groups.get(g, False)) for g in INPUT_GROUPS},
    }


_HOW = {
    "book": "retrain on this trades-only history (`qtml train` ignores what it lacks) or record the book",
    "brokers": "retrain on this history or use a source with broker ids",
    "side": "retrain on this history or use a source with the aggressor side (trade types 2 / 3)",
}


_FIX = {
    "feature_spec_hash": "retrain with this feature set (`qtml train`)",
    "bar_spec": "the model reads {theirs} bars and this engine builds {mine} bars; set market.bars.spec "
                "to {theirs} or retrain on {mine} bars",
    "large_trade_qty": "set market.bars.large_trade_qty to {theirs} or retrain",
    "tick_size": "the instrument's tick size changed (market.instruments): retrain",
    "session_template": "the instrument's calendar or dated hours changed (market.instruments): retrain",
}
"""What to do about each plain item of the contract that differs."""


def contract_refusals(model: Mapping[str, Any], serving: Mapping[str, Any]) -> list[str]:
    """Every difference between a model's feature contract and the serving side's, one line each.

    Plain items must be equal. Input groups are one-sided: a model trained without a group runs on
    data that has it (its positions are fed NaN), a model trained with it is refused on data without.
    """
    out: list[str] = []
    for key, mine in serving.items():
        if key == "input_groups":
            continue
        theirs = model.get(key)
        if theirs is None:
            out.append(f"{key}: the model's feature contract does not record it (retrain with this code)")
        elif theirs != mine:
            fix = _FIX.get(key, "retrain with this engine's config (`qtml train`)").format(theirs=theirs, mine=mine)
            out.append(f"{key}: model was trained with {theirs!r}, this engine runs {mine!r}: {fix}")
    groups = model.get("input_groups") or {}
    for g in INPUT_GROUPS:
        if groups.get(g) and not serving.get("input_groups", {}).get(g, True):
            n = len(GROUP_FEATURES[g])
            out.append(f"input_groups.{g}: model was trained with {g} features ({n}); this data has no {g}: {_HOW[g]}")
    return out

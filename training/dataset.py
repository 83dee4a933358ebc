"""The training dataset: features at each decision bar joined with its label, plus a snapshot hash.

:func:`assemble` is pure (features DataFrame + labels -> :class:`Dataset`) so model-behaviour tests
run without Feast; :func:`load_dataset` is the shell that reads bars from the lake, labels them and
fetches the features through Feast point-in-time retrieval.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.contract import (
    GROUP_FEATURES,
    INPUT_GROUPS,
    absent_features,
    complete_rows,
    groups_in_features,
    required_positions,
)
from quantumtrader.errors import InputError, SchemaError
from quantumtrader.logging import get_logger
from training.labels import make_labels

if TYPE_CHECKING:
    from quantumtrader.config import Settings

log = get_logger("training.dataset")


@dataclass(frozen=True)
class Dataset:
    """Time-ordered rows ready for cross-validation.

    ``X`` is indexed by row id ``0..n-1`` (the id every fold and audit refers to); ``close_ts`` holds
    each row's decision time. ``pos``/``end_pos`` are bar positions of the decision bar and of the
    label's last bar (the purge works on them).
    """

    X: pd.DataFrame
    y: np.ndarray
    fwd_ticks: np.ndarray
    pos: np.ndarray
    end_pos: np.ndarray
    close_ts: pd.DatetimeIndex
    feature_names: list[str]
    snapshot_hash: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def class_counts(self) -> dict[int, int]:
        values, counts = np.unique(self.y, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def snapshot_hash(X: pd.DataFrame, y: np.ndarray, close_ts: pd.DatetimeIndex) -> str:
    """SHA-256 over the shape, column names, timestamps, feature values and labels."""
    h = hashlib.sha256()
    h.update(f"{X.shape[0]}x{X.shape[1]}|".encode())
    h.update("|".join(map(str, X.columns)).encode())
    h.update(np.ascontiguousarray(close_ts.asi8).tobytes())
    h.update(np.ascontiguousarray(X.to_numpy(dtype=np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(y, dtype=np.int64)).tobytes())
    return h.hexdigest()


def assemble(features: pd.DataFrame, labels: pd.DataFrame, feature_names: list[str],
             input_groups: Mapping[str, bool] | None = None) -> Dataset:
    """Join ``features`` (index close_ts, one column per feature) with ``labels`` on the decision time.

    ``input_groups`` says which optional input groups (book, brokers, side; see
    :mod:`features.contract`) the history has; ``None`` detects them from the labelled rows. The
    features of an absent group are set to NaN on every row (the model is fed NaN there in serving
    too) and do not count in the completeness check. Rows whose other features are still warming up
    (NaN) are dropped and counted (serving applies the same rule, ``features.contract.complete_rows``);
    an infinite value or a missing column is an :class:`InputError` naming the column, and no complete
    row at all is an :class:`InputError` naming the cause.
    """
    missing = [c for c in feature_names if c not in features.columns]
    if missing:
        raise SchemaError(f"features lack {len(missing)} columns of the feature set, e.g. {missing[:5]}")
    feats = features[feature_names].astype(np.float64)
    joined = labels.join(feats, how="inner").sort_index()
    values = joined[feature_names].to_numpy()
    bad_cols = [feature_names[j] for j in np.where(np.isinf(values).any(axis=0))[0]]
    if bad_cols:
        raise InputError(f"features contain infinite values in columns {bad_cols[:5]}")
    groups = dict(input_groups) if input_groups is not None else groups_in_features(joined[feature_names])
    absent = [c for c in absent_features(groups) if c in feature_names]
    if absent:
        joined[absent] = np.nan
    required = required_positions(feature_names, groups)
    used = [feature_names[i] for i in required]
    # the one incomplete-row rule (features.contract): serving never asks the model about a row dropped here
    complete = complete_rows(joined[feature_names].to_numpy(dtype=np.float64), required)
    dropped = int((~complete).sum())
    if not complete.any():
        raise InputError(no_complete_row_reason(joined[used], groups, len(labels)))
    joined = joined[complete]
    # One C-contiguous float64 block: the CV tasks slice this frame from several threads at once, and a
    # single block leaves pandas nothing to consolidate in place while they do.
    X = pd.DataFrame(np.ascontiguousarray(joined[feature_names].to_numpy(dtype=np.float64)), columns=feature_names)
    y = joined["label"].to_numpy(dtype=np.int64)
    close_ts = pd.DatetimeIndex(joined.index, name="close_ts")
    ds = Dataset(
        X=X,
        y=y,
        fwd_ticks=joined["fwd_ticks"].to_numpy(dtype=np.float64),
        pos=joined["pos"].to_numpy(dtype=np.int64),
        end_pos=joined["end_pos"].to_numpy(dtype=np.int64),
        close_ts=close_ts,
        feature_names=list(feature_names),
        snapshot_hash=snapshot_hash(X, y, close_ts),
        info={"rows": len(y), "dropped_warmup_rows": dropped, "labelled_rows": len(labels),
              "input_groups": {g: bool(groups.get(g, False)) for g in INPUT_GROUPS},
              "nan_features": absent},
    )
    classes = {str(k): v for k, v in ds.class_counts().items()}
    log.info("dataset assembled", data={**ds.info, "classes": classes, "hash": ds.snapshot_hash[:12]})
    return ds


def no_complete_row_reason(values: pd.DataFrame, groups: Mapping[str, bool], n_labelled: int) -> str:
    """Why no labelled row of ``values`` (the features that count) is complete: the real cause.

    A present group whose features are all NaN is named first ("all 7 book features are NaN: this
    history has no book"); the warm-up hint is given only when a feature's warm-up exceeds the rows.
    """
    from features.spec import SPEC

    all_nan = [c for c in values.columns if values[c].isna().all()]
    for g in INPUT_GROUPS:
        cols = [c for c in GROUP_FEATURES[g] if c in values.columns]
        if cols and all(c in all_nan for c in cols):
            n = len(GROUP_FEATURES[g])
            return (f"no labelled row has a complete feature vector: all {n} {g} features are NaN: "
                    f"this history has no {g} (got input_groups.{g}={groups.get(g)}; detect the groups "
                    "from the data instead)")
    warmup = {f.name: f.warmup for f in SPEC}
    long = sorted((c for c in all_nan if warmup.get(c, 0) >= n_labelled), key=lambda c: -warmup[c])
    if long:
        return (f"no labelled row has a complete feature vector: too little history for the warm-up "
                f"({n_labelled} labelled bars; {long[0]} needs {warmup[long[0]]} bars): ingest more sessions")
    if all_nan:
        return (f"no labelled row has a complete feature vector: {len(all_nan)} features are NaN on every row, "
                f"e.g. {all_nan[:5]}: check the inputs they read (features.spec)")
    share = values.isna().mean().sort_values(ascending=False)
    worst = [f"{c} ({v:.0%} NaN)" for c, v in share.head(3).items()]
    return ("no labelled row has a complete feature vector: every row has a NaN somewhere; most NaN: "
            + ", ".join(worst))


def labels_for_bars(bars: pd.DataFrame, settings: Settings, symbol: str) -> pd.DataFrame:
    """Labels of ``bars`` with the configured method, horizon and the instrument's costs."""
    from market.instruments import get_instrument

    cfg = settings.training
    return make_labels(
        bars,
        method=cfg.labels.method,
        horizon=cfg.horizon,
        instrument=get_instrument(symbol),
        flat_band_ticks=cfg.labels.flat_band_ticks,
        costs=settings.costs,
        stop_ticks=cfg.labels.stop_ticks,
        target_ticks=cfg.labels.target_ticks,
    )


def read_bars(settings: Settings, symbol: str) -> pd.DataFrame:
    """Bars of ``symbol`` from the lake, indexed and sorted by close_ts."""
    from market.lake import Lake, bars_dataset

    bars = Lake(settings.lake_root).read(bars_dataset(settings.market.bars.spec), symbol)
    if bars.empty:
        raise InputError(
            f"no bars for {symbol} in {settings.lake_root}/{bars_dataset(settings.market.bars.spec)}: ingest first"
        )
    if "close_ts" in bars.columns:
        bars = bars.set_index("close_ts")
    return bars.sort_index()


def hold_out_sessions(bars: pd.DataFrame, n: int) -> tuple[pd.DataFrame, list[str]]:
    """Drop the newest ``n`` sessions of ``bars``; return the rest and the held-out session dates."""
    if n == 0:
        return bars, []
    sessions = sorted(bars["session"].astype(str).unique())
    if len(sessions) <= n:
        raise InputError(
            f"training.holdout_sessions={n} would hold out every one of the {len(sessions)} sessions in the lake: "
            "ingest more sessions or lower it"
        )
    held = sessions[-n:]
    return bars[~bars["session"].astype(str).isin(held)], held


def load_dataset(settings: Settings, *, symbol: str | None = None, engine: str = "asof") -> Dataset:
    """Bars from the lake -> labels -> features by Feast point-in-time retrieval -> :class:`Dataset`.

    ``engine`` picks the join of :func:`features.store.get_historical_features`: ``"asof"`` (the
    registry-driven DuckDB ASOF JOIN, ~10x faster) or ``"feast"`` (Feast's own); the datasets are equal.
    """
    from features.contract import combine, groups_in_bars
    from features.spec import FEATURE_NAMES, spec_hash
    from features.store import get_historical_features

    symbol = symbol or settings.market.symbol
    bars, held_out = hold_out_sessions(read_bars(settings, symbol), settings.training.holdout_sessions)
    labels = labels_for_bars(bars, settings, symbol)
    entity_df = pd.DataFrame({"symbol": symbol, "event_timestamp": labels.index})
    feats = get_historical_features(entity_df, settings, engine=engine)  # type: ignore[arg-type]
    if "event_timestamp" in feats.columns:
        feats = feats.set_index("event_timestamp")
    feats.index = pd.DatetimeIndex(feats.index).tz_convert("UTC")
    feats = feats[~feats.index.duplicated(keep="last")]
    labels.index = pd.DatetimeIndex(labels.index).tz_convert("UTC")
    groups = combine(groups_in_features(feats.reindex(labels.index)), groups_in_bars(bars))
    ds = assemble(feats, labels, list(FEATURE_NAMES), groups)
    # get_historical_features refused any stored row built with another spec: the data's hash is ours.
    ds.info.update({"symbol": symbol, "bars": len(bars), "source": "feast", "retrieval": engine,
                    "feature_spec_hash": spec_hash(),
                    "first_session": str(bars["session"].iloc[0]), "last_session": str(bars["session"].iloc[-1]),
                    "held_out_sessions": held_out})
    return ds

"""Configuration of labels, cross-validation, models, tuning and tracking.

Every value has a documented default; the ``training`` section of ``config/default.yaml`` mirrors it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from quantumtrader.frozen import FrozenModel


class LabelConfig(FrozenModel):
    """How a bar gets its class in {-1 down, 0 flat, 1 up}.

    ``fixed_horizon``: the sign of the move over ``horizon`` bars, flat when it is inside the band.
    ``triple_barrier``: the first of target (up), stop (down) or the time limit (flat) to be touched.
    """

    method: Literal["fixed_horizon", "triple_barrier"] = "fixed_horizon"
    flat_band_ticks: float | None = Field(
        None, gt=0,
        description="Flat band in ticks; None = the round-trip cost (of the top-level costs section, the broker's) "
        "rounded up to whole ticks.",
    )
    stop_ticks: float = Field(4.0, gt=0, description="Triple barrier: stop distance in ticks.")
    target_ticks: float = Field(4.0, gt=0, description="Triple barrier: target distance in ticks.")


class CVConfig(FrozenModel):
    """Purged walk-forward cross-validation (expanding window)."""

    n_folds: int = Field(5, ge=2)
    embargo_bars: int | None = Field(None, ge=0, description="Bars dropped before each test block; None = horizon.")
    inner_val_fraction: float = Field(
        0.2, gt=0, lt=0.5, description="Tail of each training fold used for early stopping and calibration."
    )
    min_train_rows: int = Field(200, gt=0)
    min_val_rows: int = Field(50, gt=0)
    min_test_rows: int = Field(50, gt=0)


class LGBMConfig(FrozenModel):
    """Fixed LightGBM parameters (the tuned ones come from :class:`TuningConfig`)."""

    num_threads: int = Field(
        1, ge=0,
        description="Threads of every LightGBM fit (fits run one at a time per process); 0 = all cores, resolved "
        "to the CPU count (never LightGBM's own default, which the live predictor's num_threads=1 changes).",
    )
    early_stopping_rounds: int = Field(20, gt=0)
    bagging_fraction: float = Field(1.0, gt=0, le=1)
    seed: int = 42

    @property
    def threads(self) -> int:
        """The explicit thread count every LightGBM call of a fit passes (``num_threads``, 0 = all cores)."""
        from quantumtrader.lgbm_section import all_cores

        return self.num_threads or all_cores()

    def shared_by(self, processes: int) -> LGBMConfig:
        """This config for one of ``processes`` worker processes on this machine: the cores split between them."""
        return self.model_copy(update={"num_threads": max(1, self.threads // max(1, processes))})


class TuningConfig(FrozenModel):
    """Grid (every combination) or random search (``n_iter`` draws) over the LightGBM parameters."""

    search: Literal["grid", "random"] = "grid"
    n_iter: int = Field(4, gt=0, description="Random search: number of draws.")
    seed: int = 7
    num_leaves: tuple[int, ...] = (15, 31)
    learning_rate: tuple[float, ...] = (0.1,)
    min_data_in_leaf: tuple[int, ...] = (50,)
    feature_fraction: tuple[float, ...] = (0.8,)
    lambda_l2: tuple[float, ...] = (1.0,)
    n_estimators: tuple[int, ...] = (200,)

    @model_validator(mode="after")
    def _non_empty(self) -> TuningConfig:
        names = ("num_leaves", "learning_rate", "min_data_in_leaf", "feature_fraction", "lambda_l2", "n_estimators")
        for name in names:
            if not getattr(self, name):
                raise ValueError(f"tuning.{name} must list at least one value")
        return self


class TrainingConfig(FrozenModel):
    horizon: int = Field(5, gt=0, description="Label horizon H in bars (also the triple barrier's time limit).")
    registered_model_name: str = "quantumtrader"
    alias: str = Field("challenger", description="Alias set on each newly registered version.")
    experiment: str = "quantumtrader-training"
    task_runner: Literal["thread", "dask"] = "thread"
    max_workers: int = Field(2, gt=0, description="Parallel folds (threads or Dask worker processes).")
    holdout_sessions: int = Field(
        0, ge=0,
        description="The newest N lake sessions are kept out of training (left for an out-of-sample backtest).",
    )
    labels: LabelConfig = LabelConfig()
    cv: CVConfig = CVConfig()
    lgbm: LGBMConfig = LGBMConfig()
    tuning: TuningConfig = TuningConfig()

    @model_validator(mode="after")
    def _embargo_covers_horizon(self) -> TrainingConfig:
        if self.cv.embargo_bars is not None and self.cv.embargo_bars < self.horizon:
            raise ValueError(f"cv.embargo_bars ({self.cv.embargo_bars}) must be >= horizon ({self.horizon})")
        return self

    @property
    def embargo(self) -> int:
        """Embargo in bars (at least the horizon)."""
        return self.cv.embargo_bars if self.cv.embargo_bars is not None else self.horizon

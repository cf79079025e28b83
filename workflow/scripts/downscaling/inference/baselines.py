"""The baselines a downscaler must beat, made from the same cubes (downscaling/variants.py
names them). Each yields (date, (M, H, W) log10 AOD members) for the test days, as the models do.

- ``interp``: MERRA-2 on the G5NR grid, with MERRA-2's own bias;
- ``interp_qm``: the same, bias-adjusted per pixel by empirical quantile mapping (xsdba's EQM,
  the successor of xclim.sdba) learnt from G5NR against MERRA-2 on the season's training days;
- ``interp_mm``: the same, each pixel's mean and standard deviation over the season's training
  days matched to G5NR's (the matched MERRA-2 the method's models read; a two-moment correction
  that does not fit the tails to ~150 days as a quantile map does);
- ``interp_qm_stochastic``: ``interp_qm`` plus G5NR-minus-``interp_qm`` residual fields of
  training days drawn at random, one per member: a generative baseline with G5NR's texture;
- ``persistence``: the previous day's G5NR, which lenient mode has in its history anyway (in
  strict mode its own forecast where that day is a test day).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

QM_QUANTILES = 20  # xsdba's default; ~150 training days per pixel and season in the demo


def interpolated(merra2_log: np.ndarray, dates, test_positions):
    """MERRA-2 on the G5NR grid on the test days."""
    for day in np.sort(np.asarray(test_positions)):
        yield dates[day], merra2_log[day][None]


def persistence(truth_log: np.ndarray, dates, test_positions, mode: str = "lenient"):
    """Each test day's previous day of G5NR (the record holds it: test days have a history).
    In strict mode a previous day that is itself a test day is persistence's own forecast of it,
    as strict mode replaces earlier test days by each model's predictions: the last G5NR day
    before a run of test days is carried through it."""
    predicted: dict[int, np.ndarray] = {}
    for day in np.sort(np.asarray(test_positions)):
        if day == 0 or dates[day - 1] != dates[day] - pd.Timedelta(days=1):
            raise ValueError(f"persistence: the day before {dates[day]:%Y-%m-%d} is not in the G5NR record")
        previous = predicted.get(day - 1) if mode == "strict" else None
        predicted[day] = truth_log[day - 1] if previous is None else previous
        yield dates[day], predicted[day][None]


def _quantile_map(truth_log: np.ndarray, merra2_log: np.ndarray, dates, train_positions, positions) -> np.ndarray:
    """MERRA-2 of ``positions`` (T, H, W), adjusted per pixel by additive empirical quantile
    mapping in log10 space (``F_ref^-1(F_hist(sim))``) trained on ``train_positions``."""
    logging.getLogger("pint.util").setLevel(logging.ERROR)  # xsdba's unit registry redefines a few units
    import xsdba  # imported here: ~2 s, and only these baselines need it

    def cube(values, positions):
        # xsdba wants a time axis and units; pixels are independent groups along (lat, lon)
        return xr.DataArray(
            values[positions], dims=("time", "y", "x"), coords={"time": dates[positions]}, attrs={"units": "1"}
        )

    train_positions = np.sort(np.asarray(train_positions))
    mapping = xsdba.EmpiricalQuantileMapping.train(
        cube(truth_log, train_positions),
        cube(merra2_log, train_positions),
        nquantiles=QM_QUANTILES,
        group="time",
        kind="+",
    )
    adjusted = mapping.adjust(cube(merra2_log, np.asarray(positions)), extrapolation="constant", interp="nearest")
    return adjusted.transpose("time", "y", "x").values.astype(np.float32)


def quantile_mapped(truth_log: np.ndarray, merra2_log: np.ndarray, dates, train_positions, test_positions):
    """MERRA-2 on the G5NR grid, adjusted per pixel by additive empirical quantile mapping in
    log10 space (``F_ref^-1(F_hist(sim))``), trained on ``train_positions``."""
    test_positions = np.sort(np.asarray(test_positions))
    adjusted = _quantile_map(truth_log, merra2_log, dates, train_positions, test_positions)
    for i, day in enumerate(test_positions):
        yield dates[day], adjusted[i][None]


def moment_matched(truth_log: np.ndarray, merra2_log: np.ndarray, dates, train_positions, test_positions):
    """MERRA-2 on the G5NR grid with each pixel's mean and standard deviation over
    ``train_positions`` matched to G5NR's (log10 space)."""
    from downscaling.data.datasets import (  # torch, which the other baselines do not need
        match_moments,
        pixel_climatology,
    )

    train_positions = np.sort(np.asarray(train_positions))
    climatology = pixel_climatology(truth_log[train_positions], merra2_log[train_positions])
    for day in np.sort(np.asarray(test_positions)):
        yield dates[day], match_moments(merra2_log[day], climatology)[None].astype(np.float32)


def stochastic_quantile_mapped(
    truth_log: np.ndarray, merra2_log: np.ndarray, dates, train_positions, test_positions, members: int, seed: int
):
    """The statistician's generative baseline: :func:`quantile_mapped`'s field plus ``members``
    residual fields (G5NR minus the quantile-mapped MERRA-2 of a training day) drawn from the
    training days, so that each member has G5NR's texture and the ensemble a spread. Each day's
    draws are seeded by the day alone (the same whatever else is run); without replacement when
    there are enough training days."""
    train_positions, test_positions = np.sort(np.asarray(train_positions)), np.sort(np.asarray(test_positions))
    adjusted = _quantile_map(
        truth_log, merra2_log, dates, train_positions, np.concatenate([train_positions, test_positions])
    )
    residuals = truth_log[train_positions] - adjusted[: train_positions.size]
    for i, day in enumerate(test_positions):
        day_number = int(np.datetime64(dates[day], "D").astype(np.int64))
        drawn = np.random.default_rng([seed, day_number]).choice(
            train_positions.size, size=members, replace=train_positions.size < members
        )
        yield dates[day], adjusted[train_positions.size + i][None] + residuals[drawn]

"""The baselines a downscaler must beat, made from the same cubes (downscaling/variants.py
names them). Each yields (date, (1, H, W) log10 AOD) for the test days, as the models do.

- ``interp``: MERRA-2 on the G5NR grid, with MERRA-2's own bias;
- ``interp_qm``: the same, bias-adjusted per pixel by empirical quantile mapping (xsdba's EQM,
  the successor of xclim.sdba) learnt from G5NR against MERRA-2 on the season's training days;
- ``persistence``: the previous day's G5NR, which lenient mode has in its history anyway.
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


def persistence(truth_log: np.ndarray, dates, test_positions):
    """Each test day's previous day of G5NR (the record holds it: test days have a history)."""
    for day in np.sort(np.asarray(test_positions)):
        if day == 0 or dates[day - 1] != dates[day] - pd.Timedelta(days=1):
            raise ValueError(f"persistence: the day before {dates[day]:%Y-%m-%d} is not in the G5NR record")
        yield dates[day], truth_log[day - 1][None]


def quantile_mapped(truth_log: np.ndarray, merra2_log: np.ndarray, dates, train_positions, test_positions):
    """MERRA-2 on the G5NR grid, adjusted per pixel by additive empirical quantile mapping in
    log10 space (``F_ref^-1(F_hist(sim))``), trained on ``train_positions``."""
    logging.getLogger("pint.util").setLevel(logging.ERROR)  # xsdba's unit registry redefines a few units
    import xsdba  # imported here: ~2 s, and only this baseline needs it

    def cube(values, positions):
        positions = np.sort(np.asarray(positions))
        # xsdba wants a time axis and units; pixels are independent groups along (lat, lon)
        return xr.DataArray(values[positions], dims=("time", "y", "x"), coords={"time": dates[positions]},
                            attrs={"units": "1"})

    mapping = xsdba.EmpiricalQuantileMapping.train(
        cube(truth_log, train_positions), cube(merra2_log, train_positions),
        nquantiles=QM_QUANTILES, group="time", kind="+",
    )
    adjusted = mapping.adjust(cube(merra2_log, test_positions), extrapolation="constant", interp="nearest")
    adjusted = adjusted.transpose("time", "y", "x").values.astype(np.float32)
    for i, day in enumerate(np.sort(np.asarray(test_positions))):
        yield dates[day], adjusted[i][None]

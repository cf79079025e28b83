"""The file contracts: what the ingested cubes and the downscaled files hold, read in one place.

An ingested cube (``results/data/{area}/*.nc``) holds ``log10_aod`` (time, lat, lon): daily
means, log10(max(x, floor)). A downscaled file (``results/downscaled/…``, ``results/longrun/…``)
holds ``aod_member`` (time, member, lat, lon), ``aod_mean`` (time, lat, lon), the geometric
ensemble mean, and ``log10_aod_spread``, all in physical AOD except the spread. Readers stream
long records in blocks of days. Torch-free.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from downscaling.data.splits import read_split
from downscaling.jobs import atomic_output

CUBE_VARIABLE = "log10_aod"


#: Variables of a downscaled file and their dims (the inference contract).
DOWNSCALED_VARIABLES = {
    "aod_member": ("time", "member", "lat", "lon"),
    "aod_mean": ("time", "lat", "lon"),
    "log10_aod_spread": ("time", "lat", "lon"),
}


LOG_FLOOR = 1e-6  # the ingest transform's floor, log10(max(x, floor))


DAYS_PER_BLOCK = 64  # days read at once when streaming a record


def log10_aod(aod, floor=LOG_FLOOR) -> np.ndarray:
    """log10(max(aod, floor)) as float32 (computed in float64, rounded once): the transform of
    ingest, and of every reader of physical AOD; NaN stays NaN."""
    floored = np.maximum(np.asarray(aod, dtype=np.float32), np.float32(floor))
    return np.log10(floored, out=np.empty_like(floored), dtype=np.float64, casting="same_kind")


def normalised_dates(values) -> pd.DatetimeIndex:
    """Time coordinate values -> calendar days (midnight), whatever the time of day stored."""
    return pd.DatetimeIndex(values).normalize()


def positions_on(times, dates, path) -> np.ndarray:
    """Positions of the calendar days ``dates`` on the time coordinate ``times`` of the file
    ``path``; ValueError naming the file and the first missing date."""
    dates = normalised_dates(dates)
    positions = normalised_dates(times).get_indexer(dates)
    if (positions < 0).any():
        raise ValueError(f"{path}: date {dates[positions < 0][0]:%Y-%m-%d} is not in the file")
    return positions


def open_downscaled(path) -> xr.Dataset:
    """Open a downscaled file lazily and check it follows the inference contract.

    Raises ValueError naming the file when a variable is missing or has other dims, or when the
    lat/lon coordinates are not ascending. Use as ``with open_downscaled(p) as ds: ...``.
    """
    ds = xr.open_dataset(path)
    problems = []
    for name, dims in DOWNSCALED_VARIABLES.items():
        if name not in ds:
            problems.append(f"variable {name!r} is missing")
        elif ds[name].dims != dims:
            problems.append(f"variable {name!r} has dims {ds[name].dims}, expected {dims}")
    for axis in ("lat", "lon"):
        if axis in ds.coords and np.any(np.diff(ds[axis].values) <= 0):
            problems.append(f"coordinate {axis!r} is not strictly ascending")
    if problems:
        ds.close()
        raise ValueError(f"{path}: not a downscaled file of the contract: " + "; ".join(problems))
    return ds


@dataclass(frozen=True)
class Downscaled:
    """log10 AOD fields of a downscaled file (or a selection of its days and members).

    members: (m, T, H, W), the first m of the file's ``n_members`` members (m may be 0);
    mean: (T, H, W), the log10 of ``aod_mean``, i.e. the mean over members of log10 AOD;
    spread: (T, H, W) std over members of log10 AOD.
    """

    dates: pd.DatetimeIndex
    lat: np.ndarray
    lon: np.ndarray
    members: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    n_members: int


def read_downscaled(path, log_floor=LOG_FLOOR, days=None, max_members=None) -> Downscaled:
    """Read a downscaled file as log10 fields.

    ``days`` (int positions on its time axis) and ``max_members`` (read the first members
    only; 0 for none) limit what is read, which keeps long runs affordable. Raises ValueError
    as :func:`open_downscaled`.
    """
    with open_downscaled(path) as ds:
        if days is not None:
            ds = ds.isel(time=np.asarray(days))
        n_members = ds.sizes["member"]
        members = ds["aod_member"].isel(member=slice(0, max_members)).transpose("member", "time", "lat", "lon")
        return Downscaled(
            dates=normalised_dates(ds["time"].values),
            lat=ds["lat"].values.astype(np.float64),
            lon=ds["lon"].values.astype(np.float64),
            members=log10_aod(members.values, log_floor),
            mean=log10_aod(ds["aod_mean"].values, log_floor),
            spread=ds["log10_aod_spread"].values.astype(np.float32),
            n_members=n_members,
        )


def downscaled_dates(path) -> pd.DatetimeIndex:
    """The days of a downscaled file (reads only its time coordinate)."""
    with open_downscaled(path) as ds:
        return normalised_dates(ds["time"].values)


def downscaled_positions(path, dates) -> np.ndarray:
    """Positions of ``dates`` on a downscaled file's time axis (see :func:`positions_on`)."""
    return positions_on(downscaled_dates(path), dates, path)


def test_days(split_csv) -> pd.DatetimeIndex:
    """The ``test`` days of a split CSV, in date order; ValueError naming the file when none."""
    split = read_split(split_csv)
    days = pd.DatetimeIndex(split.loc[split["split"] == "test", "date"]).sort_values()
    if days.empty:
        raise ValueError(f"{split_csv} has no test day")
    return days


def read_cube_days(cube_path, dates, lat=None, lon=None) -> np.ndarray:
    """``log10_aod`` (T, H, W) float32 of an ingested cube on ``dates`` (reads those days only).

    With ``lat``/``lon`` given, the cube's grid must equal them (ValueError otherwise). Raises
    ValueError naming the file when a date is missing or the variable is absent.
    """
    with xr.open_dataset(cube_path) as ds:
        if CUBE_VARIABLE not in ds:
            raise ValueError(f"{cube_path}: variable {CUBE_VARIABLE!r} is missing")
        cube = ds[CUBE_VARIABLE]
        positions = positions_on(cube["time"].values, dates, cube_path)
        for name, expected in (("lat", lat), ("lon", lon)):
            if expected is not None and not (
                cube[name].size == len(expected) and np.allclose(cube[name].values, expected, atol=1e-6)
            ):
                raise ValueError(f"{cube_path}: the {name} grid differs from the prediction's")
        return cube.isel(time=positions).values.astype(np.float32)


def within(cube: xr.DataArray, lat, lon) -> xr.DataArray:
    """The cells of ``cube`` whose centres lie inside the extent of the grid ``lat``, ``lon``.

    Used to cut the native MERRA-2 cube (which has a margin around the area) to the area.
    """
    return cube.sel(
        lat=slice(float(np.min(lat)), float(np.max(lat))), lon=slice(float(np.min(lon)), float(np.max(lon)))
    )


def blocks_of_days(n_days, block=DAYS_PER_BLOCK):
    """Slices 0:block, block:2 block, ... covering n_days."""
    return [slice(start, min(start + block, n_days)) for start in range(0, n_days, block)]


def area_mean_series(path, variable=CUBE_VARIABLE, lat=None, lon=None, log_floor=None):
    """Daily area mean of ``variable`` over lat/lon, read in blocks of days.

    With ``lat``/``lon`` (a grid), only the cells inside that grid's extent count. With
    ``log_floor`` the values are AOD and are taken to log10(max(x, floor)) per pixel before
    averaging (so the mean is a mean of log10 AOD, like for the ingested cubes). NaN pixels are
    ignored. Returns a DataArray with the variable's dims minus (lat, lon), its ``time``
    coordinate normalised to calendar days.
    """
    with xr.open_dataset(path) as ds:
        if variable not in ds:
            raise ValueError(f"{path}: variable {variable!r} is missing")
        data = ds[variable]
        if lat is not None:
            data = within(data, lat, lon)
        means = []
        for days in blocks_of_days(data.sizes["time"]):
            values = data.isel(time=days).values
            if log_floor is not None:
                values = log10_aod(values, log_floor)
            means.append(np.nanmean(values.astype(np.float64), axis=(-2, -1)))
        dims = tuple(d for d in data.dims if d not in ("lat", "lon"))
        return xr.DataArray(
            np.concatenate(means, axis=dims.index("time")),
            dims=dims,
            coords={"time": normalised_dates(data["time"].values)},
        )


def time_mean(path, variable=CUBE_VARIABLE) -> xr.DataArray:
    """Mean over all days of a (time, lat, lon) variable, NaN-aware, read in blocks of days."""
    with xr.open_dataset(path) as ds:
        data = ds[variable]
        total = np.zeros(data.shape[1:])
        count = np.zeros(data.shape[1:])
        for days in blocks_of_days(data.sizes["time"]):
            values = data.isel(time=days).values.astype(np.float64)
            total += np.nansum(values, axis=0)
            count += np.isfinite(values).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = total / count
        return xr.DataArray(mean, dims=("lat", "lon"), coords={"lat": data["lat"].values, "lon": data["lon"].values})


def spaced_days(n_days, max_days, run_length=1) -> np.ndarray:
    """Positions of at most ``max_days`` of ``n_days`` days, spread evenly over the record.

    All days when n_days <= max_days; else runs of ``run_length`` consecutive days with evenly
    spaced starts (run_length > 1 keeps day pairs a few days apart for lag statistics).
    """
    if n_days <= max_days:
        return np.arange(n_days)
    run_length = max(1, min(run_length, max_days))
    starts = np.linspace(0, n_days - run_length, max_days // run_length).round().astype(int)
    return np.unique((starts[:, None] + np.arange(run_length)[None, :]).ravel())


def write_json(values: dict, path) -> None:
    """Write ``values`` as indented JSON; NaN (an undefined score) is written as null."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(clean(values), indent=2) + "\n")

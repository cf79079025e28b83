"""The static input: surface elevation (m) from one netCDF file, put on an area's G5NR grid.

Errors raise :class:`downscaling.ingest.granules.IngestError` naming the file, as ingest does.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from downscaling.files.netcdf import write_cf
from downscaling.ingest.cubes import Paths, source_provenance
from downscaling.ingest.granules import (
    Box,
    IngestError,
    coordinate_values,
    data_variable,
    find_window,
    grid_step,
    open_raw,
    read_window,
)
from downscaling.ingest.regrid import regrid

METRE_UNITS = {"m", "meter", "meters", "metre", "metres"}


def elevation_on_grid(
    path: str | os.PathLike, variable: str, lat: np.ndarray, lon: np.ndarray, method: str = "nearest"
) -> xr.Dataset:
    """Surface elevation (m) from the netCDF ``path`` on the grid ``lat`` x ``lon``: a Dataset
    with ``elevation`` (lat, lon) float32.

    The variable may have leading dimensions of size 1; without a ``units`` attribute it is taken
    to be in metres. Raises IngestError naming the file for a missing variable, other units, a
    grid that is not regular or does not cover the target, and missing values around it.
    """
    path = str(path)
    target = Box((float(np.min(lat)), float(np.max(lat))), (float(np.min(lon)), float(np.max(lon))))
    with open_raw(path) as ds:
        var = data_variable(ds, variable, path)
        if any(size != 1 for size in var.shape[:-2]):
            raise IngestError(f"{path}: variable {variable!r} has shape {var.shape}; expected (lat, lon)")
        units = str(getattr(var, "units", "m")).strip().lower()
        if units not in METRE_UNITS:
            raise IngestError(f"{path}: variable {variable!r} has units {units!r}; expected metres")
        source_lat, source_lon = coordinate_values(ds, var.dimensions[-2]), coordinate_values(ds, var.dimensions[-1])
        margin = 2 * max(grid_step(source_lat, "lat", path), grid_step(source_lon, "lon", path))
        window = find_window(source_lat, source_lon, target, margin, path)
        values = read_window(var, window, leading=(0,) * (var.ndim - 2))
        long_name = str(getattr(var, "long_name", "surface elevation"))
    missing = int(np.isnan(values).sum())
    if missing:  # a NaN covariate would only surface as a NaN loss in training, naming no file
        raise IngestError(
            f"{path}: variable {variable!r} has {missing} missing (NaN or fill) cells around the area "
            f"({Box((float(window.lat[0]), float(window.lat[-1])), (float(window.lon[0]), float(window.lon[-1])))}); "
            "elevation must be defined everywhere"
        )
    source = xr.DataArray(values, dims=("lat", "lon"), coords={"lat": window.lat, "lon": window.lon})
    try:
        elevation = regrid(source, lat, lon, method)
    except ValueError as error:
        raise IngestError(f"{path}: cannot be put on the target grid: {error}") from error
    elevation.attrs = {
        "long_name": long_name,
        "units": "m",
        "standard_name": "surface_altitude",
        "regrid_method": method,
    }
    return xr.Dataset({"elevation": elevation.astype(np.float32)})


def write_elevation(
    paths: Paths,
    g5nr_path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    pattern: str,
    variable: str,
    method: str,
) -> xr.Dataset:
    """Rule ingest_elevation: the one elevation file of ``paths`` on the grid of the G5NR cube
    ``g5nr_path``, written to ``output`` as ``elevation`` (m). IngestError unless exactly one file."""
    if len(paths) != 1:
        raise IngestError(f"inputs.elevation = {pattern!r} matches {len(paths)} files; expected exactly one")
    with xr.open_dataset(g5nr_path) as g5nr:
        lat, lon = g5nr["lat"].values, g5nr["lon"].values
    static = elevation_on_grid(paths[0], variable, lat, lon, method)
    provenance = {
        **source_provenance(paths, pattern, {"variable": variable, "regrid": method}),
        "g5nr_grid": str(g5nr_path),
    }
    static["elevation"].attrs["coverage_content_type"] = "referenceInformation"
    write_cf(
        static,
        output,
        provenance,
        title="Surface elevation on the G5NR grid (0.0625 degrees)",
        summary=f"{variable} of {paths[0]} on the grid of {g5nr_path} ({method}): a static input of the "
        "downscaling models.",
        history=f"elevation put on the G5NR grid ({method})",
    )
    return static

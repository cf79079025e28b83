"""One raw MERRA-2 / G5NR netCDF file: where an area lies in its grid, its steps' times, the
area's crop of its variable.

Raw files are in the MAPL conventions of the real products: ``time`` as integer minutes since a
reference, ``time_increment`` as HHMMSS, fill values in ``_FillValue``/``missing_value``/
``fmissing_value``. Longitudes may run 0..360 or -180..180 and latitudes either way. Crops are
read as netCDF index slices computed from the coordinates, so a global field is never in memory.
Every problem raises :class:`IngestError` naming the file; :mod:`downscaling.ingest.cubes` streams a
record of such files into daily cubes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import netCDF4
import numpy as np
import xarray as xr
from xarray.coding.times import decode_cf_datetime

from downscaling.config_checks import box_problem

COORD_TOLERANCE_DEG = 1e-6  # coordinates this close count as equal (float64 grids, float32 boxes)
GRID_STEP_TOLERANCE = 1e-3  # relative deviation of a grid step still called regular


class IngestError(Exception):
    """Bad input data; the message names the file (or files) and what is wrong."""


@dataclass(frozen=True)
class Box:
    """A lat/lon box in degrees, bounds inclusive: ``lat = (south, north)``,
    ``lon = (west, east)`` with longitudes in -180..180."""

    lat: tuple[float, float]
    lon: tuple[float, float]

    @classmethod
    def from_config(cls, box: dict[str, Sequence[float]]) -> Box:
        """Box from a config entry ``{lat: [s, n], lon: [w, e]}``; ValueError if it is not a box."""
        problem = box_problem(box)
        if problem:
            raise ValueError(f"not a lat/lon box: {problem}")
        return cls((float(box["lat"][0]), float(box["lat"][1])), (float(box["lon"][0]), float(box["lon"][1])))

    def __str__(self) -> str:
        return f"lat {self.lat[0]:g}..{self.lat[1]:g}, lon {self.lon[0]:g}..{self.lon[1]:g}"


def _wrap_lon(lon: np.ndarray) -> np.ndarray:
    """Longitudes mapped into -180..180 (180 itself becomes -180)."""
    return (np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0


def grid_step(values: np.ndarray, axis: str, path: str) -> float:
    """The constant spacing (positive) of a 1-D lat or lon coordinate, or IngestError.

    Longitudes are compared in -180..180 and in ascending order, so a grid that crosses 0 or
    180 counts as regular however it was stored: 351.25..8.75 in file order, or a 0..360 subset
    sorted into 0..8.75 followed by 351.25..359.375.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        raise IngestError(f"{path}: {axis} has {values.size} value(s); a grid needs at least 2")
    if axis == "lon":
        # On the circle, a regional grid's one gap is the part of the globe it does not cover.
        values = np.sort(_wrap_lon(values))
        steps = np.append(np.diff(values), values[0] + 360.0 - values[-1])
        steps = np.delete(steps, np.argmax(steps))
    else:
        steps = np.diff(values)
    step = float(np.median(steps))
    if step == 0 or np.any(np.abs(steps - step) > GRID_STEP_TOLERANCE * abs(step)):
        raise IngestError(
            f"{path}: {axis} is not a regular grid (steps range from {steps.min():g} to {steps.max():g} degrees)"
        )
    return abs(step)


def _covered(centres: np.ndarray, step: float, low: float, high: float) -> bool:
    """Whether cells of width ``step`` around sorted ``centres`` cover [low, high] without a gap."""
    half, tol = step / 2, COORD_TOLERANCE_DEG
    inside = centres[(centres >= low - half - tol) & (centres <= high + half + tol)]
    return (
        inside.size > 0
        and inside[0] - half <= low + tol
        and inside[-1] + half >= high - tol
        and bool(np.all(np.diff(inside) < 1.5 * step))
    )


def _runs(indices: np.ndarray) -> tuple[slice, ...]:
    """Contiguous runs of sorted integer ``indices`` as slices (a window across the seam of a
    0..360 grid has two)."""
    breaks = np.nonzero(np.diff(indices) != 1)[0] + 1
    return tuple(slice(int(run[0]), int(run[-1]) + 1) for run in np.split(indices, breaks))


@dataclass(frozen=True)
class Window:
    """Where a box lies in a file's lat/lon: index slices to read and how to order what was read.

    ``lat`` and ``lon`` are the selected coordinates, ascending, lon in -180..180.
    """

    lat_slice: slice
    flip_lat: bool
    lon_slices: tuple[slice, ...]
    lon_order: np.ndarray
    lat: np.ndarray
    lon: np.ndarray


def find_window(lat: np.ndarray, lon: np.ndarray, area: Box, margin_deg: float, path: str) -> Window:
    """The grid points of a file within ``area`` grown by ``margin_deg`` (bounds inclusive).

    The area itself must lie inside the data's cells (centres +- half a step); the margin takes
    whatever the data has beyond it (it does not wrap across the date line). Raises IngestError
    naming ``path`` for a non-regular grid or an area outside the data's extent.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon_wrapped = _wrap_lon(lon)
    lat_step, lon_step = grid_step(lat, "lat", path), grid_step(lon, "lon", path)
    global_lon = lon.size * lon_step >= 360.0 - COORD_TOLERANCE_DEG
    lat_ok = _covered(np.sort(lat), lat_step, *area.lat)
    lon_ok = global_lon or _covered(np.sort(lon_wrapped), lon_step, *area.lon)
    if not (lat_ok and lon_ok):
        raise IngestError(
            f"{path}: the area ({area}) lies outside the data's extent "
            f"(lat {lat.min():g}..{lat.max():g}, lon {lon_wrapped.min():g}..{lon_wrapped.max():g}, "
            f"grid steps {lat_step:g} x {lon_step:g} degrees)"
        )
    reach = margin_deg + COORD_TOLERANCE_DEG
    lat_selected = np.nonzero((lat >= area.lat[0] - reach) & (lat <= area.lat[1] + reach))[0]
    lon_selected = np.nonzero((lon_wrapped >= area.lon[0] - reach) & (lon_wrapped <= area.lon[1] + reach))[0]
    if lat_selected.size == 0 or lon_selected.size == 0:
        raise IngestError(f"{path}: no grid point lies inside the area ({area}), smaller than a grid cell")
    flip_lat = bool(lat[-1] < lat[0])
    lon_order = np.argsort(lon_wrapped[lon_selected], kind="stable")
    lat_values = lat[lat_selected]
    return Window(
        lat_slice=slice(int(lat_selected[0]), int(lat_selected[-1]) + 1),
        flip_lat=flip_lat,
        lon_slices=_runs(lon_selected),
        lon_order=lon_order,
        lat=lat_values[::-1] if flip_lat else lat_values,
        lon=lon_wrapped[lon_selected][lon_order],
    )


def open_raw(path: str) -> netCDF4.Dataset:
    try:
        return netCDF4.Dataset(path)
    except OSError as error:
        raise IngestError(f"{path}: cannot be opened as netCDF ({error})") from error


def data_variable(ds: netCDF4.Dataset, variable: str, path: str) -> netCDF4.Variable:
    """The variable ``variable`` of an open file, checked to have lat and lon as its last two
    dimensions (by name or by units)."""
    if variable not in ds.variables:
        raise IngestError(f"{path}: variable {variable!r} not found (the file has {', '.join(ds.variables)})")
    var = ds.variables[variable]
    if len(var.dimensions) < 2:
        raise IngestError(f"{path}: variable {variable!r} has dimensions {var.dimensions}; expected (.., lat, lon)")
    expected = ((var.dimensions[-2], "lat", "degrees_n"), (var.dimensions[-1], "lon", "degrees_e"))
    for dim, axis, units_prefix in expected:
        coord = ds.variables.get(dim)
        units = str(getattr(coord, "units", "")).lower() if coord is not None else ""
        if coord is None or not (dim.lower().startswith(axis) or units.startswith(units_prefix)):
            raise IngestError(f"{path}: variable {variable!r} dimension {dim!r} is not a {axis} coordinate")
    return var


def coordinate_values(ds: netCDF4.Dataset, name: str) -> np.ndarray:
    """A coordinate's values as float64, ignoring fill and valid-range attributes (MAPL puts
    float32 ranges on them; coordinates have no gaps)."""
    coord = ds.variables[name]
    coord.set_auto_maskandscale(False)
    return np.asarray(coord[:], dtype=np.float64)


def step_times(ds: netCDF4.Dataset, var: netCDF4.Variable, path: str) -> np.ndarray:
    """The time stamps (datetime64[ns]) of the variable's steps.

    Raises IngestError for a variable without a (time, lat, lon) layout or undecodable times.
    """
    if len(var.dimensions) != 3:
        raise IngestError(f"{path}: variable {var.name!r} has dimensions {var.dimensions}; expected (time, lat, lon)")
    time_dim = var.dimensions[0]
    if time_dim not in ds.variables or not hasattr(ds.variables[time_dim], "units"):
        raise IngestError(f"{path}: time dimension {time_dim!r} has no coordinate with units")
    time = ds.variables[time_dim]
    calendar = getattr(time, "calendar", "standard")
    try:
        times = decode_cf_datetime(coordinate_values(ds, time_dim), time.units, calendar)
    except (ValueError, TypeError, OverflowError) as error:
        raise IngestError(f"{path}: cannot decode time units {time.units!r} ({error})") from error
    return np.asarray(times, dtype="datetime64[ns]")


def file_step(ds: netCDF4.Dataset, var: netCDF4.Variable, times: np.ndarray, path: str) -> np.timedelta64 | None:
    """The file's own time step: the spacing of its stamps when it has several, else the MAPL
    ``time_increment`` attribute (HHMMSS), else None.

    Raises IngestError for irregular spacing, and for a single step that is a mean over more than
    one day (MAPL ``RangeBeginningDate`` != ``RangeEndingDate``, e.g. a monthly file).
    """
    if times.size >= 2:
        steps = np.unique(np.diff(times))
        if steps.size != 1 or steps[0] <= np.timedelta64(0):
            raise IngestError(f"{path}: time steps are not evenly spaced and increasing ({steps})")
        return steps[0]
    begin, end = getattr(ds, "RangeBeginningDate", None), getattr(ds, "RangeEndingDate", None)
    if begin is not None and end is not None and begin != end:  # one of them alone says nothing
        raise IngestError(
            f"{path}: its single time step is a mean over {begin}..{end} (a monthly or longer mean); "
            "daily means need sub-daily or daily steps"
        )
    increment = int(getattr(ds.variables[var.dimensions[0]], "time_increment", 0))  # HHMMSS
    if not increment:
        return None
    seconds = increment // 10000 * 3600 + increment // 100 % 100 * 60 + increment % 100
    return np.timedelta64(seconds, "s").astype("timedelta64[ns]")


def read_window(var: netCDF4.Variable, window: Window, leading: tuple = (Ellipsis,)) -> np.ndarray:
    """``var[leading, lat, lon]`` inside ``window`` as float32 with every fill value as NaN.

    ``leading`` indexes the dimensions before lat and lon (default: all of them).
    ``_FillValue``, ``missing_value`` and values outside ``valid_range`` are masked by netCDF4,
    MAPL's ``fmissing_value`` here. Returns (..., lat, lon), ascending in lat and lon.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="valid_range not used")  # MAPL's float32 ranges
        parts = [var[(*leading, window.lat_slice, lon_slice)] for lon_slice in window.lon_slices]
    data = np.ma.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
    data = np.ma.filled(np.ma.asarray(data).astype(np.float32), np.nan)
    fmissing = getattr(var, "fmissing_value", None)
    if fmissing is not None:
        data[data == np.float32(fmissing)] = np.nan
    data[~np.isfinite(data)] = np.nan
    if window.flip_lat:
        data = data[..., ::-1, :]
    return np.ascontiguousarray(data[..., window.lon_order])


def read_steps(path: str, variable: str, area: Box, margin_deg: float = 0.0) -> xr.DataArray:
    """All time steps of one file, cropped to ``area`` +- ``margin_deg``: (time, lat, lon) float32.

    Fill values become NaN; ``long_name`` and ``units`` of the source are kept. This reads any
    file with a time axis, including monthly means that :func:`scan_record` refuses.
    """
    with open_raw(path) as ds:
        var = data_variable(ds, variable, path)
        times = step_times(ds, var, path)
        grid = coordinate_values(ds, var.dimensions[-2]), coordinate_values(ds, var.dimensions[-1])
        window = find_window(*grid, area, margin_deg, path)
        values = read_window(var, window)
        attrs = {key: str(getattr(var, key)) for key in ("long_name", "units") if hasattr(var, key)}
    coords = {"time": times, "lat": window.lat, "lon": window.lon}
    return xr.DataArray(values, dims=("time", "lat", "lon"), coords=coords, attrs=attrs, name=variable)

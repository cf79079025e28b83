"""Put a gridded field on another regular lat/lon grid: nearest neighbour or bilinear.

Both methods are separable on lat/lon grids, so they reduce to one 1-D index lookup per axis
(``np.searchsorted``) and a gather with NumPy advanced indexing over all time steps at once;
no Python loop runs over pixels. Source coordinates must be ascending; targets may lie at most
half a source step outside the source's outermost centres (inside its outermost cells), where
both methods take the edge value.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

METHODS = ("nearest", "bilinear")


def _check_inside(source: np.ndarray, target: np.ndarray, axis: str) -> None:
    """Raise ValueError when a target coordinate lies outside the source's outermost cells."""
    if source.size < 2 or np.any(np.diff(source) <= 0):
        raise ValueError(f"source {axis} must be ascending with at least two values")
    half_step = 0.5 * (source[-1] - source[0]) / (source.size - 1)
    low, high = source[0] - half_step * (1 + 1e-6), source[-1] + half_step * (1 + 1e-6)
    outside = (target < low) | (target > high)
    if outside.any():
        raise ValueError(
            f"target {axis} {target[outside][0]:g} lies outside the source cells "
            f"{source[0] - half_step:g}..{source[-1] + half_step:g}"
        )


def nearest_indices(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Index into ascending ``source`` of the coordinate nearest to each ``target`` coordinate.

    Ties go to the lower index, exactly as ``np.argmin(np.abs(source - t))`` decides them, so the
    result equals that per-point search while costing one binary search per target.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    upper = np.clip(np.searchsorted(source, target), 1, source.size - 1)  # source[upper-1] < t <= source[upper]
    lower = upper - 1
    take_lower = np.abs(target - source[lower]) <= np.abs(source[upper] - target)
    return np.where(take_lower, lower, upper)


def linear_weights(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-D linear interpolation from ascending ``source`` to ``target``: (lower index, upper weight).

    The value at a target is ``(1 - w) * f[i] + w * f[i + 1]``; targets beyond the outermost
    source centres get weight 0 or 1 (the edge value).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    lower = np.clip(np.searchsorted(source, target, side="right") - 1, 0, source.size - 2)
    weight = (target - source[lower]) / (source[lower + 1] - source[lower])
    return lower, np.clip(weight, 0.0, 1.0)


def _bilinear(values: np.ndarray, lat_index, lat_weight, lon_index, lon_weight) -> np.ndarray:
    """Bilinear gather on the last two axes of ``values`` (..., lat, lon); NaN spreads only from
    neighbours with a non-zero weight."""
    rows = (lat_index[:, None], lat_index[:, None] + 1)
    cols = (lon_index[None, :], lon_index[None, :] + 1)
    row_weights = (1.0 - lat_weight[:, None], lat_weight[:, None])
    col_weights = (1.0 - lon_weight[None, :], lon_weight[None, :])
    result = np.zeros(values.shape[:-2] + (lat_index.size, lon_index.size), dtype=np.float64)
    for row, row_weight in zip(rows, row_weights):
        for col, col_weight in zip(cols, col_weights):
            weight = row_weight * col_weight  # (lat_out, lon_out)
            neighbour = values[..., row, col]
            result += np.where(weight > 0, neighbour * weight, 0.0)
    return result


def regrid(field: xr.DataArray, lat: np.ndarray, lon: np.ndarray, method: str = "nearest") -> xr.DataArray:
    """``field`` (dims ..., lat, lon; ascending coordinates) on the grid ``lat`` x ``lon``.

    ``method`` is "nearest" (ties to the lower coordinate) or "bilinear". Returns a DataArray with
    the same leading dimensions, the new ``lat``/``lon`` coordinates, the input's dtype and
    attributes. Raises ValueError for an unknown method, a non-ascending source, or a target
    outside the source's outermost cells.
    """
    if method not in METHODS:
        raise ValueError(f"unknown regrid method {method!r}; expected one of {METHODS}")
    if field.dims[-2:] != ("lat", "lon"):
        raise ValueError(f"field dims must end with ('lat', 'lon'), got {field.dims}")
    source_lat, source_lon = field["lat"].values, field["lon"].values
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    _check_inside(source_lat, lat, "lat")
    _check_inside(source_lon, lon, "lon")
    values = field.values
    if method == "nearest":
        out = values[..., nearest_indices(source_lat, lat)[:, None], nearest_indices(source_lon, lon)[None, :]]
    else:
        out = _bilinear(values, *linear_weights(source_lat, lat), *linear_weights(source_lon, lon))
    coords = {name: field[name] for name in field.dims[:-2] if name in field.coords}
    coords.update(lat=("lat", lat, field["lat"].attrs), lon=("lon", lon, field["lon"].attrs))
    out = out.astype(field.dtype, copy=False)
    return xr.DataArray(out, dims=field.dims, coords=coords, attrs=field.attrs, name=field.name)

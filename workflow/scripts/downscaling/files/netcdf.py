"""CF-1.8 netCDF output shared by every stage: checked attributes, fill values, provenance, atomic writes.

Every file the pipeline writes goes through :func:`write_cf`, so that all outputs

- carry ``units`` and ``long_name`` on every data variable (checked; ``ValueError`` otherwise),
- have ``_FillValue`` set on floating-point data variables (NaN in memory = NaN on disk) and none
  on coordinates (CF forbids missing coordinate values),
- describe their ``lat``/``lon``/``time`` coordinates the CF way (standard_name, units, axis),
  daily means with ``time_bnds`` spanning each day,
- carry ``Conventions = "CF-1.8, ACDD-1.3"`` with ACDD's title, summary, keywords and references,
  ``coverage_content_type`` on data variables, a ``history`` line and the caller's provenance as
  global attributes named ``provenance_<key>``,
- appear atomically: the file is written next to its destination under a temporary name and
  renamed over it with ``os.replace``, so a crash leaves either the old file or none, never a
  partial one.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from downscaling.jobs import atomic_output

CONVENTIONS = "CF-1.8, ACDD-1.3"
# ACDD discovery attributes every output shares.
KEYWORDS = (
    "aerosol optical depth, dust, MERRA-2, GEOS-5 Nature Run, G5NR, statistical downscaling, "
    "diffusion model, transfer learning"
)
REFERENCES = (
    "Xiang, Zhong, Yan, Koutrakis, Garshick and Franklin (2025), Spatiotemporal Satellite Image "
    "Downscaling with Transfer Encoders and Autoregressive Generative Models, arXiv:2512.05139"
)
PROVENANCE_PREFIX = "provenance_"

# CF descriptions of the coordinates every gridded output uses; attributes already present win.
COORDINATE_ATTRS = {
    "lat": {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"},
    "lon": {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"},
    "time": {"standard_name": "time", "long_name": "time", "axis": "T"},
}
# Daily data: whole days since the epoch encode exactly as integers.
TIME_ENCODING = {"units": "days since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian"}


def _attribute_value(value: Any) -> Any:
    """A provenance value in a form netCDF attributes can hold: str, number or 1-D numeric array.

    Booleans and ``None`` become JSON text ("true", "null"), as do dicts, nested lists and anything
    else (dates and paths through ``str``).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)) or value is None:
        return json.dumps(bool(value) if value is not None else None)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    if (
        isinstance(value, (list, tuple))
        and value
        and all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in value
        )
    ):
        return np.asarray(value)
    return json.dumps(value, sort_keys=True, default=str)


def provenance_attrs(provenance: dict[str, Any]) -> dict[str, Any]:
    """Global attributes ``provenance_<key>`` for a provenance dict (values made netCDF-safe)."""
    return {f"{PROVENANCE_PREFIX}{key}": _attribute_value(value) for key, value in provenance.items()}


def read_provenance(attrs: dict[str, Any]) -> dict[str, Any]:
    """The provenance entries of a file's global attributes, prefix removed (values as stored)."""
    return {k[len(PROVENANCE_PREFIX) :]: v for k, v in attrs.items() if k.startswith(PROVENANCE_PREFIX)}


def _bounds_variables(ds: xr.Dataset) -> set[str]:
    """Names of the variables that are a coordinate's ``bounds`` (described by that coordinate)."""
    return {str(ds[name].attrs["bounds"]) for name in ds.coords if "bounds" in ds[name].attrs}


def daily_bounds(days) -> np.ndarray:
    """(n, 2) bounds of daily means: each spans its calendar day, [day, day + 1). ``days``:
    datetime64 values, or numbers of days (``TIME_ENCODING``'s units) as the streamed writer has."""
    days = np.asarray(days)
    if np.issubdtype(days.dtype, np.datetime64):
        start = days.astype("datetime64[D]")
        return np.stack([start, start + np.timedelta64(1, "D")], axis=-1).astype("datetime64[ns]")
    return np.stack([days, days + 1.0], axis=-1)


def _with_daily_bounds(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``time_bnds`` spanning each calendar day when it holds daily means.

    A mean over time (``cell_methods`` "time: mean ...") is a mean over an interval, which CF
    (section 7.3) wants stated by the time coordinate's bounds.
    """
    means = any("time: mean" in str(v.attrs.get("cell_methods", "")) for v in ds.data_vars.values())
    if "time" not in ds.coords or not means or "time_bnds" in ds:
        return ds
    ds = ds.assign(time_bnds=(("time", "nv"), daily_bounds(ds["time"].values)))
    ds["time"].attrs = {**ds["time"].attrs, "bounds": "time_bnds"}
    return ds


def _check_described(ds: xr.Dataset, path: Path) -> None:
    """Raise ValueError naming the variable when a data variable lacks ``units`` or ``long_name``
    (bounds variables are described by their coordinate)."""
    bounds = _bounds_variables(ds)
    for name, variable in ds.data_vars.items():
        if name in bounds:
            continue
        missing = [attr for attr in ("units", "long_name") if not str(variable.attrs.get(attr, "")).strip()]
        if missing:
            raise ValueError(f"{path}: data variable {name!r} has no {' and no '.join(missing)} attribute")


def _encoding(ds: xr.Dataset, compress: bool) -> dict[str, dict[str, Any]]:
    """Per-variable netCDF encoding: NaN fill on float data, no fill on coordinates, daily time units.

    Data variables with a ``time`` dimension are chunked one time step per chunk, the unit every
    later stage reads.
    """
    encoding: dict[str, dict[str, Any]] = {}
    bounds = _bounds_variables(ds)
    for name, variable in ds.data_vars.items():
        enc: dict[str, Any] = {}
        if name in bounds:  # as its coordinate: no fill value, the same time units; float
            # because cfchecks takes 64-bit integers for a non-numeric type
            encoding[name] = {
                "_FillValue": None,
                "dtype": "float64",
                **(TIME_ENCODING if variable.dtype.kind == "M" else {}),
            }
            continue
        if np.issubdtype(variable.dtype, np.floating):
            enc["_FillValue"] = variable.dtype.type(np.nan)
        if compress:
            enc.update(zlib=True, complevel=1, shuffle=True)
            if "time" in variable.dims and variable.ndim > 1:
                enc["chunksizes"] = tuple(
                    1 if dim == "time" else size for dim, size in zip(variable.dims, variable.shape)
                )
        encoding[name] = enc
    for name in ds.coords:
        enc = {"_FillValue": None}
        if np.issubdtype(ds[name].dtype, np.datetime64):
            enc.update({key: ds[name].encoding.get(key, value) for key, value in TIME_ENCODING.items()})
        encoding[name] = enc
    return encoding


def history_stamp() -> str:
    """The UTC time of a ``history`` line: now, or ``SOURCE_DATE_EPOCH`` when it is set (the
    reproducible-builds convention), so that the same inputs and config give the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def program_name() -> str:
    """The running script's name, without the random prefix Snakemake gives the copy it runs
    (``tmpk3j2_x9.ingest_cube.py`` -> ``ingest_cube.py``)."""
    return re.sub(r"^tmp[^.]*\.", "", Path(sys.argv[0]).name)


def write_cf(
    ds: xr.Dataset,
    path: str | os.PathLike,
    provenance: dict[str, Any],
    *,
    title: str | None = None,
    summary: str | None = None,
    history: str | None = None,
    compress: bool = True,
) -> Path:
    """Write ``ds`` to ``path`` as CF-1.8 netCDF-4, atomically, with provenance; return the path.

    ``ds`` is not modified. Every data variable needs ``units`` and ``long_name`` attributes
    (ValueError naming the variable otherwise). ``provenance`` (e.g. source glob, file count,
    config of the step) becomes global attributes ``provenance_<key>``; dicts and lists of
    non-numbers are stored as JSON text. ``title`` and ``summary`` (ACDD) replace the dataset's
    own; data variables without ``coverage_content_type`` are a "modelResult". ``history``
    (default: the running program's name) is prepended, with a UTC time stamp, to any history
    the dataset already carries.

    The file is first written as a hidden temporary file in the destination directory and then
    renamed over ``path`` with ``os.replace``; on any error the temporary file is removed and the
    exception propagates, so no partial output is ever left at ``path``.
    """
    path = Path(path)
    out = _with_daily_bounds(ds.copy(deep=False))
    _check_described(out, path)
    for name, attrs in COORDINATE_ATTRS.items():
        if name in out.coords:
            out[name].attrs = {**attrs, **out[name].attrs}
    for name in set(out.data_vars) - _bounds_variables(out):
        out[name].attrs = {"coverage_content_type": "modelResult", **out[name].attrs}
    line = f"{history_stamp()}: {history or 'written by ' + program_name()}"
    previous = out.attrs.get("history")
    discovery = {"title": title, "summary": summary, "keywords": KEYWORDS, "references": REFERENCES}
    out.attrs = {
        **{k: v for k, v in out.attrs.items() if not k.startswith(PROVENANCE_PREFIX)},
        **{k: v for k, v in discovery.items() if v is not None},
        "Conventions": CONVENTIONS,
        "history": f"{line}\n{previous}" if previous else line,
        **provenance_attrs(provenance),
    }
    with atomic_output(path) as tmp:
        out.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=_encoding(out, compress))
    return path

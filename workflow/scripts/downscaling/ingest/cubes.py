"""Ingest raw MERRA-2 / G5NR netCDF into daily log10 cubes of one area, and static fields.

Raw inputs are granules (one hourly or 30-minute step per file, or 24 hourly steps per day as in
MERRA-2 ``tavg1`` files) or merged files (several sub-daily steps of one or more days per file),
in the MAPL conventions of the real products (one file: :mod:`downscaling.ingest.granules`).
One record may mix them (merged daily files on most days, granules on others). Longitudes may
run 0..360 or -180..180 and latitudes either way; outputs always have ascending ``lat``,
ascending ``lon`` in -180..180, and ``time`` at 00:00 of each date.

Reading streams file by file and crops while reading (netCDF index slices computed from the
coordinates), so memory holds one file's crop, the days being averaged and the cropped daily
output, never a global field or the global record.

Every problem with the data raises :class:`IngestError` whose message names the file and the
problem. The ``write_*`` functions (one per rule) write with :func:`downscaling.files.netcdf.write_cf`,
atomically, so a failure leaves no output.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from downscaling.files.contracts import CUBE_VARIABLE, log10_aod
from downscaling.files.netcdf import read_provenance, write_cf
from downscaling.ingest.granules import (
    COORD_TOLERANCE_DEG,
    Box,
    IngestError,
    Window,
    coordinate_values,
    data_variable,
    file_step,
    find_window,
    open_raw,
    read_window,
    step_times,
)
from downscaling.ingest.regrid import regrid

log = logging.getLogger(__name__)

ONE_DAY = np.timedelta64(1, "D")

Paths = Sequence[str | os.PathLike]


# ----------------------------------------------------------------------------------------------
# A record of files: scan and validate, then stream daily means
# ----------------------------------------------------------------------------------------------
@dataclass
class SourceFile:
    """One raw file: its path, the time stamps of its steps and its own time step (or None)."""

    path: str
    times: np.ndarray
    step: np.timedelta64 | None


@dataclass
class Record:
    """A validated set of raw files: complete, consecutive days on one grid.

    ``files`` are in time order; ``days`` are the dates (datetime64[D]) the daily means cover and
    ``steps_per_day`` how many time steps each of them averages (a record may mix merged daily
    files with granules, e.g. 4 six-hourly steps on most days and 48 half-hourly ones on others);
    ``window`` is the crop of the area.
    """

    variable: str
    files: list[SourceFile]
    days: np.ndarray
    steps_per_day: np.ndarray
    window: Window
    attrs: dict[str, str] = field(default_factory=dict)


PLAUSIBILITY_KEYS = ("units", "valid_range", "negative_tolerance")  # config keys of section ingest


@dataclass(frozen=True)
class Plausibility:
    """What a raw variable's values may be (config section ``ingest``): its ``units`` in every
    file, and the physical ``valid_range`` [low, high] of its values. Values in
    [-``negative_tolerance``, 0) are set to 0 (the cube's log floor) with a warning that counts
    them: real reanalysis files hold such round-off negatives; any other value outside the range
    is an error. A file's own CF ``valid_range``/``valid_min``/``valid_max`` marks values outside
    it as missing, as CF says (netCDF4 masks them when reading)."""

    units: str = "1"
    valid_range: tuple[float, float] = (0.0, 50.0)  # far above any observed optical depth (storms: ~10)
    negative_tolerance: float = 0.0

    # the spellings of "dimensionless" in CF and in the files we have met
    DIMENSIONLESS = ("1", "", "-", "dimensionless", "none")

    @classmethod
    def from_config(cls, ingest: dict[str, Any] | None) -> Plausibility:
        """From the config section ``ingest`` (its other keys ignored; defaults where absent)."""
        return cls(
            **{
                key: tuple(value) if isinstance(value, list) else value
                for key, value in (ingest or {}).items()
                if key in PLAUSIBILITY_KEYS
            }
        )

    def units_match(self, units: str) -> bool:
        if self.units.strip().lower() in self.DIMENSIONLESS:
            return units.strip().lower() in self.DIMENSIONLESS
        return units.strip() == self.units.strip()


def _minutes(step: np.timedelta64) -> str:
    return f"{step.astype('timedelta64[m]').astype(int)} minutes"


def _day_step(day: np.datetime64, stamps: np.ndarray, sources: list[SourceFile]) -> np.timedelta64:
    """The time step of one day: that of the files holding its steps (which must agree); for
    files that do not know theirs, the spacing of the day's stamps (one stamp: a daily step)."""
    known = {f.step for f in sources if f.step is not None}
    if len(known) > 1:
        steps = " and ".join(sorted(_minutes(s) for s in known))
        raise IngestError(f"{sources[0].path}: day {day} mixes files with time steps of {steps}")
    if known:
        step = known.pop()
    elif stamps.size == 1:
        step = ONE_DAY
    else:
        spacing = np.unique(np.diff(stamps))
        if spacing.size != 1:
            raise IngestError(f"{sources[0].path}: the time steps of day {day} are not evenly spaced ({spacing})")
        step = spacing[0]
    if step > ONE_DAY or ONE_DAY % step != np.timedelta64(0):
        raise IngestError(f"{sources[0].path}: time step of {_minutes(step)} does not divide a day")
    return step


def _check_days(files: list[SourceFile], period) -> tuple[np.ndarray, np.ndarray]:
    """The consecutive, complete days of the record (within ``period``) and each day's number
    of steps; IngestError naming the file for duplicates, incomplete days or a missing day."""
    stamps = np.concatenate([f.times for f in files])
    owner = np.concatenate([np.full(f.times.size, i) for i, f in enumerate(files)])  # file of each stamp
    order = np.argsort(stamps, kind="stable")
    stamps, owner = stamps[order], owner[order]
    repeated = np.nonzero(np.diff(stamps) == np.timedelta64(0))[0]
    if repeated.size:
        i = repeated[0]
        raise IngestError(f"{files[owner[i + 1]].path}: time step {stamps[i]} is also in {files[owner[i]].path}")
    days = stamps.astype("datetime64[D]")
    if period is not None:
        first, last = np.datetime64(period[0], "D"), np.datetime64(period[1], "D")
        if first < days[0] or last > days[-1]:
            raise IngestError(
                f"{files[0].path} .. {files[-1].path}: period {first}..{last} "
                f"is not inside the record {days[0]}..{days[-1]}"
            )
        keep = (days >= first) & (days <= last)
        stamps, owner, days = stamps[keep], owner[keep], days[keep]
    unique_days, starts, counts = np.unique(days, return_index=True, return_counts=True)
    steps_per_day = np.empty(unique_days.size, dtype=int)
    for n, (day, start, count) in enumerate(zip(unique_days, starts, counts)):
        day_files = [files[i] for i in np.unique(owner[start : start + count])]
        step = _day_step(day, stamps[start : start + count], day_files)
        steps_per_day[n] = ONE_DAY // step
        if count != steps_per_day[n]:
            raise IngestError(
                f"{day_files[0].path}: day {day} has {count} of {steps_per_day[n]} time steps "
                f"of {_minutes(step)} (incomplete day)"
            )
    gaps = np.nonzero(np.diff(unique_days) != np.timedelta64(1, "D"))[0]
    if gaps.size:
        i = gaps[0]
        before = files[owner[starts[i] + counts[i] - 1]].path
        after = files[owner[starts[i + 1]]].path
        raise IngestError(f"day {unique_days[i] + 1} is missing from the record: nothing between {before} and {after}")
    return unique_days, steps_per_day


_NAME_DATE = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")


def _named_near(paths: Paths, period) -> list[str]:
    """The paths worth opening for ``period``: a file whose name holds one date (MERRA-2's
    ``.20050101.``, G5NR's ``.20060616_2330z.``) more than a day outside the period is left
    unopened, so each calendar-year job scans its own year rather than the whole record; files
    named otherwise (merged over a period) are always opened. Their contents are checked as usual."""
    paths = list(map(str, paths))
    if period is None:
        return paths
    first, last = (np.datetime64(day, "D") for day in period)
    kept = []
    for path in paths:
        dates = _NAME_DATE.findall(os.path.basename(path))
        try:
            named = np.datetime64("-".join(dates[0]), "D") if len(dates) == 1 else None
        except ValueError:  # eight digits that are not a date
            named = None
        if named is None or first - ONE_DAY <= named <= last + ONE_DAY:
            kept.append(path)
    return kept


def _check_units(path: str, variable: str, units: str, first: tuple[str, str] | None, expected: Plausibility) -> None:
    """IngestError unless the file's ``units`` are the expected ones and those of the first file."""
    if first is not None and units != first[1]:
        raise IngestError(
            f"{path}: variable {variable!r} has units {units!r}, but {first[0]} has units {first[1]!r}; "
            "every file of a record must have the same units"
        )
    if not expected.units_match(units):
        raise IngestError(
            f"{path}: variable {variable!r} has units {units!r}; expected {expected.units!r} (config key ingest.units)"
        )


def scan_record(
    paths: Paths,
    variable: str,
    area: Box,
    margin_deg: float = 0.0,
    period=None,
    plausibility: Plausibility = Plausibility(),
) -> Record:
    """Open every file once (coordinates and time only), check it, and plan the crop.

    Files named by a date more than a day outside ``period`` are not opened (:func:`_named_near`).
    Checks, each raising IngestError naming the file: the variable exists with (time, lat, lon)
    dimensions; all files share one regular grid that covers ``area``; no duplicate stamps; each
    day's files share one time step that divides a day; every day (within ``period`` = (first,
    last) ISO dates, if given) is complete and none is missing between the first and the last;
    every file's variable has the units of ``plausibility`` and of the first file.
    """
    if not paths:
        raise IngestError(f"no input files for variable {variable!r}")
    files: list[SourceFile] = []
    reference_grid = None
    first_units = None  # (path, units) of the first file opened
    for path in _named_near(paths, period):
        with open_raw(path) as ds:
            var = data_variable(ds, variable, path)
            units = str(getattr(var, "units", ""))
            _check_units(path, variable, units, first_units, plausibility)
            first_units = first_units or (path, units)
            times = step_times(ds, var, path)
            step = file_step(ds, var, times, path)
            grid = (coordinate_values(ds, var.dimensions[-2]), coordinate_values(ds, var.dimensions[-1]))
            if reference_grid is None:
                reference_grid = grid
                window = find_window(*grid, area, margin_deg, path)
                attrs = {key: str(getattr(var, key)) for key in ("long_name", "units") if hasattr(var, key)}
            elif any(
                a.shape != b.shape or not np.allclose(a, b, atol=COORD_TOLERANCE_DEG)
                for a, b in zip(grid, reference_grid)
            ):
                raise IngestError(f"{path}: its lat/lon grid differs from that of {files[0].path}")
        files.append(SourceFile(path, times, step))
    if not files:
        raise IngestError(
            f"{paths[0]} .. {paths[-1]}: no file named by a date within the period {period[0]}..{period[1]}"
        )
    files.sort(key=lambda f: f.times.min())
    days, steps_per_day = _check_days(files, period)
    return Record(variable, files, days, steps_per_day, window, attrs)


@dataclass
class _DaySums:
    """Running sums of one day's steps: valid-value sum and count per pixel, steps seen."""

    total: np.ndarray | float = 0.0
    valid: np.ndarray | int = 0
    steps: int = 0

    def add(self, steps: np.ndarray) -> None:
        """Add steps (n, lat, lon) with NaN for missing values."""
        finite = np.isfinite(steps)
        self.total = self.total + np.where(finite, steps, 0.0).sum(axis=0, dtype=np.float64)
        self.valid = self.valid + finite.sum(axis=0)
        self.steps += steps.shape[0]

    def mean(self) -> np.ndarray:
        """Per-pixel mean of the valid values; NaN where a pixel had none."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.valid > 0, self.total / np.maximum(self.valid, 1), np.nan)


def _plausible(values: np.ndarray, source: SourceFile, variable: str, expected: Plausibility) -> tuple[np.ndarray, int]:
    """``values`` (steps, lat, lon) with round-off negatives set to 0, and how many there were;
    IngestError naming the file, the variable, the count of cells and the first date of any
    other value outside ``expected.valid_range``."""
    low, high = expected.valid_range
    with np.errstate(invalid="ignore"):
        round_off = (values < 0) & (values >= -expected.negative_tolerance) & (low <= 0)
        outside = ((values < low) | (values > high)) & ~round_off
    if outside.any():
        first = np.nonzero(outside.any(axis=(1, 2)))[0][0]
        raise IngestError(
            f"{source.path}: {int(outside.sum())} cells of {variable!r} lie outside its valid range "
            f"[{low:g}, {high:g}] (values {np.nanmin(values[outside]):g}..{np.nanmax(values[outside]):g}, "
            f"first on {source.times[first].astype('datetime64[s]')}); config keys ingest.valid_range "
            "and ingest.negative_tolerance"
        )
    n_round_off = int(round_off.sum())
    if n_round_off:
        values = np.where(round_off, np.float32(0), values)
    return values, n_round_off


def daily_means(record: Record, plausibility: Plausibility = Plausibility()) -> xr.DataArray:
    """Stream the record file by file into daily means over its window: (time, lat, lon) float32.

    Steps are grouped by calendar date; fill values are ignored (a pixel with no valid step in a
    day is NaN). Raises IngestError naming the file when a day is all fill values over the window
    or a value is implausible (:class:`Plausibility`); round-off negatives within its tolerance
    become 0, with one warning that counts them.
    Memory: the output plus one file's crop and the sums of the days still open.
    """
    window = record.window
    day_index = {day: i for i, day in enumerate(record.days)}
    cube = np.full((record.days.size, window.lat.size, window.lon.size), np.nan, dtype=np.float32)
    open_days: dict[np.datetime64, _DaySums] = {}
    n_round_off = 0
    for n, source in enumerate(record.files, start=1):
        step_days = source.times.astype("datetime64[D]")
        wanted = np.isin(step_days, record.days)
        if not wanted.any():
            continue
        with open_raw(source.path) as ds:
            values = read_window(ds.variables[record.variable], window)  # (steps, lat, lon)
        values, found = _plausible(values, source, record.variable, plausibility)
        n_round_off += found
        for day in np.unique(step_days[wanted]):
            sums = open_days.setdefault(day, _DaySums())
            sums.add(values[step_days == day])
            if sums.steps < record.steps_per_day[day_index[day]]:
                continue
            del open_days[day]
            if not np.any(sums.valid):
                raise IngestError(
                    f"{source.path}: day {day} is all fill values over "
                    f"lat {window.lat[0]:g}..{window.lat[-1]:g}, lon {window.lon[0]:g}..{window.lon[-1]:g}"
                )
            cube[day_index[day]] = sums.mean()
        if n % max(1, len(record.files) // 10) == 0:
            log.info("read %d of %d files (%s)", n, len(record.files), Path(source.path).name)
    if n_round_off:
        log.warning(
            "%d cells of %s between -%g and 0 were set to 0 (ingest.negative_tolerance)",
            n_round_off,
            record.variable,
            plausibility.negative_tolerance,
        )
    coords = {"time": record.days.astype("datetime64[ns]"), "lat": window.lat, "lon": window.lon}
    return xr.DataArray(cube, dims=("time", "lat", "lon"), coords=coords, attrs=record.attrs, name=record.variable)


# ----------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------
def log10_dataset(daily: xr.DataArray, log_floor: float) -> xr.Dataset:
    """Daily means (linear units) as the pipeline's cube: ``log10_aod`` (time, lat, lon) float32.

    The attributes say what was transformed: long_name from the source's, units "1",
    ``transform = "log10(max(x, <floor>))"`` and the source variable's name, long_name and units.
    """
    source_long_name = daily.attrs.get("long_name", daily.name)
    attrs = {
        "long_name": f"log10 of daily mean {source_long_name}",
        "units": "1",
        "transform": f"log10(max(x, {log_floor:g}))",
        "log_floor": float(log_floor),
        "cell_methods": "time: mean (calendar day)",
        "source_variable": str(daily.name),
        "source_long_name": str(source_long_name),
        "source_units": daily.attrs.get("units", "1"),
    }
    cube = xr.DataArray(log10_aod(daily.values, log_floor), dims=daily.dims, coords=daily.coords, attrs=attrs)
    return xr.Dataset({CUBE_VARIABLE: cube})


def ingest_daily_log10(
    paths: Paths,
    variable: str,
    area: Box,
    *,
    margin_deg: float = 0.0,
    log_floor: float = 1e-6,
    period=None,
    plausibility: Plausibility = Plausibility(),
) -> xr.Dataset:
    """Raw granules or merged files -> daily ``log10_aod`` cube of ``area`` +- ``margin_deg``.

    ``period`` = (first, last) ISO dates restricts the record (it must lie inside it). Raises
    IngestError (see :func:`scan_record` and :func:`daily_means`).
    """
    record = scan_record(paths, variable, area, margin_deg, period, plausibility)
    steps, n_days = np.unique(record.steps_per_day, return_counts=True)
    log.info(
        "%s: %d files, %d days %s..%s (steps per day: %s), crop %d x %d",
        variable,
        len(record.files),
        record.days.size,
        record.days[0],
        record.days[-1],
        ", ".join(f"{s} on {n} days" for s, n in zip(steps, n_days)),
        record.window.lat.size,
        record.window.lon.size,
    )
    return log10_dataset(daily_means(record, plausibility), log_floor)


def merra2_on_g5nr(merra2: xr.Dataset, g5nr: xr.Dataset, method: str = "nearest") -> xr.Dataset:
    """MERRA-2's ``log10_aod`` on the G5NR grid, for the G5NR days.

    Both inputs are cubes written by :func:`write_daily_cube`. Raises IngestError (naming both
    files) when the G5NR period is not inside the MERRA-2 record or a G5NR day is missing from
    it, or when the G5NR grid is not inside the MERRA-2 cells.
    """
    merra2_name = merra2.encoding.get("source", "the MERRA-2 cube")
    g5nr_name = g5nr.encoding.get("source", "the G5NR cube")
    m_days = merra2["time"].values.astype("datetime64[D]")
    g_days = g5nr["time"].values.astype("datetime64[D]")
    if g_days[0] < m_days[0] or g_days[-1] > m_days[-1]:
        raise IngestError(
            f"{g5nr_name}: the G5NR period {g_days[0]}..{g_days[-1]} is not inside the "
            f"MERRA-2 record {m_days[0]}..{m_days[-1]} of {merra2_name}"
        )
    missing = np.setdiff1d(g_days, m_days)
    if missing.size:
        raise IngestError(f"{merra2_name}: has no day {missing[0]} of the G5NR period of {g5nr_name}")
    days = merra2[CUBE_VARIABLE].sel(time=g5nr["time"].values)
    try:
        on_grid = regrid(days, g5nr["lat"].values, g5nr["lon"].values, method)
    except ValueError as error:
        raise IngestError(f"{merra2_name}: cannot be put on the G5NR grid of {g5nr_name}: {error}") from error
    on_grid.attrs = {**merra2[CUBE_VARIABLE].attrs, "regrid_method": method}
    return xr.Dataset({CUBE_VARIABLE: on_grid})


def source_provenance(paths: Paths, pattern: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Provenance of an output made from raw files: the glob, how many files, the first and last
    file (in name order) and the step's settings."""
    names = sorted(Path(p).name for p in paths)
    return {
        "source_glob": pattern,
        "source_files": len(names),
        "first_file": names[0] if names else "",
        "last_file": names[-1] if names else "",
        "settings": settings,
    }


def join_parts(paths: Paths, output: str | os.PathLike) -> xr.Dataset:
    """Rules join_merra2 / join_g5nr: the cubes of consecutive parts of one record (in order,
    each written by :func:`write_daily_cube`) as one cube at ``output``. IngestError naming both
    parts when days are missing or repeated between two of them."""
    parts = [xr.open_dataset(path) for path in paths]
    try:
        for (before, a), (after, b) in zip(zip(paths, parts), zip(paths[1:], parts[1:])):
            last, first = (day.astype("datetime64[D]") for day in (a["time"].values[-1], b["time"].values[0]))
            if first != last + ONE_DAY:
                raise IngestError(f"{after}: starts on {first}, not the day after the last day {last} of {before}")
        cube = xr.concat([part[CUBE_VARIABLE] for part in parts], dim="time").load()
        head = parts[0].attrs
    finally:
        for part in parts:
            part.close()
    provenance = {**read_provenance(head), "parts": [Path(path).name for path in paths]}
    joined = xr.Dataset({CUBE_VARIABLE: cube}, attrs={"history": head.get("history", "")})
    write_cf(
        joined,
        output,
        provenance,
        title=head.get("title"),
        summary=head.get("summary"),
        history=f"join of {len(paths)} parts",
    )
    return joined


# ----------------------------------------------------------------------------------------------
# One call per rule: read, transform, write atomically with provenance
# ----------------------------------------------------------------------------------------------
def write_daily_cube(
    paths: Paths,
    output: str | os.PathLike,
    *,
    pattern: str,
    variable: str,
    area: dict[str, Sequence[float]],
    margin_deg: float,
    log_floor: float,
    period=None,
    dataset: str = "MERRA-2",
    plausibility: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Rules ingest_merra2 / ingest_g5nr: :func:`ingest_daily_log10` of the raw files ``paths``
    (matched by the glob ``pattern``) of ``dataset`` for the config ``area`` box, written to
    ``output``. ``plausibility``: the config keys of :class:`Plausibility` (defaults if None)."""
    box = Box.from_config(area)
    expected = Plausibility.from_config(plausibility)
    cube = ingest_daily_log10(
        paths, variable, box, margin_deg=margin_deg, log_floor=log_floor, period=period, plausibility=expected
    )
    settings = {
        "variable": variable,
        "area": area,
        "margin_deg": margin_deg,
        "log_floor": log_floor,
        "period": period,
        **({"plausibility": plausibility} if plausibility else {}),
    }
    provenance = source_provenance(paths, pattern, settings)
    write_cf(
        cube,
        output,
        provenance,
        title=f"{dataset} {cube[CUBE_VARIABLE].attrs['long_name']}, {box} (+- {margin_deg:g} degrees)",
        summary=f"Daily means of {dataset} {variable} from the files {pattern}, cropped to the area and "
        f"log10-transformed with a floor of {log_floor:g}: an ingested cube of the downscaling pipeline.",
        history=f"ingest of {variable} from {pattern}",
    )
    return cube


def write_merra2_on_g5nr(
    merra2_path: str | os.PathLike, g5nr_path: str | os.PathLike, output: str | os.PathLike, method: str
) -> xr.Dataset:
    """Rule regrid_merra2: :func:`merra2_on_g5nr` of two ingested cubes, written to ``output``."""
    with xr.open_dataset(merra2_path) as merra2, xr.open_dataset(g5nr_path) as g5nr:
        on_grid = merra2_on_g5nr(merra2.load(), g5nr.load(), method)
    provenance = {"merra2": str(merra2_path), "g5nr_grid": str(g5nr_path), "settings": {"regrid": method}}
    write_cf(
        on_grid,
        output,
        provenance,
        title=f"MERRA-2 {on_grid[CUBE_VARIABLE].attrs['long_name']} on the G5NR grid (0.0625 degrees)",
        summary=f"The ingested MERRA-2 cube {merra2_path} on the grid of {g5nr_path} ({method}), "
        "for the G5NR days: the coarse input of the downscaling models.",
        history=f"MERRA-2 put on the G5NR grid ({method})",
    )
    return on_grid

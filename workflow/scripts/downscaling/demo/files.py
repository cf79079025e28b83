"""The embedded demo: a synthetic dust world with known truth, in the real files' conventions.

The world (:mod:`downscaling.demo.world`: a daily log-normal dust field on the G5NR grid
with known truth) is written as the real products' files. Sub-daily steps are the daily field
(linear AOD) times a diurnal factor whose mean over the day's steps is exactly 1, so the daily
mean of the written steps is the daily world field.

- G5NR: the world on the 0.0625 degree global grid, subset to a box around all study areas,
  as daily-merged files (``g5nr_steps_per_day`` instantaneous steps) plus the last
  ``g5nr_granule_days`` days as real 30-minute granules (one step each, 48 per day).
- MERRA-2: the world coarsened conservatively (area-weighted, linear AOD) onto the 0.5 x 0.625
  cells of the region, times its own multiplicative bias (x1.3 and a smooth spatial pattern,
  drifting with the season) and log-normal noise (sigma 0.12 in log10, AR(1) from day to day),
  as hourly ``tavg1`` granules over the longer record.
- Elevation: the world's terrain function sampled on its own 1/30 degree grid (as ETOPO2), so
  that ingest has real regridding to do.

Everything is generated day by day from ``numpy.random.SeedSequence(seed)`` (streaming: the fine
world of one day at a time); the same seed gives the same files.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import xarray as xr

from downscaling.demo.world import DustWorld, SyntheticSpec, diurnal_factor
from downscaling.files.netcdf import write_cf
from downscaling.ingest.granules import Box
from downscaling.jobs import atomic_output

log = logging.getLogger(__name__)

ELEVATION_STEP_DEG = 1.0 / 30.0  # ETOPO2-like, deliberately not a multiple of the G5NR step
MAPL_FILL = np.float32(1.0e15)
MERRA2_PATTERN = "MERRA2_{stream}.tavg1_2d_aer_Nx.{day:%Y%m%d}.nc4"
G5NR_DAILY_PATTERN = "c1440_NR.inst30mn_2d_aer1_Nx.{day:%Y%m%d}.nc4"
G5NR_GRANULE_PATTERN = "c1440_NR.inst30mn_2d_aer1_Nx.{time:%Y%m%d_%H%M}z.nc4"
DUST_LONG_NAME = "Dust Extinction AOT [550 nm]"


# ----------------------------------------------------------------------------------------------
# Files in MAPL conventions
# ----------------------------------------------------------------------------------------------
def _mapl_range_attrs() -> dict[str, Any]:
    """MAPL's placeholder range attributes (vmin/vmax/valid_range) that real files carry on
    every variable."""
    return {"vmax": MAPL_FILL, "vmin": -MAPL_FILL, "valid_range": np.array([-MAPL_FILL, MAPL_FILL], dtype=np.float32)}


def _hhmmss(delta: np.timedelta64) -> int:
    """A time span as MAPL's HHMMSS integer (e.g. 1 hour -> 10000, 30 minutes -> 3000)."""
    seconds = int(delta / np.timedelta64(1, "s"))
    return seconds // 3600 * 10000 + seconds % 3600 // 60 * 100 + seconds % 60


def write_mapl_file(
    path: str | os.PathLike,
    variable: str,
    values: np.ndarray,
    times: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    long_name: str = DUST_LONG_NAME,
    global_attrs: dict[str, Any] | None = None,
    time_increment: np.timedelta64 | None = None,
    chunk_shape: tuple[int, int, int] | None = None,
) -> None:
    """Write one file the way MAPL (GEOS-5) writes MERRA-2 and G5NR collections.

    ``values`` (steps, lat, lon) in physical units, NaN for missing (written as 1e15);
    ``times`` datetime64 (steps,). Layout as in real granules: dimensions lon, lat, time; ``lat``
    and ``lon`` float64; ``time`` int32 "minutes since <first step>" with ``time_increment``
    (HHMMSS; default: the spacing of ``times``, else one hour), ``begin_date`` (YYYYMMDD) and
    ``begin_time`` (HHMMSS); the variable float32 with ``_FillValue = missing_value =
    fmissing_value = 1e15``, zlib-compressed, in one chunk as OPeNDAP subsets are, unless
    ``chunk_shape`` is given (global MERRA-2 files use (1, 91, 144)).
    """
    times = np.asarray(times, dtype="datetime64[s]")
    if time_increment is None:
        time_increment = np.diff(times)[0] if times.size > 1 else np.timedelta64(1, "h")
    first = times[0].item()
    data = np.where(np.isfinite(values), values, MAPL_FILL).astype(np.float32)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.setncatts(global_attrs or {})
        ds.createDimension("lon", lon.size)
        ds.createDimension("lat", lat.size)
        ds.createDimension("time", times.size)
        for name, coord, attrs in (
            ("lon", lon, {"long_name": "longitude", "units": "degrees_east"}),
            ("lat", lat, {"long_name": "latitude", "units": "degrees_north"}),
        ):
            var = ds.createVariable(name, "f8", (name,), zlib=True, complevel=4, shuffle=False)
            var.setncatts({**attrs, **_mapl_range_attrs()})
            var[:] = coord
        time = ds.createVariable("time", "i4", ("time",), zlib=True, complevel=2)
        time.setncatts(
            {
                "long_name": "time",
                "units": f"minutes since {first:%Y-%m-%d %H:%M:%S}",
                "time_increment": np.int32(_hhmmss(time_increment)),
                "begin_date": np.int32(int(f"{first:%Y%m%d}")),
                "begin_time": np.int32(int(f"{first:%H%M%S}")),
                **_mapl_range_attrs(),
            }
        )
        time[:] = ((times - times[0]) // np.timedelta64(1, "m")).astype(np.int32)
        var = ds.createVariable(
            variable,
            "f4",
            ("time", "lat", "lon"),
            fill_value=MAPL_FILL,
            zlib=True,
            complevel=1,
            shuffle=True,
            chunksizes=chunk_shape or data.shape,
        )
        var.set_auto_maskandscale(False)  # values are written as they are; attributes come after
        var[:] = data
        var.setncatts(
            {
                "long_name": long_name,
                "units": "1",
                "missing_value": MAPL_FILL,
                "fmissing_value": MAPL_FILL,
                "scale_factor": np.float32(1.0),
                "add_offset": np.float32(0.0),
                "standard_name": long_name,  # MAPL repeats the long name here
                **_mapl_range_attrs(),
            }
        )


def merra2_stream(year: int) -> int:
    """MERRA-2 production stream in file names: 100 (1980-91), 200 (1992-2000), 300 (2001-10), 400."""
    return 100 if year < 1992 else 200 if year < 2001 else 300 if year < 2011 else 400


def _mapl_global_attrs(filename: str, first: np.datetime64, last: np.datetime64) -> dict[str, str]:
    """Global attributes every MAPL file carries; ``first``/``last`` bound the time it covers."""
    first, last = np.datetime64(first, "s").item(), np.datetime64(last, "s").item()
    return {
        "History": "Original file generated: synthetic",
        "Filename": filename,
        "Conventions": "CF-1",
        "Institution": "NASA Global Modeling and Assimilation Office",
        "References": "http://gmao.gsfc.nasa.gov",
        "Format": "NetCDF-4/HDF-5",
        "SpatialCoverage": "global",
        "VersionID": "5.12.4",
        "Contact": "http://gmao.gsfc.nasa.gov",
        "RangeBeginningDate": f"{first:%Y-%m-%d}",
        "RangeBeginningTime": f"{first:%H:%M:%S}.000000",
        "RangeEndingDate": f"{last:%Y-%m-%d}",
        "RangeEndingTime": f"{last:%H:%M:%S}.000000",
        "SouthernmostLatitude": "-90.0",
        "NorthernmostLatitude": "90.0",
        "WesternmostLongitude": "-180.0",
        "SyntheticData": "yes: written by the downscaling pipeline's synthetic world (not NASA data)",
    }


def merra2_global_attrs(day: np.datetime64, filename: str, region: Box) -> dict[str, str]:
    """Global attributes of a M2T1NXAER granule as GES DISC serves an OPeNDAP subset of it."""
    title = "MERRA2 tavg1_2d_aer_Nx: 2d,1-Hourly,Time-averaged,Single-Level,Assimilation,Aerosol Diagnostics"
    return {
        **_mapl_global_attrs(filename, day, day + np.timedelta64(86399, "s")),
        "Comment": f"GMAO filename: d5124_m2_synthetic.tavg1_2d_aer_Nx.{day.item():%Y%m%d}.nc4",
        "TemporalRange": "1980-01-01 -> 2016-12-31",
        "identifier_product_doi_authority": "http://dx.doi.org/",
        "identifier_product_doi": "10.5067/KLICLTZ8EM9D",
        "ShortName": "M2T1NXAER",
        "GranuleID": filename,
        "ProductionDateTime": "Original file generated: synthetic",
        "LongName": title,
        "Title": title,
        "EasternmostLongitude": "179.375",
        "LatitudeResolution": "0.5",
        "LongitudeResolution": "0.625",
        "DataResolution": "0.5 x 0.625",
        "Source": "CVS tag: GEOSadas-5_12_4 (synthetic)",
        "history": f"synthetic OPeNDAP-style subset: {region}",
    }


def g5nr_global_attrs(
    first: np.datetime64, last: np.datetime64, filename: str, region: Box, merged: bool
) -> dict[str, str]:
    """Global attributes of a G5NR ``inst30mn_2d_aer1_Nx`` file (a granule, or a merged day)."""
    title = "GEOS-5 Nature Run c1440: 2d, 30-minute, instantaneous, single-level aerosol diagnostics"
    merged_note = "; daily file merged from 30-minute granules (every 6 hours)" if merged else ""
    return {
        **_mapl_global_attrs(filename, first, last),
        "Comment": f"GEOS-5 Nature Run (G5NR) collection inst30mn_2d_aer1_Nx; {filename}",
        "Title": title,
        "LongName": title,
        "ShortName": "inst30mn_2d_aer1_Nx",
        "Source": "GEOS-5 Nature Run, c1440 (7 km), synthetic",
        "EasternmostLongitude": "179.9375",
        "LatitudeResolution": "0.0625",
        "LongitudeResolution": "0.0625",
        "DataResolution": "0.0625 x 0.0625",
        "history": f"synthetic subset: {region}{merged_note}",
    }


# ----------------------------------------------------------------------------------------------
# The dataset
# ----------------------------------------------------------------------------------------------
def write_elevation_file(world: DustWorld, path: Path, variable: str) -> dict[str, list]:
    """The world's terrain on its own 1/30 degree grid (cell centres, covering the world's grid
    and a quarter degree around it) as a CF netCDF; returns the grid for the manifest."""
    lat = np.arange(world.lat[0] - 0.25 + ELEVATION_STEP_DEG / 2, world.lat[-1] + 0.25, ELEVATION_STEP_DEG)
    lon = np.arange(world.lon[0] - 0.25 + ELEVATION_STEP_DEG / 2, world.lon[-1] + 0.25, ELEVATION_STEP_DEG)
    attrs = {"long_name": "surface elevation above sea level", "units": "m", "standard_name": "surface_altitude"}
    elevation = xr.DataArray(
        world.terrain(lat, lon).astype(np.float32), dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, attrs=attrs
    )
    provenance = {"seed": world.spec.seed, "generator": "downscaling.synthetic"}
    write_cf(
        xr.Dataset({variable: elevation}),
        path,
        provenance,
        title="Synthetic terrain on a 2 arc-minute grid",
        summary="The terrain of the demo's synthetic world: the elevation input of the pipeline.",
        history="synthetic terrain",
    )
    return {"lat": [lat[0], lat[-1], lat.size], "lon": [lon[0], lon[-1], lon.size]}


def _clear(directory: Path, pattern: str) -> None:
    """Remove files of ``pattern`` left by an earlier run (stale days would be globbed)."""
    for stale in directory.glob(pattern):
        stale.unlink()


def write_synthetic_dataset(
    spec: SyntheticSpec, outdir: str | os.PathLike, manifest_path: str | os.PathLike, verification_path=None
) -> dict:
    """Write the whole synthetic dataset under ``outdir`` and a JSON manifest; return the manifest.

    Files: ``merra2/MERRA2_<stream>.tavg1_2d_aer_Nx.YYYYMMDD.nc4`` (24 hourly steps per day over
    the MERRA-2 period, the region's cells), ``g5nr/c1440_NR.inst30mn_2d_aer1_Nx.YYYYMMDD.nc4``
    (``g5nr_steps_per_day`` steps) over the G5NR period except its last ``g5nr_granule_days``
    days, which come as ``..._YYYYMMDD_HHMMz.nc4`` 30-minute granules, and ``elevation.nc``.
    Earlier files of these patterns in ``outdir`` are removed first. The manifest is written
    last (atomically): the files written per source, their counts, the grids and the spec.

    ``verification_path``: the world's true G5NR daily means (``aod``, linear) on the G5NR grid
    for every day after the G5NR period, which no real dataset has: the long run's known truth.
    It lies outside the input globs, so the pipeline never reads it as an input.
    """
    outdir = Path(outdir)
    merra2_dir, g5nr_dir = outdir / "merra2", outdir / "g5nr"
    for directory, pattern in ((merra2_dir, "MERRA2_*.tavg1_2d_aer_Nx.*.nc4"), (g5nr_dir, "c1440_NR.*.nc4")):
        directory.mkdir(parents=True, exist_ok=True)
        _clear(directory, pattern)
    world = DustWorld(spec)
    p = spec.world
    elevation_grid = write_elevation_file(world, outdir / "elevation.nc", spec.elevation_variable)

    g5nr_first, g5nr_last = (np.datetime64(d, "D") for d in spec.g5nr_period)
    first_granule_day = g5nr_last - spec.g5nr_granule_days + 1
    g5nr_lat, g5nr_lon = world.lat[world.g5nr_rows], world.lon[world.g5nr_cols]
    hour = np.timedelta64(60, "m")
    merra2_offsets = np.timedelta64(30, "m") + np.arange(24) * hour  # tavg1: hourly means centred on HH:30
    daily_offsets = np.arange(spec.g5nr_steps_per_day) * (1440 // spec.g5nr_steps_per_day) * np.timedelta64(1, "m")
    granule_offsets = np.arange(48) * np.timedelta64(30, "m")

    def diurnal(offsets: np.ndarray, lon: np.ndarray, amplitude: float, peak: float) -> np.ndarray:
        return diurnal_factor(offsets / hour, lon, amplitude, peak)[:, None, :]  # (steps, 1, lon)

    merra2_diurnal = diurnal(merra2_offsets, world.merra2_lon, p.merra2_diurnal_amplitude, 14.0)
    daily_diurnal = diurnal(daily_offsets, g5nr_lon, p.g5nr_diurnal_amplitude, 15.0)
    granule_diurnal = diurnal(granule_offsets, g5nr_lon, p.g5nr_diurnal_amplitude, 15.0)
    written: dict[str, list[str]] = {"merra2": [], "g5nr": []}
    after_record: dict[np.datetime64, np.ndarray] = {}  # the known truth beyond the G5NR record
    daily_mean_factor = granule_diurnal.mean(axis=0)  # (1, lon): the 48 half-hours of a day

    for world_day in world.days():
        day = world_day.day
        if day.item().day == 1:
            log.info("writing %s", day.astype("datetime64[M]"))
        name = MERRA2_PATTERN.format(stream=merra2_stream(day.item().year), day=day.item())
        write_mapl_file(
            merra2_dir / name,
            spec.variable,
            world_day.merra2_aod[None] * merra2_diurnal,
            day + merra2_offsets,
            world.merra2_lat,
            world.merra2_lon,
            global_attrs=merra2_global_attrs(day, name, spec.region),
        )
        written["merra2"].append(name)
        g5nr_aod = world_day.fine_aod[world.g5nr_rows, world.g5nr_cols][None]  # (1, lat, lon)
        if verification_path is not None and day > g5nr_last:
            after_record[day] = (g5nr_aod[0] * daily_mean_factor).astype(np.float32)
        if not g5nr_first <= day <= g5nr_last:
            continue
        if day < first_granule_day:
            name, times = G5NR_DAILY_PATTERN.format(day=day.item()), day + daily_offsets
            write_mapl_file(
                g5nr_dir / name,
                spec.variable,
                g5nr_aod * daily_diurnal,
                times,
                g5nr_lat,
                g5nr_lon,
                global_attrs=g5nr_global_attrs(times[0], times[-1], name, spec.g5nr_box, merged=True),
            )
            written["g5nr"].append(name)
            continue
        for time, factor in zip(day + granule_offsets, granule_diurnal):
            name = G5NR_GRANULE_PATTERN.format(time=np.datetime64(time, "s").item())
            write_mapl_file(
                g5nr_dir / name,
                spec.variable,
                g5nr_aod * factor[None],
                np.array([time]),
                g5nr_lat,
                g5nr_lon,
                global_attrs=g5nr_global_attrs(time, time, name, spec.g5nr_box, merged=False),
                time_increment=np.timedelta64(30, "m"),
            )
            written["g5nr"].append(name)

    if verification_path is not None:
        write_verification(after_record, g5nr_lat, g5nr_lon, verification_path)

    def extent(lat: np.ndarray, lon: np.ndarray) -> dict[str, list]:
        return {"lat": [lat[0], lat[-1], lat.size], "lon": [lon[0], lon[-1], lon.size]}

    manifest = {
        "seed": spec.seed,
        "merra2": {"directory": "merra2", "count": len(written["merra2"]), "files": written["merra2"]},
        "g5nr": {"directory": "g5nr", "count": len(written["g5nr"]), "files": written["g5nr"]},
        "elevation": {"file": "elevation.nc", "variable": spec.elevation_variable},
        "grids": {
            "merra2": extent(world.merra2_lat, world.merra2_lon),
            "g5nr": extent(g5nr_lat, g5nr_lon),
            "elevation": elevation_grid,
        },
        "spec": asdict(spec),
    }
    with atomic_output(manifest_path) as tmp:
        tmp.write_text(
            json.dumps(manifest, indent=1, default=lambda value: getattr(value, "item", lambda: str(value))())
        )
    return manifest


def write_verification(days: dict, lat: np.ndarray, lon: np.ndarray, path) -> None:
    """The known truth after the G5NR record: daily mean AOD (time, lat, lon) on the G5NR grid."""
    times = np.array(sorted(days), dtype="datetime64[ns]")
    values = np.stack([days[day] for day in sorted(days)]) if days else np.zeros((0, lat.size, lon.size), np.float32)
    aod = xr.DataArray(
        values,
        dims=("time", "lat", "lon"),
        coords={"time": times, "lat": lat, "lon": lon},
        attrs={
            "units": "1",
            "long_name": "true daily mean dust AOD after the G5NR record (synthetic world)",
            "cell_methods": "time: mean",
        },
    )
    write_cf(
        xr.Dataset({"aod": aod}),
        path,
        {"purpose": "verification only: never an input of the pipeline"},
        title="True daily mean dust AOD of the synthetic world after the G5NR record",
        summary="What the long run is scored against; never an input of the pipeline.",
        history="synthetic world's truth after the G5NR record",
    )


def check_inputs_written(inputs: dict[str, str]) -> None:
    """Raise ValueError naming the config key when one of ``inputs.merra2``, ``inputs.g5nr`` or
    ``inputs.elevation`` matches no file: the globs must point at the synthetic ``outdir``."""
    for key in ("merra2", "g5nr", "elevation"):
        if not glob.glob(inputs[key]):
            raise ValueError(
                f"inputs.{key} = {inputs[key]!r} matches none of the synthetic files; point it into synthetic.outdir"
            )

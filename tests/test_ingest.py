"""Ingest: daily means of granules and merged files, crops, grids, regridding and CF outputs."""

import os
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from raw_files import (
    AREA,
    G5NR_LAT,
    G5NR_LON,
    MERRA2_LAT,
    MERRA2_LON,
    daily_truth,
    dust,
    hourly_times,
    write_g5nr_granules,
    write_g5nr_merged_day,
    write_merra2_days,
)

from downscaling.demo.files import write_mapl_file
from downscaling.files import contracts, netcdf
from downscaling.ingest import cubes, elevation, manifest, regrid
from downscaling.ingest.cubes import Box


def test_hourly_granules_give_daily_means_cropped_with_margin(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 3)
    cube = cubes.ingest_daily_log10(paths, "DUEXTTAU", Box.from_config(AREA), margin_deg=0.5)
    values = cube["log10_aod"]
    assert values.dims == ("time", "lat", "lon") and values.dtype == np.float32
    # Centres within the area +- 0.5 degrees, ascending.
    np.testing.assert_allclose(values["lat"], MERRA2_LAT[(MERRA2_LAT >= 20.0) & (MERRA2_LAT <= 22.5)])
    np.testing.assert_allclose(values["lon"], MERRA2_LON[(MERRA2_LON >= 40.125) & (MERRA2_LON <= 42.5)])
    assert list(values["time"].values.astype("datetime64[D]").astype(str)) == ["2005-01-01", "2005-01-02", "2005-01-03"]
    assert (values["time"].values == values["time"].values.astype("datetime64[D]")).all()  # 00:00 of each date
    for i, day in enumerate(["2005-01-01", "2005-01-02", "2005-01-03"]):
        truth = daily_truth(day, 24, values["lat"].values, values["lon"].values)
        np.testing.assert_allclose(values[i], np.log10(truth), rtol=0, atol=2e-7)
    assert values.attrs["transform"] == "log10(max(x, 1e-06))"
    assert values.attrs["units"] == "1" and "Dust Extinction AOT [550 nm]" in values.attrs["long_name"]


def test_merged_daily_files_and_30_minute_granules_mix_in_one_record(tmp_path):
    paths = [write_g5nr_merged_day(tmp_path, "2005-06-01", steps=4)]
    paths += write_g5nr_granules(tmp_path, "2005-06-02")
    paths.append(write_g5nr_merged_day(tmp_path, "2005-06-03", steps=8))
    area = Box.from_config(AREA)
    record = cubes.scan_record(paths[::-1], "DUEXTTAU", area)  # any order in, time order out
    assert list(record.steps_per_day) == [4, 48, 8]
    daily = cubes.daily_means(record)
    lat, lon = daily["lat"].values, daily["lon"].values
    np.testing.assert_allclose(lat, G5NR_LAT[(G5NR_LAT >= 20.5) & (G5NR_LAT <= 22.0)])
    for i, (day, steps) in enumerate([("2005-06-01", 4), ("2005-06-02", 48), ("2005-06-03", 8)]):
        np.testing.assert_allclose(daily[i], daily_truth(day, steps, lat, lon), rtol=1e-6)


def test_fill_values_are_ignored_and_an_all_fill_pixel_is_nan(tmp_path):
    times = hourly_times("2005-01-01")
    values = dust(times, MERRA2_LAT, MERRA2_LON)
    values[:12, 2, 3] = np.nan  # written as 1e15, the MAPL fill value
    values[:, 4, 4] = np.nan
    path = tmp_path / "MERRA2_300.tavg1_2d_aer_Nx.20050101.nc4"
    write_mapl_file(path, "DUEXTTAU", values, times, MERRA2_LAT, MERRA2_LON)
    with netCDF4.Dataset(path) as ds:  # really written as the MAPL fill value
        ds["DUEXTTAU"].set_auto_mask(False)
        assert ds["DUEXTTAU"][0, 2, 3] == np.float32(1e15)
    box = Box((20.0, 23.0), (40.0, 43.75))
    daily = cubes.daily_means(cubes.scan_record([str(path)], "DUEXTTAU", box))[0].values
    expected = values[12:, 2, 3].astype(np.float32).astype(np.float64).mean()
    assert daily[2, 3] == pytest.approx(expected, rel=1e-6)
    assert np.isnan(daily[4, 4])
    assert np.isfinite(np.delete(daily.ravel(), 4 * 7 + 4)).all()


def test_lon_0_to_360_and_descending_lat_come_out_ascending_in_minus_180_180(tmp_path):
    lat = np.arange(10.0, -10.01, -0.5)  # descending
    lon = np.arange(0.0, 360.0, 0.625)  # 0..359.375, global
    times = hourly_times("2005-01-01")
    wrapped = (lon + 180) % 360 - 180
    values = dust(times, lat, wrapped)
    path = tmp_path / "global.nc4"
    write_mapl_file(path, "DUEXTTAU", values, times, lat, lon)
    box = Box((-2.0, 3.0), (-5.0, 5.0))  # crosses lon 0: two runs of the file's columns
    daily = cubes.daily_means(cubes.scan_record([str(path)], "DUEXTTAU", box))
    out_lat, out_lon = daily["lat"].values, daily["lon"].values
    np.testing.assert_allclose(out_lat, np.arange(-2.0, 3.01, 0.5))
    np.testing.assert_allclose(out_lon, np.arange(-5.0, 5.01, 0.625))
    np.testing.assert_allclose(daily[0], daily_truth("2005-01-01", 24, out_lat, out_lon), rtol=1e-6)


@pytest.mark.parametrize("stored", ["file order 351.25..8.75", "sorted 0..8.75, 351.25..359.375"])
def test_a_regional_0_to_360_subset_across_lon_0_is_one_regular_grid(tmp_path, stored):
    lon = np.concatenate([np.arange(351.25, 360.0, 0.625), np.arange(0.0, 8.76, 0.625)])
    if stored.startswith("sorted"):
        lon = np.sort(lon)
    lat = MERRA2_LAT
    times = hourly_times("2005-01-01")
    values = dust(times, lat, (lon + 180) % 360 - 180)
    path = tmp_path / "MERRA2_300.tavg1_2d_aer_Nx.20050101.nc4"
    write_mapl_file(path, "DUEXTTAU", values, times, lat, lon)
    daily = cubes.daily_means(cubes.scan_record([str(path)], "DUEXTTAU", Box((20.5, 22.0), (-5.0, 5.0))))
    out_lon = daily["lon"].values
    np.testing.assert_allclose(out_lon, np.arange(-5.0, 5.01, 0.625))
    # numpy's daily mean of the same columns, picked from the file by their longitude
    columns = [int(np.argmin(np.abs((lon + 180) % 360 - 180 - x))) for x in out_lon]
    rows = [int(np.argmin(np.abs(lat - y))) for y in daily["lat"].values]
    expected = values.astype(np.float32).astype(np.float64)[:, rows][:, :, columns].mean(axis=0)
    np.testing.assert_allclose(daily[0], expected, rtol=1e-6)


def test_a_single_step_granule_with_only_a_range_beginning_date_is_read(tmp_path):
    paths = []
    for time in np.datetime64("2005-06-02", "m") + np.arange(48) * 30:
        stamp = str(time).replace("-", "").replace("T", "_").replace(":", "")
        path = tmp_path / f"c1440_NR.inst30mn_2d_aer1_Nx.{stamp}z.nc4"
        write_mapl_file(
            path,
            "DUEXTTAU",
            dust(np.array([time]), G5NR_LAT, G5NR_LON),
            np.array([time]),
            G5NR_LAT,
            G5NR_LON,
            time_increment=np.timedelta64(30, "m"),
            global_attrs={"RangeBeginningDate": "2005-06-02"},
        )
        paths.append(str(path))
    daily = cubes.daily_means(cubes.scan_record(paths, "DUEXTTAU", Box.from_config(AREA)))
    lat, lon = daily["lat"].values, daily["lon"].values
    np.testing.assert_allclose(daily[0], daily_truth("2005-06-02", 48, lat, lon), rtol=1e-6)


def test_period_restricts_the_record(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 5)
    cube = cubes.ingest_daily_log10(paths, "DUEXTTAU", Box.from_config(AREA), period=("2005-01-02", "2005-01-03"))
    assert cube.sizes["time"] == 2
    assert str(cube["time"].values[0])[:10] == "2005-01-02"


def test_a_period_opens_only_the_files_named_near_it(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 6)
    Path(paths[-1]).write_bytes(b"not netCDF")  # 2005-01-06: more than a day after the period
    cube = cubes.ingest_daily_log10(paths, "DUEXTTAU", Box.from_config(AREA), period=("2005-01-02", "2005-01-03"))
    assert cube.sizes["time"] == 2
    with pytest.raises(cubes.IngestError, match="not netCDF|HDF|NetCDF|Unknown file format"):
        cubes.ingest_daily_log10(paths, "DUEXTTAU", Box.from_config(AREA), period=("2005-01-04", "2005-01-05"))
    with pytest.raises(cubes.IngestError, match="no file named by a date within the period 2006-01-01..2006-01-02"):
        cubes.ingest_daily_log10(paths, "DUEXTTAU", Box.from_config(AREA), period=("2006-01-01", "2006-01-02"))


def test_a_record_is_ingested_in_calendar_years_and_joined_to_the_whole(tmp_path):
    assert manifest.period_parts(["2004-12-30", "2006-01-02"]) == {
        "2004": ("2004-12-30", "2004-12-31"),
        "2005": ("2005-01-01", "2005-12-31"),
        "2006": ("2006-01-01", "2006-01-02"),
    }
    assert manifest.period_parts(None) == {"all": None}
    paths = write_merra2_days(tmp_path, "2004-12-30", 4)
    settings = dict(pattern="*.nc4", variable="DUEXTTAU", area=AREA, margin_deg=0.5, log_floor=1e-6)
    parts = []
    for year, period in manifest.period_parts(["2004-12-30", "2005-01-02"]).items():
        parts.append(tmp_path / f"{year}.nc")
        cubes.write_daily_cube(paths, parts[-1], period=period, **settings)
    cubes.write_daily_cube(paths, tmp_path / "whole.nc", period=("2004-12-30", "2005-01-02"), **settings)
    cubes.join_parts(parts, tmp_path / "joined.nc")
    with xr.open_dataset(tmp_path / "joined.nc") as joined, xr.open_dataset(tmp_path / "whole.nc") as whole:
        xr.testing.assert_identical(joined["log10_aod"], whole["log10_aod"])
        assert (
            joined.attrs["provenance_parts"] == '["2004.nc", "2005.nc"]'
            and joined.attrs["title"] == whole.attrs["title"]
        )
    with pytest.raises(
        cubes.IngestError, match="2004.nc: starts on 2004-12-30, not the day after the last day 2005-01-02"
    ):
        cubes.join_parts([parts[1], parts[0]], tmp_path / "bad.nc")
    assert not (tmp_path / "bad.nc").exists()


def test_log10_floor_keeps_nan_and_floors_zero():
    out = contracts.log10_aod(np.array([0.0, 1e-9, 0.01, np.nan]), 1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:3], [-6.0, -6.0, -2.0])
    assert np.isnan(out[3])


def test_nearest_indices_equal_a_per_point_argmin():
    rng = np.random.default_rng(0)
    source = np.sort(rng.uniform(0, 10, 40))
    target = np.concatenate([rng.uniform(-1, 11, 200), source, (source[1:] + source[:-1]) / 2])
    expected = np.array([np.argmin(np.abs(source - t)) for t in target])
    np.testing.assert_array_equal(regrid.nearest_indices(source, target), expected)


def test_regrid_nearest_and_bilinear():
    lat, lon = np.arange(20.0, 23.01, 0.5), np.arange(40.0, 43.76, 0.625)
    plane = 2.0 * lat[:, None] - 0.5 * lon[None, :]  # bilinear reproduces a plane exactly
    coords = {"time": [0, 1], "lat": lat, "lon": lon}
    field = xr.DataArray(np.stack([plane, plane + 1]), dims=("time", "lat", "lon"), coords=coords)
    target_lat, target_lon = np.arange(20.0, 23.0, 0.0625), np.arange(40.0, 43.75, 0.0625)
    bilinear = regrid.regrid(field, target_lat, target_lon, "bilinear")
    np.testing.assert_allclose(bilinear[1], 2.0 * target_lat[:, None] - 0.5 * target_lon[None, :] + 1, atol=1e-12)
    nearest = regrid.regrid(field, target_lat, target_lon, "nearest")
    assert nearest.sel(lat=20.1875, lon=40.3125, method="nearest")[0] == plane[0, 0]  # within cell (20.0, 40.0)
    assert nearest.sel(lat=20.3125, lon=40.3125, method="nearest")[0] == plane[1, 0]
    with pytest.raises(ValueError, match="outside the source cells"):
        regrid.regrid(field, np.array([19.0]), target_lon, "nearest")


def test_bilinear_spreads_nan_only_from_weighted_neighbours():
    lat, lon = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0])
    values = np.ones((3, 3))
    values[2, 2] = np.nan
    field = xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    out = regrid.regrid(field, np.array([0.5, 1.0, 1.5]), np.array([0.5, 1.0, 1.5]), "bilinear").values
    assert np.isnan(out[2, 2]) and np.isfinite(out[:2, :]).all() and np.isfinite(out[:, :2]).all()


def test_merra2_on_g5nr_takes_the_g5nr_days_and_grid(tmp_path):
    area = Box.from_config(AREA)
    merra2 = cubes.ingest_daily_log10(write_merra2_days(tmp_path, "2005-06-01", 4), "DUEXTTAU", area, margin_deg=1.0)
    g5nr_dir = tmp_path / "g5nr"
    g5nr_dir.mkdir()
    g5nr = cubes.ingest_daily_log10(
        [write_g5nr_merged_day(g5nr_dir, day) for day in ("2005-06-02", "2005-06-03")],
        "DUEXTTAU",
        Box.from_config(AREA),
    )
    on_grid = cubes.merra2_on_g5nr(merra2, g5nr, "nearest")["log10_aod"]
    assert on_grid.shape == g5nr["log10_aod"].shape
    np.testing.assert_array_equal(on_grid["time"], g5nr["time"])
    np.testing.assert_array_equal(on_grid["lat"], g5nr["lat"])
    # G5NR point (21.0, 41.25) is a MERRA-2 centre: it takes that cell's value.
    assert float(on_grid.sel(lat=21.0, lon=41.25)[0]) == float(
        merra2["log10_aod"].sel(time="2005-06-02", lat=21.0, lon=41.25)
    )


def test_elevation_is_put_on_the_target_grid_in_metres(tmp_path):
    lat, lon = np.arange(19.0, 24.0, 1 / 30), np.arange(39.0, 44.0, 1 / 30)
    plane = 100.0 + 50.0 * lat[:, None] + 20.0 * lon[None, :]
    attrs = {"units": "m", "long_name": "surface elevation"}
    field = xr.DataArray(plane.astype(np.float32), dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, attrs=attrs)
    source = xr.Dataset({"elevation": field})
    path = tmp_path / "elevation.nc"
    netcdf.write_cf(source, path, {})
    static = elevation.elevation_on_grid(path, "elevation", G5NR_LAT, G5NR_LON, "bilinear")["elevation"]
    assert static.dims == ("lat", "lon") and static.attrs["units"] == "m"
    np.testing.assert_allclose(static, 100.0 + 50.0 * G5NR_LAT[:, None] + 20.0 * G5NR_LON[None, :], rtol=1e-6)
    feet = source.copy()
    feet["elevation"].attrs["units"] = "ft"
    netcdf.write_cf(feet, tmp_path / "feet.nc", {})
    with pytest.raises(cubes.IngestError, match="feet.nc.*units 'ft'"):
        elevation.elevation_on_grid(tmp_path / "feet.nc", "elevation", G5NR_LAT, G5NR_LON)


def test_write_cf_sets_conventions_fill_values_and_provenance_atomically(tmp_path):
    ds = xr.Dataset(
        {
            "log10_aod": xr.DataArray(
                np.array([[[1.0, np.nan]]], dtype=np.float32),
                dims=("time", "lat", "lon"),
                attrs={"units": "1", "long_name": "log10 AOD"},
            )
        },
        coords={"time": np.array(["2005-01-01"], dtype="datetime64[ns]"), "lat": [20.0], "lon": [40.0, 40.0625]},
    )
    path = tmp_path / "out" / "cube.nc"
    netcdf.write_cf(
        ds, path, {"source_glob": "x/*.nc4", "source_files": 3, "settings": {"margin_deg": 1.5}, "flag": True}
    )
    assert os.listdir(path.parent) == ["cube.nc"]  # no temporary file left
    assert "standard_name" not in ds["lat"].attrs  # the input is not modified
    with netCDF4.Dataset(path) as nc:
        assert nc.Conventions == "CF-1.8, ACDD-1.3" and "history" in nc.ncattrs()
        assert nc.provenance_source_glob == "x/*.nc4" and nc.provenance_source_files == 3
        assert nc.provenance_settings == '{"margin_deg": 1.5}' and nc.provenance_flag == "true"
        assert np.isnan(nc["log10_aod"]._FillValue)
        assert "_FillValue" not in nc["lat"].ncattrs()
        assert nc["lat"].standard_name == "latitude" and nc["lon"].units == "degrees_east"
        assert nc["time"].units.startswith("days since 1970-01-01")
    back = xr.open_dataset(path)
    assert back["time"].values[0] == np.datetime64("2005-01-01")
    assert np.isnan(back["log10_aod"].values[0, 0, 1])
    assert netcdf.read_provenance(back.attrs)["source_files"] == 3
    bad = ds.copy()
    bad["log10_aod"].attrs = {"units": "1"}
    with pytest.raises(ValueError, match="'log10_aod' has no long_name"):
        netcdf.write_cf(bad, tmp_path / "bad.nc", {})
    assert not (tmp_path / "bad.nc").exists()


# ----------------------------------------------------------------------------------------------
# Input manifests: one file per source instead of every granule as an input of every job
# ----------------------------------------------------------------------------------------------
def granules(folder, names):
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_text(name)
    return str(folder / "*.nc4")


def test_a_manifest_lists_the_globbed_files_in_order_and_is_rewritten_only_on_change(tmp_path):
    pattern = granules(tmp_path / "raw", ["b.nc4", "a.nc4", "c.nc4"])
    target = tmp_path / "results" / "inputs" / "merra2.tsv"
    manifest.write_manifest(pattern, target)
    assert manifest.read_manifest(target) == [str(tmp_path / "raw" / n) for n in ("a.nc4", "b.nc4", "c.nc4")]

    os.utime(target, ns=(1, 1))
    manifest.write_manifest(pattern, target)
    assert target.stat().st_mtime_ns == 1  # unchanged inputs: not rewritten, so nothing goes stale

    (tmp_path / "raw" / "b.nc4").write_text("changed content, other size")
    manifest.write_manifest(pattern, target)
    assert target.stat().st_mtime_ns != 1

    os.utime(target, ns=(1, 1))
    (tmp_path / "raw" / "d.nc4").write_text("new granule")
    manifest.write_manifest(pattern, target)
    assert target.stat().st_mtime_ns != 1 and len(manifest.read_manifest(target)) == 4
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_manifest_errors_name_the_glob_or_the_file(tmp_path):
    with pytest.raises(manifest.ManifestError, match=r"no file matches '.*nothing\*\.nc4'"):
        manifest.write_manifest(str(tmp_path / "nothing*.nc4"), tmp_path / "m.tsv")
    assert not (tmp_path / "m.tsv").exists()
    other = tmp_path / "other.tsv"
    other.write_text("a list someone else wrote\n")
    with pytest.raises(manifest.ManifestError, match="other.tsv: not an input manifest"):
        manifest.read_manifest(other)

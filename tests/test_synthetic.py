"""The synthetic dataset: real file conventions, a learnable world, MERRA-2 a biased noisy coarsening."""

import json
from dataclasses import replace
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from downscaling.demo.files import write_synthetic_dataset
from downscaling.demo.world import DustWorld, SyntheticSpec
from downscaling.ingest.regrid import nearest_indices

REAL_HOURLY = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "real-samples"
    / "M2T1NXAER.5.12.4_MERRA2_400.tavg1_2d_aer_Nx.20230101_TOTEXTTAU_subsetted.nc4"
)
SMALL = {
    "seed": 11,
    "synthetic": {
        "enabled": True,
        "merra2_period": ["2005-01-01", "2005-01-12"],
        "g5nr_period": ["2005-01-08", "2005-01-11"],
        "g5nr_granule_days": 1,
        "g5nr_steps_per_day": 4,
        "region": {"lat": [24.0, 27.0], "lon": [45.0, 50.0]},
    },
    "inputs": {"variable": "DUEXTTAU", "elevation_variable": "elevation"},
    "areas": {"a": {"lat": [24.5, 26.0], "lon": [45.625, 48.75]}},
}


def small_spec(seed=SMALL["seed"], **synthetic) -> SyntheticSpec:
    return SyntheticSpec.from_config({**SMALL, "seed": seed, "synthetic": {**SMALL["synthetic"], **synthetic}})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("synthetic")
    manifest = write_synthetic_dataset(small_spec(), outdir, outdir / "manifest.json")
    return outdir, manifest


def read(path, variable="DUEXTTAU"):
    with netCDF4.Dataset(path) as ds:
        return np.asarray(ds[variable][:], dtype=np.float64), np.asarray(ds["lat"][:]), np.asarray(ds["lon"][:])


def test_file_names_and_manifest(dataset):
    outdir, manifest = dataset
    merra2 = sorted(p.name for p in (outdir / "merra2").iterdir())
    assert merra2 == [f"MERRA2_300.tavg1_2d_aer_Nx.200501{d:02d}.nc4" for d in range(1, 13)]
    g5nr = sorted(p.name for p in (outdir / "g5nr").iterdir())
    assert g5nr[:3] == [f"c1440_NR.inst30mn_2d_aer1_Nx.200501{d:02d}.nc4" for d in (8, 9, 10)]
    assert g5nr[3] == "c1440_NR.inst30mn_2d_aer1_Nx.20050111_0000z.nc4"
    assert g5nr[-1] == "c1440_NR.inst30mn_2d_aer1_Nx.20050111_2330z.nc4" and len(g5nr) == 3 + 48
    assert json.loads((outdir / "manifest.json").read_text())["g5nr"]["count"] == 51 == manifest["g5nr"]["count"]
    assert (outdir / "elevation.nc").is_file()


def test_merra2_granule_has_the_real_layout(dataset):
    outdir, _ = dataset
    with netCDF4.Dataset(outdir / "merra2" / "MERRA2_300.tavg1_2d_aer_Nx.20050103.nc4") as ds:
        assert list(ds.dimensions) == ["lon", "lat", "time"]
        ds.set_auto_mask(False)
        var, time, lat, lon = ds["DUEXTTAU"], ds["time"], ds["lat"], ds["lon"]
        assert var.dimensions == ("time", "lat", "lon") and var.dtype == np.float32
        for attr in ("_FillValue", "missing_value", "fmissing_value"):
            assert getattr(var, attr) == np.float32(1e15) and getattr(var, attr).dtype == np.float32
        assert var.units == "1" and var.long_name == var.standard_name == "Dust Extinction AOT [550 nm]"
        assert time.dtype == np.int32 and time.units == "minutes since 2005-01-03 00:30:00"
        np.testing.assert_array_equal(time[:], np.arange(0, 1381, 60))
        assert (time.time_increment, time.begin_date, time.begin_time) == (10000, 20050103, 3000)
        assert lat.dtype == lon.dtype == np.float64 and lat.units == "degrees_north"
        # An OPeNDAP-style subset: exactly on the global 0.5 x 0.625 grid, covering the region.
        np.testing.assert_array_equal(lat[:], -90 + 0.5 * np.arange(228, 235))
        np.testing.assert_array_equal(lon[:], -180 + 0.625 * np.arange(360, 369))
        assert ds.ShortName == "M2T1NXAER" and ds.Filename == "MERRA2_300.tavg1_2d_aer_Nx.20050103.nc4"
        assert (ds.RangeBeginningDate, ds.RangeEndingDate) == ("2005-01-03", "2005-01-03")
        assert ds.RangeEndingTime == "23:59:59.000000"
        if REAL_HOURLY.is_file():  # the same attributes as the real granule, name for name
            with netCDF4.Dataset(REAL_HOURLY) as real:
                assert set(var.ncattrs()) == set(real["TOTEXTTAU"].ncattrs())
                assert set(time.ncattrs()) == set(real["time"].ncattrs())
                assert set(lat.ncattrs()) == set(real["lat"].ncattrs())
                mapl_globals = {a for a in real.ncattrs() if not a.startswith(("build_dmrpp", "history"))}
                assert mapl_globals <= set(ds.ncattrs())


def test_g5nr_files_are_on_the_global_g5nr_grid_around_the_areas(dataset):
    outdir, _ = dataset
    with netCDF4.Dataset(outdir / "g5nr" / "c1440_NR.inst30mn_2d_aer1_Nx.20050109.nc4") as merged:
        merged.set_auto_mask(False)  # MAPL's float valid_range on an int32 time makes netCDF4 warn
        assert merged["time"].units == "minutes since 2005-01-09 00:00:00"
        np.testing.assert_array_equal(merged["time"][:], [0, 360, 720, 1080])
        assert merged["time"].time_increment == 60000
        lat, lon = merged["lat"][:], merged["lon"][:]
    steps = (lat + 90) / 0.0625, (lon + 180) / 0.0625
    assert all(np.allclose(s, np.round(s), atol=1e-9) for s in steps)
    # The union of the areas plus two G5NR cells, not the whole MERRA-2 region.
    assert (lat[0], lat[-1], lon[0], lon[-1]) == (24.375, 26.125, 45.5, 48.875)
    with netCDF4.Dataset(outdir / "g5nr" / "c1440_NR.inst30mn_2d_aer1_Nx.20050111_1330z.nc4") as granule:
        granule.set_auto_mask(False)
        time = granule["time"]
        assert time.units == "minutes since 2005-01-11 13:30:00" and time[:].tolist() == [0]
        assert (time.time_increment, time.begin_time) == (3000, 133000)
        assert granule["DUEXTTAU"].shape == (1, lat.size, lon.size)


def test_daily_mean_of_written_steps_is_the_world(dataset):
    outdir, _ = dataset
    spec = small_spec()
    world = DustWorld(spec)
    checked = 0
    for day in world.days():
        stamp = str(day.day).replace("-", "")
        merra2, *_ = read(outdir / "merra2" / f"MERRA2_300.tavg1_2d_aer_Nx.{stamp}.nc4")
        np.testing.assert_allclose(merra2.mean(axis=0), day.merra2_aod, rtol=2e-7)
        truth = day.fine_aod[world.g5nr_rows, world.g5nr_cols]
        merged = outdir / "g5nr" / f"c1440_NR.inst30mn_2d_aer1_Nx.{stamp}.nc4"
        if merged.exists():
            g5nr, *_ = read(merged)
            assert g5nr.shape[0] == 4
            np.testing.assert_allclose(g5nr.mean(axis=0), truth, rtol=2e-7)
            assert np.abs(g5nr[0] / truth - 1).max() > 0.01  # the steps really differ (diurnal cycle)
            checked += 1
        elif stamp == "20050111":
            granules = sorted((outdir / "g5nr").glob(f"*.{stamp}_*z.nc4"))
            g5nr = np.concatenate([read(p)[0] for p in granules])
            assert g5nr.shape[0] == 48
            np.testing.assert_allclose(g5nr.mean(axis=0), truth, rtol=2e-7)
            checked += 1
    assert checked == 4


def test_merra2_is_a_biased_noisy_conservative_coarsening(dataset):
    world = DustWorld(small_spec())
    # Conservative: a uniform field stays uniform; the area-weighted mean is kept.
    np.testing.assert_allclose(world.coarsen(np.full((world.lat.size, world.lon.size), 0.3)), 0.3)
    coarse_truth, merra2 = [], []
    for day in world.days():
        coarse_truth.append(np.log10(world.coarsen(day.fine_aod)).ravel())
        merra2.append(np.log10(day.merra2_aod).ravel())
    coarse_truth, merra2 = np.concatenate(coarse_truth), np.concatenate(merra2)
    correlation = np.corrcoef(coarse_truth, merra2)[0, 1]
    assert 0.7 < correlation < 0.99  # informative, but not the truth
    assert 0.05 < np.mean(merra2 - coarse_truth) < 0.2  # biased high (x1.3 ~ +0.11 in log10)
    assert 0.08 < np.std(merra2 - coarse_truth) < 0.25  # noisy


def test_world_has_seasons_persistence_terrain_and_fine_memory():
    """A year of a small world (not written): the structure the models are meant to learn."""
    world = DustWorld(small_spec(merra2_period=["2005-01-01", "2005-12-31"], g5nr_period=["2005-06-01", "2005-06-02"]))
    area_mean, months, fine_residuals, time_mean = [], [], [], 0.0
    for day in world.days():
        log10_aod = np.log10(day.fine_aod)
        area_mean.append(log10_aod.mean())
        months.append(day.day.astype("datetime64[M]").astype(int) % 12 + 1)
        time_mean = time_mean + log10_aod / 365
        # What MERRA-2 cannot see: the departure from the cell means, at fine scale.
        cells = np.log10(world.coarsen(day.fine_aod))
        upsampled = cells[nearest_indices(world.merra2_lat, world.lat)][:, nearest_indices(world.merra2_lon, world.lon)]
        fine_residuals.append((log10_aod - upsampled).ravel())
    area_mean, months = np.array(area_mean), np.array(months)
    summer, winter = area_mean[np.isin(months, [6, 7, 8])].mean(), area_mean[np.isin(months, [12, 1, 2])].mean()
    assert summer - winter > 0.3  # seasons differ
    anomaly = area_mean - np.convolve(area_mean, np.ones(31) / 31, mode="same")
    anomaly = anomaly[15:-15]
    assert np.corrcoef(anomaly[1:], anomaly[:-1])[0, 1] > 0.4  # day-to-day persistence
    assert np.corrcoef(world.elevation.ravel(), time_mean.ravel())[0, 1] < -0.3  # dust pools in low basins
    residuals = np.array(fine_residuals)
    residuals -= residuals.mean(axis=0)  # remove the static (terrain) part: what history must reveal
    lag1 = np.mean([np.corrcoef(residuals[t], residuals[t + 1])[0, 1] for t in range(0, 360, 10)])
    assert lag1 > 0.5  # fine structure persists from one day to the next


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    two_days = ["2005-01-08", "2005-01-09"]
    spec = small_spec(merra2_period=two_days, g5nr_period=two_days, g5nr_granule_days=0)
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        write_synthetic_dataset(replace(spec, seed=seed), tmp_path / name, tmp_path / name / "manifest.json")
    files = ["merra2/MERRA2_300.tavg1_2d_aer_Nx.20050109.nc4", "g5nr/c1440_NR.inst30mn_2d_aer1_Nx.20050109.nc4"]
    for file in files:
        a, b, c = (read(tmp_path / name / file)[0] for name in "abc")
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
    elevations = [read(tmp_path / name / "elevation.nc", "elevation")[0] for name in "ab"]
    np.testing.assert_array_equal(*elevations)


def test_spec_rejects_inconsistent_config():
    with pytest.raises(ValueError, match="g5nr_period .* inside synthetic.merra2_period"):
        small_spec(g5nr_period=["2004-12-31", "2005-01-05"])
    with pytest.raises(ValueError, match="area a .* outside the cells of synthetic.region"):
        SyntheticSpec.from_config({**SMALL, "areas": {"a": {"lat": [24.5, 28.0], "lon": [45.625, 48.75]}}})

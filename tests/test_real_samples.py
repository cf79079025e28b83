"""Ingest of real MERRA-2 files from ../shared/real-samples (skipped when that folder is absent)."""

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from downscaling.ingest import cubes, granules
from downscaling.ingest.cubes import Box, IngestError

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "real-samples"
HOURLY = SAMPLES / "M2T1NXAER.5.12.4_MERRA2_400.tavg1_2d_aer_Nx.20230101_TOTEXTTAU_subsetted.nc4"
MONTHLY = SAMPLES / "MERRA2_200.tavgM_2d_aer_Nx.200001.nc4"


def sample(path: Path) -> str:
    if not path.is_file():
        pytest.skip(f"real sample {path.name} not available under {SAMPLES}")
    return str(path)


def raw(path: str, variable: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as float64 with fill values as NaN, lat, lon) read plainly with netCDF4."""
    with netCDF4.Dataset(path) as ds:
        values = np.ma.filled(ds[variable][:].astype(np.float64), np.nan)
        return values, np.asarray(ds["lat"][:]), np.asarray(ds["lon"][:])


def test_hourly_subset_daily_mean_is_the_mean_of_its_24_steps():
    path = sample(HOURLY)
    values, lat, lon = raw(path, "TOTEXTTAU")
    assert values.shape == (24, 66, 52)
    own_extent = Box((float(lat.min()), float(lat.max())), (float(lon.min()), float(lon.max())))
    cube = cubes.ingest_daily_log10([path], "TOTEXTTAU", own_extent)["log10_aod"]
    np.testing.assert_array_equal(cube["lat"], lat)
    np.testing.assert_array_equal(cube["lon"], lon)
    assert cube["time"].values.astype("datetime64[D]").astype(str).tolist() == ["2023-01-01"]
    daily = cubes.daily_means(cubes.scan_record([path], "TOTEXTTAU", own_extent))
    np.testing.assert_allclose(daily[0], values.mean(axis=0), rtol=1e-6)  # float32 tolerance
    np.testing.assert_allclose(cube[0], np.log10(values.mean(axis=0)), atol=1e-6)
    assert cube.attrs["source_long_name"] == "Total Aerosol Extinction AOT [550 nm]"


def test_monthly_global_file_opens_and_crops_but_is_no_daily_input():
    path = sample(MONTHLY)
    values, lat, lon = raw(path, "BCANGSTR")
    area = Box((20.0, 29.0), (40.0, 51.25))
    steps = granules.read_steps(path, "BCANGSTR", area, margin_deg=1.5)
    rows = (lat >= 18.5) & (lat <= 30.5)
    cols = (lon >= 38.5) & (lon <= 52.75)
    np.testing.assert_array_equal(steps["lat"], lat[rows])
    np.testing.assert_array_equal(steps["lon"], lon[cols])
    np.testing.assert_allclose(steps.values, values[:, rows][:, :, cols], rtol=1e-7)
    assert str(steps["time"].values[0]) == "2000-01-01T00:30:00.000000000"  # 'T' in the units, decoded
    # One step that averages a month cannot give daily means: a named error, not a silent month.
    with pytest.raises(
        IngestError, match=r"MERRA2_200\.tavgM_2d_aer_Nx\.200001\.nc4: .*2000-01-01\.\.2000-01-31.*monthly"
    ):
        cubes.scan_record([path], "BCANGSTR", area)

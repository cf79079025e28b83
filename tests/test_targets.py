"""Every kind of target the docs name works from an empty folder on real-layout raw files
(no synthetic world): the cheap ones are built, the others planned (a dry run builds the DAG,
which is where a target used to fail in a fresh folder)."""

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from raw_files import write_g5nr_merged_day, write_merra2_days
from test_ingest_errors import run_snakemake, tiny_config

from downscaling.files import netcdf

pytestmark = pytest.mark.slow

AREA, SEASON = "a", "JJA"
BUILT = [
    "results/data/a/merra2.nc",
    "results/data/a/g5nr.nc",
    "results/data/a/merra2_on_g5nr.nc",
    "results/data/a/static.nc",
    "results/data/a/coastline.nc",
    "results/diagnostics/wasserstein/a.json",
]
PLANNED = [
    "results/splits/g5nr/JJA.csv",
    "results/splits/merra2/JJA.csv",
    "results/models/small_unet/JJA/a/model.pt",
    "results/small_unet/JJA/a/metrics.json",
    "results/features/JJA/a/features.npy",
    "results/models/ddpm_residual/JJA/a/model.pt",
    "results/downscaled/ddpm_residual/JJA/a/strict.nc",
    "results/metrics/ddpm/JJA/a/lenient.json",
    "results/metrics/summary.csv",
    "results/metrics/transfer_ablation.csv",
    "results/metrics/transfer_probe.csv",
]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """A few days of MERRA-2 granules, merged G5NR days and an elevation file."""
    raw = tmp_path_factory.mktemp("raw")
    write_merra2_days(raw, "2005-06-01", 3)
    for day in ("2005-06-02", "2005-06-03"):
        write_g5nr_merged_day(raw, day)
    lat, lon = np.arange(19.0, 24.0, 1 / 30), np.arange(39.0, 44.0, 1 / 30)
    elevation = xr.DataArray(
        np.full((lat.size, lon.size), 300.0, dtype=np.float32),
        dims=("lat", "lon"),
        coords={"lat": lat, "lon": lon},
        attrs={"units": "m", "long_name": "surface elevation"},
    )
    netcdf.write_cf(xr.Dataset({"elevation": elevation}), raw / "elevation.nc", {})
    return raw


def fresh_folder(tmp_path: Path, raw: Path) -> Path:
    os.symlink(raw, tmp_path / "raw")
    return tmp_path


@pytest.mark.parametrize("target", BUILT)
def test_a_data_target_builds_in_an_empty_folder(tmp_path, raw, target):
    done = run_snakemake(fresh_folder(tmp_path, raw), tiny_config(seasons=[SEASON]), target)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / target).is_file()


@pytest.mark.parametrize("target", PLANNED)
def test_a_later_target_plans_in_an_empty_folder(tmp_path, raw, target):
    done = run_snakemake(fresh_folder(tmp_path, raw), tiny_config(seasons=[SEASON]), "-n", target)
    assert done.returncode == 0, done.stdout[-3000:]
    assert target in done.stdout

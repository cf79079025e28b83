"""Each bad input gets one clear error naming the file and the problem, and leaves no output.

Errors of the data raise ``IngestError`` from the library (tested through ``write_daily_cube``,
the call the rule scripts make); errors of the workflow (no file matches a glob, a malformed
config, a G5NR period outside the MERRA-2 record) are tested through Snakemake on a tiny config.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from raw_files import (
    AREA,
    G5NR_LAT,
    G5NR_LON,
    MERRA2_LAT,
    MERRA2_LON,
    dust,
    hourly_times,
    write_g5nr_merged_day,
    write_merra2_days,
)

from downscaling.demo.files import write_mapl_file
from downscaling.files import netcdf
from downscaling.ingest.cubes import IngestError, write_daily_cube
from downscaling.ingest.elevation import elevation_on_grid

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"


def ingest_fails(paths, tmp_path, area=AREA) -> str:
    """Run the ingest of ``paths`` into ``tmp_path/out``; assert it raises and writes nothing."""
    output = tmp_path / "out" / "merra2.nc"
    with pytest.raises(IngestError) as error:
        write_daily_cube(paths, output, pattern="*.nc4", variable="DUEXTTAU", area=area, margin_deg=0.5, log_floor=1e-6)
    assert not output.parent.exists() or os.listdir(output.parent) == []
    return str(error.value)


def test_missing_variable(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 2, variable="TOTEXTTAU")
    message = ingest_fails(paths, tmp_path)
    assert "MERRA2_300.tavg1_2d_aer_Nx.20050101.nc4" in message and "variable 'DUEXTTAU' not found" in message


def test_area_outside_the_data_extent(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 1)
    message = ingest_fails(paths, tmp_path, area={"lat": [21.0, 25.0], "lon": [40.625, 42.0]})
    assert "20050101.nc4" in message and "outside the data's extent" in message and "lat 21..25" in message


def test_non_regular_grid(tmp_path):
    lat = MERRA2_LAT.copy()
    lat[3] += 0.2  # a Gaussian-like, uneven spacing
    paths = write_merra2_days(tmp_path, "2005-01-01", 1, lat=lat)
    message = ingest_fails(paths, tmp_path)
    assert "20050101.nc4" in message and "lat is not a regular grid" in message


def test_missing_day_in_the_record(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 5)
    del paths[2]
    message = ingest_fails(paths, tmp_path)
    assert "day 2005-01-03 is missing" in message
    assert "20050102.nc4" in message and "20050104.nc4" in message


def test_incomplete_day_names_the_file(tmp_path):
    times = hourly_times("2005-01-01")[:23]  # a granule that lost its last hour
    path = tmp_path / "MERRA2_300.tavg1_2d_aer_Nx.20050101.nc4"
    write_mapl_file(path, "DUEXTTAU", dust(times, MERRA2_LAT, MERRA2_LON), times, MERRA2_LAT, MERRA2_LON)
    message = ingest_fails([str(path)], tmp_path)
    assert "20050101.nc4" in message and "has 23 of 24 time steps" in message


def test_day_that_is_all_fill_values(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 2)
    times = hourly_times("2005-01-03")
    path = tmp_path / "MERRA2_300.tavg1_2d_aer_Nx.20050103.nc4"
    write_mapl_file(
        path, "DUEXTTAU", np.full((24, MERRA2_LAT.size, MERRA2_LON.size), np.nan), times, MERRA2_LAT, MERRA2_LON
    )
    message = ingest_fails(paths + [str(path)], tmp_path)
    assert "20050103.nc4" in message and "day 2005-01-03 is all fill values" in message


def with_values(change):
    """The :func:`dust` values with ``change(values, times)`` applied: a source of bad granules."""

    def values(times, lat, lon):
        field = dust(times, lat, lon)
        change(field, times)
        return field

    return values


@pytest.mark.parametrize("bad, shown", [(-0.5, "-0.5..-0.5"), (1e6, "1e+06..1e+06")])
def test_implausible_values_name_the_file_the_count_and_the_date(tmp_path, bad, shown):
    def block_on_day_two(field, times):
        if str(times[0])[:10] == "2005-01-02":
            field[5:, 2:4, 1:4] = bad  # the last 19 hours of 2 x 3 cells

    paths = write_merra2_days(tmp_path, "2005-01-01", 3, values=with_values(block_on_day_two))
    message = ingest_fails(paths, tmp_path)
    assert "20050102.nc4: 114 cells of 'DUEXTTAU' lie outside its valid range [0, 50]" in message
    assert f"values {shown}" in message and "first on 2005-01-02T05:30:00" in message
    assert "ingest.valid_range" in message


def test_round_off_negatives_within_the_tolerance_become_the_floor_with_a_warning(tmp_path, caplog):
    def round_off(field, times):
        field[:, 3, 2] = -1e-4

    paths = write_merra2_days(tmp_path, "2005-01-01", 2, values=with_values(round_off))
    assert "outside its valid range" in ingest_fails(paths, tmp_path)  # no tolerance by default
    output = tmp_path / "tolerated.nc"
    cube = write_daily_cube(
        paths,
        output,
        pattern="*.nc4",
        variable="DUEXTTAU",
        area=AREA,
        margin_deg=0.5,
        log_floor=1e-6,
        plausibility={"negative_tolerance": 1e-3},
    )
    floored = cube["log10_aod"].values == -6.0
    assert floored.sum() == 2 and floored.any(axis=(1, 2)).all()  # the one cell, on both days
    assert "48 cells of DUEXTTAU between -0.001 and 0 were set to 0" in caplog.text


def with_units(path: str, units: str) -> None:
    """Rewrite the units attribute of a raw file's DUEXTTAU in place."""
    import netCDF4

    with netCDF4.Dataset(path, "a") as ds:
        ds.variables["DUEXTTAU"].units = units


def test_a_file_with_other_units_names_both_files_and_both_units(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 3)
    with_units(paths[1], "kg m-2")
    message = ingest_fails(paths, tmp_path)
    assert "20050102.nc4: variable 'DUEXTTAU' has units 'kg m-2', but" in message
    assert "20050101.nc4 has units '1'" in message


def test_units_must_be_the_configured_ones(tmp_path):
    paths = write_merra2_days(tmp_path, "2005-01-01", 1)
    with_units(paths[0], "kg m-2")
    message = ingest_fails(paths, tmp_path)
    assert "20050101.nc4: variable 'DUEXTTAU' has units 'kg m-2'; expected '1' (config key ingest.units)" in message


def test_missing_cells_in_the_elevation_file(tmp_path):
    lat, lon = np.arange(19.0, 24.0, 1 / 30), np.arange(39.0, 44.0, 1 / 30)
    values = np.full((lat.size, lon.size), 300.0, dtype=np.float32)
    values[60, 70] = np.nan
    elevation = xr.DataArray(
        values,
        dims=("lat", "lon"),
        coords={"lat": lat, "lon": lon},
        attrs={"units": "m", "long_name": "surface elevation"},
    )
    path = tmp_path / "elevation.nc"
    netcdf.write_cf(xr.Dataset({"elevation": elevation}), path, {})
    with pytest.raises(IngestError) as error:
        elevation_on_grid(path, "elevation", G5NR_LAT, G5NR_LON)
    assert "elevation.nc: variable 'elevation' has 1 missing (NaN or fill) cells" in str(error.value)


# ----------------------------------------------------------------------------------------------
# Through Snakemake
# ----------------------------------------------------------------------------------------------
def tiny_config(**changes) -> dict:
    config = {
        "seed": 1,
        "synthetic": {"enabled": False},
        "inputs": {"merra2": "raw/MERRA2_*.nc4", "g5nr": "raw/c1440_NR.*.nc4", "elevation": "raw/elevation.nc"},
        "areas": {"a": AREA},
        "ingest": {"margin_deg": 0.5},
        # the area holds 6 x 4 MERRA-2 cells: tiles of 4, which the default networks can halve twice
        "tiles": {"size": 4, "train_stride": 2},
        "inference": {"halo": 1, "stride": 2},
        "small_unet": {},
        "large_model": {},
    }
    config.update(changes)
    return config


def run_snakemake(workdir: Path, config: dict, *targets: str) -> subprocess.CompletedProcess:
    """Snakemake on the real Snakefile in ``workdir`` with ``config``; stdout and stderr together."""
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "1",
        *targets,
    ]
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


@pytest.mark.slow
def test_no_file_matches_a_glob(tmp_path):
    done = run_snakemake(tmp_path, tiny_config(), "results/data/a/merra2.nc")
    assert done.returncode != 0
    assert "inputs.merra2: no file matches 'raw/MERRA2_*.nc4'" in done.stdout


@pytest.mark.slow
def test_malformed_config_names_the_key(tmp_path):
    unknown = run_snakemake(tmp_path, tiny_config(ingets={"margin_deg": 1.0}), "results/data/a/merra2.nc")
    assert unknown.returncode != 0
    assert "'ingets' was unexpected" in unknown.stdout
    wrong_type = run_snakemake(tmp_path, tiny_config(ingest={"margin_deg": "wide"}), "results/data/a/merra2.nc")
    assert wrong_type.returncode != 0
    assert "'wide' is not of type 'number'" in wrong_type.stdout
    assert re.search(r"\['ingest'\]\['margin_deg'\]", wrong_type.stdout)


@pytest.mark.slow
def test_g5nr_period_not_inside_the_merra2_record(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_merra2_days(raw, "2005-06-01", 3)
    for day in ("2005-06-03", "2005-06-04"):  # the last G5NR day has no MERRA-2 twin
        write_g5nr_merged_day(raw, day)
    done = run_snakemake(tmp_path, tiny_config(), "results/data/a/merra2_on_g5nr.nc")
    assert done.returncode != 0
    # The ingest rules ran; the regrid rule failed with a clear message and left nothing.
    assert (tmp_path / "results/data/a/merra2.nc").exists() and (tmp_path / "results/data/a/g5nr.nc").exists()
    assert not (tmp_path / "results/data/a/merra2_on_g5nr.nc").exists()
    assert set(os.listdir(tmp_path / "results/data/a")) == {"merra2.nc", "g5nr.nc"}  # no temporary file either
    cause = "the G5NR period 2005-06-03..2005-06-04 is not inside the MERRA-2 record 2005-06-01..2005-06-03"
    log = (tmp_path / "logs/ingest/a/merra2_on_g5nr.log").read_text()
    assert "IngestError" in log and cause in log
    # The console says it too, with the log's path (the onerror handler), not only "check log file(s)".
    assert re.search(
        r"rule regrid_merra2 failed \(logs/ingest/a/merra2_on_g5nr\.log\):\n    \S*IngestError: .*" + re.escape(cause),
        done.stdout,
    )


@pytest.mark.slow
def test_an_implausible_granule_stops_the_workflow_and_a_rerun_after_the_fix_works(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_merra2_days(raw, "2005-06-01", 2)

    def negative_block(field, times):
        field[:, 2:4, 1:4] = -0.5

    bad = write_merra2_days(raw, "2005-06-03", 1, values=with_values(negative_block))[0]
    done = run_snakemake(tmp_path, tiny_config(), "results/data/a/merra2.nc")
    assert done.returncode != 0
    assert re.search(
        r"rule ingest_merra2 failed \(.*\):\n    \S*IngestError: \S*20050603.nc4: 144 cells of 'DUEXTTAU' "
        r"lie outside its valid range \[0, 50\]",
        done.stdout,
    ), done.stdout[-3000:]
    assert not (tmp_path / "results/data/a/merra2.nc").exists()
    write_merra2_days(raw, "2005-06-03", 1)  # the granule fixed: the manifest sees it changed
    assert bad.endswith("20050603.nc4")
    again = run_snakemake(tmp_path, tiny_config(), "results/data/a/merra2.nc")
    assert again.returncode == 0, again.stdout[-3000:]


@pytest.mark.slow
def test_a_season_without_test_days_stops_at_the_splits_when_the_periods_are_unknown(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_merra2_days(raw, "2005-06-01", 3)
    write_g5nr_merged_day(raw, "2005-06-02")
    done = run_snakemake(tmp_path, tiny_config(seasons=["JJA"]), "results/splits/g5nr/JJA.csv")
    assert done.returncode != 0
    assert "seasons: JJA has no G5NR test day: no day of the season in the record has 40 days of history" in done.stdout
    assert not (tmp_path / "results/splits/g5nr/JJA.csv").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 256 kB file system (tmpfs; needs root), unmounted after the test."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here ({mounted.stderr.strip()})")
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=True)  # the netCDF library may hold a handle


def test_a_full_disk_names_the_file_and_the_reason_and_leaves_nothing(small_disk):
    rng = np.random.default_rng(0)
    noise = xr.DataArray(
        rng.normal(size=(30, 64, 64)).astype(np.float32),
        dims=("time", "lat", "lon"),
        attrs={"units": "1", "long_name": "noise that does not compress"},
    )
    output = small_disk / "cube.nc"
    with pytest.raises(OSError) as error:
        netcdf.write_cf(xr.Dataset({"log10_aod": noise}), output, {})
    assert str(error.value).startswith(f"{output}: cannot be written: no space left on device")
    assert os.listdir(small_disk) == []


def test_an_error_about_another_file_keeps_its_own_message(tmp_path):
    from downscaling.jobs import OutputError, atomic_output

    with pytest.raises(FileNotFoundError) as error:
        with atomic_output(tmp_path / "out.nc"):
            open(tmp_path / "missing_input.nc")  # an input read while writing: not the output's fault
    assert not isinstance(error.value, OutputError) and "missing_input.nc" in str(error.value)
    assert os.listdir(tmp_path) == []

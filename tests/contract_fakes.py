"""Small files in the formats the evaluation reads, written by tests (not a test module).

Ingested cubes (``log10_aod`` (time, lat, lon)), split CSVs, downscaled files (``aod_member``,
``aod_mean``, ``log10_aod_spread``) and long runs, following the contracts in DESIGN.md and
the inference issue, on a small area so that every diagnostic runs in a fraction of a second.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import gaussian_filter

# A 3° x 4° area on the 0.0625° G5NR grid (48 x 64 pixels), MERRA-2 0.5° x 0.625° with margin.
G5NR_LAT = 20.0 + 0.0625 * (np.arange(48) + 0.5)
G5NR_LON = 40.0 + 0.0625 * (np.arange(64) + 0.5)
MERRA2_LAT = np.arange(18.5, 24.51, 0.5)
MERRA2_LON = np.arange(38.75, 45.7, 0.625)
BOX = {"lat": [20.0, 23.0], "lon": [40.0, 44.0]}


def write_cube(path, values, dates, lat, lon, variable="log10_aod", units="1"):
    """An ingested cube: ``variable`` (time, lat, lon) float32 with CF-ish attributes."""
    da = xr.DataArray(
        np.asarray(values, dtype=np.float32),
        dims=("time", "lat", "lon"),
        coords={"time": pd.DatetimeIndex(dates), "lat": lat, "lon": lon},
        attrs={"units": units},
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    da.to_dataset(name=variable).to_netcdf(path)


def write_downscaled(path, log10_members, dates, lat, lon):
    """A downscaled file from log10 members (M, T, H, W), as inference writes it."""
    log10_members = np.asarray(log10_members, dtype=np.float64)
    coords = {"member": np.arange(log10_members.shape[0]), "time": pd.DatetimeIndex(dates), "lat": lat, "lon": lon}
    ds = xr.Dataset(
        {
            "aod_member": (
                ("time", "member", "lat", "lon"),
                (10.0 ** log10_members.swapaxes(0, 1)).astype(np.float32),
                {"units": "1"},
            ),
            "aod_mean": (
                ("time", "lat", "lon"),
                (10.0 ** log10_members.mean(axis=0)).astype(np.float32),
                {"units": "1"},
            ),
            "log10_aod_spread": (("time", "lat", "lon"), log10_members.std(axis=0).astype(np.float32), {"units": "1"}),
        },
        coords=coords,
        attrs={"provenance_config_hash": "test"},
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path)


def write_split(path, train_days, test_days):
    rows = pd.concat(
        [
            pd.DataFrame({"date": pd.DatetimeIndex(train_days), "split": "train"}),
            pd.DataFrame({"date": pd.DatetimeIndex(test_days), "split": "test"}),
        ]
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rows.sort_values("date").to_csv(path, index=False, date_format="%Y-%m-%d")


def smooth_world(dates, lat, lon, seed, correlation_px=4.0, persistence=0.8):
    """log10-AOD-like days (T, H, W): smooth Gaussian fields, AR(1) in time, mean about -1."""
    rng = np.random.default_rng(seed)
    field = np.zeros((len(lat), len(lon)))
    days = []
    for _ in range(len(dates)):
        noise = gaussian_filter(rng.normal(size=field.shape), correlation_px, mode="wrap")
        field = persistence * field + np.sqrt(1 - persistence**2) * noise / noise.std()
        days.append(-1.0 + 0.3 * field)
    return np.stack(days)


def coarsen_to(fine, fine_lat, fine_lon, lat, lon):
    """Nearest-cell mean of fine (T, H, W) on a coarse grid; cells without fine pixels get the
    domain mean (the margin of the fake MERRA-2)."""
    coarse = np.repeat(fine.mean(axis=(1, 2))[:, None, None], len(lat), 1).repeat(len(lon), 2)
    row = np.abs(fine_lat[:, None] - lat[None, :]).argmin(axis=1)
    col = np.abs(fine_lon[:, None] - lon[None, :]).argmin(axis=1)
    for i in np.unique(row):
        for j in np.unique(col):
            coarse[:, i, j] = fine[:, row == i][:, :, col == j].mean(axis=(1, 2))
    return coarse


def fake_area(root, n_members=3, season="JJA", n_test=5, longrun_days=70):
    """Every input of the evaluation rules for one area 'west' under ``root`` (results layout).

    G5NR over 2005-05-15 + 150 days, MERRA-2 on 2005-01-01..2006-12-31 (its record covers the
    long run), a split with ``n_test`` test days in ``season``, downscaled files of ddpm
    (``n_members`` members: truth + noise), ddpm_notransfer (same, noisier), unet (truth +
    offset, one member) and interp (the MERRA-2 input), strict and lenient; a long run.
    Returns a dict of the paths and facts the tests need.
    """
    root = Path(root)
    g5nr_dates = pd.date_range("2005-05-15", periods=150, freq="D")
    merra2_dates = pd.date_range("2005-01-01", "2006-12-31", freq="D")
    world = smooth_world(merra2_dates, G5NR_LAT, G5NR_LON, seed=1)  # (T, H, W)
    in_g5nr = merra2_dates.isin(g5nr_dates)
    data = root / "results" / "data" / "west"
    write_cube(data / "g5nr.nc", world[in_g5nr], g5nr_dates, G5NR_LAT, G5NR_LON)
    merra2 = coarsen_to(world, G5NR_LAT, G5NR_LON, MERRA2_LAT, MERRA2_LON) + 0.05
    write_cube(data / "merra2.nc", merra2, merra2_dates, MERRA2_LAT, MERRA2_LON)
    row = np.abs(G5NR_LAT[:, None] - MERRA2_LAT).argmin(axis=1)
    col = np.abs(G5NR_LON[:, None] - MERRA2_LON).argmin(axis=1)
    merra2_on_g5nr = merra2[in_g5nr][:, row][:, :, col]
    write_cube(data / "merra2_on_g5nr.nc", merra2_on_g5nr, g5nr_dates, G5NR_LAT, G5NR_LON)
    elevation = 500 + 400 * np.sin(G5NR_LAT[:, None] / 2) * np.cos(G5NR_LON[None, :] / 3)
    xr.Dataset(
        {"elevation": (("lat", "lon"), elevation.astype(np.float32), {"units": "m"})},
        coords={"lat": G5NR_LAT, "lon": G5NR_LON},
    ).to_netcdf(data / "static.nc")

    season_days = g5nr_dates[g5nr_dates.month.isin({"JJA": (6, 7, 8)}[season])]
    test = season_days[np.linspace(45, len(season_days) - 1, n_test).astype(int)]
    split = root / "results" / "splits" / "g5nr" / f"{season}.csv"
    write_split(split, season_days.difference(test), test)

    truth = world[merra2_dates.isin(test)]
    rng = np.random.default_rng(2)
    predictions = {
        "ddpm": truth + rng.normal(0, 0.05, (n_members, *truth.shape)),
        "ddpm_notransfer": truth + rng.normal(0, 0.1, (n_members, *truth.shape)),
        "unet": (truth + 0.1)[None],
        "interp": merra2_on_g5nr[g5nr_dates.isin(test)][None],
    }
    downscaled = {}
    for model, members in predictions.items():
        for mode in ("strict", "lenient"):
            path = root / "results" / "downscaled" / model / season / "west" / f"{mode}.nc"
            write_downscaled(path, members, test, G5NR_LAT, G5NR_LON)
            downscaled[model, mode] = path

    run_dates = pd.date_range(g5nr_dates[-1] + pd.Timedelta(days=1), periods=longrun_days)
    run_truth = world[merra2_dates.isin(run_dates)]
    longrun = root / "results" / "longrun" / "west" / (f"{run_dates[0]:%Y-%m-%d}_{run_dates[-1]:%Y-%m-%d}.nc")
    write_downscaled(
        longrun, run_truth + rng.normal(0, 0.05, (n_members, *run_truth.shape)), run_dates, G5NR_LAT, G5NR_LON
    )
    known_truth = root / "resources" / "synthetic" / "verification" / "g5nr_after_record.nc"
    known_truth.parent.mkdir(parents=True, exist_ok=True)
    xr.Dataset(
        {"aod": (("time", "lat", "lon"), (10.0**run_truth).astype(np.float32), {"units": "1"})},
        coords={"time": run_dates, "lat": G5NR_LAT, "lon": G5NR_LON},
    ).to_netcdf(known_truth)
    return {
        "root": root,
        "season": season,
        "area": "west",
        "g5nr": data / "g5nr.nc",
        "merra2": data / "merra2.nc",
        "merra2_on_g5nr": data / "merra2_on_g5nr.nc",
        "static": data / "static.nc",
        "split": split,
        "test_days": test,
        "truth": truth,
        "downscaled": downscaled,
        "longrun": longrun,
        "run_dates": run_dates,
        "known_truth": known_truth,
        "predictions": predictions,
    }

"""Small raw MERRA-2 / G5NR files in the MAPL conventions, written by the ingest tests (not a test module).

Files are written with :func:`downscaling.demo.files.write_mapl_file`, the same writer as the
synthetic dataset, so they carry the real layout (int32 minutes since the first step,
``time_increment``, 1e15 fill values). Values come from :func:`dust`, a known smooth function of
time and position, so tests can compute what ingest must return.
"""

import numpy as np

from downscaling.demo.files import write_mapl_file

HOUR = np.timedelta64(60, "m")
# A 3 x 3.75 degree box of the MERRA-2 grid and the G5NR grid inside it.
MERRA2_LAT = -90.0 + 0.5 * np.arange(220, 227)  # 20.0 .. 23.0
MERRA2_LON = -180.0 + 0.625 * np.arange(352, 359)  # 40.0 .. 43.75
G5NR_LAT = -90.0 + 0.0625 * np.arange(1760, 1793)  # 20.0 .. 22.0
G5NR_LON = -180.0 + 0.0625 * np.arange(3520, 3553)  # 40.0 .. 42.0
AREA = {"lat": [20.5, 22.0], "lon": [40.625, 42.0]}


def dust(times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(steps, lat, lon) positive AOD varying smoothly with time (hours) and position."""
    hours = (np.asarray(times, dtype="datetime64[m]") - np.datetime64("2000-01-01", "m")) / HOUR
    return (
        0.3
        + 0.1 * np.sin(hours / 7.0)[:, None, None]
        + 0.05 * np.cos(np.radians(8 * lat))[None, :, None]
        + 0.02 * np.sin(np.radians(5 * lon))[None, None, :]
    )


def hourly_times(day: str) -> np.ndarray:
    """The 24 tavg1 stamps of a day: HH:30."""
    return np.datetime64(day, "m") + 30 + np.arange(24) * HOUR


def write_merra2_days(
    directory, first_day: str, n_days: int, lat=MERRA2_LAT, lon=MERRA2_LON, variable="DUEXTTAU", values=dust
):
    """One hourly ``tavg1`` granule per day (24 steps); returns the paths in time order."""
    paths = []
    for day in np.arange(np.datetime64(first_day), np.datetime64(first_day) + n_days):
        times = hourly_times(str(day))
        path = directory / f"MERRA2_300.tavg1_2d_aer_Nx.{str(day).replace('-', '')}.nc4"
        write_mapl_file(path, variable, values(times, lat, lon), times, lat, lon)
        paths.append(str(path))
    return paths


def write_g5nr_merged_day(directory, day: str, steps: int = 4, lat=G5NR_LAT, lon=G5NR_LON, variable="DUEXTTAU"):
    """A daily-merged G5NR file with ``steps`` instantaneous steps from 00:00; returns its path."""
    times = np.datetime64(day, "m") + np.arange(steps) * (1440 // steps)
    path = directory / f"c1440_NR.inst30mn_2d_aer1_Nx.{day.replace('-', '')}.nc4"
    write_mapl_file(path, variable, dust(times, lat, lon), times, lat, lon)
    return str(path)


def write_g5nr_granules(directory, day: str, lat=G5NR_LAT, lon=G5NR_LON, variable="DUEXTTAU"):
    """48 half-hourly G5NR granules of one day (one step each); returns their paths."""
    paths = []
    for time in np.datetime64(day, "m") + np.arange(48) * 30:
        stamp = str(time).replace("-", "").replace("T", "_").replace(":", "")
        path = directory / f"c1440_NR.inst30mn_2d_aer1_Nx.{stamp}z.nc4"
        write_mapl_file(
            path,
            variable,
            dust(np.array([time]), lat, lon),
            np.array([time]),
            lat,
            lon,
            time_increment=np.timedelta64(30, "m"),
        )
        paths.append(str(path))
    return paths


def daily_truth(day: str, steps: int, lat, lon) -> np.ndarray:
    """(lat, lon) mean of :func:`dust` over ``steps`` equally spaced steps of a day, in float64,
    from the float32 values the files hold."""
    if steps == 24:
        times = hourly_times(day)
    else:
        times = np.datetime64(day, "m") + np.arange(steps) * (1440 // steps)
    return dust(times, lat, lon).astype(np.float32).astype(np.float64).mean(axis=0)

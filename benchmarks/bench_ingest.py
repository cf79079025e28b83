"""Ingest benchmarks (a script that prints tables, not a test).

1. Peak memory of ingesting 1 vs 4 years of global-size daily MERRA-2 input (361 x 576, one
   daily step per file, chunked (1, 91, 144) like the real global files) for the paper's
   Afghanistan/Kyrgyzstan area: each ingest runs in a fresh subprocess that reports its peak
   resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and the tracemalloc peak of
   the ingest call. Goal: peak RSS within 20 % between record lengths.
2. MERRA-2 put on the G5NR grid of that area: the vectorised nearest-neighbour lookup
   (``downscaling.ingest.regrid``) against a per-pixel ``argmin`` loop, same result, ratio printed.
3. Full-size G5NR: one day of global 30-minute granules (48 files of 5760 x 2881, zlib-compressed
   in chunks of (1, 721, 1440), a smooth field that compresses like the real ones) ingested for
   the paper's Arabian area as one ingest job does (scan every file, then read the crops): seconds
   per granule, and the hours the paper's 763 G5NR days and 25 years of MERRA-2 take, in one job
   and in one job per calendar year side by side.

Usage: python benchmarks/bench_ingest.py [--years 1 4] [--days-for-regrid 30]
       [--g5nr-granules 48] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from downscaling.demo.files import write_mapl_file  # noqa: E402
from downscaling.ingest import cubes, regrid  # noqa: E402

GLOBAL_LAT = -90.0 + 0.5 * np.arange(361)
GLOBAL_LON = -180.0 + 0.625 * np.arange(576)
AREA = {"lat": [29.223, 43.406], "lon": [60.308, 80.427]}  # Afghanistan + Kyrgyzstan (DESIGN.md)
MARGIN_DEG = 1.5


def write_global_daily_files(directory: Path, years: int) -> list[str]:
    """One global daily-mean file per day from 2001-01-01 (``years`` x 365/366 files)."""
    directory.mkdir(parents=True, exist_ok=True)
    first = np.datetime64("2001-01-01")
    days = np.arange(first, np.datetime64(f"{2001 + years}-01-01"))
    rng = np.random.default_rng(0)
    base = rng.lognormal(-1.5, 0.5, (GLOBAL_LAT.size, GLOBAL_LON.size)).astype(np.float32)
    paths = []
    for i, day in enumerate(days):
        path = directory / f"MERRA2_300.statD_2d_aer_Nx.{str(day).replace('-', '')}.nc4"
        if not path.exists():
            values = (base * (1.0 + 0.5 * np.sin(i / 9.0)))[None]
            write_mapl_file(
                path,
                "DUEXTTAU",
                values,
                np.array([day], dtype="datetime64[m]"),
                GLOBAL_LAT,
                GLOBAL_LON,
                time_increment=np.timedelta64(24, "h"),
                chunk_shape=(1, 91, 144),
            )
        paths.append(str(path))
    return paths


def child(directory: str, years: int, output: str) -> None:
    """Ingest the first ``years`` years of files and print peak memory as JSON (subprocess)."""
    paths = sorted(str(p) for p in Path(directory).glob("*.nc4"))[: 365 * years + years // 4]
    tracemalloc.start()
    started = time.perf_counter()
    cube = cubes.write_daily_cube(
        paths, output, pattern="*.nc4", variable="DUEXTTAU", area=AREA, margin_deg=MARGIN_DEG, log_floor=1e-6
    )
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    print(
        json.dumps(
            {
                "years": years,
                "files": len(paths),
                "seconds": seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "traced_peak_mb": traced_peak / 2**20,
                "cube_mb": cube["log10_aod"].nbytes / 2**20,
                "cube_shape": list(cube["log10_aod"].shape),
            }
        )
    )


def memory_table(directory: Path, years_list: list[int]) -> None:
    started = time.perf_counter()
    write_global_daily_files(directory, max(years_list))
    print(f"wrote global daily input ({max(years_list)} years) in {time.perf_counter() - started:.1f} s")
    rows = []
    for years in years_list:
        output = directory.parent / f"cube_{years}y.nc"
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(directory), str(years), str(output)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("\n1) ingest peak memory vs record length (global 361 x 576 daily input, paper area + 1.5 deg)")
    header = ("years", "files", "seconds", "peak RSS MB", "traced peak MB", "output cube MB")
    print("{:>5} {:>6} {:>8} {:>12} {:>15} {:>15}  cube shape".format(*header))
    for row in rows:
        print(
            f"{row['years']:>5} {row['files']:>6} {row['seconds']:>8.1f} {row['peak_rss_mb']:>12.1f} "
            f"{row['traced_peak_mb']:>15.2f} {row['cube_mb']:>15.2f}  {row['cube_shape']}"
        )
    global_mb = rows[-1]["files"] * GLOBAL_LAT.size * GLOBAL_LON.size * 4 / 2**20
    print(f"(the global {rows[-1]['years']}-year record would take {global_mb:.0f} MB as float32; it is never loaded)")
    ratio = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    verdict = "within" if abs(ratio - 1) <= 0.2 else "NOT within"
    print(
        f"peak RSS {rows[-1]['years']} y / {rows[0]['years']} y = {ratio:.3f} ({verdict} 20 %); the traced "
        "(Python/NumPy) peak is about 3 copies of the cropped output cube, the only thing that grows"
    )


def argmin_loop_nearest(values: np.ndarray, source_lat, source_lon, target_lat, target_lon) -> np.ndarray:
    """The naive regrid: for every target pixel, argmin of the distance over all source cells."""
    source_lat2, source_lon2 = np.meshgrid(source_lat, source_lon, indexing="ij")
    out = np.empty(values.shape[:1] + (target_lat.size, target_lon.size), dtype=values.dtype)
    for i, lat in enumerate(target_lat):
        for j, lon in enumerate(target_lon):
            flat = np.argmin((source_lat2 - lat) ** 2 + (source_lon2 - lon) ** 2)
            row, col = np.unravel_index(flat, source_lat2.shape)
            out[:, i, j] = values[:, row, col]
    return out


def regrid_table(days: int) -> None:
    import xarray as xr

    area = cubes.Box.from_config(AREA)
    source_lat = GLOBAL_LAT[(GLOBAL_LAT >= area.lat[0] - MARGIN_DEG) & (GLOBAL_LAT <= area.lat[1] + MARGIN_DEG)]
    source_lon = GLOBAL_LON[(GLOBAL_LON >= area.lon[0] - MARGIN_DEG) & (GLOBAL_LON <= area.lon[1] + MARGIN_DEG)]
    g5nr_lat = -90.0 + 0.0625 * np.arange(2881)
    g5nr_lon = -180.0 + 0.0625 * np.arange(5760)
    target_lat = g5nr_lat[(g5nr_lat >= area.lat[0]) & (g5nr_lat <= area.lat[1])]
    target_lon = g5nr_lon[(g5nr_lon >= area.lon[0]) & (g5nr_lon <= area.lon[1])]
    values = np.random.default_rng(1).normal(size=(days, source_lat.size, source_lon.size)).astype(np.float32)
    coords = {"time": np.arange(days), "lat": source_lat, "lon": source_lon}
    field = xr.DataArray(values, dims=("time", "lat", "lon"), coords=coords)

    started = time.perf_counter()
    vectorised = regrid.regrid(field, target_lat, target_lon, "nearest").values
    vectorised_s = time.perf_counter() - started
    started = time.perf_counter()
    bilinear = regrid.regrid(field, target_lat, target_lon, "bilinear").values
    bilinear_s = time.perf_counter() - started
    started = time.perf_counter()
    looped = argmin_loop_nearest(values, source_lat, source_lon, target_lat, target_lon)
    loop_s = time.perf_counter() - started
    same = np.array_equal(vectorised, looped)
    print(
        f"\n2) MERRA-2 ({source_lat.size} x {source_lon.size}) -> G5NR grid "
        f"({target_lat.size} x {target_lon.size}), {days} days"
    )
    print(f"{'method':<34} {'seconds':>9}")
    print(f"{'per-pixel argmin loop (nearest)':<34} {loop_s:>9.3f}")
    print(f"{'vectorised index lookup (nearest)':<34} {vectorised_s:>9.4f}")
    print(f"{'vectorised bilinear':<34} {bilinear_s:>9.4f}")
    print(
        f"speed-up of the vectorised nearest: {loop_s / vectorised_s:.0f}x; identical result: {same}; "
        f"bilinear finite: {bool(np.isfinite(bilinear).all())}"
    )


G5NR_LAT = -90.0 + 0.0625 * np.arange(2881)
G5NR_LON = -180.0 + 0.0625 * np.arange(5760)
ARABIA = {"lat": [10.650, 37.643], "lon": [34.275, 56.601]}  # config/paper.yaml
PAPER_G5NR_DAYS = 763
PAPER_MERRA2_YEARS = 25


def write_global_g5nr_granules(directory: Path, count: int) -> list[str]:
    """``count`` global 30-minute G5NR granules from 2006-07-01 00:00, one step each."""
    directory.mkdir(parents=True, exist_ok=True)
    lat, lon = np.radians(G5NR_LAT)[:, None], np.radians(G5NR_LON)[None, :]
    smooth = (0.2 + 0.1 * np.sin(3 * lat) ** 2 * (1.2 + np.cos(5 * lon + 2 * lat))).astype(np.float32)
    paths = []
    for i in range(count):
        time = np.datetime64("2006-07-01T00:00") + np.timedelta64(30 * i, "m")
        path = directory / f"c1440_NR.inst30mn_2d_aer1_Nx.{str(time).replace('-', '').replace(':', '')[:13]}z.nc4"
        if not path.exists():
            write_mapl_file(
                path,
                "DUEXTTAU",
                (smooth * (1.0 + 0.01 * i))[None],
                np.array([time], dtype="datetime64[m]"),
                G5NR_LAT,
                G5NR_LON,
                time_increment=np.timedelta64(30, "m"),
                chunk_shape=(1, 721, 1440),
            )
        paths.append(str(path))
    return paths


def g5nr_table(directory: Path, count: int) -> None:
    started = time.perf_counter()
    paths = write_global_g5nr_granules(directory, count)
    print(
        f"\nwrote {count} global G5NR granules ({sum(Path(p).stat().st_size for p in paths) / count / 2**20:.1f} MB "
        f"each compressed) in {time.perf_counter() - started:.0f} s"
    )
    area = cubes.Box.from_config(ARABIA)
    started = time.perf_counter()
    record = cubes.scan_record(paths, "DUEXTTAU", area)
    scan_s = time.perf_counter() - started
    started = time.perf_counter()
    cubes.daily_means(record)
    read_s = time.perf_counter() - started
    per_file = (scan_s + read_s) / count
    granules = PAPER_G5NR_DAYS * 48
    years = -(-PAPER_G5NR_DAYS // 365)
    print(
        f"\n3) one day of global 30-min G5NR granules, crop {record.window.lat.size} x {record.window.lon.size} "
        f"(the paper's Arabian area)"
    )
    print(f"{'what':<48} {'seconds':>9}")
    print(f"{'scan (open, coordinates, times), per granule':<48} {scan_s / count:>9.3f}")
    print(f"{'read the crop and average, per granule':<48} {read_s / count:>9.3f}")
    print(f"{'per granule':<48} {per_file:>9.3f}")
    print(
        f"paper G5NR record ({PAPER_G5NR_DAYS} days = {granules} granules): {granules * per_file / 3600:.1f} h "
        f"in one job; in {years} calendar-year jobs side by side about "
        f"{granules / years * per_file / 3600:.1f} h each "
        "(a job opens only the granules whose names date them within its year)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, nargs="+", default=[1, 4], help="record lengths to compare (default 1 4)")
    parser.add_argument("--days-for-regrid", type=int, default=30)
    parser.add_argument("--g5nr-granules", type=int, default=48, help="global G5NR granules (48 = one day)")
    parser.add_argument(
        "--keep", type=Path, help="directory for the generated input (kept, reused); default: a temporary one"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        memory_table(workdir / "merra2_daily", sorted(args.years))
        regrid_table(args.days_for_regrid)
        g5nr_table(workdir / "g5nr_global", args.g5nr_granules)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

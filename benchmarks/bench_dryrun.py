"""`snakemake -n` on the paper's configuration: how long planning the whole DAG takes (a script
that prints a table, not a test). Goal: <= 5 s.

config/paper.yaml (all models, seasons, areas, modes; 25 years of MERRA-2) is copied with its
input globs pointed at a temporary folder of empty placeholder files named exactly like the real
inputs, in the layout the globs expect:

- MERRA-2 hourly granules ``MERRA2_<stream>.tavg1_2d_aer_Nx.YYYYMMDD.nc4`` in one folder per year,
  one per day of the config's MERRA-2 period (stream 100: 1980-1991, 200: 1992-2000,
  300: 2001-2010, 400: 2011 on);
- G5NR 30-min granules ``c1440_NR.inst30mn_2d_aer1_Nx.YYYYMMDD_HHMMz.nc4``, 48 a day over the
  config's G5NR period;
- an elevation file.

Then ``python -m snakemake -s workflow/Snakefile --configfile <copy> -n --quiet --directory <tmp>``
is timed ``--repeats`` times (the first run also creates the working directory's .snakemake);
the job count comes from one extra dry run that prints its job table. Side by side, the same
dry run with one placeholder file per input glob shows what the thousands of raw granules add to
planning (they are globbed and stat-ed into one manifest per source, results/inputs/{source}.tsv,
which is the ingest jobs' input; before that, every granule was an input of every ingest job and
planning took 9.2 s). ``--profile-top N`` runs it
once more under cProfile and prints the N most expensive functions (cumulative and own time).

Usage: python benchmarks/bench_dryrun.py [--repeats 3] [--profile-top 25] [--keep DIR]
"""

from __future__ import annotations

import argparse
import glob
import os
import pstats
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from common import REPO, load_config, print_load_at_end, print_machine, print_table, snakemake_command

GOAL_SECONDS = 5.0
PLACEHOLDER_ROOT = "/path/to"  # what config/paper.yaml's input globs start with


def merra2_stream(year: int) -> int:
    """MERRA-2 file stream number of a year (GES DISC naming)."""
    if year <= 1991:
        return 100
    if year <= 2000:
        return 200
    if year <= 2010:
        return 300
    return 400


def concrete(pattern: str, fill: str, name: str) -> Path:
    """The path ``pattern`` (a glob) would match for one file: its folder wildcards replaced by
    ``fill``, its file name replaced by ``name``."""
    folder = Path(pattern).parent
    return Path(str(folder).replace("*", fill)) / name


def write_placeholders(config: dict, root: Path, first_only: bool = False) -> dict[str, int]:
    """Empty input files under ``root`` for the config's periods; returns counts per source.

    The config's ``inputs`` globs are rewritten in place to point under ``root``. first_only:
    one file per source (the first granule), to see what planning costs without the granules.
    """
    inputs = config["inputs"]
    for source in ("merra2", "g5nr", "elevation"):
        if not inputs[source].startswith(PLACEHOLDER_ROOT):
            raise ValueError(f"inputs.{source} = {inputs[source]!r} does not start with {PLACEHOLDER_ROOT}")
        inputs[source] = str(root) + inputs[source][len(PLACEHOLDER_ROOT) :]
    merra2_days = pd.date_range(*config["periods"]["merra2"], freq="D")
    g5nr_steps = pd.date_range(
        config["periods"]["g5nr"][0],
        pd.Timestamp(config["periods"]["g5nr"][1]) + pd.Timedelta("23h30min"),
        freq="30min",
    )
    if first_only:
        merra2_days, g5nr_steps = merra2_days[:1], g5nr_steps[:1]
    paths = [
        concrete(inputs["merra2"], f"{day:%Y}", f"MERRA2_{merra2_stream(day.year)}.tavg1_2d_aer_Nx.{day:%Y%m%d}.nc4")
        for day in merra2_days
    ]
    paths += [
        concrete(inputs["g5nr"], "", f"c1440_NR.inst30mn_2d_aer1_Nx.{step:%Y%m%d_%H%Mz}.nc4") for step in g5nr_steps
    ]
    paths.append(Path(inputs["elevation"]))
    for folder in sorted({path.parent for path in paths}):
        folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        path.touch()
    counts = {source: len(glob.glob(inputs[source])) for source in ("merra2", "g5nr", "elevation")}
    expected = {"merra2": len(merra2_days), "g5nr": len(g5nr_steps), "elevation": 1}
    if counts != expected:
        raise RuntimeError(f"placeholders do not match the globs: {counts} matched, {expected} written")
    return counts


def glob_and_stat_seconds(config: dict) -> float:
    """Wall seconds to glob every input and stat each file: what writing the input manifests
    (downscaling/ingest/manifest.py) must cost at least."""
    start = time.perf_counter()
    for source in ("merra2", "g5nr", "elevation"):
        for path in sorted(glob.glob(config["inputs"][source])):
            os.stat(path)
    return time.perf_counter() - start


def dry_run_command(configfile: Path, workdir: Path, *extra: str) -> list[str]:
    return snakemake_command(configfile, workdir, "-n", *extra)


def timed_run(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout + done.stderr


def job_table(output: str) -> list[tuple[str, int]]:
    """(rule, count) rows of Snakemake's first 'Job stats' table, the total last."""
    rows = []
    for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", output, flags=re.MULTILINE):
        rows.append((rule, int(count)))
        if rule == "total":
            break
    return rows


def profile(command: list[str], top: int, output: Path) -> None:
    """Run the dry run under cProfile and print the ``top`` functions by cumulative and own time."""
    profiled = [command[0], "-m", "cProfile", "-o", str(output)] + command[1:]
    seconds, _ = timed_run(profiled)
    print(f"\ncProfile of one dry run ({seconds:.2f} s under the profiler)")
    stats = pstats.Stats(str(output))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "paper.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile-top", type=int, default=0, help="also profile one run, print the top N functions")
    parser.add_argument("--keep", type=Path, help="folder for placeholders and working dir (kept); default: temporary")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_dryrun_"))
    try:
        # Two copies of the paper config: the real number of granules, and one file per source.
        setups = {}
        for name, first_only in (("full", False), ("one_file", True)):
            config = load_config(args.config)
            started = time.perf_counter()
            counts = write_placeholders(config, root / name / "inputs", first_only)
            configfile, workdir = root / name / "paper.yaml", root / name / "work"
            workdir.mkdir(exist_ok=True)
            configfile.write_text(yaml.safe_dump(config, sort_keys=False))
            setups[name] = (counts, time.perf_counter() - started, configfile, workdir)
            if name == "full":
                stat_seconds = glob_and_stat_seconds(config)

        runs = {}
        for name, (_, _, configfile, workdir) in setups.items():
            runs[name] = [timed_run(dry_run_command(configfile, workdir, "--quiet"))[0] for _ in range(args.repeats)]
        counts, placeholders_s, configfile, workdir = setups["full"]
        jobs = job_table(timed_run(dry_run_command(configfile, workdir))[1])
        jobs_one_file = job_table(timed_run(dry_run_command(*setups["one_file"][2:]))[1])

        print_machine()
        print(
            f"\nplaceholders: {counts['merra2']} MERRA-2 granules, {counts['g5nr']} G5NR granules, "
            f"{counts['elevation']} elevation file, written in {placeholders_s:.1f} s"
        )
        print_table("jobs planned by the dry run", ("rule", "jobs"), jobs)
        full, one_file = statistics.median(runs["full"]), statistics.median(runs["one_file"])
        rows = [
            (
                "paper config, all granules",
                sum(counts.values()),
                jobs[-1][1] if jobs else "?",
                ", ".join(f"{seconds:.2f}" for seconds in runs["full"]),
                f"{full:.2f}",
            ),
            (
                "same, one file per input glob",
                3,
                jobs_one_file[-1][1] if jobs_one_file else "?",
                ", ".join(f"{seconds:.2f}" for seconds in runs["one_file"]),
                f"{one_file:.2f}",
            ),
        ]
        print_table(
            "`python -m snakemake -s workflow/Snakefile --configfile <copy of paper.yaml> -n --quiet` "
            "(first run also creates .snakemake)",
            ("inputs", "raw files", "jobs", "runs (s)", "median s"),
            rows,
        )
        print(
            f"{rows[0][2]} jobs planned in {full:.2f} s (median of {args.repeats}; "
            f"{'meets' if full <= GOAL_SECONDS else 'misses'} the <= {GOAL_SECONDS:.0f} s goal); "
            f"the raw granules cost {full - one_file:.2f} s "
            f"({full / one_file:.1f}x the one-file plan); globbing and stat-ing all of them takes "
            f"{stat_seconds:.2f} s"
        )
        print_load_at_end()
        if args.profile_top:
            profile(dry_run_command(configfile, workdir, "--quiet"), args.profile_top, root / "dryrun.prof")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

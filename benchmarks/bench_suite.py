"""Wall time of the embedded demo end to end and of the test suite (a script that prints a table,
not a test). Goals on 2 cores: demo <= 15 min, test suite <= 20 min.

--demo:  ``python -m snakemake -s workflow/Snakefile --configfile <copy> --directory <fresh temp
         dir> --cores N`` with a copy of the config (default config/config.yaml) as the only thing
         in the temporary folder; the Snakefile, rules and scripts come from the repository.
         ``--target`` builds only the given targets instead of the default ``all``.
--tests: ``python -m pytest tests -q`` in the repository (``--pytest-args`` adds arguments).

Run this on an otherwise idle machine: the timings are only meaningful then.

Usage:
    python benchmarks/bench_suite.py --demo --tests
    python benchmarks/bench_suite.py --demo --config-file tests/configs/tiny.yaml --cores 1
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, print_load_at_end, print_machine, print_table, snakemake_command

DEMO_GOAL_S, TESTS_GOAL_S = 15 * 60, 20 * 60


def run(command: list[str], cwd: Path, log: Path) -> tuple[float, int, str]:
    """Run ``command`` with output to ``log``; (wall seconds, exit status, last lines of output)."""
    start = time.perf_counter()
    with open(log, "w") as stream:
        status = subprocess.run(command, cwd=cwd, stdout=stream, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    lines = log.read_text().splitlines()
    return seconds, status, "\n".join(lines[-15:])


def demo(config_file: Path, cores: int, targets: list[str], workdir: Path) -> tuple[str, float, int, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    shutil.copy(config_file, configfile)
    command = snakemake_command(configfile, workdir, "--cores", str(cores), *targets)
    seconds, status, tail = run(command, workdir, workdir / "snakemake.out")
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", tail)
    shown = config_file.relative_to(REPO) if config_file.is_relative_to(REPO) else config_file
    display = " ".join(["snakemake", "--configfile", str(shown), "--cores", str(cores), *targets])
    return display, seconds, status, (f"{steps[-1][0]} jobs" if steps else "done") if status == 0 else tail


def tests(pytest_args: list[str], workdir: Path) -> tuple[str, float, int, str]:
    command = [sys.executable, "-m", "pytest", "tests", "-q", *pytest_args]
    seconds, status, tail = run(command, REPO, workdir / "pytest.out")
    summary = re.findall(r"^=*\s*(\d+ (?:passed|failed|error).*?) in [\d.]+s", tail, flags=re.MULTILINE)
    return " ".join(["python -m pytest tests -q", *pytest_args]), seconds, status, summary[-1] if summary else tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="time the demo end to end")
    parser.add_argument("--tests", action="store_true", help="time the test suite")
    parser.add_argument(
        "--config-file",
        type=Path,
        default=REPO / "config" / "config.yaml",
        help="config of the demo run (default config/config.yaml)",
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--target", nargs="*", default=[], help="targets of the demo run (default: all)")
    parser.add_argument(
        "--pytest-args",
        nargs=argparse.REMAINDER,
        default=[],
        help="extra pytest arguments (everything after this flag)",
    )
    parser.add_argument("--keep", type=Path, help="working folder (kept); default: a temporary one, removed")
    args = parser.parse_args()
    if not (args.demo or args.tests):
        parser.error("nothing to do: give --demo and/or --tests")

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_suite_"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows, failures = [], []
    try:
        print_machine()
        for wanted, job, goal in ((args.demo, "demo", DEMO_GOAL_S), (args.tests, "tests", TESTS_GOAL_S)):
            if not wanted:
                continue
            if job == "demo":
                command, seconds, status, note = demo(
                    args.config_file.resolve(), args.cores, args.target, workdir / "demo"
                )
            else:
                command, seconds, status, note = tests(args.pytest_args, workdir)
            verdict = "failed" if status else ("meets" if seconds <= goal else "misses") + f" <= {goal // 60} min"
            rows.append(
                (
                    job,
                    command,
                    f"{seconds:.0f}",
                    f"{seconds / 60:.1f}",
                    verdict,
                    note if status == 0 else f"exit {status}",
                )
            )
            if status:
                failures.append(f"{job} failed (exit {status}); last lines:\n{note}")
        print_load_at_end()
        print_table("wall time", ("what", "command", "seconds", "minutes", "goal", "result"), rows)
        for failure in failures:
            print(f"\n{failure}")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

"""The field's own checkers on the pipeline's netCDF files: cfchecks (CF), compliance-checker
(ACDD) and CDO. Each runs without a network: cfchecks gets the CF standard name table that
compliance-checker ships and the empty area-type and region tables of tests/cf/.

Where a checker is missing the tests that use it skip, unless the environment variable CI is set:
CI installs them (.ci/run: Debian's cdo and libudunits2; requirements.txt: cfchecker and
compliance-checker), so there a missing checker fails.
"""

import ctypes.util
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TABLES = Path(__file__).resolve().parent / "cf"
BIN = Path(sys.executable).parent


def _missing(what: str):
    message = f"{what} is not installed (see tests/cf_tools.py)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


def _tool(name: str) -> str:
    """The path of a checker's command, or skip (fail on CI) naming what is missing."""
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return path or _missing(name)


def cf_problems(path) -> str:
    """cfchecks' errors and warnings on `path` ('' when it has none)."""
    spec = importlib.util.find_spec("compliance_checker") or _missing("compliance-checker")
    if ctypes.util.find_library("udunits2") is None:
        _missing("the udunits2 library of cfchecks")
    standard_names = Path(spec.origin).parent / "data" / "cf-standard-name-table.xml"
    done = subprocess.run(
        [
            _tool("cfchecks"),
            "-s",
            str(standard_names),
            "-a",
            str(TABLES / "area-type-table.xml"),
            "-r",
            str(TABLES / "standardized-region-list.xml"),
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    if "ERRORS detected: 0" in done.stdout and "WARNINGS given: 0" in done.stdout:
        return ""
    return "\n".join(
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.startswith(("ERROR", "WARN", "FATAL", "Traceback", "OSError"))
    )


def acdd_highly_recommended(path) -> dict[str, list[str]]:
    """compliance-checker's ACDD 1.3 'highly recommended' items missing from `path`, by the
    place they are missing from ('Global Attributes', 'variable "x" ...')."""
    done = subprocess.run(
        [_tool("compliance-checker"), "--test", "acdd:1.3", "--format", "json", "--output", "-", str(path)],
        capture_output=True,
        text=True,
    )
    report = json.loads(done.stdout)["acdd:1.3"]
    return {item["name"]: item["msgs"] for item in report["high_priorities"] if item["msgs"]}


def cdo_variables(path) -> int:
    """How many variables CDO reads from `path` (`cdo showname`)."""
    done = subprocess.run([_tool("cdo"), "-s", "showname", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return len(done.stdout.split())

"""The conda environment of the rules and requirements.txt name the same runtime packages."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
#: requirements.txt's tools that no rule imports: the workflow engine and the test suite's checkers.
NOT_IN_THE_RULES = {
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "pytest",
    "snakefmt",
    "ruff",
    "cfchecker",
    "compliance-checker",
}
#: conda-forge's names of packages that PyPI names otherwise.
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base", "netcdf4": "netcdf4"}


def package_name(requirement: str) -> str:
    return re.split(r"[<>=! ;#\[]", requirement.strip(), maxsplit=1)[0].lower()


def test_the_rules_conda_env_has_every_runtime_requirement_and_nothing_else():
    lines = (REPO / "requirements.txt").read_text().splitlines()
    required = {package_name(line) for line in lines if line.strip() and not line.startswith("#")}
    env = yaml.safe_load((REPO / "workflow" / "envs" / "downscaling.yaml").read_text())
    conda = {package_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = {package_name(d) for d in env["dependencies"] if isinstance(d, dict) for d in d["pip"]}
    expected = {CONDA_NAMES.get(name, name) for name in required - NOT_IN_THE_RULES}
    assert conda | pip == expected

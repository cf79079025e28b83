"""The code's own checks, run by `make test` (so by CI): ruff's lint and formatting of the
Python code (rules in pyproject.toml), snakefmt's formatting of the Snakefiles and Snakemake's
linter."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*command):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def tool(name: str) -> str:
    """The path of a checker installed beside this Python (the venv) or on PATH; skip without it."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -r requirements.txt)")
    return found


def test_the_python_code_passes_ruff_check():
    result = run(tool("ruff"), "check", ".")
    assert result.returncode == 0, f"fix these (`ruff check --fix .` fixes some):\n{result.stdout}{result.stderr}"


def test_the_python_code_is_formatted_by_ruff():
    result = run(tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, f"run `ruff format .`:\n{result.stdout}{result.stderr}"


def test_the_snakefiles_are_formatted_by_snakefmt():
    result = run(tool("snakefmt"), "--check", "workflow")
    assert result.returncode == 0, f"run `snakefmt workflow`:\n{result.stdout}{result.stderr}"


def test_snakemake_lint_finds_nothing():
    result = run(sys.executable, "-m", "snakemake", "--lint")
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr

"""The workflow's own checks, run by `make test` (so by CI): snakefmt's formatting of the
Snakefiles and Snakemake's linter."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*command):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_snakefiles_are_formatted_by_snakefmt():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent)) or shutil.which("snakefmt")
    if snakefmt is None:
        pytest.skip("snakefmt is not installed (pip install -r requirements.txt)")
    result = run(snakefmt, "--check", "workflow")
    assert result.returncode == 0, f"run `snakefmt workflow`:\n{result.stdout}{result.stderr}"


def test_snakemake_lint_finds_nothing():
    result = run(sys.executable, "-m", "snakemake", "--lint")
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr

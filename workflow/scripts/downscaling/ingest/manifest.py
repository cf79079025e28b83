"""The raw files of one input glob recorded in a single manifest file.

25 years of hourly MERRA-2 plus two years of 30-min G5NR granules are ~45,000 files. Listed one
by one as inputs of every ingest job, Snakemake stats and tracks each of them per job and
planning the paper's DAG takes ~9 s. Instead each source's glob is written to one tab-separated
manifest (path, size in bytes, modification time in ns), which is the ingest rules' only raw
input. The manifest is rewritten only when its content would change, so its modification time
moves exactly when a file of that source appears, disappears or changes, and Snakemake reruns
that source's dependents and nothing else. A record is ingested in parts, a calendar year each
(:func:`period_parts`), so that a cluster ingests its years side by side.
"""

from __future__ import annotations

import glob
import os
from datetime import date
from pathlib import Path

from downscaling.jobs import atomic_output

HEADER = "path\tsize\tmtime_ns\n"


class ManifestError(Exception):
    """The glob matches nothing, or a manifest is not one this module wrote."""


def describe(pattern: str) -> str:
    """Manifest text of the files ``pattern`` matches (sorted by path). ManifestError if none."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise ManifestError(f"no file matches {pattern!r}")
    lines = []
    for path in paths:
        stat = os.stat(path)
        lines.append(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n")
    return HEADER + "".join(lines)


def write_manifest(pattern: str, manifest: str | os.PathLike) -> Path:
    """Write the manifest of ``pattern`` to ``manifest`` unless it already says the same;
    returns its path. Atomic (temporary file + rename), so concurrent writers never tear it."""
    manifest = Path(manifest)
    text = describe(pattern)
    if manifest.exists() and manifest.read_text() == text:
        return manifest
    with atomic_output(manifest) as temporary:
        temporary.write_text(text)
    return manifest


def read_manifest(manifest: str | os.PathLike) -> list[str]:
    """The file paths a manifest lists, in its (sorted) order."""
    lines = Path(manifest).read_text().splitlines()
    if not lines or lines[0] + "\n" != HEADER:
        raise ManifestError(f"{manifest}: not an input manifest (expected the header {HEADER.strip()!r})")
    return [line.split("\t", 1)[0] for line in lines[1:]]


def period_parts(period) -> dict[str, tuple[str, str] | None]:
    """The calendar-year parts a record ``period`` = (first, last) ISO dates is ingested in, one
    job each: {"2004": ("2004-01-01", "2004-12-31"), ...}, clipped to the period; {"all": None}
    (one part, the whole record) when no period is known."""
    if period is None:
        return {"all": None}
    first, last = (date.fromisoformat(str(day)) for day in period)
    return {
        str(year): (max(first, date(year, 1, 1)).isoformat(), min(last, date(year, 12, 31)).isoformat())
        for year in range(first.year, last.year + 1)
    }

"""What every rule script needs, without importing torch: its log file and content hashes.

Kept apart from :mod:`downscaling.runtime` because importing torch costs ~1.5 s per job, and
most jobs (ingest, splits, evaluation, figures) never use it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def log_to_file(path: str | os.PathLike, name: str = "downscaling") -> logging.Logger:
    """Send stderr and Python logging to the Snakemake log file ``path`` (overwritten).

    The file is line-buffered so progress can be followed while the job runs; warnings and an
    uncaught exception's traceback land there too. Returns the logger ``name`` at INFO level.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,  # replace handlers a library may have installed
    )
    return logging.getLogger(name)


class OutputError(OSError):
    """An output could not be written: the message names the file and the operating system's reason."""

    def __str__(self) -> str:
        return self.strerror


def _full(directory: Path) -> bool:
    """Whether the file system of ``directory`` has (next to) no space left for us."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 1 << 20


def output_error(path: Path, error: BaseException, temporary: Path | None = None) -> OutputError | None:
    """The error of writing ``path`` (through ``temporary``) as an :class:`OutputError` naming
    it, or None when ``error`` is no failure to write it (a bug, bad data, or an OS error about
    another file, which keep their own message). Libraries report a full disk in their own words
    (netCDF-4: "NetCDF: HDF error"), so a failure on a full file system is called what it is."""
    other_file = isinstance(error, OSError) and error.filename not in (
        None,
        str(path),
        str(temporary),
        str(path.parent),
    )
    if other_file:
        return None
    if isinstance(error, OSError) and error.errno is not None:
        reason = os.strerror(error.errno).lower()
        if error.errno == errno.ENOSPC:
            reason = "no space left on device"
    elif isinstance(error, (OSError, RuntimeError)) and _full(path.parent):
        reason = f"no space left on device ({error})"
    else:
        return None
    return OutputError(
        error.errno if isinstance(error, OSError) else errno.ENOSPC, f"{path}: cannot be written: {reason}"
    )


@contextmanager
def atomic_output(path: str | os.PathLike, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; when the block ends normally it is
    renamed over ``path`` (atomic on one file system), on any error it is removed. So a kill or a
    failure leaves the old file or none, never a torn one. The name is unique per writer (other
    processes, other hosts on a shared file system). ``fsync``: flush it to disk first.
    A failure to write (a full disk, no permission) is an :class:`OutputError` naming ``path``."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        if fsync:
            with open(temporary, "rb+") as stream:
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:
        described = None if isinstance(error, OutputError) else output_error(path, error, temporary)
        if described is None:
            raise
        raise described from error
    finally:
        temporary.unlink(missing_ok=True)


def config_hash(obj: Any) -> str:
    """First 16 hex digits of the SHA-256 of ``obj`` as canonical JSON (sorted keys, compact).

    Values JSON cannot encode (paths, dates) are hashed through ``str``.
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_hash(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of the file at ``path``, read in chunks (any file size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


_FAILED_JOB = re.compile(r"^Error in rule (\S+):\n(?:    .*\n)*?    log: (.+?) \(check log file", re.MULTILINE)


def last_error(log_text: str) -> str:
    """The cause a failed job's log ends with: the exception line of its last traceback (with
    any continuation lines of a multi-line message), else its last non-empty line."""
    lines = log_text.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if starts:
        after = lines[starts[-1] + 1 :]
        exception = next((i for i, line in enumerate(after) if line and not line[0].isspace()), None)
        if exception is not None:
            return "\n".join(after[exception:]).strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "(the log is empty)")


def failed_job_causes(snakemake_log: str | os.PathLike) -> list[str]:
    """One entry per failed job in Snakemake's own log: the rule, its log's path and the cause
    its log ends with. For an `onerror:` handler, since Snakemake itself only says "check log
    file(s)" and the one clear line sits at the end of a traceback in a file."""
    causes = []
    for rule, logs in _FAILED_JOB.findall(Path(snakemake_log).read_text(errors="replace")):
        for log in logs.split(", "):
            log_path = Path(log)
            cause = last_error(log_path.read_text(errors="replace")) if log_path.is_file() else "(no log written)"
            causes.append(f"rule {rule} failed ({log}):\n    " + cause.replace("\n", "\n    "))
    return causes

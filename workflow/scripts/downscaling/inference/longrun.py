"""The long run beyond the G5NR record: one chain per ensemble member, in chunks of
``longrun.chunk_days`` days, each a Snakemake job of its own.

A member's chunk starts from the state its previous chunk left (the member's last n_lag days,
log10, exactly as the model produced them) and leaves its own, so a run killed by a SLURM time
limit or a pre-emption loses at most the chunk it was in, and continues bit for bit. The first
chunk starts from the last n_lag G5NR days and also runs the days between the record's end and
the run's start (written nowhere). A last job joins the members and chunks into one file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from downscaling.jobs import atomic_output


def chunks(start, end, days: int) -> list[str]:
    """The first day ('YYYY-MM-DD') of each chunk of ``days`` days of the run ``start``..``end``."""
    return [f"{first:%Y-%m-%d}" for first in pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=f"{days}D")]


def previous_chunk(start, first, days: int) -> str | None:
    """The first day of the chunk before the one that starts on ``first`` (None for the run's
    first chunk); ValueError when ``first`` is not a chunk's first day. O(1): Snakemake asks it
    of every chunk job while planning (config/paper.yaml: 3,424 of them)."""
    offset = (pd.Timestamp(first) - pd.Timestamp(start)).days
    if offset < 0 or offset % days:
        raise ValueError(f"{first} is not the first day of a {days}-day chunk of the run from {start}")
    return f"{pd.Timestamp(first) - pd.Timedelta(days=days):%Y-%m-%d}" if offset else None


def chunk_dates(first, end, days: int) -> pd.DatetimeIndex:
    """The days of the chunk that starts on ``first``: ``days`` of them, or fewer at ``end``."""
    first = pd.Timestamp(first)
    return pd.date_range(first, min(first + pd.Timedelta(days=days - 1), pd.Timestamp(end)))


def save_state(path, history: np.ndarray, last_date) -> None:
    """Write what the next chunk starts from, atomically: ``history`` (M, n_lag, H, W) float32
    after ``last_date``."""
    with atomic_output(path) as tmp, open(tmp, "wb") as stream:
        np.savez(stream, history=np.asarray(history, dtype=np.float32), last_date=f"{pd.Timestamp(last_date):%Y-%m-%d}")


def load_state(path, next_date) -> np.ndarray:
    """The history a chunk starting on ``next_date`` continues from; ValueError naming ``path``
    when the state was left on another day (the chunks of two different runs)."""
    with np.load(path) as state:
        last_date = str(state["last_date"])
        if pd.Timestamp(last_date) + pd.Timedelta(days=1) != pd.Timestamp(next_date):
            raise ValueError(
                f"{path}: the state is of {last_date}, but this chunk starts on {pd.Timestamp(next_date):%Y-%m-%d}"
            )
        return state["history"]

"""Season x time-axis splits: which days train, which days test.

Natural seasons (DJF, MAM, JJA, SON). Test days are drawn from a season's *core* days (the days
of its months) that have ``n_lag`` days of history in the record, so every test day can be
predicted from its own past. The ``buffer_days`` days before each core day may enter training
only. Test days of the G5NR axis (and their MERRA-2 twins) never enter any training set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEASON_MONTHS = {"DJF": (12, 1, 2), "MAM": (3, 4, 5), "JJA": (6, 7, 8), "SON": (9, 10, 11)}
SEASONS = tuple(SEASON_MONTHS)


def season_of(dates) -> np.ndarray:
    """Season name of each date (array of 'DJF', 'MAM', 'JJA', 'SON')."""
    months = pd.DatetimeIndex(dates).month
    lookup = {m: s for s, months_ in SEASON_MONTHS.items() for m in months_}
    return np.array([lookup[m] for m in months])


def _day_numbers(dates) -> np.ndarray:
    return pd.DatetimeIndex(dates).values.astype("datetime64[D]").astype(np.int64)


def has_history(dates, n_lag: int) -> np.ndarray:
    """True for each date whose ``n_lag`` previous calendar days are all in ``dates``."""
    days = _day_numbers(dates)
    if len(days) == 0:
        return np.zeros(0, dtype=bool)
    present = np.zeros(days.max() - days.min() + 1, dtype=np.int64)
    present[days - days.min()] = 1
    # present_before[i] = how many of the days before offset i are in the record
    present_before = np.concatenate([[0], np.cumsum(present)])
    offsets = days - days.min()
    start = offsets - n_lag
    return (start >= 0) & (present_before[offsets] - present_before[np.maximum(start, 0)] == n_lag)


def draw_test_days(
    dates, season: str, n_lag: int, test_ratio: float, seed: int, required=(), block_days: int = 1
) -> pd.DatetimeIndex:
    """Test days of one season: ``round(test_ratio * n_core)`` days, seeded.

    ``required`` days (e.g. the G5NR test days on the MERRA-2 axis) are taken first; the rest
    is drawn without replacement from the core days that have ``n_lag`` days of history: one
    by one (``block_days`` = 1, the authors' design) or in blocks of ``block_days``
    consecutive days (the last block shorter if need be) that do not touch each other or the
    required days. Raises ValueError when too few core days have enough history.
    """
    dates = pd.DatetimeIndex(dates)
    core = dates[season_of(dates) == season]
    n_test = int(round(test_ratio * len(core)))
    required = pd.DatetimeIndex(required).intersection(core)
    eligible = core[has_history(dates, n_lag)[season_of(dates) == season]]
    n_draw = n_test - len(required)
    rng = np.random.default_rng([seed, SEASONS.index(season)])
    if block_days == 1:  # the authors' design, drawn as it always was
        candidates = eligible.difference(required)
        if n_draw > len(candidates):
            raise ValueError(
                f"{season}: {n_test} test days wanted but only {len(eligible)} of {len(core)} core "
                f"days have {n_lag} days of history; lengthen the record or lower test_ratio"
            )
        drawn = rng.choice(len(candidates), size=max(n_draw, 0), replace=False)
        return required.union(candidates[np.sort(drawn)])
    chosen = required
    while n_draw > 0:
        length = min(block_days, n_draw)
        candidates = _block_starts(eligible, chosen, length)
        if len(candidates) == 0:
            raise ValueError(
                f"{season}: {n_test} test days wanted in blocks of {block_days}, but no block of "
                f"{length} consecutive core days with {n_lag} days of history is left; "
                "lengthen the record or lower test_ratio or block_days"
            )
        start = candidates[rng.integers(len(candidates))]
        chosen = chosen.union(pd.date_range(start, periods=length))
        n_draw -= length
    return chosen


def _block_starts(eligible: pd.DatetimeIndex, taken: pd.DatetimeIndex, length: int) -> pd.DatetimeIndex:
    """The days that start ``length`` consecutive eligible days, none of them within one day
    of a ``taken`` day (so that blocks stay apart)."""
    days = _day_numbers(eligible)
    blocked = set((_day_numbers(taken)[:, None] + np.array([-1, 0, 1])).ravel())
    usable = np.array([day not in blocked for day in days], dtype=bool)
    present = set(days[usable])
    starts = [day for day in days[usable] if all(day + k in present for k in range(length))]
    return pd.DatetimeIndex(np.array(starts, dtype="datetime64[D]"))


def around(days, gap: int) -> pd.DatetimeIndex:
    """``days`` and the ``gap`` calendar days before and after each."""
    numbers = _day_numbers(days)[:, None] + np.arange(-gap, gap + 1)[None, :]
    return pd.DatetimeIndex(np.unique(numbers).astype("datetime64[D]"))


def season_split(dates, season: str, test_days, buffer_days: int, never_train=()) -> pd.DataFrame:
    """Rows (date, split) for one season: core days train or test, buffer days train only.

    ``never_train`` days (test days of any season or source) are left out of training, also
    when they fall into this season's buffer.
    """
    dates = pd.DatetimeIndex(dates)
    core = dates[season_of(dates) == season]
    test_days = pd.DatetimeIndex(test_days)
    forbidden = pd.DatetimeIndex(never_train).union(test_days)
    # each core day d lends d - buffer_days .. d - 1 to training
    before = _day_numbers(core)[:, None] - np.arange(1, buffer_days + 1)[None, :]
    buffer = pd.DatetimeIndex(np.unique(before).astype("datetime64[D]"))
    buffer = buffer.intersection(dates).difference(core)
    train = core.union(buffer).difference(forbidden)
    rows = pd.concat(
        [
            pd.DataFrame({"date": train, "split": "train"}),
            pd.DataFrame({"date": core.intersection(test_days), "split": "test"}),
        ]
    )
    return rows.sort_values("date").reset_index(drop=True)


def keep_training_fraction(table: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A season's split with ``ceil(fraction * n)`` of its n training days kept as such and the
    others marked "unused", drawn at random but nested: every day is ranked by one draw of the
    seed, so the days kept at a share are kept at every larger share, and a smaller record is a
    part of a larger one (a data-efficiency curve then compares like with like)."""
    table = table.copy()
    train = np.flatnonzero(table.split.to_numpy() == "train")
    order = np.random.default_rng([seed, len(train)]).permutation(len(train))
    dropped = train[order[int(np.ceil(fraction * len(train))) :]]
    table.loc[dropped, "split"] = "unused"
    return table


def all_test_days(dates, n_lag: int, test_ratio: float, seed: int, required=(), block_days: int = 1) -> dict:
    """Test days of every season (always all four, so buffers never swallow another season's)."""
    return {
        s: draw_test_days(dates, s, n_lag, test_ratio, seed, required=required, block_days=block_days) for s in SEASONS
    }


def _union(indexes) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.concatenate([np.asarray(i) for i in indexes])).unique().sort_values()


def make_splits(
    g5nr_dates,
    merra2_dates,
    n_lag: int,
    test_ratio: float,
    buffer_days: int,
    seed: int,
    test_design: str = "random",
    block_days: int = 1,
    gap_days: int | None = None,
    record_fraction: float = 1.0,
) -> dict:
    """Both time axes' splits: ``{"g5nr": {season: df}, "merra2": {season: df}}``.

    The MERRA-2 test days of a season include the season's G5NR test days (their twins), and
    no G5NR test day of any season trains the small U-Net.

    ``test_design`` "random": test days drawn one by one between training days (the authors');
    a training day can then be the day after a test day, an almost identical field. "blocked":
    blocks of ``block_days`` consecutive test days, and the ``gap_days`` (default ``n_lag``) days
    before and after each test day are kept out of training, so that no training target is a
    near copy of a test day, and with the default no training input holds one and no test
    day's history holds a training target. On a record of about a year that leaves few
    training days; a season left with none is a ValueError.

    ``record_fraction`` below 1 keeps that share of each season's G5NR training days
    (:func:`keep_training_fraction`); the MERRA-2 axis, which trains the small U-Net, is the same.
    """
    if test_design not in ("random", "blocked"):
        raise ValueError(f"splits.test_design: {test_design!r}; expected 'random' or 'blocked'")
    block_days = block_days if test_design == "blocked" else 1
    gap = (n_lag if gap_days is None else gap_days) if test_design == "blocked" else 0
    g5nr_test = all_test_days(g5nr_dates, n_lag, test_ratio, seed, block_days=block_days)
    g5nr_all_test = around(_union(g5nr_test.values()), gap)
    merra2_test = all_test_days(
        merra2_dates, n_lag, test_ratio, seed, required=_union(g5nr_test.values()), block_days=block_days
    )
    merra2_all_test = around(_union(merra2_test.values()), gap)
    splits = {
        "g5nr": {s: season_split(g5nr_dates, s, g5nr_test[s], buffer_days, never_train=g5nr_all_test) for s in SEASONS},
        "merra2": {
            s: season_split(
                merra2_dates,
                s,
                merra2_test[s],
                buffer_days,
                never_train=merra2_all_test.union(g5nr_all_test),
            )
            for s in SEASONS
        },
    }
    if record_fraction < 1:
        splits["g5nr"] = {s: keep_training_fraction(t, record_fraction, seed) for s, t in splits["g5nr"].items()}
    for source, per_season in splits.items():
        for season, table in per_season.items():
            if (table.split == "test").any() and not (table.split == "train").any():
                raise ValueError(
                    f"{source} {season}: the {test_design} design leaves no training day (test days in "
                    f"blocks of {block_days}, {gap} days kept out around each); lower splits.gap_days "
                    "or splits.block_days, or lengthen the record"
                )
    return splits


def predicted_history(test_dates, n_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Strict mode's share of predictions in each test day's history: (how many of its ``n_lag``
    history days are earlier test days, which strict mode replaces by the model's predictions;
    whether the day before is one). Strict mode is the authors' partial autoregression over a
    season's test days, not a free run: under the random design most history days stay true."""
    days = np.sort(_day_numbers(test_dates))
    counts = np.array([np.sum((days >= day - n_lag) & (days < day)) for day in days], dtype=int)
    yesterday = np.isin(days - 1, days)
    return counts, yesterday


def season_problems(per_season: dict, seasons, source: str, n_lag: int) -> list[str]:
    """What keeps each of ``seasons`` from training and testing on one axis of
    :func:`make_splits` (``source``: g5nr or merra2): no test day (no core day of the season
    with ``n_lag`` days of history), or no training day. One line per season; empty if none."""
    name = {"g5nr": "G5NR", "merra2": "MERRA-2"}[source]
    found = []
    for season in seasons:
        counts = per_season[season]["split"].value_counts()
        if not counts.get("test", 0):
            found.append(
                f"{season} has no {name} test day: no day of the season in the record has "
                f"{n_lag} days of history before it (splits.n_lag)"
            )
        elif not counts.get("train", 0):
            found.append(f"{season} has no {name} training day")
    return found


def read_split(path) -> pd.DataFrame:
    """A split CSV as a DataFrame with a datetime ``date`` column."""
    return pd.read_csv(path, parse_dates=["date"])


def record_dates(paths) -> pd.DatetimeIndex:
    """Dates present in every one of the given daily cubes (netCDF with a ``time`` axis)."""
    import xarray as xr

    common = None
    for path in paths:
        with xr.open_dataset(path) as ds:
            days = pd.DatetimeIndex(ds["time"].values).normalize()
        common = days if common is None else common.intersection(days)
    return common

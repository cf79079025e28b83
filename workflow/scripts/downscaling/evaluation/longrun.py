"""The long run beyond the G5NR record as tables and frames: free-running skill against known
truth, area-mean series, days for its variograms and its animation.

Like :mod:`downscaling.evaluation.scoring`, whose fields and spectra it uses, it only selects and aligns
the data; long runs are read a day or a bounded selection of days at a time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from downscaling.data.splits import read_split, season_of
from downscaling.evaluation import metrics, paired_tests, spatial
from downscaling.evaluation.scoring import Field, grid_spacing_km, merra2_field, prediction_fields
from downscaling.files.contracts import (
    CUBE_VARIABLE,
    LOG_FLOOR,
    area_mean_series,
    downscaled_dates,
    log10_aod,
    normalised_dates,
    open_downscaled,
    positions_on,
    read_downscaled,
    spaced_days,
    within,
)

# Bounds on the days read from a long run, so that memory does not grow with it:
LONGRUN_VARIOGRAM_DAYS = 365  # variograms, days spread over the run
ANIMATION_MAX_FRAMES = 120  # animation frames, days spread over the run


def longrun_days(longrun_path, max_days) -> np.ndarray:
    """At most ``max_days`` positions spread evenly over the long run (for its variograms)."""
    return spaced_days(len(downscaled_dates(longrun_path)), max_days)


def longrun_variogram_fields(
    longrun_path, merra2_path, log_floor=LOG_FLOOR, max_days=LONGRUN_VARIOGRAM_DAYS
) -> list[Field]:
    """The long run (ensemble mean and first member) and MERRA-2 on the same days (at most
    ``max_days``, spread over the run). Raises ValueError when MERRA-2 lacks a run day."""
    run = read_downscaled(longrun_path, log_floor, days=longrun_days(longrun_path, max_days), max_members=1)
    merra2 = merra2_field(merra2_path, run.dates, run.lat, run.lon)
    return [merra2] + prediction_fields("long run", run, members=1)


@dataclass(frozen=True)
class LongrunFrames:
    """Days of a long run beside MERRA-2: run (F, H, W) ensemble-mean log10 AOD on lat, lon;
    merra2 (F, h, w) native log10 AOD on merra2_lat, merra2_lon (cells overlapping the area)."""

    dates: pd.DatetimeIndex
    run: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    merra2: np.ndarray
    merra2_lat: np.ndarray
    merra2_lon: np.ndarray


def longrun_frames(longrun_path, merra2_path, max_frames=ANIMATION_MAX_FRAMES, log_floor=LOG_FLOOR) -> LongrunFrames:
    """At most ``max_frames`` days of a long run (every day if it is shorter, else evenly
    spread) with the matching native MERRA-2 days."""
    run = read_downscaled(longrun_path, log_floor, days=longrun_days(longrun_path, max_frames), max_members=0)
    with xr.open_dataset(merra2_path) as ds:
        cube = ds[CUBE_VARIABLE]
        # cells whose area overlaps the G5NR grid, so the native map covers the whole panel
        half_lat = 0.5 * float(np.diff(cube["lat"].values).mean())
        half_lon = 0.5 * float(np.diff(cube["lon"].values).mean())
        cube = within(
            cube,
            [run.lat.min() - half_lat, run.lat.max() + half_lat],
            [run.lon.min() - half_lon, run.lon.max() + half_lon],
        )
        positions = positions_on(cube["time"].values, run.dates, merra2_path)
        merra2 = cube.isel(time=positions).values.astype(np.float32)
        merra2_lat, merra2_lon = cube["lat"].values, cube["lon"].values
    return LongrunFrames(run.dates, run.mean, run.lat, run.lon, merra2, merra2_lat, merra2_lon)


@dataclass(frozen=True)
class SeasonTraining:
    """What the long run's statistical references learn from one season's G5NR training days:
    G5NR and MERRA-2 on its grid (T, H, W) log10 on those days, and their dates."""

    g5nr: np.ndarray
    merra2: np.ndarray
    dates: pd.DatetimeIndex

    @classmethod
    def read(cls, g5nr_path, merra2_on_g5nr_path, split_csv) -> SeasonTraining:
        split = read_split(split_csv)
        dates = pd.DatetimeIndex(split.date[split.split == "train"]).sort_values()
        with xr.open_dataset(g5nr_path) as g5nr, xr.open_dataset(merra2_on_g5nr_path) as merra2:
            g5nr_values = g5nr[CUBE_VARIABLE].isel(time=positions_on(g5nr["time"].values, dates, g5nr_path)).values
            merra2_values = (
                merra2[CUBE_VARIABLE].isel(time=positions_on(merra2["time"].values, dates, merra2_on_g5nr_path)).values
            )
        return cls(g5nr_values.astype(np.float32), merra2_values.astype(np.float32), dates)


def reference_fields(training: SeasonTraining, merra2_days: np.ndarray, dates, members: int, seed: int) -> dict:
    """The long run's references on ``dates`` (MERRA-2 of those days on the G5NR grid,
    ``merra2_days`` (T, H, W) log10): {name: an iterator of one (M, H, W) field a day}, for
    interp_qm, interp_mm and interp_qm_stochastic (:mod:`downscaling.inference.baselines`, trained on the
    season's training days) and the G5NR climatology of those days (their per-pixel mean). Each member
    field is made when its day is reached, so memory does not grow with the members."""
    from downscaling.inference.baselines import moment_matched, quantile_mapped, stochastic_quantile_mapped

    n_train = len(training.dates)
    g5nr = np.concatenate([training.g5nr, np.full_like(merra2_days, np.nan)])
    merra2 = np.concatenate([training.merra2, merra2_days.astype(np.float32)])
    all_dates = training.dates.append(pd.DatetimeIndex(dates))
    train, run = np.arange(n_train), np.arange(n_train, len(all_dates))
    return {
        "interp_qm": (f for _, f in quantile_mapped(g5nr, merra2, all_dates, train, run)),
        "interp_mm": (f for _, f in moment_matched(g5nr, merra2, all_dates, train, run)),
        "interp_qm_stochastic": (
            f for _, f in stochastic_quantile_mapped(g5nr, merra2, all_dates, train, run, members, seed)
        ),
        "climatology": itertools.repeat(training.g5nr.mean(axis=0)[None]),
    }


def _scores(prefix: str, members: np.ndarray, target: np.ndarray, dx, dy) -> dict:
    """One day's scores of ``members`` (M, H, W): rmse of their mean, bias (area mean of their
    mean minus the truth's), crps (fair; MAE for one field), psd_ratio of the first, and
    spread_skill for an ensemble; keys ``<prefix>_<score>`` (no prefix for the long run itself)."""
    key = (lambda name: f"{prefix}_{name}") if prefix else (lambda name: name)
    mean = members.mean(axis=0)
    scores = {
        key("rmse"): metrics.rmse(mean, target),
        key("bias"): float(np.nanmean(mean - target)),
        key("crps"): metrics.crps_fair(members, target) if len(members) > 1 else metrics.mae(members[0], target),
        key("psd_ratio"): spatial.psd_ratio(members[0], target, dx, dy),
    }
    if len(members) > 1:
        scores[key("spread_skill")] = metrics.spread_skill_ratio(members, target)
    return scores


def longrun_skill(
    longrun_path,
    truth_path,
    g5nr_path,
    merra2_path,
    log_floor=LOG_FLOOR,
    regrid_method="nearest",
    training: dict | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Free-running skill of a long run against known truth (the synthetic world's daily means
    after the G5NR record, ``aod`` on the G5NR grid), one row per day: date, lead_days (days
    since the last G5NR day of ``g5nr_path``), rmse (ensemble mean), bias (its area mean minus
    the truth's), crps (fair), spread_skill
    (the day's spread with the (M+1)/M correction over its RMSE), psd_ratio (member 1 at
    25–80 km); the same scores of the references, as ``<reference>_<score>``: MERRA-2 put on the
    grid (``merra2``) and, with ``training`` ({season: :class:`SeasonTraining`}), interp_qm, the
    stochastic interp_qm with as many members as the run, and the G5NR climatology of the
    season's training days (:func:`reference_fields`). A single field's CRPS is its MAE.
    ValueError naming the truth file when it lacks a day or the grid."""
    from downscaling.ingest.regrid import regrid

    with xr.open_dataset(g5nr_path) as ds:
        last_g5nr_day = normalised_dates(ds["time"].values)[-1]
    with (
        open_downscaled(longrun_path) as run,
        xr.open_dataset(truth_path) as truth_ds,
        xr.open_dataset(merra2_path) as merra2_ds,
    ):
        lat, lon = run["lat"].values, run["lon"].values
        dates = normalised_dates(run["time"].values)
        truth = truth_ds["aod"]
        truth_days = normalised_dates(truth["time"].values)
        missing = dates.difference(truth_days)
        if not missing.empty:
            raise ValueError(
                f"{truth_path}: the known truth lacks {len(missing)} days of the long run, first {missing[0]:%Y-%m-%d}"
            )
        try:
            truth = truth.sel(lat=lat, lon=lon, method="nearest", tolerance=1e-6)
        except KeyError as error:
            raise ValueError(f"{truth_path}: its grid does not hold the long run's grid ({error})") from error
        merra2 = merra2_ds[CUBE_VARIABLE]
        merra2_days = normalised_dates(merra2["time"].values)
        dx, dy = grid_spacing_km(lat, lon)
        rows = []
        # run by run of days of one season, so that memory holds one season's days, not the run's
        for season, run_days in itertools.groupby(range(len(dates)), key=lambda i: season_of(dates[i : i + 1])[0]):
            days = list(run_days)
            on_grid = np.stack(
                [
                    regrid(merra2.isel(time=merra2_days.get_loc(dates[i])).load(), lat, lon, regrid_method).values
                    for i in days
                ]
            )  # (T, H, W)
            references = (
                reference_fields(training[season], on_grid, dates[days], run.sizes["member"], seed) if training else {}
            )
            for i, coarse in zip(days, on_grid):
                date = dates[i]
                members = log10_aod(run["aod_member"].isel(time=i).values, log_floor)  # (M, H, W)
                target = log10_aod(truth.isel(time=truth_days.get_loc(date)).values, log_floor)
                row = {
                    "date": date,
                    "lead_days": (date - last_g5nr_day).days,
                    **_scores("", members, target, dx, dy),
                    **_scores("merra2", coarse[None], target, dx, dy),
                }
                for name, fields in references.items():
                    row.update(_scores(name, next(fields), target, dx, dy))
                rows.append(row)
    return pd.DataFrame(rows)


def longrun_series(longrun_path, merra2_path, log_floor=LOG_FLOOR) -> pd.DataFrame:
    """Area-mean daily log10 AOD of the long run and of MERRA-2 (native cells inside the
    area) on the run's days. Columns date, longrun (ensemble mean), member_min, member_max
    (range of the members' area means), merra2. Raises ValueError when MERRA-2 lacks a day."""
    run_members = area_mean_series(longrun_path, "aod_member", log_floor=log_floor)  # (T, M)
    run_mean = area_mean_series(longrun_path, "aod_mean", log_floor=log_floor)
    with xr.open_dataset(longrun_path) as ds:
        lat, lon = ds["lat"].values, ds["lon"].values
    merra2 = area_mean_series(merra2_path, lat=lat, lon=lon).to_series()
    missing = run_mean.indexes["time"].difference(merra2.index)
    if not missing.empty:
        raise ValueError(
            f"{merra2_path}: MERRA-2 lacks {len(missing)} days of the long run, first {missing[0]:%Y-%m-%d}"
        )
    return pd.DataFrame(
        {
            "date": run_mean.indexes["time"],
            "longrun": run_mean.values,
            "member_min": run_members.min("member").values,
            "member_max": run_members.max("member").values,
            "merra2": merra2.reindex(run_mean.indexes["time"]).to_numpy(),
        }
    )


#: The references the long run's lead sentences compare against, with how they are named.
LEAD_REFERENCES = {
    "merra2": "MERRA-2 on the grid",
    "interp_qm": "interp_qm",
    "interp_mm": "interp_mm",
    "interp_qm_stochastic": "the stochastic interp_qm",
    "climatology": "the G5NR climatology",
}


def lead_summary(skill: pd.DataFrame, block_days: int = 5) -> list[str]:
    """One sentence per reference in the table: in how many ``block_days``-day blocks of lead
    the run's CRPS (the MAE of a single field) is below the reference's, from which lead on, if
    any, it is no better in any later block, and the whole run's mean per-day difference with its
    95 % interval (:func:`paired_tests.series_interval`: consecutive days are correlated)."""
    blocks = (skill["lead_days"] - skill["lead_days"].min()) // block_days
    means = skill.groupby(blocks).mean(numeric_only=True)
    first_lead = skill.groupby(blocks)["lead_days"].min().to_numpy()
    sentences = []
    for reference, name in LEAD_REFERENCES.items():
        column = f"{reference}_crps"
        if column not in means or "crps" not in means:
            continue
        better = (means["crps"] < means[column]).to_numpy()
        if better.all():
            tail = "better at every lead"
        elif better[-1]:
            tail = "better again in the last block"
        else:
            after_last_better = np.flatnonzero(better)[-1] + 1 if better.any() else 0
            tail = f"no better from lead day {first_lead[after_last_better]} on"
        difference = pd.Series((skill["crps"] - skill[column]).to_numpy(), index=pd.DatetimeIndex(skill["date"]))
        low, high = paired_tests.series_interval(difference)
        sentences.append(
            f"Against {name}: CRPS lower in {int(better.sum())} of {len(better)} {block_days}-day "
            f"blocks of lead ({tail}; mean {means['crps'].mean():.4f} vs {means[column].mean():.4f}; "
            f"difference {difference.mean():+.4f} [{low:+.4f}, {high:+.4f}], 95 %)."
        )
    return sentences


#: The drift checks of a long run, per month: (score, goal band, how the sentence names it).
DRIFT_GOALS = (
    ("bias", (-0.02, 0.02), "area-mean bias"),
    ("psd_ratio", (0.9, 1.1), "PSD ratio"),
    ("spread_skill", (0.9, 1.1), "spread-skill ratio"),
)


def drift_by_month(skill: pd.DataFrame) -> pd.DataFrame:
    """The long run's scores by calendar month of the run: days, and the mean of each daily
    score of the run (rmse, bias, crps, spread_skill, psd_ratio), one row per month in order;
    a long run must hold its bias, texture and calibration however long it runs."""
    scores = [column for column in ("rmse", "bias", "crps", "spread_skill", "psd_ratio") if column in skill]
    months = pd.DatetimeIndex(skill["date"]).to_period("M")
    table = skill.groupby(months)[scores].mean()
    table.insert(0, "days", skill.groupby(months).size())
    table.index = table.index.astype(str)
    return table.rename_axis("month").reset_index()


def drift_summary(monthly: pd.DataFrame) -> list[str]:
    """One sentence per drift check: in how many months the score lies in its goal band, and
    its range over the months."""
    sentences = []
    for column, (low, high), name in DRIFT_GOALS:
        if column not in monthly:
            continue
        values = monthly[column]
        inside = int(values.between(low, high).sum())
        sentences.append(
            f"Drift, {name} by month: within {low:g}..{high:g} in {inside} of {len(values)} months "
            f"(from {values.iloc[0]:+.3f} in the first to {values.iloc[-1]:+.3f} in the last; "
            f"range {values.min():+.3f}..{values.max():+.3f})."
        )
    return sentences

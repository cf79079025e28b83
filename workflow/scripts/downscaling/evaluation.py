"""Evaluation of downscaled fields against G5NR, and the out-of-data diagnostics as tables.

Reads the inference outputs (``results/downscaled/…`` and ``results/longrun/…``: ``aod_member``
(time, member, lat, lon), ``aod_mean`` (time, lat, lon) = the geometric ensemble mean,
``log10_aod_spread``, all in physical AOD except the spread), the ingested cubes (``log10_aod``
(time, lat, lon)) and the split CSVs, and turns them into JSON scores and DataFrames that the
rule scripts write and :mod:`downscaling.plots` draws. The statistics themselves live in
:mod:`downscaling.metrics`, :mod:`downscaling.spatial` and :mod:`downscaling.temporal`; this
module only selects, aligns and arranges the data. Every score is on log10 AOD, as the paper's.

Long records (the MERRA-2 record, long runs) are read in blocks of days or as a bounded
selection of days, so memory does not grow with the record.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import metrics, spatial, temporal, variants
from .splits import read_split

log = logging.getLogger(__name__)

CUBE_VARIABLE = "log10_aod"
#: Variables of a downscaled file and their dims (the inference contract).
DOWNSCALED_VARIABLES = {
    "aod_member": ("time", "member", "lat", "lon"),
    "aod_mean": ("time", "lat", "lon"),
    "log10_aod_spread": ("time", "lat", "lon"),
}
LOG_FLOOR = 1e-6  # the ingest transform's floor, log10(max(x, floor))
DAYS_PER_BLOCK = 64  # days read at once when streaming a record
#: Metric keys of a metrics JSON that go into the summary table, in column order.
SUMMARY_COLUMNS = ["rmse", "mae", "r2", "nse", "kge", "n_days", "crps", "spread_skill", "rank_min",
                   "rank_max", "psd_ratio", "seam_ratio"]
#: Direction of "better" for each summary metric ("one": closest to 1).
BETTER = {"rmse": "min", "mae": "min", "crps": "min", "r2": "max", "nse": "max", "kge": "max",
          "spread_skill": "one", "psd_ratio": "one", "seam_ratio": "one"}
#: Ratios that are only credited (bolded) inside this band; outside it the HTML says why.
RELIABLE_BAND = (0.7, 1.3)
#: Scores compared day by day (paired differences, block-bootstrap intervals) in the summary.
PAIRED_METRICS = ("rmse", "crps")
RATIO_WORDS = {"spread_skill": ("under-dispersed", "over-dispersed"), "psd_ratio": ("too smooth", "too noisy")}
#: Sample-day names other than 'pNN': their quantile of the test days' area-mean AOD.
SAMPLE_DAY_QUANTILES = {"min": 0.0, "median": 0.5, "max": 1.0}
# Bounds on the days read from long records, so that memory does not grow with them:
LAG_CURVE_MAX_DAYS = 800  # lag-k curves (the paper's 763-day G5NR record fits whole)
LONGRUN_VARIOGRAM_DAYS = 365  # long-run variograms, days spread over the run
ANIMATION_MAX_FRAMES = 120  # long-run animation frames, days spread over the run


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def log10_aod(aod, floor=LOG_FLOOR) -> np.ndarray:
    """log10(max(aod, floor)) as float32, the ingest transform; NaN stays NaN."""
    return np.log10(np.maximum(np.asarray(aod, dtype=np.float32), np.float32(floor)))


def normalised_dates(values) -> pd.DatetimeIndex:
    """Time coordinate values -> calendar days (midnight), whatever the time of day stored."""
    return pd.DatetimeIndex(values).normalize()


def positions_on(times, dates, path) -> np.ndarray:
    """Positions of the calendar days ``dates`` on the time coordinate ``times`` of the file
    ``path``; ValueError naming the file and the first missing date."""
    dates = normalised_dates(dates)
    positions = normalised_dates(times).get_indexer(dates)
    if (positions < 0).any():
        raise ValueError(f"{path}: date {dates[positions < 0][0]:%Y-%m-%d} is not in the file")
    return positions


def open_downscaled(path) -> xr.Dataset:
    """Open a downscaled file lazily and check it follows the inference contract.

    Raises ValueError naming the file when a variable is missing or has other dims, or when the
    lat/lon coordinates are not ascending. Use as ``with open_downscaled(p) as ds: ...``.
    """
    ds = xr.open_dataset(path)
    problems = []
    for name, dims in DOWNSCALED_VARIABLES.items():
        if name not in ds:
            problems.append(f"variable {name!r} is missing")
        elif ds[name].dims != dims:
            problems.append(f"variable {name!r} has dims {ds[name].dims}, expected {dims}")
    for axis in ("lat", "lon"):
        if axis in ds.coords and np.any(np.diff(ds[axis].values) <= 0):
            problems.append(f"coordinate {axis!r} is not strictly ascending")
    if problems:
        ds.close()
        raise ValueError(f"{path}: not a downscaled file of the contract: " + "; ".join(problems))
    return ds


@dataclass(frozen=True)
class Downscaled:
    """log10 AOD fields of a downscaled file (or a selection of its days and members).

    members: (m, T, H, W), the first m of the file's ``n_members`` members (m may be 0);
    mean: (T, H, W), the log10 of ``aod_mean``, i.e. the mean over members of log10 AOD;
    spread: (T, H, W) std over members of log10 AOD.
    """

    dates: pd.DatetimeIndex
    lat: np.ndarray
    lon: np.ndarray
    members: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    n_members: int


def read_downscaled(path, log_floor=LOG_FLOOR, days=None, max_members=None) -> Downscaled:
    """Read a downscaled file as log10 fields.

    ``days`` (int positions on its time axis) and ``max_members`` (read the first members
    only; 0 for none) limit what is read, which keeps long runs affordable. Raises ValueError
    as :func:`open_downscaled`.
    """
    with open_downscaled(path) as ds:
        if days is not None:
            ds = ds.isel(time=np.asarray(days))
        n_members = ds.sizes["member"]
        members = ds["aod_member"].isel(member=slice(0, max_members)).transpose("member", "time", "lat", "lon")
        return Downscaled(
            dates=normalised_dates(ds["time"].values),
            lat=ds["lat"].values.astype(np.float64),
            lon=ds["lon"].values.astype(np.float64),
            members=log10_aod(members.values, log_floor),
            mean=log10_aod(ds["aod_mean"].values, log_floor),
            spread=ds["log10_aod_spread"].values.astype(np.float32),
            n_members=n_members,
        )


def downscaled_dates(path) -> pd.DatetimeIndex:
    """The days of a downscaled file (reads only its time coordinate)."""
    with open_downscaled(path) as ds:
        return normalised_dates(ds["time"].values)


def downscaled_positions(path, dates) -> np.ndarray:
    """Positions of ``dates`` on a downscaled file's time axis (see :func:`positions_on`)."""
    return positions_on(downscaled_dates(path), dates, path)


def test_days(split_csv) -> pd.DatetimeIndex:
    """The ``test`` days of a split CSV, in date order; ValueError naming the file when none."""
    split = read_split(split_csv)
    days = pd.DatetimeIndex(split.loc[split["split"] == "test", "date"]).sort_values()
    if days.empty:
        raise ValueError(f"{split_csv} has no test day")
    return days


def read_cube_days(cube_path, dates, lat=None, lon=None) -> np.ndarray:
    """``log10_aod`` (T, H, W) float32 of an ingested cube on ``dates`` (reads those days only).

    With ``lat``/``lon`` given, the cube's grid must equal them (ValueError otherwise). Raises
    ValueError naming the file when a date is missing or the variable is absent.
    """
    with xr.open_dataset(cube_path) as ds:
        if CUBE_VARIABLE not in ds:
            raise ValueError(f"{cube_path}: variable {CUBE_VARIABLE!r} is missing")
        cube = ds[CUBE_VARIABLE]
        positions = positions_on(cube["time"].values, dates, cube_path)
        for name, expected in (("lat", lat), ("lon", lon)):
            if expected is not None and not (
                cube[name].size == len(expected)
                and np.allclose(cube[name].values, expected, atol=1e-6)
            ):
                raise ValueError(f"{cube_path}: the {name} grid differs from the prediction's")
        return cube.isel(time=positions).values.astype(np.float32)


def within(cube: xr.DataArray, lat, lon) -> xr.DataArray:
    """The cells of ``cube`` whose centres lie inside the extent of the grid ``lat``, ``lon``.

    Used to cut the native MERRA-2 cube (which has a margin around the area) to the area.
    """
    return cube.sel(lat=slice(float(np.min(lat)), float(np.max(lat))),
                    lon=slice(float(np.min(lon)), float(np.max(lon))))


def blocks_of_days(n_days, block=DAYS_PER_BLOCK):
    """Slices 0:block, block:2 block, ... covering n_days."""
    return [slice(start, min(start + block, n_days)) for start in range(0, n_days, block)]


def area_mean_series(path, variable=CUBE_VARIABLE, lat=None, lon=None, log_floor=None):
    """Daily area mean of ``variable`` over lat/lon, read in blocks of days.

    With ``lat``/``lon`` (a grid), only the cells inside that grid's extent count. With
    ``log_floor`` the values are AOD and are taken to log10(max(x, floor)) per pixel before
    averaging (so the mean is a mean of log10 AOD, like for the ingested cubes). NaN pixels are
    ignored. Returns a DataArray with the variable's dims minus (lat, lon), its ``time``
    coordinate normalised to calendar days.
    """
    with xr.open_dataset(path) as ds:
        if variable not in ds:
            raise ValueError(f"{path}: variable {variable!r} is missing")
        data = ds[variable]
        if lat is not None:
            data = within(data, lat, lon)
        means = []
        for days in blocks_of_days(data.sizes["time"]):
            values = data.isel(time=days).values
            if log_floor is not None:
                values = log10_aod(values, log_floor)
            means.append(np.nanmean(values.astype(np.float64), axis=(-2, -1)))
        dims = tuple(d for d in data.dims if d not in ("lat", "lon"))
        return xr.DataArray(np.concatenate(means, axis=dims.index("time")), dims=dims,
                            coords={"time": normalised_dates(data["time"].values)})


def time_mean(path, variable=CUBE_VARIABLE) -> xr.DataArray:
    """Mean over all days of a (time, lat, lon) variable, NaN-aware, read in blocks of days."""
    with xr.open_dataset(path) as ds:
        data = ds[variable]
        total = np.zeros(data.shape[1:])
        count = np.zeros(data.shape[1:])
        for days in blocks_of_days(data.sizes["time"]):
            values = data.isel(time=days).values.astype(np.float64)
            total += np.nansum(values, axis=0)
            count += np.isfinite(values).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = total / count
        return xr.DataArray(mean, dims=("lat", "lon"),
                            coords={"lat": data["lat"].values, "lon": data["lon"].values})


def spaced_days(n_days, max_days, run_length=1) -> np.ndarray:
    """Positions of at most ``max_days`` of ``n_days`` days, spread evenly over the record.

    All days when n_days <= max_days; else runs of ``run_length`` consecutive days with evenly
    spaced starts (run_length > 1 keeps day pairs a few days apart for lag statistics).
    """
    if n_days <= max_days:
        return np.arange(n_days)
    run_length = max(1, min(run_length, max_days))
    starts = np.linspace(0, n_days - run_length, max_days // run_length).round().astype(int)
    return np.unique((starts[:, None] + np.arange(run_length)[None, :]).ravel())


# --------------------------------------------------------------------------------------------
# Scores of one downscaled file
# --------------------------------------------------------------------------------------------

def evaluate_downscaled(downscaled_path, g5nr_path, split_csv, seed, log_floor=LOG_FLOOR, stride=None,
                        definitions="project"):
    """Scores of one downscaled file against G5NR on the season's test days (log10 AOD).

    The file's days must be exactly the ``test`` days of ``split_csv`` (ValueError otherwise).
    Deterministic scores use the ensemble mean (mean of log10 members). Returns (overall,
    per_day): overall = :func:`field_scores` (stride: the inference stride, for the seam
    ratio); per_day = DataFrame of :func:`metrics.per_day_metrics` plus a ``crps`` column for
    ensembles. ``definitions``: of NSE and KGE, see :data:`metrics.DEFINITIONS`.
    """
    expected = test_days(split_csv)
    prediction = read_downscaled(downscaled_path, log_floor)
    if not prediction.dates.equals(expected):
        missing = expected.difference(prediction.dates)
        extra = prediction.dates.difference(expected)
        raise ValueError(
            f"{downscaled_path}: its days are not the test days of {split_csv} "
            f"({len(missing)} test days missing, {len(extra)} other days, order must be by date)"
        )
    truth = read_cube_days(g5nr_path, prediction.dates, prediction.lat, prediction.lon)
    overall = field_scores(prediction.members, truth, prediction.lat, prediction.lon, stride, seed, definitions)
    per_day = metrics.per_day_metrics(prediction.mean, truth, prediction.dates, definitions)
    if prediction.n_members > 1:
        per_day["crps"] = [metrics.crps_fair(prediction.members[:, day], truth[day])
                           for day in range(len(prediction.dates))]
    return overall, per_day


def field_scores(members, truth, lat, lon, stride, seed, definitions="project") -> dict:
    """Scores of downscaled members (M, T, H, W) against the truth (T, H, W), log10 AOD.

    Deterministic scores of the ensemble mean (rmse, mae, r2, nse, kge, n_pixels); n_days,
    members; the fine-scale realism of member 1: psd_ratio (its power over G5NR's at 25-80 km,
    1 is realistic, < 1 too smooth) and seam_ratio (tile-period signature at the inference
    stride, about 1 without seams; None without a stride); for M > 1 the ensemble's crps
    (fair), spread_skill (about 1 when reliable, < 1 under-dispersed), rank_histogram (M + 1
    counts, ties broken with a Generator seeded with ``seed``) and rank_extremes (the smallest
    and largest bin over the uniform share: both 1 for a flat histogram).
    """
    overall = metrics.all_metrics(members.mean(axis=0), truth, definitions)
    overall.update(n_days=truth.shape[0], members=members.shape[0])
    first = members[0]
    if np.isfinite(first).all() and np.isfinite(truth).all():
        overall["psd_ratio"] = spatial.psd_ratio(first, truth, *grid_spacing_km(lat, lon))
    overall["seam_ratio"] = spatial.seam_ratio(first, stride) if stride else None
    if members.shape[0] > 1:
        overall["crps"] = metrics.crps_fair(members, truth)
        overall["spread_skill"] = metrics.spread_skill_ratio(members, truth)
        counts = metrics.rank_histogram(members, truth, np.random.default_rng(seed))
        overall["rank_histogram"] = counts.tolist()
        shares = counts / counts.sum() * len(counts)
        overall["rank_extremes"] = [float(shares.min()), float(shares.max())]
    return overall


def write_json(values: dict, path) -> None:
    """Write ``values`` as indented JSON; NaN (an undefined score) is written as null."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    Path(path).write_text(json.dumps(clean(values), indent=2) + "\n")


def metrics_key(path) -> dict:
    """model, season, area, mode of ``results/metrics/{model}/{season}/{area}/{mode}.json``."""
    path = Path(path)
    model, season, area = path.parts[-4:-1]
    return {"model": model, "season": season, "area": area, "mode": path.stem}


def read_metrics(paths) -> list[dict]:
    """Metrics JSONs as dicts with their key (see :func:`metrics_key`) merged in, in order."""
    records = []
    for path in paths:
        with open(path) as stream:
            records.append({**metrics_key(path), **json.load(stream)})
    return records


def per_day_path(metrics_path) -> Path:
    """The per-day scores written beside a metrics JSON."""
    path = Path(metrics_path)
    return path.with_name(f"{path.stem}_per_day.csv")


def read_per_day(metric_paths) -> dict[tuple, pd.DataFrame]:
    """{(model, season, area, mode): per-day scores indexed by date}; a deterministic model's
    CRPS is its MAE (the CRPS of a point forecast)."""
    frames = {}
    for path in metric_paths:
        key = metrics_key(path)
        frame = pd.read_csv(per_day_path(path), parse_dates=["date"]).set_index("date")
        if "crps" not in frame:
            frame["crps"] = frame["mae"]
        frames[tuple(key[k] for k in ("model", "season", "area", "mode"))] = frame
    return frames


def paired_difference(first: pd.DataFrame, second: pd.DataFrame, metric: str, seed: int) -> tuple[float, float, float]:
    """Mean per-day difference first - second of ``metric`` over their common days, and its
    block-bootstrap 95 % interval (days in date order)."""
    differences = (first[metric] - second[metric]).dropna().sort_index()
    return (float(differences.mean()), *metrics.block_bootstrap_interval(differences.values, seed=seed))


def summary_table(metric_paths, method: str | None = None, seed: int = 0, per_day: dict | None = None) -> pd.DataFrame:
    """The comparison table: one row per metrics JSON, in the order given.

    Columns model, season, area, mode, then :data:`SUMMARY_COLUMNS` (crps and spread_skill are
    NaN for deterministic models, which have none). With ``method``, each row also holds the
    method's per-day paired difference to the row's model (method - model: negative where the
    method is better) for each of :data:`PAIRED_METRICS`, with its block-bootstrap 95 %
    interval: ``<metric>_diff``, ``<metric>_diff_low``, ``<metric>_diff_high``. ``per_day``: the
    per-day scores if the caller has read them already (:func:`read_per_day`).
    """
    table = pd.DataFrame(read_metrics(metric_paths))
    if "rank_extremes" in table:  # the rank histogram's smallest and largest bin / uniform share
        extremes = table["rank_extremes"].apply(lambda e: e if isinstance(e, list) else [np.nan, np.nan])
        table["rank_min"], table["rank_max"] = extremes.str[0], extremes.str[1]
    for column in SUMMARY_COLUMNS:
        if column not in table:
            table[column] = np.nan
    table.insert(1, "formulation", [variants.formulation(model) for model in table["model"]])
    table = table[["model", "formulation", "season", "area", "mode", *SUMMARY_COLUMNS]]
    table = table.astype({c: float for c in SUMMARY_COLUMNS if c != "n_days"})
    if method:
        per_day = per_day if per_day is not None else read_per_day(metric_paths)
        for metric in PAIRED_METRICS:
            columns = [f"{metric}_diff", f"{metric}_diff_low", f"{metric}_diff_high"]
            values = []
            for row in table.itertuples():
                own, reference = (row.model, row.season, row.area, row.mode), (method, row.season, row.area, row.mode)
                if row.model == method or reference not in per_day:
                    values.append((np.nan, np.nan, np.nan))
                else:
                    values.append(paired_difference(per_day[reference], per_day[own], metric, seed))
            table[columns] = values
    return table


def best_in_group(table: pd.DataFrame, per_day: dict | None = None, seed: int = 0) -> pd.DataFrame:
    """Boolean frame (same index, the metric columns) marking each season × area × mode's best
    model per metric (see :data:`BETTER`); ties are all marked, NaN never.

    With ``per_day`` (see :func:`read_per_day`), a best model by one of :data:`PAIRED_METRICS`
    is marked only where the block-bootstrap 95 % interval of its per-day differences to the
    runner-up excludes 0: a difference the test days cannot tell from noise is no best.
    """
    columns = [c for c in BETTER if c in table]
    marks = pd.DataFrame(False, index=table.index, columns=columns)
    for (season, area, mode), group in table.groupby(["season", "area", "mode"], sort=False):
        for column in columns:
            values = group[column]
            if BETTER[column] == "one":  # closest to 1, and only within the reliable band
                inside = values.between(*RELIABLE_BAND)
                values = (-(values - 1.0).abs()).where(inside)
            best = values.min() if BETTER[column] == "min" else values.max()
            marks.loc[group.index, column] = values == best
            if per_day is not None and column in PAIRED_METRICS and values.notna().sum() > 1:
                ranked = values.dropna().sort_values(ascending=BETTER[column] == "min").index
                first, second = (per_day[(group.at[i, "model"], season, area, mode)] for i in ranked[:2])
                _, low, high = paired_difference(first, second, column, seed)
                if not (high < 0 or low > 0):
                    marks.loc[group.index, column] = False
    return marks


def findings(table: pd.DataFrame, method: str) -> list[str]:
    """One sentence per season × area × mode, generated from the table's paired RMSE
    differences (see :func:`summary_table`): which models the method beats, which beat it, and
    which it cannot be told from (95 % intervals), with its spread-skill ratio."""
    sentences = []
    if not method or "rmse_diff" not in table:
        return sentences
    for (season, area, mode), group in table.groupby(["season", "area", "mode"], sort=False):
        own = group[group["model"] == method]
        others = group[(group["model"] != method) & group["rmse_diff"].notna()]
        if own.empty or others.empty:
            continue

        def listed(rows):
            return ", ".join(f"{r.model} ({r.rmse_diff:+.3f} [{r.rmse_diff_low:+.3f}, {r.rmse_diff_high:+.3f}])"
                             for r in rows.itertuples()) or "none"

        better = others[others["rmse_diff_high"] < 0]
        worse = others[others["rmse_diff_low"] > 0]
        tied = others.drop(better.index.union(worse.index))
        spread = own["spread_skill"].iloc[0]
        sentences.append(
            f"{season} {area}, {mode}: {method}'s RMSE is lower than that of {listed(better)}; "
            f"higher than that of {listed(worse)}; not distinguishable from {listed(tied)}"
            + (f"; spread-skill {spread:.2f}" if pd.notna(spread) else "") + "."
        )
    return sentences


def summary_html(table: pd.DataFrame, title: str, per_day: dict | None = None, seed: int = 0,
                 method: str | None = None) -> str:
    """The comparison table as a standalone HTML page, best model per season × area × mode in
    bold (the Snakemake report renders HTML, not CSV; see :func:`best_in_group`), after one
    sentence per season × area × mode on the method against every other model (:func:`findings`)."""
    marks = best_in_group(table, per_day, seed)
    shown = table.copy()
    for column in SUMMARY_COLUMNS:
        digits = 0 if column == "n_days" else 3
        shown[column] = [
            "" if pd.isna(value) else
            (f"<b>{value:.{digits}f}</b>" if column in marks and marks.at[i, column]
             else f"{value:.{digits}f}") + _ratio_word(column, value)
            for i, value in table[column].items()
        ]
    for metric in PAIRED_METRICS:
        if f"{metric}_diff" in table:
            parts = table[[f"{metric}_diff", f"{metric}_diff_low", f"{metric}_diff_high"]]
            shown = shown.drop(columns=parts.columns)
            shown[f"{metric}: method − model [95 %]"] = [
                "" if pd.isna(mean) else f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"
                for mean, low, high in parts.itertuples(index=False)
            ]
    body = shown.to_html(index=False, escape=False, border=0, classes="summary")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><style>"
        "body{font-family:sans-serif;background:#fff;color:#111;margin:1em}"
        "table.summary{border-collapse:collapse;font-size:13px}"
        "table.summary th,table.summary td{padding:3px 9px;border-bottom:1px solid #ddd;"
        "text-align:right}table.summary th{background:#eee}"
        f"</style></head><body><h3>{title}</h3>{_findings_html(table, method)}{body}"
        "<p>Scores on log10 AOD over the season's test days. Bold: best of the models in each "
        "season × area × mode (lowest RMSE/MAE/CRPS, highest R²/NSE/KGE; spread-skill, PSD "
        f"ratio and seam ratio closest to 1, credited only within {RELIABLE_BAND[0]}–"
        f"{RELIABLE_BAND[1]}). rank_min / rank_max: the rank histogram's smallest and largest "
        "bin over the uniform share (1 and 1 when flat). psd_ratio: power of member 1 over "
        "G5NR's at 25–80 km. seam_ratio: mean jump between neighbouring pixels at the worst "
        "phase of the tiling stride over the median phase. RMSE and CRPS are bolded only "
        "where the block-bootstrap 95 % interval of the best model's per-day differences to the "
        "runner-up excludes 0. method − model: the method's mean per-day score minus the row's "
        "model's (negative: the method is better), with that interval (a deterministic model's "
        "CRPS is its MAE).</p></body></html>\n"
    )


def _findings_html(table, method) -> str:
    sentences = findings(table, method)
    if not sentences:
        return ""
    items = "".join(f"<li>{sentence}</li>" for sentence in sentences)
    return (f"<p>Findings (RMSE, {method} minus the other model, per-day paired differences, 95 % "
            f"block-bootstrap interval; negative: {method} is better):</p><ul>{items}</ul>")


def _ratio_word(column, value) -> str:
    """' (under-dispersed)' and the like for a ratio outside the reliable band, else ''."""
    if column not in RATIO_WORDS or pd.isna(value) or RELIABLE_BAND[0] <= value <= RELIABLE_BAND[1]:
        return ""
    low, high = RATIO_WORDS[column]
    return f" <i>({low if value < RELIABLE_BAND[0] else high})</i>"


# --------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------

def grid_spacing_km(lat, lon) -> tuple[float, float]:
    """(dx, dy) in km of a regular lat/lon grid: the mean haversine distance of neighbouring
    pixels, dx along the centre latitude, dy along a meridian."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    centre = float(lat.mean())
    dx = spatial.haversine_km(centre, lon[:-1], centre, lon[1:]).mean()
    dy = spatial.haversine_km(lat[:-1], lon[0], lat[1:], lon[0]).mean()
    return float(dx), float(dy)


@dataclass(frozen=True)
class Field:
    """One source's daily fields for a diagnostic: kind is 'truth', 'input', 'mean' (ensemble
    mean, or the field of a deterministic model) or 'member' (with its 1-based number)."""

    source: str
    kind: str
    member: int
    values: np.ndarray  # (T, H, W) log10 AOD
    lat: np.ndarray
    lon: np.ndarray

    @property
    def label(self) -> str:
        """How the field is named in legends: 'G5NR', 'ddpm ensemble mean', 'ddpm member 2'."""
        if self.kind == "member":
            return f"{self.source} member {self.member}"
        if self.kind == "mean" and self.member < 0:
            return f"{self.source} ensemble mean"
        return self.source


def prediction_fields(model: str, prediction: Downscaled, members="all") -> list[Field]:
    """Fields of one model: its ensemble mean (member = -1) and its members (``members``:
    'all', or how many, from the first); a single-member model gives one 'mean' field
    (member 0)."""
    if prediction.n_members == 1:
        return [Field(model, "mean", 0, prediction.mean, prediction.lat, prediction.lon)]
    available = prediction.members.shape[0]
    count = available if members == "all" else min(int(members), available)
    return [Field(model, "mean", -1, prediction.mean, prediction.lat, prediction.lon)] + [
        Field(model, "member", k + 1, prediction.members[k], prediction.lat, prediction.lon)
        for k in range(count)
    ]


def season_prediction_fields(g5nr_path, split_csv, downscaled_paths: dict, log_floor,
                             members="all") -> list[Field]:
    """G5NR truth and every model's fields on the season's test days (same grid, same days).

    downscaled_paths: {model: path}. Raises ValueError when a file's days or grid differ.
    """
    days = test_days(split_csv)
    fields = []
    grid = None
    for model, path in downscaled_paths.items():
        prediction = read_downscaled(path, log_floor)
        if not prediction.dates.equals(days):
            raise ValueError(f"{path}: its days are not the test days of {split_csv}")
        grid = (prediction.lat, prediction.lon)
        fields += prediction_fields(model, prediction, members)
    if grid is None:
        raise ValueError("no downscaled file given")
    truth = read_cube_days(g5nr_path, days, *grid)
    return [Field("G5NR", "truth", 0, truth, *grid)] + fields


def spectra_table(fields: list[Field]) -> pd.DataFrame:
    """Radially averaged PSD of each field over the days on which every field is finite.

    All fields share one grid. Columns source, kind, member, label, wavenumber_per_km,
    wavelength_km, psd ((log10 AOD)² km²), n_days. Raises ValueError when no day is finite in
    every field (a spectrum needs complete fields).
    """
    complete = np.all([np.isfinite(f.values).all(axis=(1, 2)) for f in fields], axis=0)  # (T,)
    if not complete.any():
        raise ValueError("no day is finite in every field; cannot compute spectra")
    dx, dy = grid_spacing_km(fields[0].lat, fields[0].lon)
    tables = []
    for field in fields:
        wavenumber, psd = spatial.radial_power_spectrum(field.values[complete], dx, dy)
        tables.append(pd.DataFrame({
            "source": field.source, "kind": field.kind, "member": field.member,
            "label": field.label, "wavenumber_per_km": wavenumber,
            "wavelength_km": 1.0 / wavenumber, "psd": psd, "n_days": int(complete.sum()),
        }))
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Semivariograms
# --------------------------------------------------------------------------------------------

def merra2_field(merra2_path, dates, lat, lon) -> Field:
    """MERRA-2 on its native grid on ``dates``, cut to the extent of the grid ``lat``, ``lon``."""
    with xr.open_dataset(merra2_path) as ds:
        cube = within(ds[CUBE_VARIABLE], lat, lon)
        positions = positions_on(cube["time"].values, dates, merra2_path)
        values = cube.isel(time=positions).values.astype(np.float32)
        return Field("MERRA-2", "input", 0, values, cube["lat"].values, cube["lon"].values)


def variogram_tables(fields: list[Field], max_km, bins, pairs, seed):
    """Empirical semivariograms and spherical fits of each field (pooled over its days).

    Every field gets a Generator seeded with ``seed``, so fields on the same grid use the same
    pixel pairs and differ only by their values. Returns (curves, fits): curves with columns
    source, kind, member, label, distance_km, gamma, n_pairs; fits with source, kind, member,
    label, nugget, sill, range_km (NaN where the fit fails, which is logged).
    """
    curves, fits = [], []
    for field in fields:
        curve = spatial.empirical_semivariogram(field.values, field.lat, field.lon, max_km=max_km,
                                                bins=bins, pairs=pairs,
                                                rng=np.random.default_rng(seed))
        key = {"source": field.source, "kind": field.kind, "member": field.member,
               "label": field.label}
        try:
            fit = spatial.fit_spherical(curve)
        except (ValueError, RuntimeError) as error:  # too few bins, or no convergence
            log.warning("spherical fit failed for %s: %s", field.label, error)
            fit = {"nugget": np.nan, "sill": np.nan, "range_km": np.nan}
        curves.append(curve.assign(**key))
        fits.append({**key, **fit})
    curves = pd.concat(curves, ignore_index=True)
    curves = curves[["source", "kind", "member", "label", "distance_km", "gamma", "n_pairs"]]
    return curves, pd.DataFrame(fits)


def write_variogram_tables(fields: list[Field], settings: dict, seed, table_path, fits_path):
    """variogram_tables with the config's settings, written as CSVs; returns (curves, fits)."""
    curves, fits = variogram_tables(fields, max_km=settings["max_km"], bins=settings["bins"],
                                    pairs=settings["pairs"], seed=seed)
    log.info("spherical fits:\n%s", fits.to_string())
    curves.to_csv(table_path, index=False, float_format="%.6g")
    fits.to_csv(fits_path, index=False, float_format="%.6g")
    return curves, fits


def longrun_days(longrun_path, max_days) -> np.ndarray:
    """At most ``max_days`` positions spread evenly over the long run (for its variograms)."""
    return spaced_days(len(downscaled_dates(longrun_path)), max_days)


def longrun_variogram_fields(longrun_path, merra2_path, log_floor=LOG_FLOOR,
                             max_days=LONGRUN_VARIOGRAM_DAYS) -> list[Field]:
    """The long run (ensemble mean and first member) and MERRA-2 on the same days (at most
    ``max_days``, spread over the run). Raises ValueError when MERRA-2 lacks a run day."""
    run = read_downscaled(longrun_path, log_floor, days=longrun_days(longrun_path, max_days),
                          max_members=1)
    merra2 = merra2_field(merra2_path, run.dates, run.lat, run.lon)
    return [merra2] + prediction_fields("long run", run, members=1)


# --------------------------------------------------------------------------------------------
# ACF/PACF and lag-k curves
# --------------------------------------------------------------------------------------------

def require_daily(series: pd.Series, name: str) -> pd.Series:
    """``series`` (indexed by date) unchanged if it has one finite value per calendar day with
    no gap; ValueError naming ``name`` otherwise (an ACF needs a gap-free daily series)."""
    full = pd.date_range(series.index.min(), series.index.max(), freq="D")
    if len(full) != len(series) or not np.isfinite(series.to_numpy()).all():
        raise ValueError(f"{name}: the daily series has gaps ({len(full) - len(series)} days "
                         f"missing, {int((~np.isfinite(series.to_numpy())).sum())} non-finite)")
    return series


def acf_table(series: dict, nlags, definitions="project") -> pd.DataFrame:
    """ACF/PACF (statsmodels via :func:`temporal.acf_pacf`) of each daily series.

    series: {source: pandas Series of daily values indexed by date, gap-free}. A series too
    short for ``nlags`` lags gets (length - 1) // 2 lags (statsmodels' PACF limit), logged.
    Returns the acf_pacf columns plus source and n_days.
    """
    tables = []
    for source, values in series.items():
        values = require_daily(values, source)
        lags = min(nlags, (len(values) - 1) // 2)
        if lags < nlags:
            log.warning("%s has %d days: ACF/PACF up to lag %d only", source, len(values), lags)
        table = temporal.acf_pacf(values.to_numpy(), nlags=lags, definitions=definitions)
        tables.append(table.assign(source=source, n_days=len(values)))
    return pd.concat(tables, ignore_index=True)


def lag_table(cubes: dict, max_lag, definitions="project") -> pd.DataFrame:
    """Lag-k RMSE/R² (:func:`temporal.lag_curves`) of each daily cube.

    cubes: {source: (cube (T, H, W) log10 AOD, dates (T,))}. Returns lag, rmse, r2, n_pairs
    and source.
    """
    return pd.concat([temporal.lag_curves(cube, dates, max_lag, definitions).assign(source=source)
                      for source, (cube, dates) in cubes.items()], ignore_index=True)


def read_cube_positions(cube_path, positions=None, lat=None, lon=None):
    """(values (T, H, W) float32, dates) of an ingested cube at ``positions`` (default all
    days), optionally cut to the extent of the grid ``lat``, ``lon``."""
    with xr.open_dataset(cube_path) as ds:
        cube = ds[CUBE_VARIABLE]
        if lat is not None:
            cube = within(cube, lat, lon)
        if positions is not None:
            cube = cube.isel(time=np.asarray(positions))
        return cube.values.astype(np.float32), normalised_dates(cube["time"].values)


def temporal_tables(g5nr_path, merra2_path, longrun_path, nlags, max_lag,
                    max_days=LAG_CURVE_MAX_DAYS, log_floor=LOG_FLOOR, definitions="project"):
    """ACF/PACF and lag-k tables of an area (``longrun_path`` may be None).

    ACF/PACF: the area-mean daily log10 AOD of G5NR (its whole record), of MERRA-2 (its whole
    record, native cells inside the G5NR grid's extent) and of the long run (ensemble mean).
    Lag-k: G5NR, MERRA-2 over the G5NR period (native cells), and the long run's ensemble mean;
    each uses at most ``max_days`` days, in runs of 5 × max_lag consecutive days when the
    record is longer (memory stays bounded). ``definitions``: of the PACF and the lag curves,
    see :data:`metrics.DEFINITIONS`. Returns (acf, lags) DataFrames with a source column.
    """
    with xr.open_dataset(g5nr_path) as ds:
        lat, lon = ds["lat"].values, ds["lon"].values
    series = {
        "G5NR": area_mean_series(g5nr_path).to_series(),
        "MERRA-2": area_mean_series(merra2_path, lat=lat, lon=lon).to_series(),
    }
    g5nr, g5nr_dates = read_cube_positions(
        g5nr_path, spaced_days(len(series["G5NR"]), max_days, 5 * max_lag))
    merra2_dates = series["MERRA-2"].index
    in_g5nr_period = np.flatnonzero((merra2_dates >= g5nr_dates[0])
                                    & (merra2_dates <= g5nr_dates[-1]))
    merra2_positions = in_g5nr_period[spaced_days(in_g5nr_period.size, max_days, 5 * max_lag)]
    cubes = {
        "G5NR": (g5nr, g5nr_dates),
        "MERRA-2 (G5NR period)": read_cube_positions(merra2_path, merra2_positions, lat, lon),
    }
    if longrun_path is not None:
        run_mean = area_mean_series(longrun_path, "aod_mean", log_floor=log_floor)
        series["long run"] = run_mean.to_series()
        run = read_downscaled(longrun_path, log_floor, max_members=0,
                              days=spaced_days(run_mean.sizes["time"], max_days, 5 * max_lag))
        cubes["long run"] = (run.mean, run.dates)
    return acf_table(series, nlags, definitions), lag_table(cubes, max_lag, definitions)


# --------------------------------------------------------------------------------------------
# Maps
# --------------------------------------------------------------------------------------------

def sample_days(g5nr_path, split_csv, names) -> dict:
    """Test days picked by their G5NR area-mean AOD: {name: Timestamp} for each name in
    ``names``: 'min', 'median', 'max' or 'pNN' (the NN-th percentile, 0..100), each the test
    day at that rank (nearest rank, rounding half up). Raises ValueError on another name."""
    quantiles = {}
    for name in names:
        if name in SAMPLE_DAY_QUANTILES:
            quantiles[name] = SAMPLE_DAY_QUANTILES[name]
        elif name.startswith("p") and name[1:].isdigit() and 0 <= int(name[1:]) <= 100:
            quantiles[name] = int(name[1:]) / 100
        else:
            raise ValueError(f"evaluation.sample_days: {name!r} is not min, median, max or pNN")
    days = test_days(split_csv)
    area_mean = np.nanmean(10.0 ** read_cube_days(g5nr_path, days).astype(np.float64),
                           axis=(1, 2))
    by_aod = days[np.argsort(area_mean, kind="stable")]
    return {name: by_aod[int(np.floor(q * (len(days) - 1) + 0.5))]
            for name, q in quantiles.items()}


@dataclass(frozen=True)
class DayMaps:
    """The panels of one sample day on the G5NR grid (all log10 AOD, (H, W)).

    fields: {title: field} in display order, sharing one colour scale (MERRA-2 input, G5NR
    truth, ddpm ensemble mean, ddpm member 1, unet); spread: the ddpm ensemble's std of log10
    AOD; error: ddpm ensemble mean minus G5NR; rmse: {title: RMSE against G5NR} of each field.
    """

    date: pd.Timestamp
    lat: np.ndarray
    lon: np.ndarray
    fields: dict
    spread: np.ndarray
    error: np.ndarray
    rmse: dict
    model: str = "ddpm"  # the ensemble model shown


def day_maps(date, g5nr_path, merra2_on_g5nr_path, ddpm_path, unet_path=None,
             log_floor=LOG_FLOOR, model="ddpm") -> DayMaps:
    """Read the panels of one test day (see :class:`DayMaps`) of the ensemble `model` (its file
    ``ddpm_path``); ``unet_path`` may be None."""
    ddpm = read_downscaled(ddpm_path, log_floor, days=downscaled_positions(ddpm_path, [date]))
    truth = read_cube_days(g5nr_path, ddpm.dates, ddpm.lat, ddpm.lon)[0]
    fields = {
        "MERRA-2 input": read_cube_days(merra2_on_g5nr_path, ddpm.dates, ddpm.lat, ddpm.lon)[0],
        "G5NR truth": truth,
        f"{model} ensemble mean": ddpm.mean[0],
        f"{model} member 1": ddpm.members[0, 0],
    }
    if unet_path is not None:
        unet = read_downscaled(unet_path, log_floor, max_members=0,
                               days=downscaled_positions(unet_path, [date]))
        fields["unet"] = unet.mean[0]
    rmse = {title: metrics.rmse(field, truth) for title, field in fields.items()
            if title != "G5NR truth"}
    return DayMaps(date=ddpm.dates[0], lat=ddpm.lat, lon=ddpm.lon, fields=fields,
                   spread=ddpm.spread[0], error=ddpm.mean[0] - truth, rmse=rmse, model=model)


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


def longrun_frames(longrun_path, merra2_path, max_frames=ANIMATION_MAX_FRAMES,
                   log_floor=LOG_FLOOR) -> LongrunFrames:
    """At most ``max_frames`` days of a long run (every day if it is shorter, else evenly
    spread) with the matching native MERRA-2 days."""
    run = read_downscaled(longrun_path, log_floor, days=longrun_days(longrun_path, max_frames),
                          max_members=0)
    with xr.open_dataset(merra2_path) as ds:
        cube = ds[CUBE_VARIABLE]
        # cells whose area overlaps the G5NR grid, so the native map covers the whole panel
        half_lat = 0.5 * float(np.diff(cube["lat"].values).mean())
        half_lon = 0.5 * float(np.diff(cube["lon"].values).mean())
        cube = within(cube, [run.lat.min() - half_lat, run.lat.max() + half_lat],
                      [run.lon.min() - half_lon, run.lon.max() + half_lon])
        positions = positions_on(cube["time"].values, run.dates, merra2_path)
        merra2 = cube.isel(time=positions).values.astype(np.float32)
        merra2_lat, merra2_lon = cube["lat"].values, cube["lon"].values
    return LongrunFrames(run.dates, run.mean, run.lat, run.lon, merra2, merra2_lat, merra2_lon)


def longrun_skill(longrun_path, truth_path, g5nr_path, merra2_path, log_floor=LOG_FLOOR,
                  regrid_method="nearest") -> pd.DataFrame:
    """Free-running skill of a long run against known truth (the synthetic world's daily means
    after the G5NR record, ``aod`` on the G5NR grid), one row per day: date, lead_days (days
    since the last G5NR day of ``g5nr_path``), rmse (ensemble mean), crps (fair), spread and
    spread_skill (the day's spread with the (M+1)/M correction over its RMSE), psd_ratio
    (member 1 at 25–80 km), and MERRA-2 put on the grid as the no-skill reference: merra2_rmse
    and merra2_crps (a point forecast's CRPS is its MAE).
    Read one day at a time. ValueError naming the truth file when it lacks a day or the grid."""
    from .regrid import regrid  # noqa: PLC0415 - only this diagnostic puts MERRA-2 on the grid

    with xr.open_dataset(g5nr_path) as ds:
        last_g5nr_day = normalised_dates(ds["time"].values)[-1]
    with open_downscaled(longrun_path) as run, xr.open_dataset(truth_path) as truth_ds, \
            xr.open_dataset(merra2_path) as merra2_ds:
        lat, lon = run["lat"].values, run["lon"].values
        dates = normalised_dates(run["time"].values)
        truth = truth_ds["aod"]
        truth_days = normalised_dates(truth["time"].values)
        missing = dates.difference(truth_days)
        if not missing.empty:
            raise ValueError(f"{truth_path}: the known truth lacks {len(missing)} days of the long run, first {missing[0]:%Y-%m-%d}")
        try:
            truth = truth.sel(lat=lat, lon=lon, method="nearest", tolerance=1e-6)
        except KeyError as error:
            raise ValueError(f"{truth_path}: its grid does not hold the long run's grid ({error})") from error
        merra2 = merra2_ds[CUBE_VARIABLE]
        merra2_days = normalised_dates(merra2["time"].values)
        dx, dy = grid_spacing_km(lat, lon)
        rows = []
        for i, date in enumerate(dates):
            members = log10_aod(run["aod_member"].isel(time=i).values, log_floor)  # (M, H, W)
            target = log10_aod(truth.isel(time=truth_days.get_loc(date)).values, log_floor)
            mean = log10_aod(run["aod_mean"].isel(time=i).values, log_floor)
            coarse = merra2.isel(time=merra2_days.get_loc(date)).load()
            on_grid = regrid(coarse, lat, lon, regrid_method).values
            row = {"date": date, "lead_days": (date - last_g5nr_day).days, "rmse": metrics.rmse(mean, target),
                   "merra2_rmse": metrics.rmse(on_grid, target), "merra2_crps": metrics.mae(on_grid, target),
                   "psd_ratio": spatial.psd_ratio(members[0], target, dx, dy)}
            if len(members) > 1:
                row["crps"] = metrics.crps_fair(members, target)
                row["spread_skill"] = metrics.spread_skill_ratio(members, target)
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
        raise ValueError(f"{merra2_path}: MERRA-2 lacks {len(missing)} days of the long run, "
                         f"first {missing[0]:%Y-%m-%d}")
    return pd.DataFrame({
        "date": run_mean.indexes["time"],
        "longrun": run_mean.values,
        "member_min": run_members.min("member").values,
        "member_max": run_members.max("member").values,
        "merra2": merra2.reindex(run_mean.indexes["time"]).to_numpy(),
    })

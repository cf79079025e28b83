"""Evaluation of downscaled fields against G5NR, and the out-of-data diagnostics as tables.

Reads the inference outputs, the ingested cubes (both through :mod:`downscaling.files.contracts`) and
the split CSVs, and turns them into JSON scores and DataFrames that the rule scripts write and
:mod:`downscaling.plots` draws; :mod:`.comparison` ranks the models. The statistics themselves
live in :mod:`.metrics`, :mod:`.spatial` and :mod:`.temporal`; this
module only selects, aligns and arranges the data. Every score is on log10 AOD, as the paper's.
The long run's tables are in :mod:`downscaling.evaluation.longrun`.

Long records (the MERRA-2 record, long runs) are read in blocks of days or as a bounded
selection of days, so memory does not grow with the record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from downscaling.data.splits import predicted_history, read_split
from downscaling.evaluation import metrics, spatial, temporal
from downscaling.files.contracts import (
    CUBE_VARIABLE,
    LOG_FLOOR,
    Downscaled,
    area_mean_series,
    downscaled_positions,
    normalised_dates,
    positions_on,
    read_cube_days,
    read_downscaled,
    spaced_days,
    test_days,
    within,
)

log = logging.getLogger(__name__)

#: Sample-day names other than 'pNN': their quantile of the test days' area-mean AOD.
SAMPLE_DAY_QUANTILES = {"min": 0.0, "median": 0.5, "max": 1.0}
# Bound on the days the lag-k curves read, so that memory does not grow with the record (the
# paper's 763-day G5NR record fits whole).
LAG_CURVE_MAX_DAYS = 800


# --------------------------------------------------------------------------------------------
# Scores of one downscaled file
# --------------------------------------------------------------------------------------------


def strict_history(split_csv, n_lag: int) -> dict:
    """What strict mode predicted of the test days' histories (:func:`splits.predicted_history`):
    the median and largest count of predicted days among the ``n_lag`` history days, and on how
    many test days the day before was predicted."""
    split = read_split(split_csv)
    counts, yesterday = predicted_history(split.date[split.split == "test"], n_lag)
    return {
        "predicted_history_median": float(np.median(counts)) if counts.size else float("nan"),
        "predicted_history_max": int(counts.max()) if counts.size else 0,
        "predicted_yesterday_days": int(yesterday.sum()),
    }


def evaluate_downscaled(
    downscaled_path, g5nr_path, split_csv, seed, log_floor=LOG_FLOOR, stride=None, definitions="project"
):
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
        per_day["crps"] = [
            metrics.crps_fair(prediction.members[:, day], truth[day]) for day in range(len(prediction.dates))
        ]
    return overall, per_day


def field_scores(members, truth, lat, lon, stride, seed, definitions="project") -> dict:
    """Scores of downscaled members (M, T, H, W) against the truth (T, H, W), log10 AOD.

    Deterministic scores of the ensemble mean (rmse, mae, r2, nse, kge, n_pixels); n_days,
    members; the fine-scale realism of member 1: psd_ratio (its power over G5NR's at 25-80 km,
    1 is realistic, < 1 too smooth) and seam_ratio (tile-period signature at the inference
    stride, about 1 without seams; None without a stride); for M > 1 the ensemble's crps
    (fair), spread_skill (about 1 when reliable, < 1 under-dispersed), spread_error_slope
    (about 1 when the spread follows the error in space and time), spread_skill_by_scale (the
    ratio in each band of spatial.BAND_NAMES, finite fields only), rank_histogram (M + 1
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
        if members.shape[0] >= 4:
            overall["spread_error_slope"] = metrics.spread_error_slope(members, truth)
        if np.isfinite(members).all() and np.isfinite(truth).all():
            error, spread = spatial.error_and_spread_by_band(members, truth)
            overall["spread_skill_by_scale"] = {
                band: float(np.sqrt(s / e)) if e > 0 else None for band, e, s in zip(spatial.BAND_NAMES, error, spread)
            }
        counts = metrics.rank_histogram(members, truth, np.random.default_rng(seed))
        overall["rank_histogram"] = counts.tolist()
        shares = counts / counts.sum() * len(counts)
        overall["rank_extremes"] = [float(shares.min()), float(shares.max())]
    return overall


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
        Field(model, "member", k + 1, prediction.members[k], prediction.lat, prediction.lon) for k in range(count)
    ]


def season_prediction_fields(g5nr_path, split_csv, downscaled_paths: dict, log_floor, members="all") -> list[Field]:
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
        tables.append(
            pd.DataFrame(
                {
                    "source": field.source,
                    "kind": field.kind,
                    "member": field.member,
                    "label": field.label,
                    "wavenumber_per_km": wavenumber,
                    "wavelength_km": 1.0 / wavenumber,
                    "psd": psd,
                    "n_days": int(complete.sum()),
                }
            )
        )
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
        curve = spatial.empirical_semivariogram(
            field.values, field.lat, field.lon, max_km=max_km, bins=bins, pairs=pairs, rng=np.random.default_rng(seed)
        )
        key = {"source": field.source, "kind": field.kind, "member": field.member, "label": field.label}
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
    curves, fits = variogram_tables(
        fields, max_km=settings["max_km"], bins=settings["bins"], pairs=settings["pairs"], seed=seed
    )
    log.info("spherical fits:\n%s", fits.to_string())
    curves.to_csv(table_path, index=False, float_format="%.6g")
    fits.to_csv(fits_path, index=False, float_format="%.6g")
    return curves, fits


# --------------------------------------------------------------------------------------------
# ACF/PACF and lag-k curves
# --------------------------------------------------------------------------------------------


def require_daily(series: pd.Series, name: str) -> pd.Series:
    """``series`` (indexed by date) unchanged if it has one finite value per calendar day with
    no gap; ValueError naming ``name`` otherwise (an ACF needs a gap-free daily series)."""
    full = pd.date_range(series.index.min(), series.index.max(), freq="D")
    if len(full) != len(series) or not np.isfinite(series.to_numpy()).all():
        raise ValueError(
            f"{name}: the daily series has gaps ({len(full) - len(series)} days "
            f"missing, {int((~np.isfinite(series.to_numpy())).sum())} non-finite)"
        )
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
    return pd.concat(
        [
            temporal.lag_curves(cube, dates, max_lag, definitions).assign(source=source)
            for source, (cube, dates) in cubes.items()
        ],
        ignore_index=True,
    )


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


def temporal_tables(
    g5nr_path,
    merra2_path,
    longrun_path,
    nlags,
    max_lag,
    max_days=LAG_CURVE_MAX_DAYS,
    log_floor=LOG_FLOOR,
    definitions="project",
):
    """ACF/PACF and lag-k tables of an area (``longrun_path`` may be None).

    ACF/PACF: the area-mean daily log10 AOD of G5NR (its whole record), of MERRA-2 (its whole
    record, native cells inside the G5NR grid's extent) and of the long run's first member (a
    member is what a user gets: the ensemble mean is smoother from day to day, so more persistent).
    Lag-k: G5NR, MERRA-2 over the G5NR period (native cells), and the long run's first member;
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
    g5nr, g5nr_dates = read_cube_positions(g5nr_path, spaced_days(len(series["G5NR"]), max_days, 5 * max_lag))
    merra2_dates = series["MERRA-2"].index
    in_g5nr_period = np.flatnonzero((merra2_dates >= g5nr_dates[0]) & (merra2_dates <= g5nr_dates[-1]))
    merra2_positions = in_g5nr_period[spaced_days(in_g5nr_period.size, max_days, 5 * max_lag)]
    cubes = {
        "G5NR": (g5nr, g5nr_dates),
        "MERRA-2 (G5NR period)": read_cube_positions(merra2_path, merra2_positions, lat, lon),
    }
    if longrun_path is not None:
        member = area_mean_series(longrun_path, "aod_member", log_floor=log_floor).isel(member=0)
        series["long run"] = member.to_series()
        run = read_downscaled(
            longrun_path, log_floor, max_members=1, days=spaced_days(member.sizes["time"], max_days, 5 * max_lag)
        )
        cubes["long run"] = (run.members[0], run.dates)
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
    area_mean = np.nanmean(10.0 ** read_cube_days(g5nr_path, days).astype(np.float64), axis=(1, 2))
    by_aod = days[np.argsort(area_mean, kind="stable")]
    return {name: by_aod[int(np.floor(q * (len(days) - 1) + 0.5))] for name, q in quantiles.items()}


@dataclass(frozen=True)
class DayMaps:
    """The panels of one sample day on the G5NR grid (all log10 AOD, (H, W)).

    fields: {title: field} in display order, sharing one colour scale (MERRA-2 input, G5NR
    truth, the model's ensemble mean, its member 1, its deterministic twin); spread: the
    ensemble's std of log10 AOD; error: ensemble mean minus G5NR; rmse: {title: RMSE against
    G5NR} of each field.
    """

    date: pd.Timestamp
    lat: np.ndarray
    lon: np.ndarray
    fields: dict
    spread: np.ndarray
    error: np.ndarray
    rmse: dict
    model: str = "ddpm"  # the ensemble model shown


def day_maps(
    date, g5nr_path, merra2_on_g5nr_path, ensemble_path, twin_path=None, log_floor=LOG_FLOOR, model="ddpm", twin="unet"
) -> DayMaps:
    """Read the panels of one test day (see :class:`DayMaps`) of the ensemble `model` (its file
    ``ensemble_path``) and of its deterministic `twin` (``twin_path``, may be None)."""
    ensemble = read_downscaled(ensemble_path, log_floor, days=downscaled_positions(ensemble_path, [date]))
    truth = read_cube_days(g5nr_path, ensemble.dates, ensemble.lat, ensemble.lon)[0]
    fields = {
        "MERRA-2 input": read_cube_days(merra2_on_g5nr_path, ensemble.dates, ensemble.lat, ensemble.lon)[0],
        "G5NR truth": truth,
        f"{model} ensemble mean": ensemble.mean[0],
        f"{model} member 1": ensemble.members[0, 0],
    }
    if twin_path is not None:
        deterministic = read_downscaled(
            twin_path, log_floor, max_members=0, days=downscaled_positions(twin_path, [date])
        )
        fields[twin] = deterministic.mean[0]
    rmse = {title: metrics.rmse(field, truth) for title, field in fields.items() if title != "G5NR truth"}
    return DayMaps(
        date=ensemble.dates[0],
        lat=ensemble.lat,
        lon=ensemble.lon,
        fields=fields,
        spread=ensemble.spread[0],
        error=ensemble.mean[0] - truth,
        rmse=rmse,
        model=model,
    )

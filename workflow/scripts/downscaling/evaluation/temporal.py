"""Temporal structure of daily fields: ACF/PACF of a series and lag-k persistence curves."""

import numpy as np
import pandas as pd

from downscaling.evaluation.metrics import r2, rmse


def acf_pacf(series, nlags=30, alpha=0.05, definitions="project"):
    """Autocorrelation and partial autocorrelation of a daily series, from statsmodels.

    series: (T,) finite values (e.g. the area-mean log10 AOD per day); needs T > 2 * nlags
    (statsmodels' PACF limit). ACF: `statsmodels.tsa.stattools.acf` (FFT, Bartlett
    confidence intervals); PACF: `statsmodels.tsa.stattools.pacf` (its default adjusted
    Yule–Walker, intervals ±z/sqrt(T); with ``definitions="authors"`` Yule–Walker on the
    biased ACF, ``ywm``, as the authors). acf_lo/acf_hi and pacf_lo/pacf_hi are statsmodels'
    (1 - alpha) intervals around each estimate; `plot_acf` draws them minus the estimate as a
    band around zero. Returns a DataFrame with rows lag = 0..nlags and columns lag, acf,
    acf_lo, acf_hi, pacf, pacf_lo, pacf_hi. Raises ValueError on non-finite or short input.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1 or not np.isfinite(series).all():
        raise ValueError(
            f"acf_pacf needs a finite 1-D series, got shape {series.shape} "
            f"with {np.size(series) - np.isfinite(series).sum()} non-finite values"
        )
    if series.size <= 2 * nlags:
        raise ValueError(f"acf_pacf with nlags={nlags} needs more than {2 * nlags} values, got {series.size}")
    # imported here: statsmodels costs ~0.5 s to import, and most jobs that import this module
    # (every evaluate job, through downscaling.evaluation.scoring) never need it
    from statsmodels.tsa.stattools import acf, pacf

    autocorrelation = acf(series, nlags=nlags, alpha=alpha, fft=True, result_object=True)
    method = "ywm" if definitions == "authors" else "ywadjusted"
    partial = pacf(series, nlags=nlags, alpha=alpha, method=method, result_object=True)
    return pd.DataFrame(
        {
            "lag": np.arange(nlags + 1),
            "acf": autocorrelation.acf,
            "acf_lo": autocorrelation.confint[:, 0],
            "acf_hi": autocorrelation.confint[:, 1],
            "pacf": partial.pacf,
            "pacf_lo": partial.confint[:, 0],
            "pacf_hi": partial.confint[:, 1],
        }
    )


def _day_numbers(dates, n_time):
    """Dates (length T, strictly increasing) -> integer day numbers (T,) counted from the first."""
    dates = pd.to_datetime(np.asarray(dates)).normalize()
    if len(dates) != n_time:
        raise ValueError(f"got {len(dates)} dates for a cube of {n_time} days")
    day_numbers = np.asarray((dates - dates[0]).days, dtype=np.int64)
    if np.any(np.diff(day_numbers) <= 0):
        raise ValueError("dates must be strictly increasing (one field per calendar day)")
    return day_numbers


def _pooled_rmse_r2(cube, earlier, later, offset, days_per_block=32):
    """RMSE and squared Pearson r of cube[later] against cube[earlier], pooled over all pairs.

    earlier, later: (P,) day indices. Pixels count where both days are finite. Moments are
    accumulated over blocks of pairs so that no (P, H, W) copy is made. Anomalies from
    `offset` (the cube's mean) keep the moment sums well conditioned.
    """
    n = sum_a = sum_b = sum_aa = sum_bb = sum_ab = sum_squared_error = 0.0
    for start in range(0, earlier.size, days_per_block):
        a = cube[earlier[start : start + days_per_block]].astype(np.float64).ravel() - offset
        b = cube[later[start : start + days_per_block]].astype(np.float64).ravel() - offset
        valid = np.isfinite(a) & np.isfinite(b)
        if not valid.all():
            a, b = np.where(valid, a, 0.0), np.where(valid, b, 0.0)  # zeros add nothing to sums
        n += np.count_nonzero(valid)
        sum_a, sum_b = sum_a + a.sum(), sum_b + b.sum()
        sum_aa, sum_bb, sum_ab = sum_aa + a @ a, sum_bb + b @ b, sum_ab + a @ b
        error = b - a
        sum_squared_error += error @ error
    if n == 0:
        return float("nan"), float("nan")
    rmse = np.sqrt(sum_squared_error / n)
    covariance = sum_ab / n - sum_a * sum_b / n**2
    variance_a, variance_b = sum_aa / n - (sum_a / n) ** 2, sum_bb / n - (sum_b / n) ** 2
    if variance_a <= 0 or variance_b <= 0:
        return float(rmse), float("nan")
    return float(rmse), float(covariance**2 / (variance_a * variance_b))


def _mean_of_pairs(cube, earlier, later):
    """Means over the day pairs of each pair's RMSE and squared Pearson r (finite pixels)."""
    if earlier.size == 0:
        return float("nan"), float("nan")
    scores = np.array([(rmse(cube[j], cube[i]), r2(cube[j], cube[i])) for i, j in zip(earlier, later)])
    return float(np.nanmean(scores[:, 0])), float(np.nanmean(scores[:, 1]))


def lag_curves(cube, dates, max_lag=10, definitions="project"):
    """Lag-k RMSE and R² of a daily cube against itself k days later, k = 1..max_lag.

    cube: (T, H, W) daily fields (log10 AOD), NaN-aware; dates: (T,) strictly increasing
    calendar days. Only pairs of days exactly k calendar days apart are used (a gap in the
    record never pairs days further apart), and all their pixels are pooled, so lag-k RMSE /
    R² are the scores of a k-day persistence forecast with the same pooling as
    `metrics.all_metrics`. R² is the squared Pearson correlation. With
    ``definitions="authors"`` they are the means of each day pair's RMSE and R² instead, as
    the authors computed them. Returns a DataFrame with columns lag, rmse, r2, n_pairs (day
    pairs used; rmse and r2 are NaN when 0).
    """
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(f"lag_curves needs a (T, H, W) cube, got shape {cube.shape}")
    day_numbers = _day_numbers(dates, cube.shape[0])
    offset = float(np.nanmean(cube))
    rows = []
    for lag in range(1, max_lag + 1):
        later = np.searchsorted(day_numbers, day_numbers + lag)
        later_clipped = np.minimum(later, day_numbers.size - 1)
        exact = (later < day_numbers.size) & (day_numbers[later_clipped] == day_numbers + lag)
        earlier = np.flatnonzero(exact)
        if definitions == "authors":
            rmse, r2 = _mean_of_pairs(cube, earlier, later[exact])
        else:
            rmse, r2 = _pooled_rmse_r2(cube, earlier, later[exact], offset)
        rows.append({"lag": lag, "rmse": rmse, "r2": r2, "n_pairs": int(earlier.size)})
    return pd.DataFrame(rows)

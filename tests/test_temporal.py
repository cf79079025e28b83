"""ACF/PACF from statsmodels and lag-k persistence curves."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import acf, pacf

from downscaling.evaluation import temporal


def ar1_series(phi, n, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=n)
    series = np.empty(n)
    series[0] = noise[0] / np.sqrt(1 - phi**2)  # start in the stationary distribution
    for t in range(1, n):
        series[t] = phi * series[t - 1] + noise[t]
    return series


def test_acf_pacf_are_statsmodels_values():
    series = ar1_series(0.6, 400)
    table = temporal.acf_pacf(series, nlags=30, alpha=0.05)
    assert list(table.columns) == ["lag", "acf", "acf_lo", "acf_hi", "pacf", "pacf_lo", "pacf_hi"]
    np.testing.assert_array_equal(table["lag"], np.arange(31))
    expected_acf = acf(series, nlags=30, alpha=0.05, fft=True, result_object=True)
    expected_pacf = pacf(series, nlags=30, alpha=0.05, result_object=True)
    np.testing.assert_allclose(table["acf"], expected_acf.acf)
    np.testing.assert_allclose(table[["acf_lo", "acf_hi"]], expected_acf.confint)
    np.testing.assert_allclose(table["pacf"], expected_pacf.pacf)
    np.testing.assert_allclose(table[["pacf_lo", "pacf_hi"]], expected_pacf.confint)


def test_ar1_recovers_phi():
    phi = 0.7
    table = temporal.acf_pacf(ar1_series(phi, 3000, seed=1), nlags=10)
    assert table["acf"][1] == pytest.approx(phi, abs=0.04)
    assert table["acf"][2] == pytest.approx(phi**2, abs=0.06)
    assert table["pacf"][1] == pytest.approx(phi, abs=0.04)
    # beyond lag 1 an AR(1) has no partial autocorrelation: inside the ±2/sqrt(n) band
    assert np.all(np.abs(table["pacf"][2:]) < 2.5 / np.sqrt(3000))
    lagged = table.iloc[1:]  # at lag 0 the interval collapses onto acf = 1
    assert np.all(lagged["acf_lo"] < lagged["acf"]) and np.all(lagged["acf"] < lagged["acf_hi"])


def test_acf_pacf_rejects_bad_series():
    with pytest.raises(ValueError, match="non-finite"):
        temporal.acf_pacf(np.array([1.0, np.nan] * 50))
    with pytest.raises(ValueError, match="more than 60"):
        temporal.acf_pacf(np.arange(50.0), nlags=30)


def test_lag_curves_of_a_constant_cube():
    field = np.random.default_rng(0).normal(size=(6, 7))
    cube = np.repeat(field[np.newaxis], 12, axis=0)
    table = temporal.lag_curves(cube, pd.date_range("2006-03-01", periods=12), max_lag=10)
    assert list(table.columns) == ["lag", "rmse", "r2", "n_pairs"]
    np.testing.assert_array_equal(table["lag"], np.arange(1, 11))
    np.testing.assert_allclose(table["rmse"], 0.0, atol=1e-12)
    np.testing.assert_allclose(table["r2"], 1.0)
    np.testing.assert_array_equal(table["n_pairs"], 12 - np.arange(1, 11))


def test_lag_curves_pair_only_days_exactly_k_apart():
    # days 0..4 and 10..14 (a 5-day gap); the field of day d is pattern + d, so a pair of days
    # exactly k apart differs by k everywhere, and a wrongly paired pair by more
    day_numbers = np.r_[0:5, 10:15]
    dates = pd.Timestamp("2006-01-01") + pd.to_timedelta(day_numbers, unit="D")
    pattern = np.random.default_rng(1).normal(size=(5, 5))
    cube = pattern + day_numbers[:, np.newaxis, np.newaxis].astype(float)
    table = temporal.lag_curves(cube, dates, max_lag=10).set_index("lag")
    np.testing.assert_array_equal(table["n_pairs"], [8, 6, 4, 2, 0, 1, 2, 3, 4, 5])
    filled = table[table["n_pairs"] > 0]
    np.testing.assert_allclose(filled["rmse"], filled.index.to_numpy(dtype=float))
    assert np.isnan(table.loc[5, "rmse"]) and np.isnan(table.loc[5, "r2"])


def test_lag_curves_r2_matches_pooled_metric():
    from downscaling.evaluation import metrics

    cube = np.random.default_rng(2).normal(size=(20, 6, 6)).cumsum(axis=0)
    cube[3, 2, 2] = np.nan
    table = temporal.lag_curves(cube, pd.date_range("2006-01-01", periods=20), max_lag=3)
    for lag in (1, 3):
        row = table.set_index("lag").loc[lag]
        assert row["rmse"] == pytest.approx(metrics.rmse(cube[lag:], cube[:-lag]))
        assert row["r2"] == pytest.approx(metrics.r2(cube[lag:], cube[:-lag]))


def test_lag_curves_reject_unsorted_dates():
    dates = pd.to_datetime(["2006-01-02", "2006-01-01", "2006-01-03"])
    with pytest.raises(ValueError, match="increasing"):
        temporal.lag_curves(np.zeros((3, 2, 2)), dates)
    with pytest.raises(ValueError, match="2 dates"):
        temporal.lag_curves(np.zeros((3, 2, 2)), dates[:2])


def yule_walker_on_the_biased_acf(x, nlags):
    """PACF by solving the Yule-Walker equations of the biased sample ACF, lag by lag."""
    x = x - x.mean()
    r = np.array([np.sum(x[: x.size - k] * x[k:]) for k in range(nlags + 1)]) / np.sum(x * x)
    pacf = [1.0]
    for k in range(1, nlags + 1):
        toeplitz = np.array([[r[abs(i - j)] for j in range(k)] for i in range(k)])
        pacf.append(np.linalg.solve(toeplitz, r[1 : k + 1])[-1])
    return np.array(pacf)


def test_the_authors_pacf_is_yule_walker_on_the_biased_acf():
    series = ar1_series(0.7, 90, seed=3)
    authors = temporal.acf_pacf(series, nlags=29, definitions="authors")["pacf"].to_numpy()
    np.testing.assert_allclose(authors, yule_walker_on_the_biased_acf(series, 29), atol=1e-10)
    project = temporal.acf_pacf(series, nlags=29)["pacf"].to_numpy()
    assert np.abs(project - authors).max() > 0.01  # the two definitions differ at long lags


def test_the_authors_lag_curves_are_means_of_per_day_scores():
    pattern = np.array([[0.0, 1.0], [2.0, 3.0]])
    cube = np.stack([pattern + c for c in (0.0, 1.0, 3.0)])  # lag 1: shifts of 1 and 2
    cube[2, 0, 0] = np.nan  # a missing pixel counts only in its own day pair
    dates = pd.date_range("2006-01-01", periods=3)
    authors = temporal.lag_curves(cube, dates, max_lag=1, definitions="authors").iloc[0]
    assert authors["rmse"] == pytest.approx(1.5) and authors["r2"] == pytest.approx(1.0)
    pooled = temporal.lag_curves(cube, dates, max_lag=1).iloc[0]
    assert pooled["rmse"] == pytest.approx(np.sqrt((4 * 1 + 3 * 4) / 7)) and pooled["r2"] < 1

"""Verification metrics against hand-computed values on small arrays."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from downscaling.evaluation import metrics


@pytest.fixture
def truth():
    """A (3, 8, 8) log10-AOD-like cube, negative mean as for real AOD."""
    return np.random.default_rng(1).normal(-1.0, 0.3, size=(3, 8, 8))


def test_perfect_prediction(truth):
    scores = metrics.all_metrics(truth, truth)
    assert scores["rmse"] == 0 and scores["mae"] == 0
    assert scores["nse"] == pytest.approx(1.0)
    assert scores["kge"] == pytest.approx(1.0)
    assert scores["r2"] == pytest.approx(1.0)
    assert scores["n_pixels"] == truth.size


def test_constant_offset(truth):
    offset = 0.3
    scores = metrics.all_metrics(truth + offset, truth)
    assert scores["rmse"] == pytest.approx(offset)
    assert scores["mae"] == pytest.approx(offset)
    assert scores["r2"] == pytest.approx(1.0)
    assert scores["nse"] == pytest.approx(1 - offset**2 / truth.var())
    beta = (truth.mean() + offset) / truth.mean()  # r = 1, alpha = 1
    assert scores["kge"] == pytest.approx(1 - abs(beta - 1))


def test_hand_computed_2x2():
    truth = np.array([[1.0, 2.0], [3.0, 4.0]])
    pred = np.array([[2.0, 2.0], [4.0, 4.0]])
    # errors 1, 0, 1, 0; truth mean 2.5, variance 1.25; pred mean 3, variance 1
    r = 4 / np.sqrt(4 * 5)  # sum of products of deviations / sqrt(sum p'² * sum t'²)
    alpha, beta = 1 / np.sqrt(1.25), 3 / 2.5
    assert metrics.rmse(pred, truth) == pytest.approx(np.sqrt(0.5))
    assert metrics.mae(pred, truth) == pytest.approx(0.5)
    assert metrics.r2(pred, truth) == pytest.approx(0.8)
    assert metrics.nse(pred, truth) == pytest.approx(1 - 2 / 5)
    assert metrics.kge(pred, truth) == pytest.approx(1 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))
    assert metrics.kge(pred, truth) == pytest.approx(0.750418, abs=1e-6)


def test_nan_pixels_are_ignored():
    truth = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]])
    pred = np.array([[2.0, 2.0, 4.0], [4.0, 100.0, np.nan]])
    # pixels used: (1,2) (2,2) (3,4) (4,4): the 2x2 case above
    assert metrics.rmse(pred, truth) == pytest.approx(np.sqrt(0.5))
    assert metrics.all_metrics(pred, truth)["n_pixels"] == 4
    assert metrics.nse(pred, truth) == pytest.approx(0.6)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="shape"):
        metrics.rmse(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no pixel"):
        metrics.mae(np.full(3, np.nan), np.zeros(3))


def test_constant_truth_gives_nan_correlation_scores():
    truth, pred = np.ones(5), np.arange(5.0)
    assert np.isnan(metrics.r2(pred, truth))
    assert np.isnan(metrics.nse(pred, truth))
    assert np.isnan(metrics.kge(pred, truth))


def test_per_day_metrics(truth):
    pred = truth.copy()
    pred[1] += 0.2
    dates = pd.date_range("2006-01-01", periods=3)
    table = metrics.per_day_metrics(pred, truth, dates)
    assert list(table.columns) == ["date", "rmse", "mae", "r2", "nse", "kge", "n_pixels"]
    assert list(table["date"]) == list(dates)
    np.testing.assert_allclose(table["rmse"], [0.0, 0.2, 0.0], atol=1e-12)
    assert table["nse"][1] == pytest.approx(1 - 0.04 / truth[1].var())
    with pytest.raises(ValueError, match="dates"):
        metrics.per_day_metrics(pred, truth, dates[:2])
    pred[2] = np.nan
    with pytest.raises(ValueError, match="2006-01-03"):
        metrics.per_day_metrics(pred, truth, dates)


def test_crps_single_member_equals_mae(truth):
    pred = truth + np.random.default_rng(2).normal(0, 0.1, truth.shape)
    assert metrics.crps_fair(pred[np.newaxis], truth) == pytest.approx(metrics.mae(pred, truth))


def test_crps_two_members_by_hand():
    # pixel 1: members 0, 2, truth 1: mean|X-y| = 1, pair term 1/(2*2*1) * (2+2) = 1 -> 0
    # pixel 2: members 0, 1, truth 3: mean|X-y| = 2.5, pair term 1/4 * (1+1) = 0.5 -> 2
    members = np.array([[0.0, 0.0], [2.0, 1.0]])  # (M=2, N=2)
    truth = np.array([1.0, 3.0])
    assert metrics.crps_fair(members, truth) == pytest.approx(1.0)


def test_crps_matches_the_double_sum():
    rng = np.random.default_rng(3)
    members, truth = rng.normal(size=(5, 40)), rng.normal(size=40)
    n_members = len(members)
    pair_sum = sum(np.abs(members[i] - members[j]) for i, j in itertools.product(range(n_members), repeat=2))
    expected = np.mean(np.abs(members - truth).mean(axis=0) - pair_sum / (2 * n_members * (n_members - 1)))
    assert metrics.crps_fair(members, truth) == pytest.approx(expected)


def test_crps_ignores_pixels_with_a_nan_member():
    members = np.array([[0.0, 0.0, 5.0], [2.0, 1.0, np.nan]])
    truth = np.array([1.0, 3.0, 0.0])
    assert metrics.crps_fair(members, truth) == pytest.approx(1.0)


def test_spread_skill_ratio_of_a_reliable_ensemble_is_one():
    rng = np.random.default_rng(4)
    centre = rng.normal(size=20000)  # per-pixel predictable part
    truth = centre + rng.normal(size=20000)
    members = centre + rng.normal(size=(5, 20000))
    assert metrics.spread_skill_ratio(members, truth) == pytest.approx(1.0, abs=0.03)
    under_dispersed = centre + 0.5 * rng.normal(size=(5, 20000))
    assert metrics.spread_skill_ratio(under_dispersed, truth) < 0.6
    with pytest.raises(ValueError, match="at least 2"):
        metrics.spread_skill_ratio(members[:1], truth)


def test_rank_histogram_flat_for_exchangeable_ensemble():
    rng = np.random.default_rng(5)
    n_members, n_pixels = 9, 20000
    truth = rng.gamma(2.0, size=(100, 200))
    members = rng.gamma(2.0, size=(n_members, 100, 200))
    counts = metrics.rank_histogram(members, truth, np.random.default_rng(0))
    assert counts.shape == (n_members + 1,) and counts.sum() == n_pixels
    expected = n_pixels / (n_members + 1)
    statistic = np.sum((counts - expected) ** 2 / expected)
    assert statistic < chi2.ppf(0.999, df=n_members)


def test_rank_histogram_breaks_ties_at_random():
    truth = np.zeros(10000)
    members = np.zeros((3, 10000))  # every member ties with the truth
    counts = metrics.rank_histogram(members, truth, np.random.default_rng(0))
    np.testing.assert_allclose(counts / 10000, 0.25, atol=0.02)
    biased = np.stack([truth - 1, truth - 1, truth - 1])  # truth above every member
    assert list(metrics.rank_histogram(biased, truth, np.random.default_rng(0))) == [0, 0, 0, 10000]


def test_the_authors_nse_and_kge_with_missing_pixels():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.0, 2.0, np.nan, 5.0])
    # project: pixels finite in both, (1,1), (2,2), (4,5): 1 - 1 / sum((t - 7/3)^2) = 1 - 1 / (42/9)
    assert metrics.nse(pred, truth) == pytest.approx(1 - 9 / 42)
    # authors: the denominator over every finite truth pixel, mean 2.5: 1 - 1 / 5
    assert metrics.nse(pred, truth, "authors") == pytest.approx(0.8)
    assert np.isnan(metrics.kge(pred, truth, "authors")) and np.isfinite(metrics.kge(pred, truth))
    whole = np.array([1.5, 2.0, 2.5, 5.0])  # without NaN both definitions agree
    assert metrics.kge(whole, truth, "authors") == metrics.kge(whole, truth)
    assert metrics.all_metrics(pred, truth, "authors")["nse"] == pytest.approx(0.8)


def test_the_spread_error_slope_is_one_when_the_spread_follows_the_error_and_zero_when_it_does_not():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.02, 0.3, size=(1, 40, 40))  # each pixel's own uncertainty
    truth = rng.normal(0.0, sigma[0], size=(30, 40, 40))
    reliable = rng.normal(0.0, sigma, size=(8, 30, 40, 40))  # members and truth from one distribution
    spread, error = metrics.spread_error_curve(reliable, truth)
    assert np.all(np.diff(spread) > 0) and np.allclose(error, spread, rtol=0.1)  # on the diagonal
    assert metrics.spread_error_slope(reliable, truth) == pytest.approx(1.0, abs=0.08)
    # binned by the very spread it reports, the same reliable ensemble would look mis-calibrated
    variance = reliable.var(axis=0, ddof=1).ravel() * 9 / 8
    bins = np.array_split(np.argsort(variance), 10)
    naive = np.polyfit(
        [np.sqrt(variance[g].mean()) for g in bins],
        [np.sqrt(((reliable.mean(axis=0) - truth).ravel()[g] ** 2).mean()) for g in bins],
        1,
    )[0]
    assert naive < 0.8  # measured 0.75: why the curve bins with half of the members
    narrow = rng.normal(0.0, 0.5 * sigma, size=(8, 30, 40, 40))  # follows the error, half as wide
    assert metrics.spread_error_slope(narrow, truth) == pytest.approx(2.0, abs=0.2)
    uniform = rng.normal(0.0, sigma.mean(), size=(8, 30, 40, 40))  # the right mean spread, everywhere alike
    assert abs(metrics.spread_error_slope(uniform, truth)) < 0.3
    with pytest.raises(ValueError, match="at least 4 members"):
        metrics.spread_error_slope(reliable[:3], truth)

"""The intervals of paired per-day differences hold their level at our sample sizes, by
simulation (downscaling/evaluation/paired_tests.py): 95 % +- 2 % on series of 9-11 days, and
on a long run's 60 consecutive days."""

import numpy as np
import pandas as pd
import pytest

from downscaling.evaluation import paired_tests

GROUPS = [
    (season, area, mode)
    for season in ("DJF", "MAM", "JJA", "SON")
    for area in ("west",)
    for mode in ("strict", "lenient")
]


def ar1(rng, n: int, rho: float) -> np.ndarray:
    """A stationary AR(1) series of n values (unit innovations)."""
    x = np.empty(n)
    x[0] = rng.normal() / np.sqrt(1 - rho**2)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + rng.normal()
    return x


@pytest.mark.parametrize("n", [9, 10, 11])
def test_the_t_interval_covers_95_percent_of_independent_days(n):
    rng = np.random.default_rng(n)
    covered = [low <= 0 <= high for low, high in (paired_tests.t_interval(rng.normal(size=n)) for _ in range(6000))]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_the_t_interval_covers_randomly_sampled_days_of_an_autocorrelated_season():
    """The random design: test days are a random sample of the season's days, so the interval
    covers the season's mean difference whatever the days' correlation."""
    rng = np.random.default_rng(3)
    covered = []
    for _ in range(4000):
        season = ar1(rng, 90, 0.8)
        days = rng.choice(90, size=10, replace=False)
        low, high = paired_tests.t_interval(season[days])
        covered.append(low <= season.mean() <= high)
    assert 0.93 <= np.mean(covered) <= 0.97


def study(rng, rho: float, n: int = 10) -> dict:
    """Per-day scores of two models in the 8 groups of a study: one block of n consecutive test
    days each, model a's score an AR(1) series around model b's (true mean difference 0)."""
    per_day = {}
    for g, group in enumerate(GROUPS):
        dates = pd.date_range("2005-06-01", periods=n) + pd.Timedelta(days=100 * g)
        per_day[("a", *group)] = pd.DataFrame({"rmse": ar1(rng, n, rho)}, index=dates)
        per_day[("b", *group)] = pd.DataFrame({"rmse": np.zeros(n)}, index=dates)
    return per_day


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.0, 0.3, 0.5])
def test_the_blocked_design_interval_covers_95_percent_of_autocorrelated_blocks(rho):
    rng = np.random.default_rng(int(rho * 10))
    covered = []
    for _ in range(700):
        test = paired_tests.PairedTest(study(rng, rho), design="blocked")
        for group in GROUPS:
            _, low, high, _ = test.compare("a", "b", group, "rmse")
            covered.append(low <= 0 <= high)
    assert 0.93 <= np.mean(covered) <= 0.97


def test_the_plain_t_interval_would_not_cover_autocorrelated_blocks():
    """Why the blocked design needs its own interval: at rho 0.5 the t-interval covers ~75 %."""
    rng = np.random.default_rng(5)
    covered = [low <= 0 <= high for low, high in (paired_tests.t_interval(ar1(rng, 10, 0.5)) for _ in range(4000))]
    assert np.mean(covered) < 0.85


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_the_interval_of_a_long_run_covers_95_percent_of_its_mean_difference(rho):
    """A long run's per-day differences to a reference: one series of consecutive days (60,
    the demo's run) whose autocorrelation is estimated from the series itself."""
    rng = np.random.default_rng(int(rho * 10) + 5)
    days = pd.date_range("2006-06-17", periods=60)
    covered = [
        low <= 0 <= high
        for low, high in (paired_tests.series_interval(pd.Series(ar1(rng, 60, rho), index=days)) for _ in range(2000))
    ]
    assert 0.93 <= np.mean(covered) <= 0.98  # conservative (97 %) without autocorrelation


def test_the_sign_flip_test_is_exact_and_holds_its_level():
    assert paired_tests.sign_flip_p_value([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(2 / 32)
    assert paired_tests.sign_flip_p_value([0.1, -0.1]) == 1.0
    rng = np.random.default_rng(9)
    rejected = [paired_tests.sign_flip_p_value(rng.normal(size=10)) < 0.05 for _ in range(3000)]
    assert 0.03 <= np.mean(rejected) <= 0.06


def test_the_pooled_autocorrelation_recovers_a_known_rho():
    rng = np.random.default_rng(11)
    series = [pd.Series(ar1(rng, 10, 0.5), index=pd.date_range("2005-06-01", periods=10)) for _ in range(400)]
    rho, error = paired_tests.lag1_autocorrelation(series)
    assert rho == pytest.approx(0.5, abs=0.05) and error < 0.02  # the bias correction is first-order
    # two blocks of 5 days a month apart in each series (a blocked season with two blocks)
    dates = pd.date_range("2005-06-01", periods=5).append(pd.date_range("2005-07-01", periods=5))
    blocks = [pd.Series(np.concatenate([ar1(rng, 5, 0.5), ar1(rng, 5, 0.5)]), index=dates) for _ in range(400)]
    assert paired_tests.lag1_autocorrelation(blocks)[0] == pytest.approx(0.5, abs=0.05)


def test_an_unknown_design_is_refused():
    with pytest.raises(ValueError, match="splits.test_design: 'weekly'"):
        paired_tests.PairedTest({}, design="weekly")

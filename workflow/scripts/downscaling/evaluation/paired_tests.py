"""Intervals and tests for the mean of per-day paired score differences (model A minus model B
on the same test days), at the sample sizes of a season's test days (about 10).

Which interval holds its level depends on how the test days were chosen (``splits.test_design``):

- **random** (the authors' design): test days are a simple random sample of the season's days
  with history, so the paired t-interval is valid for the season's mean difference whatever the
  days' autocorrelation (the randomisation, not independence, carries it). The exact sign-flip
  (permutation) test gives the p-value.
- **blocked**: test days come as runs of consecutive days, whose differences are correlated. The
  interval is a t-interval whose variance follows an AR(1) correlation ``rho ** gap`` between
  days ``gap`` apart (the sample variance corrected for the same correlation). ``rho`` cannot be
  estimated from ten days; it is the lag-1 autocorrelation pooled over every season x area x mode
  of the same comparison, bias-corrected and raised by one standard error so that its
  estimation error does not shrink the interval.

``tests/test_paired_tests.py`` checks the coverage by simulation: 95 % +- 2 % on independent and
on AR(1) series of 10 days. (A moving-block bootstrap of 3-day blocks, used before, covered about
80 % at these sizes.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

DESIGNS = ("random", "blocked")

#: Above this many days the sign-flip test draws sign patterns instead of enumerating 2**n.
EXACT_SIGN_FLIP_DAYS = 16


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The t-interval of the mean of independent (or randomly sampled) ``values``; (NaN, NaN)
    for fewer than two finite values."""
    values = _finite(values)
    n = values.size
    if n < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return float(values.mean() - half), float(values.mean() + half)


def sign_flip_p_value(values, seed: int = 0, n_draws: int = 20000) -> float:
    """Two-sided p-value of the sign-flip test of a zero mean: the share of sign patterns whose
    mean is at least as far from 0 as the observed one. Exact (all 2**n patterns) up to
    :data:`EXACT_SIGN_FLIP_DAYS` values, else from ``n_draws`` seeded random patterns and the
    observed one (never 0). NaN for none."""
    values = _finite(values)
    n = values.size
    if n == 0:
        return float("nan")
    if n <= EXACT_SIGN_FLIP_DAYS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_draws, n))
    observed = abs(values.mean())
    as_extreme = int(np.sum(np.abs(signs @ values) / n >= observed - 1e-12 * max(observed, 1e-300)))
    if n <= EXACT_SIGN_FLIP_DAYS:
        return as_extreme / len(signs)
    return (as_extreme + 1) / (n_draws + 1)  # the observed pattern counted: a valid Monte Carlo p-value


def _day_numbers(dates) -> np.ndarray:
    return pd.DatetimeIndex(dates).values.astype("datetime64[D]").astype(np.int64)


def lag1_autocorrelation(series: Iterable[pd.Series]) -> tuple[float, float]:
    """(rho, its standard error): the lag-1 autocorrelation of date-indexed series pooled over
    their pairs of consecutive days, each series centred on its own mean: the mean product of
    consecutive days over the mean square, scaled as the usual estimate of a series without
    gaps (sum of products over sum of squares), with the small-sample bias of centred series
    corrected (+ (1 + 3 rho) / n, Marriott & Pope 1954). (NaN, NaN) without consecutive days."""
    products = squares = 0.0
    pairs = days = n_series = 0
    for one in series:
        one = one.dropna().sort_index()
        if len(one) < 2:
            continue
        centred = one.values - one.values.mean()
        consecutive = np.diff(_day_numbers(one.index)) == 1
        products += float(np.sum((centred[1:] * centred[:-1])[consecutive]))
        squares += float(np.sum(centred**2))
        pairs += int(consecutive.sum())
        days += len(one)
        n_series += 1
    if pairs == 0 or squares == 0:
        return float("nan"), float("nan")
    n = days / n_series  # the mean length of a series
    raw = (products / pairs) / (squares / days) * (n - 1) / n
    rho = raw + (1 + 3 * raw) / n
    return float(np.clip(rho, -0.99, 0.99)), float(np.sqrt(max(1 - rho**2, 0.0) / pairs))


def autocorrelated_interval(values: pd.Series, rho: float, level: float = 0.95) -> tuple[float, float]:
    """t-interval of the mean of date-indexed ``values`` whose correlation is ``rho ** gap``
    between days ``gap`` apart (rho <= 0 or NaN: independent). (NaN, NaN) for fewer than two."""
    values = values.dropna()
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    x = values.values.astype(np.float64)
    rho = max(float(rho), 0.0) if np.isfinite(rho) else 0.0
    days = _day_numbers(values.index)
    inflation = float(np.sum(rho ** np.abs(days[:, None] - days[None, :]))) / n  # n Var(mean) / sigma^2
    variance = np.sum((x - x.mean()) ** 2) / max(n - inflation, 1e-9)  # unbiased under the same correlation
    half = stats.t.ppf((1 + level) / 2, n - 1) * np.sqrt(variance * inflation / n)
    return float(x.mean() - half), float(x.mean() + half)


def raised(rho: float, error: float) -> float:
    """A lag-1 autocorrelation raised by its standard error (capped at 0.99; NaN stays NaN): an
    estimate from few days is biased low, and an interval built on it would be too narrow."""
    return min(rho + error, 0.99) if np.isfinite(rho) else float("nan")


def series_interval(values: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """The interval of the mean of one date-indexed daily series (e.g. a long run's per-day
    difference to a reference): :func:`autocorrelated_interval` with the series' own lag-1
    autocorrelation, :func:`raised`. Coverage by simulation: tests/test_paired_tests.py."""
    return autocorrelated_interval(values, raised(*lag1_autocorrelation([values])), level)


def autocorrelated_p_value(values: pd.Series, rho: float) -> float:
    """Two-sided p-value of a zero mean under the correlation of :func:`autocorrelated_interval`."""
    values = values.dropna()
    if len(values) < 2:
        return float("nan")
    low, high = autocorrelated_interval(values, rho, level=0.95)
    standard_error = (high - low) / 2 / stats.t.ppf(0.975, len(values) - 1)
    if standard_error == 0:
        return 0.0 if values.mean() != 0 else 1.0
    return float(2 * stats.t.sf(abs(values.mean()) / standard_error, len(values) - 1))


@dataclass
class PairedTest:
    """The interval and test of per-day paired differences for one test design, over one
    study's per-day scores ``per_day`` ({(model, season, area, mode): frame indexed by date}).

    :meth:`compare` gives (mean, low, high, p) of ``first - second`` in one group. For the
    blocked design, rho of each (first, second, metric) is pooled over every group that holds
    both models (:func:`lag1_autocorrelation`) and raised by one standard error.
    """

    per_day: dict
    design: str = "random"
    level: float = 0.95
    seed: int = 0
    _rho: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.design not in DESIGNS:
            raise ValueError(f"splits.test_design: {self.design!r}; expected one of {DESIGNS}")

    def differences(self, first: str, second: str, group: tuple, metric: str) -> pd.Series:
        a, b = self.per_day[(first, *group)], self.per_day[(second, *group)]
        return (a[metric] - b[metric]).dropna().sort_index()

    def rho(self, first: str, second: str, metric: str) -> float:
        """The pooled, raised lag-1 autocorrelation of ``first - second`` (blocked design)."""
        key = (first, second, metric)
        if key not in self._rho:
            groups = {k[1:] for k in self.per_day if k[0] == first} & {k[1:] for k in self.per_day if k[0] == second}
            self._rho[key] = raised(
                *lag1_autocorrelation(self.differences(first, second, g, metric) for g in sorted(groups))
            )
        return self._rho[key]

    def compare(self, first: str, second: str, group: tuple, metric: str) -> tuple[float, float, float, float]:
        """(mean, low, high, p) of the per-day ``metric`` of ``first`` minus ``second`` in
        ``group`` = (season, area, mode), over their common days."""
        differences = self.differences(first, second, group, metric)
        mean = float(differences.mean()) if len(differences) else float("nan")
        if self.design == "random":
            return (mean, *t_interval(differences.values, self.level), sign_flip_p_value(differences.values, self.seed))
        rho = self.rho(first, second, metric)
        return (mean, *autocorrelated_interval(differences, rho, self.level), autocorrelated_p_value(differences, rho))

    @property
    def described(self) -> str:
        """How the intervals were made, for the pages that show them."""
        if self.design == "random":
            return f"paired t-interval ({self.level:.0%}), sign-flip p-value"
        return (
            f"AR(1) t-interval ({self.level:.0%}; lag-1 autocorrelation pooled over the "
            "season x area x mode groups, raised by one standard error)"
        )

"""Domain gap between MERRA-2 and G5NR: 1-D Wasserstein distances of jointly scaled log10 AOD.

Values of both sources are min–max scaled with one shared (lo, hi) to [0, 1], so every
distance here is in that scaled space (1 = the joint value range).
"""

import numpy as np
from scipy.stats import wasserstein_distance


def minmax_scale(values, lo, hi):
    """(values - lo) / (hi - lo) as float64, NaN kept; raises ValueError unless hi > lo."""
    if not hi > lo:
        raise ValueError(f"min–max scaling needs hi > lo, got lo={lo}, hi={hi}")
    return (np.asarray(values, dtype=np.float64) - lo) / (hi - lo)


def minmax_joint(a, b):
    """Scale two arrays with their joint finite min and max to [0, 1].

    Returns (a_scaled, b_scaled, (lo, hi)) with lo, hi the joint extremes (input units).
    Raises ValueError when neither array has a finite value or both are one constant.
    """
    finite = [np.asarray(x)[np.isfinite(x)] for x in (a, b)]
    if not any(x.size for x in finite):
        raise ValueError("minmax_joint: neither array has a finite value")
    lo = float(min(x.min() for x in finite if x.size))
    hi = float(max(x.max() for x in finite if x.size))
    return minmax_scale(a, lo, hi), minmax_scale(b, lo, hi), (lo, hi)


def per_day_wasserstein(merra, g5nr, lo, hi):
    """1-D Wasserstein distance between the two sources' value distributions for each day.

    merra, g5nr: (T, H, W) daily log10 AOD (grids may differ, T must match); lo, hi: the joint
    scaling range. Each day compares the finite scaled values with
    `scipy.stats.wasserstein_distance`. Returns (T,) float64 distances in scaled units.
    Raises ValueError when T differs or a day has no finite value in one source.
    """
    merra, g5nr = np.asarray(merra), np.asarray(g5nr)
    if merra.ndim != 3 or g5nr.ndim != 3 or merra.shape[0] != g5nr.shape[0]:
        raise ValueError(
            f"per_day_wasserstein needs two (T, H, W) cubes with the same T, got {merra.shape} and {g5nr.shape}"
        )
    distances = np.empty(merra.shape[0])
    for day, (merra_day, g5nr_day) in enumerate(zip(merra, g5nr)):
        merra_values = minmax_scale(merra_day[np.isfinite(merra_day)], lo, hi)
        g5nr_values = minmax_scale(g5nr_day[np.isfinite(g5nr_day)], lo, hi)
        if merra_values.size == 0 or g5nr_values.size == 0:
            raise ValueError(
                f"day index {day} has no finite value in {'MERRA-2' if merra_values.size == 0 else 'G5NR'}"
            )
        distances[day] = wasserstein_distance(merra_values, g5nr_values)
    return distances


def summary(values):
    """Summary of per-day distances: dict(mean, median, p10, p90, n_days); floats and an int.

    Raises ValueError on an empty or non-finite input.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(
            f"summary needs a non-empty finite array, got {values.size} values "
            f"({np.size(values) - np.isfinite(values).sum()} non-finite)"
        )
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {
        "mean": float(values.mean()),
        "median": float(median),
        "p10": float(p10),
        "p90": float(p90),
        "n_days": int(values.size),
    }


class StreamingHistogram:
    """Histogram of min–max scaled values on [0, 1], accumulated chunk by chunk.

    Lets the pooled distance of a long record be computed without holding it in memory:
    `add` each day (or block of days) as it is read. Values are scaled with (lo, hi) and
    clipped into [0, 1] (values outside the range count in the edge bins); NaNs are ignored.
    Attributes: counts (bins,) int64, edges (bins + 1,), centres (bins,), all in scaled units.
    """

    def __init__(self, lo, hi, bins=256):
        self.lo, self.hi, self.bins = float(lo), float(hi), int(bins)
        minmax_scale(0.0, self.lo, self.hi)  # validates hi > lo now, not at the first add
        self.edges = np.linspace(0.0, 1.0, self.bins + 1)
        self.centres = 0.5 * (self.edges[:-1] + self.edges[1:])
        self.counts = np.zeros(self.bins, dtype=np.int64)

    def add(self, values):
        """Count the finite entries of `values` (any shape, input units). Returns self."""
        values = np.asarray(values)
        scaled = np.clip(minmax_scale(values[np.isfinite(values)], self.lo, self.hi), 0.0, 1.0)
        self.counts += np.histogram(scaled, bins=self.edges)[0]
        return self

    @property
    def n(self):
        """Number of values counted so far."""
        return int(self.counts.sum())

    def cdf(self):
        """Empirical CDF for plotting: (upper bin edges (bins,), cumulative fraction (bins,))."""
        if self.n == 0:
            raise ValueError("the histogram is empty; add values before asking for its CDF")
        return self.edges[1:], np.cumsum(self.counts) / self.n


def pooled_wasserstein(hist_a, hist_b):
    """Wasserstein distance between two StreamingHistograms (same lo, hi, bins), scaled units.

    Each histogram is read as point masses at its bin centres weighted by the counts, so the
    result is exact up to the bin width 1 / bins. Raises ValueError on mismatched or empty
    histograms.
    """
    if (hist_a.lo, hist_a.hi, hist_a.bins) != (hist_b.lo, hist_b.hi, hist_b.bins):
        raise ValueError(
            "histograms differ in (lo, hi, bins): "
            f"{(hist_a.lo, hist_a.hi, hist_a.bins)} vs {(hist_b.lo, hist_b.hi, hist_b.bins)}"
        )
    if hist_a.n == 0 or hist_b.n == 0:
        raise ValueError("pooled_wasserstein: a histogram is empty")
    return float(
        wasserstein_distance(
            u_values=hist_a.centres, v_values=hist_b.centres, u_weights=hist_a.counts, v_weights=hist_b.counts
        )
    )

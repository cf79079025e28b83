"""Wasserstein domain-gap diagnostics: identical inputs, known shifts, streaming histograms."""

import numpy as np
import pytest

from downscaling.evaluation import wasserstein


@pytest.fixture
def g5nr():
    """(4, 20, 30) log10-AOD-like cube."""
    return np.random.default_rng(0).normal(-1.0, 0.4, size=(4, 20, 30))


def test_minmax_joint_scales_both_to_unit_range():
    a, b = np.array([1.0, 2.0, np.nan]), np.array([3.0, 5.0])
    a_scaled, b_scaled, (lo, hi) = wasserstein.minmax_joint(a, b)
    assert (lo, hi) == (1.0, 5.0)
    np.testing.assert_allclose(a_scaled, [0.0, 0.25, np.nan])
    np.testing.assert_allclose(b_scaled, [0.5, 1.0])
    with pytest.raises(ValueError, match="hi > lo"):
        wasserstein.minmax_joint(np.ones(3), np.ones(2))


def test_per_day_identical_inputs_give_zero(g5nr):
    _, _, (lo, hi) = wasserstein.minmax_joint(g5nr, g5nr)
    np.testing.assert_array_equal(wasserstein.per_day_wasserstein(g5nr, g5nr, lo, hi), 0.0)


def test_per_day_known_shift(g5nr):
    shift = 0.3
    merra = g5nr + shift
    merra[0, :3] = np.nan  # gaps are ignored; the shift of the remaining values stays exact
    g5nr_gappy = g5nr.copy()
    g5nr_gappy[0, :3] = np.nan
    _, _, (lo, hi) = wasserstein.minmax_joint(merra, g5nr_gappy)
    distances = wasserstein.per_day_wasserstein(merra, g5nr_gappy, lo, hi)
    np.testing.assert_allclose(distances, shift / (hi - lo), rtol=1e-10)


def test_per_day_compares_different_grids(g5nr):
    # MERRA-2 on its own coarse grid: one value per 2x3 block of the same constant +0.1
    merra = g5nr[:, ::2, ::3] * 0 + 0.1
    distances = wasserstein.per_day_wasserstein(merra, g5nr * 0, lo=0.0, hi=1.0)
    np.testing.assert_allclose(distances, 0.1)


def test_per_day_rejects_bad_input(g5nr):
    with pytest.raises(ValueError, match="same T"):
        wasserstein.per_day_wasserstein(g5nr[:3], g5nr, 0.0, 1.0)
    empty_day = g5nr.copy()
    empty_day[2] = np.nan
    with pytest.raises(ValueError, match="day index 2 .* MERRA-2"):
        wasserstein.per_day_wasserstein(empty_day, g5nr, -3.0, 1.0)


def test_summary():
    result = wasserstein.summary(np.arange(11.0))
    assert result == {"mean": 5.0, "median": 5.0, "p10": 1.0, "p90": 9.0, "n_days": 11}
    with pytest.raises(ValueError, match="finite"):
        wasserstein.summary([1.0, np.nan])


def test_pooled_identical_inputs_give_zero(g5nr):
    hist_a = wasserstein.StreamingHistogram(lo=-3.0, hi=1.0)
    hist_b = wasserstein.StreamingHistogram(lo=-3.0, hi=1.0)
    for day in g5nr:
        hist_a.add(day)
    hist_b.add(g5nr)  # one chunk or many: same counts
    np.testing.assert_array_equal(hist_a.counts, hist_b.counts)
    assert hist_a.n == g5nr.size
    assert wasserstein.pooled_wasserstein(hist_a, hist_b) == 0.0


def test_pooled_known_shift_within_bin_width():
    rng = np.random.default_rng(1)
    g5nr = rng.uniform(0.0, 0.6, size=(50, 40, 40))  # log10 AOD, say
    shift = 0.25
    lo, hi = 0.0, 1.0
    hist_g5nr = wasserstein.StreamingHistogram(lo, hi, bins=256)
    hist_merra = wasserstein.StreamingHistogram(lo, hi, bins=256)
    for day in g5nr:  # streamed day by day, as the rule reads the record
        hist_g5nr.add(day)
        hist_merra.add(day + shift)
    pooled = wasserstein.pooled_wasserstein(hist_merra, hist_g5nr)
    assert pooled == pytest.approx(shift, abs=1 / 256)


def test_streaming_histogram_clips_and_ignores_nan():
    hist = wasserstein.StreamingHistogram(lo=0.0, hi=2.0, bins=4)
    hist.add(np.array([-5.0, 0.1, 1.9, 9.0, np.nan]))
    np.testing.assert_array_equal(hist.counts, [2, 0, 0, 2])
    edges, cumulative = hist.cdf()
    np.testing.assert_allclose(edges, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(cumulative, [0.5, 0.5, 0.5, 1.0])


def test_pooled_rejects_mismatched_histograms():
    with pytest.raises(ValueError, match="differ"):
        wasserstein.pooled_wasserstein(
            wasserstein.StreamingHistogram(0.0, 1.0).add([0.5]), wasserstein.StreamingHistogram(0.0, 2.0).add([0.5])
        )
    with pytest.raises(ValueError, match="hi > lo"):
        wasserstein.StreamingHistogram(1.0, 1.0)

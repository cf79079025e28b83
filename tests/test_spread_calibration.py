"""Spread calibration by scale: fitted where an ensemble lacks spread, it closes the gap without
moving the ensemble mean, and each member draws its field alone."""

import numpy as np
import pytest

from downscaling.evaluation import metrics, spatial
from downscaling.inference.spread_calibration import FIT_MEMBERS, SpreadCalibration


def under_dispersed(rng, days, members=8, shape=(48, 80)):
    """(members, truth): the members sample the pixel-scale noise around the right centre but
    not a smooth large-scale error of the truth (a daily offset and a 40-px wave)."""
    centre = rng.normal(size=(days, *shape))
    cols = np.arange(shape[1])
    large = 0.15 * rng.normal(size=(days, 1, 1)) + 0.1 * rng.normal(size=(days, 1, 1)) * np.cos(
        2 * np.pi * cols / 40 + rng.uniform(0, 2 * np.pi, size=(days, 1, 1))
    )
    truth = centre + large + 0.1 * rng.normal(size=(days, *shape))
    return centre + 0.1 * rng.normal(size=(members, days, *shape)), truth


def calibrated(calibration, ensemble, day_seeds):
    seeds = [[1000 * day + m for m in range(len(ensemble))] for day in day_seeds]
    return ensemble + np.stack([calibration.perturbations(ensemble.shape[2:], s) for s in seeds], axis=1)


@pytest.mark.parametrize("fit_members", [FIT_MEMBERS, 8])  # what it adds does not depend on M
def test_the_calibration_closes_the_spread_gap_on_new_days_and_keeps_the_mean(fit_members):
    rng = np.random.default_rng(0)
    calibration = SpreadCalibration.fit(*under_dispersed(rng, days=40, members=fit_members))  # validation days
    names = list(spatial.BAND_NAMES)
    assert calibration.added[names.index("area mean")] == pytest.approx(0.15**2, rel=0.35)
    assert calibration.added[names.index("32-64 px")] == pytest.approx(0.1**2 / 2, rel=0.35)
    assert calibration.added[names.index("<4 px")] == pytest.approx(0.0, abs=2e-4)
    ensemble, truth = under_dispersed(rng, days=60)  # the test days
    before = metrics.spread_skill_ratio(ensemble, truth)
    after = calibrated(calibration, ensemble, range(60))
    assert before < 0.7 and 0.9 < metrics.spread_skill_ratio(after, truth) < 1.1
    np.testing.assert_allclose(after.mean(axis=0), ensemble.mean(axis=0), atol=1e-12)
    assert metrics.crps_fair(after, truth) < metrics.crps_fair(ensemble, truth)


def test_a_member_draws_its_field_alone_and_an_ensemble_of_one_gets_nothing(tmp_path):
    calibration = SpreadCalibration(error=(0.01, 0.0, 0.02, 0, 0, 0, 0, 0), spread=(0.0,) * 8, n_days=3, members=4)
    seeds = [11, 12, 13, 14]
    whole = calibration.perturbations((20, 30), seeds)
    np.testing.assert_array_equal(calibration.perturbations((20, 30), seeds, members=[2]), whole[[2]])
    assert np.abs(whole).max() > 0.01 and np.abs(whole.sum(axis=0)).max() < 1e-12
    assert not np.any(calibration.perturbations((20, 30), [11]))
    calibration.save(tmp_path / "c.json")
    assert SpreadCalibration.load(tmp_path / "c.json") == calibration

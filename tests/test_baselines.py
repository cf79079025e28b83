"""The baselines: persistence and quantile-mapped MERRA-2 on arrays with known answers; the registry."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from downscaling import variants
from downscaling.inference import baselines

DATES = pd.date_range("2005-01-01", periods=240)


def test_persistence_is_the_day_before():
    truth = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    days = list(baselines.persistence(truth, DATES[:10], [7, 3]))
    assert [d for d, _ in days] == [DATES[3], DATES[7]]
    assert [float(f[0, 0, 0]) for _, f in days] == [2.0, 6.0]
    with pytest.raises(ValueError, match="the day before 2005-01-01 is not in the G5NR record"):
        list(baselines.persistence(truth, DATES[:10], [0]))


def test_quantile_mapping_recovers_each_pixel_s_own_distribution():
    rng = np.random.default_rng(0)
    merra2 = rng.normal(-1.0, 0.3, (240, 3, 4)).astype(np.float32)
    shift = np.linspace(-0.2, 0.4, 12, dtype=np.float32).reshape(3, 4)  # a bias of its own per pixel
    train, test = np.arange(200), np.arange(200, 240)
    adjusted = np.stack([f[0] for _, f in baselines.quantile_mapped(merra2 + shift, merra2, DATES, train, test)])
    np.testing.assert_allclose(adjusted, merra2[test] + shift, atol=1e-6)
    # a spread that differs too: truth = 2 x MERRA-2 (monotone), matched up to the quantile spacing
    doubled = np.stack([f[0] for _, f in baselines.quantile_mapped(2 * merra2, merra2, DATES, train, test)])
    assert np.abs(doubled - 2 * merra2[test]).mean() < 0.05
    assert np.abs(merra2[test] - 2 * merra2[test]).mean() > 0.9  # what it started from


def test_moment_matching_recovers_each_pixel_s_mean_and_spread_from_training_days_only():
    rng = np.random.default_rng(2)
    merra2 = rng.normal(-1.0, 0.3, (240, 3, 4)).astype(np.float32)
    gain = np.linspace(0.5, 2.0, 12, dtype=np.float32).reshape(3, 4)  # spread and bias of its own per pixel
    shift = np.linspace(-0.2, 0.4, 12, dtype=np.float32).reshape(3, 4)
    truth = gain * merra2 + shift
    train, test = np.arange(200), np.arange(200, 240)
    matched = list(baselines.moment_matched(truth, merra2, DATES, train, test))
    assert [d for d, _ in matched] == list(DATES[test]) and matched[0][1].shape == (1, 3, 4)
    np.testing.assert_allclose(np.stack([f[0] for _, f in matched]), truth[test], atol=1e-5)
    # the test days' own values play no part: changing them changes only their own fields
    changed = truth.copy()
    changed[test] += 5.0
    again = np.stack([f[0] for _, f in baselines.moment_matched(changed, merra2, DATES, train, test)])
    np.testing.assert_allclose(again, truth[test], atol=1e-5)
    assert "standard deviation" in variants.formulation("interp_mm")


def test_the_stochastic_quantile_map_adds_training_residuals_one_per_member():
    rng = np.random.default_rng(1)
    merra2 = rng.normal(-1.0, 0.3, (240, 3, 4)).astype(np.float32)
    texture = rng.normal(0.0, 0.1, (240, 3, 4)).astype(np.float32)  # what MERRA-2 cannot know
    truth = merra2 + 0.2 + texture
    train, test = np.arange(200), np.arange(200, 240)
    mean = {d: f[0] for d, f in baselines.quantile_mapped(truth, merra2, DATES, train, test)}
    drawn = list(baselines.stochastic_quantile_mapped(truth, merra2, DATES, train, test, members=6, seed=3))
    assert all(fields.shape == (6, 3, 4) for _, fields in drawn)
    residuals = truth[train] - np.stack(
        [f[0] for _, f in baselines.quantile_mapped(truth, merra2, DATES, train, train)]
    )
    for date, fields in drawn:
        added = fields - mean[date]
        # each member is the deterministic field plus one training day's residual field, all different
        matches = [np.flatnonzero(np.abs(residuals - member).max(axis=(1, 2)) < 1e-5) for member in added]
        assert all(m.size == 1 for m in matches) and len({int(m[0]) for m in matches}) == 6
    spread = np.mean([fields.std(axis=0).mean() for _, fields in drawn])
    assert spread == pytest.approx(0.1, rel=0.25)  # the texture's own spread
    again = list(baselines.stochastic_quantile_mapped(truth, merra2, DATES, train, test[5:], members=6, seed=3))
    np.testing.assert_array_equal(again[0][1], drawn[5][1])  # a day's members do not depend on the other days


def test_strict_persistence_carries_the_last_true_day_through_a_run_of_test_days():
    truth = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), dtype=np.float32)
    strict = {date: field[0, 0, 0] for date, field in baselines.persistence(truth, DATES[:10], [3, 4, 5, 8], "strict")}
    lenient = {date: field[0, 0, 0] for date, field in baselines.persistence(truth, DATES[:10], [3, 4, 5, 8])}
    assert list(strict.values()) == [2, 2, 2, 7]  # days 4 and 5 follow predicted days 3 and 4
    assert list(lenient.values()) == [2, 3, 4, 7]


def test_the_registry_names_each_baseline():
    assert "quantile mapping" in variants.formulation("interp_qm")
    assert "strict" in variants.formulation("persistence")


def test_the_registry_refuses_a_residual_variant_it_cannot_build():
    unet = variants.VARIANTS["unet"]
    residual = variants.VARIANTS["ddpm_residual"]
    variants.check_registry(variants.VARIANTS)  # the shipped registry is buildable
    with pytest.raises(ValueError, match="'residual_scratch': history='scratch' differs from its base 'unet'"):
        variants.check_registry({"unet": unet, "residual_scratch": replace(residual, history="scratch")})
    with pytest.raises(ValueError, match="residual_of='ddpm' is not a deterministic variant"):
        variants.check_registry({"ddpm": variants.VARIANTS["ddpm"], "r": replace(residual, residual_of="ddpm")})

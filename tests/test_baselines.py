"""The baselines: persistence and quantile-mapped MERRA-2 on arrays with known answers; the registry."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from downscaling import baselines, variants

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


def test_the_registry_says_where_each_baseline_applies():
    assert variants.applies("persistence", "lenient") and not variants.applies("persistence", "strict")
    assert all(variants.applies(m, mode) for m in ("interp", "interp_qm", "ddpm") for mode in ("strict", "lenient"))
    assert "quantile mapping" in variants.formulation("interp_qm")


def test_the_registry_refuses_a_residual_variant_it_cannot_build():
    unet = variants.VARIANTS["unet"]
    residual = variants.VARIANTS["ddpm_residual"]
    variants.check_registry(variants.VARIANTS)  # the shipped registry is buildable
    with pytest.raises(ValueError, match="'residual_scratch': history='scratch' differs from its base 'unet'"):
        variants.check_registry({"unet": unet, "residual_scratch": replace(residual, history="scratch")})
    with pytest.raises(ValueError, match="residual_of='ddpm' is not a deterministic variant"):
        variants.check_registry({"ddpm": variants.VARIANTS["ddpm"], "r": replace(residual, residual_of="ddpm")})

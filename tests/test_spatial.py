"""Power spectra, haversine distances, and semivariograms of fields with known structure."""

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from downscaling.evaluation import spatial

DX_KM = 7.0  # the G5NR spacing, roughly


def high_to_low_ratio(power):
    """Mean power of the top third of wavenumbers over the mean of the bottom third."""
    third = len(power) // 3
    return power[-third:].mean() / power[:third].mean()


@pytest.mark.parametrize("taper", [True, False])
def test_white_noise_spectrum_is_flat_at_the_variance_level(taper):
    noise = np.random.default_rng(0).normal(0.0, 2.0, size=(8, 96, 128))
    wavenumber, power = spatial.radial_power_spectrum(noise, DX_KM, taper=taper)
    assert 0.7 < high_to_low_ratio(power) < 1.4
    # PSD normalised so that white noise of variance s² sits at s² dx dy
    assert power.mean() == pytest.approx(4.0 * DX_KM**2, rel=0.1)
    assert wavenumber[0] == pytest.approx(1 / (96 * DX_KM))  # the coarser fundamental
    assert wavenumber[-1] <= 0.5 / DX_KM + 0.5 / (96 * DX_KM)
    assert np.all(np.diff(wavenumber) > 0)


def test_smooth_field_spectrum_falls_and_the_taper_stops_edge_leakage():
    # a smooth, non-periodic field: the centre of a larger Gaussian-filtered noise field
    noise = np.random.default_rng(1).normal(size=(8, 192, 192))
    smooth = gaussian_filter(noise, sigma=(0, 8, 8))[:, 48:144, 48:144]
    wavenumber, power = spatial.radial_power_spectrum(smooth, DX_KM)
    assert high_to_low_ratio(power) < 1e-6
    assert np.corrcoef(np.log(wavenumber), np.log(power))[0, 1] < -0.9
    # without the taper the jump between opposite edges leaks power to high wavenumbers
    _, power_untapered = spatial.radial_power_spectrum(smooth, DX_KM, taper=False)
    assert high_to_low_ratio(power_untapered) > 100 * high_to_low_ratio(power)


def test_a_wave_peaks_at_its_wavenumber():
    rows, cols = np.mgrid[0:64, 0:64]
    wavelength_km = 16 * DX_KM
    wave = np.sin(2 * np.pi * cols * DX_KM / wavelength_km) + 5.0  # the offset is removed
    wavenumber, power = spatial.radial_power_spectrum(wave, DX_KM)
    assert wavenumber[np.argmax(power)] == pytest.approx(1 / wavelength_km)


def test_spectrum_rejects_gaps_and_bad_rank():
    field = np.zeros((16, 16))
    field[3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        spatial.radial_power_spectrum(field, DX_KM)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        spatial.radial_power_spectrum(np.zeros(16), DX_KM)


def test_haversine():
    assert spatial.haversine_km(0, 0, 1, 0) == pytest.approx(111.195, abs=0.01)
    assert spatial.haversine_km(60, 10, 60, 11) == pytest.approx(111.195 * 0.5, rel=1e-3)
    assert spatial.haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.195, abs=0.01)
    distances = spatial.haversine_km(np.zeros(3), np.zeros(3), [0, 0, 90], [0, 90, 0])
    np.testing.assert_allclose(distances, [0, np.pi / 2 * 6371.0088, np.pi / 2 * 6371.0088])


def test_spherical_model_and_exact_fit():
    h = np.array([0.0, 100.0, 200.0, 400.0])
    np.testing.assert_allclose(
        spatial.spherical_model(h, 0.1, 1.1, 200.0), [0.1, 0.1 + 1.0 * (0.75 - 0.0625), 1.1, 1.1]
    )
    distance = np.linspace(12.5, 587.5, 24)
    variogram = pd.DataFrame(
        {
            "distance_km": distance,
            "gamma": spatial.spherical_model(distance, 0.2, 1.5, 350.0),
            "n_pairs": np.full(24, 100),
        }
    )
    fit = spatial.fit_spherical(variogram)
    assert fit == pytest.approx({"nugget": 0.2, "sill": 1.5, "range_km": 350.0}, rel=1e-4)


@pytest.fixture(scope="module")
def exponential_field():
    """60 realisations of a unit-variance Gaussian field with covariance exp(-h / 100 km).

    Simulated by Cholesky factorisation of the covariance of great-circle distances on a
    0.25° grid of 41 x 49 points (~1100 km square); exp(-h/L) is positive definite on the sphere.
    """
    lat, lon = np.arange(30.0, 40.01, 0.25), np.arange(60.0, 72.01, 0.25)
    lat_2d, lon_2d = np.meshgrid(lat, lon, indexing="ij")
    lat_flat, lon_flat = lat_2d.ravel(), lon_2d.ravel()
    distance = spatial.haversine_km(lat_flat[:, None], lon_flat[:, None], lat_flat, lon_flat)
    length_km = 100.0
    factor = np.linalg.cholesky(np.exp(-distance / length_km) + 1e-9 * np.eye(lat_flat.size))
    white = np.random.default_rng(2).normal(size=(lat_flat.size, 60))
    fields = (factor @ white).T.reshape(60, lat.size, lon.size)  # (T, H, W)
    return fields, lat, lon, length_km


def test_variogram_of_an_exponential_field_recovers_its_range(exponential_field):
    fields, lat, lon, length_km = exponential_field
    fields = fields.copy()
    fields[0, :5, :5] = np.nan  # gaps only drop pairs
    variogram = spatial.empirical_semivariogram(
        fields, lat, lon, max_km=600, bins=24, pairs=20000, rng=np.random.default_rng(3)
    )
    assert list(variogram.columns) == ["distance_km", "gamma", "n_pairs"]
    assert len(variogram) == 24 and variogram["distance_km"].max() <= 600
    assert (variogram["n_pairs"] > 0).all()
    # the semivariogram of exp(-h/L) is 1 - exp(-h/L): check it directly where pairs abound
    expected = 1 - np.exp(-variogram["distance_km"] / length_km)
    np.testing.assert_allclose(variogram["gamma"][4:], expected[4:], rtol=0.15)

    # What we compare: the exponential model reaches 95 % of its sill at the practical range
    # 3L = 300 km; a spherical model reaches its sill at its range a. Fitted to the exact curve
    # 1 - exp(-h/L) on these bins, the spherical range comes out at ~1.03 x 3L (with a
    # compensating nugget), so the fitted spherical range must lie within 20 % of 3L.
    practical_range_km = 3 * length_km
    exact_fit = spatial.fit_spherical(variogram.assign(gamma=expected))
    assert exact_fit["range_km"] == pytest.approx(practical_range_km, rel=0.2)
    fit = spatial.fit_spherical(variogram)
    assert fit["range_km"] == pytest.approx(practical_range_km, rel=0.2)
    assert fit["sill"] == pytest.approx(1.0, rel=0.15)


def test_variogram_is_reproducible_and_accepts_one_day(exponential_field):
    fields, lat, lon, _ = exponential_field
    first = spatial.empirical_semivariogram(fields[0], lat, lon, pairs=5000, rng=np.random.default_rng(7))
    second = spatial.empirical_semivariogram(fields[0], lat, lon, pairs=5000, rng=np.random.default_rng(7))
    pd.testing.assert_frame_equal(first, second)
    assert first["n_pairs"].sum() == 5000


def test_variogram_rejects_a_mismatched_grid():
    with pytest.raises(ValueError, match="grid"):
        spatial.empirical_semivariogram(np.zeros((4, 5)), np.arange(5.0), np.arange(5.0))


def test_band_power_splits_the_mean_square_by_wavelength():
    rng = np.random.default_rng(0)
    height, width = 96, 160
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    offset, wave_40px, wave_6px = 0.3, np.cos(2 * np.pi * cols / 40), 0.5 * np.sin(2 * np.pi * rows / 6)
    power = spatial.band_power(offset + wave_40px + wave_6px)
    expected = dict.fromkeys(spatial.BAND_NAMES, 0.0)
    expected.update({"area mean": offset**2, "32-64 px": 0.5, "4-8 px": 0.125})  # a wave's mean square: a² / 2
    np.testing.assert_allclose(power, list(expected.values()), atol=1e-12)
    noise = rng.normal(size=(3, height, width))  # Parseval, day by day
    np.testing.assert_allclose(spatial.band_power(noise).sum(axis=-1), (noise**2).mean(axis=(1, 2)))


def test_error_and_spread_by_band_find_where_an_ensemble_lacks_spread():
    # truth = the ensemble's centre + a daily offset over the whole area + pixel noise; the
    # members sample the pixel noise only: under-dispersed in the area-mean band alone
    rng = np.random.default_rng(1)
    days, members, shape = 200, 8, (32, 40)
    centre = rng.normal(size=(days, *shape))
    truth = centre + 0.2 * rng.normal(size=(days, 1, 1)) + 0.1 * rng.normal(size=(days, *shape))
    ensemble = centre + 0.1 * rng.normal(size=(members, days, *shape))
    error, spread = spatial.error_and_spread_by_band(ensemble, truth)
    assert error[0] == pytest.approx(0.04, rel=0.25) and spread[0] < 0.001
    np.testing.assert_allclose(spread[1:].sum(), error[1:].sum(), rtol=0.05)  # calibrated at every other scale
    with pytest.raises(ValueError, match="needs an ensemble"):
        spatial.error_and_spread_by_band(ensemble[:1], truth)

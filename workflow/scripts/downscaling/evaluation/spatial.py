"""Spatial structure of gridded fields: radially averaged power spectra and semivariograms.

Fields are 2-D (H, W) on a regular lat/lon grid, or stacks of days (T, H, W); distances are in
km, wavenumbers in cycles per km.
"""

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
DAYS_PER_BLOCK = 64  # days processed at once: bounds memory for long (T, H, W) stacks


def _as_stack(field, name="field"):
    """(H, W) or (T, H, W) -> (T, H, W) view (dtype kept); raises ValueError on any other rank."""
    field = np.asarray(field)
    if field.ndim == 2:
        field = field[np.newaxis]
    if field.ndim != 3:
        raise ValueError(f"{name} must have shape (H, W) or (T, H, W), got {field.shape}")
    return field


def _mean_periodogram(stack, dx_km, dy_km, taper):
    """Mean over days of the 2-D PSD of (T, H, W) mean-removed days -> (H, W), FFT order."""
    n_time, height, width = stack.shape
    # periodic Hann (numpy's, not scipy.signal's: that import alone costs a second per job)
    window = np.outer(np.hanning(height + 1)[:-1], np.hanning(width + 1)[:-1])  # (H, W)
    window_scaled = window / np.sqrt(np.mean(window**2)) if taper else 1.0
    psd = np.zeros((height, width))
    for start in range(0, n_time, DAYS_PER_BLOCK):
        block = stack[start : start + DAYS_PER_BLOCK].astype(np.float64)  # (t, H, W)
        anomaly = (block - block.mean(axis=(1, 2), keepdims=True)) * window_scaled
        psd += np.sum(np.abs(np.fft.fft2(anomaly)) ** 2, axis=0)
    return psd * dx_km * dy_km / (height * width * n_time)


def _radial_average(psd, dx_km, dy_km):
    """Average an (H, W) FFT-ordered PSD over annuli of |k| -> (wavenumber (K,), power (K,))."""
    height, width = psd.shape
    k_y, k_x = np.meshgrid(np.fft.fftfreq(height, d=dy_km), np.fft.fftfreq(width, d=dx_km), indexing="ij")
    k_radius = np.hypot(k_x, k_y)  # (H, W) cycles/km
    bin_width = max(1.0 / (width * dx_km), 1.0 / (height * dy_km))
    n_bins = int(np.floor(min(0.5 / dx_km, 0.5 / dy_km) / bin_width + 0.5))
    # annulus i covers [i + 0.5, i + 1.5) * bin_width, centred on (i + 1) * bin_width
    annulus = np.floor(k_radius / bin_width - 0.5).astype(int)
    inside = (annulus >= 0) & (annulus < n_bins)
    counts = np.bincount(annulus[inside], minlength=n_bins)
    sums = np.bincount(annulus[inside], weights=psd[inside], minlength=n_bins)
    filled = counts > 0
    wavenumber = (np.arange(n_bins) + 1) * bin_width
    return wavenumber[filled], sums[filled] / counts[filled]


def radial_power_spectrum(field, dx_km, dy_km=None, taper=True):
    """Radially averaged 2-D power spectral density of a field (mean over days for a stack).

    field: (H, W) or (T, H, W), all finite (a spectrum needs a complete field: fill or crop
    gaps first). dx_km, dy_km: grid spacing along W and H in km (dy_km defaults to dx_km).
    Each day has its mean removed and, with `taper` (default), is multiplied by a 2-D Hann
    window to suppress the leakage from the non-periodic domain edges, which would otherwise
    give every field a spurious k^-2 tail; the window's mean square is divided out, so the
    level is kept. Normalisation: PSD = |FFT|² dx dy / (H W), so that sum(PSD) dkx dky equals
    the variance; white noise of variance s² has a flat PSD of s² dx dy (field units² km²).
    Annuli are as wide as the coarser fundamental wavenumber and run up to the lower Nyquist
    wavenumber; k = 0 is left out.
    Returns (wavenumber (K,) in cycles/km at annulus centres, power (K,)).
    Raises ValueError on a non-finite field or a rank other than 2 or 3.
    """
    stack = _as_stack(field)
    if not np.isfinite(stack).all():
        raise ValueError("radial_power_spectrum needs a finite field; NaN/inf found")
    dy_km = dx_km if dy_km is None else dy_km
    return _radial_average(_mean_periodogram(stack, dx_km, dy_km, taper), dx_km, dy_km)


def psd_ratio(field, reference, dx_km, dy_km=None, band_km=(25.0, 80.0)) -> float:
    """Mean over the wavelengths in `band_km` of PSD(field) / PSD(reference) (radially averaged,
    both (H, W) or (T, H, W) on the same grid): 1 for realistic fine-scale variability, < 1 for
    a field too smooth (a conditional mean), > 1 for one too noisy. NaN when the domain is too
    small to resolve any wavelength of the band."""
    k, power = radial_power_spectrum(field, dx_km, dy_km)
    _, power_ref = radial_power_spectrum(reference, dx_km, dy_km)
    wavelength = 1.0 / k
    band = (wavelength >= band_km[0]) & (wavelength <= band_km[1])
    if not band.any():
        return float("nan")
    return float(np.mean(power[band] / power_ref[band]))


#: Edges of the scale bands of `band_power`, as wavelengths in pixels: 8, 4, 2, 1, 1/2 and 1/4
#: of the demo's 16-px tile (about 900 to 28 km on the 0.0625-degree grid). The first band is
#: the field's mean over the area, the last everything finer than 4 px.
BAND_EDGES_PX = (128, 64, 32, 16, 8, 4)
BAND_NAMES = ("area mean", ">128 px", "64-128 px", "32-64 px", "16-32 px", "8-16 px", "4-8 px", "<4 px")


def band_of_coefficients(height: int, width: int) -> np.ndarray:
    """The band (0 .. len(BAND_NAMES) - 1) of each coefficient of an (H, W) FFT, FFT order:
    0 the mean (k = 0), then by |k| in cycles per pixel between the BAND_EDGES_PX wavelengths."""
    k = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    band = 1 + np.digitize(k, 1.0 / np.asarray(BAND_EDGES_PX, dtype=np.float64))
    band[0, 0] = 0
    return band


def band_power(field) -> np.ndarray:
    """Each band's share of the mean square of (..., H, W) fields -> (..., len(BAND_NAMES)),
    summing to mean(field ** 2) over the last two axes (Parseval; no taper, the mean kept)."""
    field = np.asarray(field, dtype=np.float64)
    height, width = field.shape[-2:]
    power = np.abs(np.fft.fft2(field)) ** 2 / (height * width) ** 2
    bands = band_of_coefficients(height, width).ravel()
    flat = power.reshape(*power.shape[:-2], -1)
    return np.stack([flat[..., bands == b].sum(axis=-1) for b in range(len(BAND_NAMES))], axis=-1)


def error_and_spread_by_band(members, truth) -> tuple[np.ndarray, np.ndarray]:
    """(error, spread) by band of BAND_NAMES of members (M, T, H, W) against the truth
    (T, H, W), finite fields: the ensemble mean's mean-square error, and the members' variance
    (ddof=1) times (M + 1) / M as in the spread-skill ratio, each averaged over the days. Where
    spread < error the ensemble is under-dispersed at that scale."""
    members = np.asarray(members, dtype=np.float64)
    n_members = members.shape[0]
    if n_members < 2:
        raise ValueError(f"spread by scale needs an ensemble, got {n_members} member")
    if not (np.isfinite(members).all() and np.isfinite(truth).all()):
        raise ValueError("spread by scale needs finite fields (an FFT has no gaps)")
    mean = members.mean(axis=0)
    error = band_power(mean - truth).mean(axis=0)
    spread = band_power(members - mean).mean(axis=(0, 1)) * (n_members + 1) / (n_members - 1)
    return error, spread


def seam_ratio(field, stride: int) -> float:
    """Tile-period signature of a stitched field (H, W) or (T, H, W): the mean absolute jump
    between neighbouring pixels at each phase of the tiling stride (index mod stride, along rows
    and along columns), worst phase over median phase, the larger of the two axes. About 1 for
    a field with no tile grid in it; a seam at one phase of every tile raises it."""
    stack = _as_stack(field)
    ratios = []
    for axis in (1, 2):
        jumps = np.abs(np.diff(stack, axis=axis))
        jumps = np.moveaxis(jumps, axis, 0).reshape(jumps.shape[axis], -1)
        per_pair = np.nanmean(jumps, axis=1)  # (n - 1,): mean jump between pixels j and j + 1
        usable = len(per_pair) - len(per_pair) % stride  # whole periods only
        by_phase = per_pair[:usable].reshape(-1, stride).mean(axis=0)
        ratios.append(by_phase.max() / np.median(by_phase))
    return float(max(ratios))


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km between points given in degrees (numpy broadcasting)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    half_chord = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(half_chord, 0.0, 1.0)))


def _random_pixel_pairs(lat, lon, max_km, pairs, rng, max_rounds=100):
    """Draw up to `pairs` distinct pixel pairs (flat indices into (H, W)) at most max_km apart.

    Rejection sampling: candidate pairs are drawn uniformly over the grid in batches of
    `pairs`, until `pairs` are kept or `max_rounds` batches were drawn.
    Returns (first (P,), second (P,), distance_km (P,)).
    """
    lat_2d, lon_2d = np.meshgrid(lat, lon, indexing="ij")
    lat_flat, lon_flat = lat_2d.ravel(), lon_2d.ravel()
    kept = []
    n_kept = 0
    for _ in range(max_rounds):
        first = rng.integers(0, lat_flat.size, pairs)
        second = rng.integers(0, lat_flat.size, pairs)
        distance = haversine_km(lat_flat[first], lon_flat[first], lat_flat[second], lon_flat[second])
        near = (first != second) & (distance <= max_km)
        kept.append((first[near], second[near], distance[near]))
        n_kept += int(near.sum())
        if n_kept >= pairs:
            break
    first, second, distance = (np.concatenate(parts)[:pairs] for parts in zip(*kept))
    return first, second, distance


def _pair_sums(stack, first, second):
    """For pixel pairs (flat indices (P,) into (H, W)) of a (T, H, W) stack, sum over days:
    the days on which both pixels are finite (P,) and the squared differences on them (P,)."""
    flat = stack.reshape(stack.shape[0], -1)
    valid_days = np.zeros(first.size)
    squared_sum = np.zeros(first.size)
    for start in range(0, flat.shape[0], DAYS_PER_BLOCK):
        block = flat[start : start + DAYS_PER_BLOCK]
        difference = block[:, first].astype(np.float64) - block[:, second]  # (t, P)
        valid = np.isfinite(difference)
        valid_days += valid.sum(axis=0)
        squared_sum += (np.where(valid, difference, 0.0) ** 2).sum(axis=0)
    return valid_days, squared_sum


def empirical_semivariogram(field, lat, lon, max_km=600.0, bins=24, pairs=20000, rng=None):
    """Semivariogram gamma(h) = 0.5 E[(z(x) - z(x+h))²] from random pixel pairs.

    field: (H, W) or (T, H, W) on the grid lat (H,), lon (W,) in degrees. One set of `pairs`
    random pixel pairs (distinct pixels, haversine distance <= max_km; drawn uniformly over
    the grid and rejected beyond max_km, up to 100 batches, so a grid with few such pairs may
    give fewer) is drawn with `rng` (a numpy Generator; default seed 0) and used for every
    day; a pair counts on a day where both pixels are finite. Squared differences are pooled
    over days, so a stack gives the mean semivariogram over days weighted by the pairs
    available each day.
    Returns a DataFrame with one row per distance bin of `bins` equal bins on [0, max_km]:
    distance_km (mean pair distance in the bin; the bin centre when empty), gamma (NaN when
    empty), n_pairs (pairs summed over days).
    """
    stack = _as_stack(field)
    _, height, width = stack.shape
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if lat.shape != (height,) or lon.shape != (width,):
        raise ValueError(
            f"lat {lat.shape} and lon {lon.shape} do not match the field's grid (H, W) = ({height}, {width})"
        )
    rng = np.random.default_rng(0) if rng is None else rng
    first, second, distance = _random_pixel_pairs(lat, lon, max_km, pairs, rng)
    edges = np.linspace(0.0, max_km, bins + 1)
    bin_of_pair = np.clip(np.digitize(distance, edges) - 1, 0, bins - 1)  # (P,)

    valid_days, squared_sum = _pair_sums(stack, first, second)
    pairs_per_bin = np.bincount(bin_of_pair, weights=valid_days, minlength=bins)
    sum_per_bin = np.bincount(bin_of_pair, weights=squared_sum, minlength=bins)
    distance_sum = np.bincount(bin_of_pair, weights=distance * valid_days, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma = 0.5 * sum_per_bin / pairs_per_bin
        mean_distance = np.where(pairs_per_bin > 0, distance_sum / pairs_per_bin, 0.5 * (edges[:-1] + edges[1:]))
    return pd.DataFrame({"distance_km": mean_distance, "gamma": gamma, "n_pairs": pairs_per_bin.astype(np.int64)})


def spherical_model(h, nugget, sill, range_km):
    """Spherical semivariogram model.

    gamma(h) = nugget + (sill - nugget) (1.5 h/a - 0.5 (h/a)³) for h < a, and sill beyond.
    h: distances in km (array); `sill` is the total sill (the plateau), `range_km` = a is where
    the plateau is reached. gamma(0) is returned as the nugget (the limit from h > 0).
    """
    scaled = np.minimum(np.asarray(h, dtype=np.float64) / range_km, 1.0)
    return nugget + (sill - nugget) * (1.5 * scaled - 0.5 * scaled**3)


def fit_spherical(variogram):
    """Least-squares spherical fit to an empirical semivariogram (from `empirical_semivariogram`).

    Uses scipy.optimize.curve_fit with bins weighted by their number of pairs (sigma =
    1/sqrt(n_pairs)); empty bins are dropped. The fit is parametrised by the partial sill
    (sill - nugget) so that nugget <= sill always holds; bounds: 0 <= nugget <= max(gamma),
    0 <= sill - nugget <= 2 max(gamma), 1 km <= range <= 3 max(distance).
    Returns dict(nugget, sill, range_km). Raises ValueError with fewer than 3 non-empty bins.
    """
    used = variogram[(variogram["n_pairs"] > 0) & np.isfinite(variogram["gamma"])]
    if len(used) < 3:
        raise ValueError(f"a spherical fit needs at least 3 non-empty bins, got {len(used)}")
    h = used["distance_km"].to_numpy(dtype=np.float64)
    gamma = used["gamma"].to_numpy(dtype=np.float64)
    gamma_max = max(float(gamma.max()), np.finfo(float).tiny)

    def model(h, nugget, partial_sill, range_km):
        return spherical_model(h, nugget, nugget + partial_sill, range_km)

    initial_nugget = 0.5 * float(gamma[0])
    initial = [initial_nugget, max(gamma_max - initial_nugget, 1e-12 * gamma_max), h.max() / 2]
    (nugget, partial_sill, range_km), _ = curve_fit(
        model,
        h,
        gamma,
        p0=initial,
        sigma=1.0 / np.sqrt(used["n_pairs"].to_numpy(dtype=float)),
        bounds=([0.0, 0.0, 1.0], [gamma_max, 2 * gamma_max, 3 * h.max()]),
    )
    return {"nugget": float(nugget), "sill": float(nugget + partial_sill), "range_km": float(range_km)}

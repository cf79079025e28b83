"""The synthetic dust world of the embedded demo, with known truth.

The world is a daily log-normal dust field on the G5NR grid (0.0625 degrees) over a region:

    log10 AOD = seasonal level - terrain coefficient(season) x elevation  (dust pools in low basins)
                + static spatial pattern
                + large-scale AR(1) anomaly             (day-to-day persistence, ~2 degree scale)
                + drifting dust events x lowland weight (blobs living 2-6 days, most in spring/summer)
                - terrain texture x (1 + 2 x events)    (fine structure tied to elevation)
                + fine-scale AR(1) anomaly              (~0.1 degree, persistent: only high-resolution
                                                         history reveals it)

clipped to [-2.5, 0.7] (AOD 0.003 .. 5). Sub-daily steps are the daily field (linear AOD) times a
diurnal factor whose mean over the day's steps is exactly 1, so the daily mean of the written
steps is the daily world field.

Everything is generated day by day from ``numpy.random.SeedSequence(seed)`` (streaming: the fine
world of one day at a time); the same seed gives the same world. :mod:`downscaling.demo.files`
writes it in the real files' conventions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from downscaling.ingest.granules import Box

# The real products' global grids: centres origin + i * step.
MERRA2_GRID = {"lat": (-90.0, 0.5), "lon": (-180.0, 0.625)}
G5NR_GRID = {"lat": (-90.0, 0.0625), "lon": (-180.0, 0.0625)}
G5NR_BOX_MARGIN_DEG = 0.125  # G5NR written around the union of the areas (two G5NR cells)


@dataclass(frozen=True)
class WorldParameters:
    """The knobs of the synthetic world (log10 AOD units unless stated)."""

    mean_level: float = -0.85  # log10 AOD of the annual mean (AOD 0.14)
    seasonal_amplitude: float = 0.30  # peak in July, trough in January
    terrain_coefficient: float = 0.30  # per km of elevation; 30 % stronger in winter
    pattern_amplitude: float = 0.12  # static spatial pattern, 3 degree scale
    anomaly_sigma: float = 0.18  # large-scale AR(1) anomaly
    anomaly_persistence: float = 0.85
    anomaly_scale_deg: float = 2.0
    fine_sigma: float = 0.10  # fine-scale AR(1) anomaly
    fine_persistence: float = 0.90
    fine_scale_px: float = 1.3  # Gaussian smoothing of the fine noise, in G5NR pixels
    texture_coefficient: float = 0.10  # per unit of high-passed terrain
    event_rate_winter: float = 0.4  # new dust events per day in the quiet season ...
    event_rate_peak: float = 1.8  # ... and in mid-June
    event_amplitude: tuple[float, float] = (0.3, 0.75)
    event_radius_deg: tuple[float, float] = (0.6, 1.8)
    event_lifetime_days: tuple[int, int] = (2, 6)
    log10_range: tuple[float, float] = (-2.5, 0.7)
    merra2_bias_factor: float = 1.3
    merra2_bias_pattern: float = 0.08  # log10 amplitude of the smooth spatial bias, 4 degree scale
    merra2_bias_seasonal: float = 0.05
    merra2_noise_sigma: float = 0.12
    merra2_noise_persistence: float = 0.5
    merra2_diurnal_amplitude: float = 0.20  # peak at 14 local solar time
    g5nr_diurnal_amplitude: float = 0.15  # peak at 15 local solar time


def grid_subset(axis: str, low: float, high: float, grid: dict = MERRA2_GRID) -> np.ndarray:
    """Centres of a global grid (``origin + i * step``) within [low, high], inclusive."""
    origin, step = grid[axis]
    first = math.ceil((low - origin) / step - 1e-9)
    last = math.floor((high - origin) / step + 1e-9)
    return origin + step * np.arange(first, last + 1)


def _cells(region: Box) -> Box:
    """The box covered by the MERRA-2 cells whose centres span ``region``."""
    half_lat, half_lon = MERRA2_GRID["lat"][1] / 2, MERRA2_GRID["lon"][1] / 2
    return Box(
        (region.lat[0] - half_lat, region.lat[1] + half_lat), (region.lon[0] - half_lon, region.lon[1] + half_lon)
    )


def _inside(inner: Box, outer: Box) -> bool:
    lat_inside = outer.lat[0] <= inner.lat[0] and inner.lat[1] <= outer.lat[1]
    return lat_inside and outer.lon[0] <= inner.lon[0] and inner.lon[1] <= outer.lon[1]


@dataclass(frozen=True)
class SyntheticSpec:
    """What to write: periods, region (MERRA-2 cell centres), the G5NR box and the seed."""

    merra2_period: tuple[str, str]
    g5nr_period: tuple[str, str]
    g5nr_granule_days: int
    g5nr_steps_per_day: int
    region: Box
    g5nr_box: Box
    seed: int
    variable: str = "DUEXTTAU"
    elevation_variable: str = "elevation"
    world: WorldParameters = field(default_factory=WorldParameters)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SyntheticSpec:
        """The spec of a validated pipeline config (its ``synthetic``, ``areas``, ``inputs`` and
        ``seed``).

        The G5NR box is the union of all areas plus two G5NR cells. Raises ValueError when a
        period is missing or reversed, the G5NR period is not inside the MERRA-2 period or is
        shorter than the granule days, or an area lies outside the region's cells.
        """
        synthetic = config["synthetic"]
        for key in ("merra2_period", "g5nr_period", "region"):
            if key not in synthetic:
                raise ValueError(f"synthetic.{key} is required when synthetic data are enabled")
        m_first, m_last = (np.datetime64(d, "D") for d in synthetic["merra2_period"])
        g_first, g_last = (np.datetime64(d, "D") for d in synthetic["g5nr_period"])
        if not (m_first <= g_first <= g_last <= m_last):
            raise ValueError(
                f"synthetic.g5nr_period {g_first}..{g_last} must be an ordered period inside "
                f"synthetic.merra2_period {m_first}..{m_last}"
            )
        granule_days = int(synthetic.get("g5nr_granule_days", 3))
        if granule_days > (g_last - g_first).astype(int) + 1:
            raise ValueError(f"synthetic.g5nr_granule_days = {granule_days} exceeds the G5NR period's days")
        region = Box.from_config(synthetic["region"])
        cells = _cells(region)
        areas = {name: Box.from_config(box) for name, box in config["areas"].items()}
        for name, area in areas.items():
            if not _inside(area, cells):
                raise ValueError(f"area {name} ({area}) lies outside the cells of synthetic.region ({region})")
        margin = G5NR_BOX_MARGIN_DEG
        south, north = min(a.lat[0] for a in areas.values()), max(a.lat[1] for a in areas.values())
        west, east = min(a.lon[0] for a in areas.values()), max(a.lon[1] for a in areas.values())
        g5nr_box = Box(
            (max(south - margin, cells.lat[0]), min(north + margin, cells.lat[1])),
            (max(west - margin, cells.lon[0]), min(east + margin, cells.lon[1])),
        )
        inputs = config.get("inputs", {})
        return cls(
            merra2_period=(str(m_first), str(m_last)),
            g5nr_period=(str(g_first), str(g_last)),
            g5nr_granule_days=granule_days,
            g5nr_steps_per_day=int(synthetic.get("g5nr_steps_per_day", 4)),
            region=region,
            g5nr_box=g5nr_box,
            seed=int(config["seed"]),
            variable=inputs.get("variable", "DUEXTTAU"),
            elevation_variable=inputs.get("elevation_variable", "elevation"),
        )


def overlap_weights(coarse: np.ndarray, coarse_step: float, fine: np.ndarray, fine_step: float) -> np.ndarray:
    """(n_coarse, n_fine) fraction of each fine cell that lies inside each coarse cell (1-D)."""
    low = np.maximum(coarse[:, None] - coarse_step / 2, fine[None, :] - fine_step / 2)
    high = np.minimum(coarse[:, None] + coarse_step / 2, fine[None, :] + fine_step / 2)
    return np.clip(high - low, 0.0, None) / fine_step


class SmoothNoise:
    """Unit-variance Gaussian random fields with a Gaussian correlation of ``scale_deg`` on a grid.

    White noise on a lattice (spacing scale/2, extending 3 scales beyond the grid) is smoothed
    onto the grid by separable kernel matrices with rows of unit norm, so every point has
    variance 1 and a field costs two small matrix products, not a convolution of the grid.
    """

    def __init__(self, lat: np.ndarray, lon: np.ndarray, scale_deg: float):
        def kernel(axis: np.ndarray) -> np.ndarray:  # (grid points, lattice points)
            lattice = np.arange(axis.min() - 3 * scale_deg, axis.max() + 3 * scale_deg + 1e-9, scale_deg / 2)
            k = np.exp(-0.5 * ((axis[:, None] - lattice[None, :]) / scale_deg) ** 2)
            return k / np.sqrt((k**2).sum(axis=1, keepdims=True))

        self.lat_kernel, self.lon_kernel = kernel(np.asarray(lat)), kernel(np.asarray(lon))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One field (lat, lon) with mean 0 and variance 1 at every point."""
        white = rng.standard_normal((self.lat_kernel.shape[1], self.lon_kernel.shape[1]))
        return self.lat_kernel @ white @ self.lon_kernel.T


def fine_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Unit-variance white noise smoothed by a Gaussian of ``sigma_px`` pixels (short correlation)."""
    radius = int(3.0 * sigma_px + 0.5)  # the kernel gaussian_filter uses with truncate=3
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    weights /= weights.sum()
    smoothed = gaussian_filter(rng.standard_normal(shape), sigma_px, truncate=3.0, mode="reflect")
    return smoothed / float((weights**2).sum())  # std: sqrt(sum w^2) for each of the two axes


def ar1(previous: np.ndarray, innovation: np.ndarray, persistence: float) -> np.ndarray:
    """Next state of a unit-variance AR(1) process: persistence x previous + new unit noise."""
    return persistence * previous + math.sqrt(1.0 - persistence**2) * innovation


def diurnal_factor(hours_utc: np.ndarray, lon: np.ndarray, amplitude: float, peak_local_hour: float) -> np.ndarray:
    """(steps, lon) multiplicative diurnal cycle in local solar time, normalised so that its mean
    over the given steps is exactly 1 at every longitude."""
    local = hours_utc[:, None] + lon[None, :] / 15.0
    factor = 1.0 + amplitude * np.cos(2 * np.pi * (local - peak_local_hour) / 24.0)
    return factor / factor.mean(axis=0, keepdims=True)


@dataclass
class DustEvent:
    """A dust blob in log10 AOD drifting at a constant velocity (degrees/day) for its lifetime."""

    lat: float
    lon: float
    velocity: tuple[float, float]
    amplitude: float
    radius: float
    lifetime: int
    age: int = 0

    def field(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """(lat, lon) contribution today: Gaussian shape times a rise-and-decay envelope."""
        envelope = math.sin(math.pi * (self.age + 0.5) / self.lifetime)
        along_lat = np.exp(-0.5 * ((lat - self.lat) / self.radius) ** 2)
        along_lon = np.exp(-0.5 * ((lon - self.lon) * math.cos(math.radians(self.lat)) / self.radius) ** 2)
        return self.amplitude * envelope * np.outer(along_lat, along_lon)

    def advance(self) -> None:
        self.age += 1
        self.lat += self.velocity[0]
        self.lon += self.velocity[1]


@dataclass
class WorldDay:
    """One day of the world: the date, the fine field (G5NR grid, linear AOD) and MERRA-2's daily
    field (its cells, linear AOD, bias and noise included)."""

    day: np.datetime64
    fine_aod: np.ndarray
    merra2_aod: np.ndarray


def day_of_year(day: np.datetime64) -> int:
    return int((day - day.astype("datetime64[Y]")).astype(int))


class DustWorld:
    """The synthetic world of a :class:`SyntheticSpec`, generated one day at a time.

    Grids: ``merra2_lat``/``merra2_lon`` (the region's MERRA-2 centres), ``lat``/``lon`` (G5NR
    centres covering those cells), ``g5nr_rows``/``g5nr_cols`` (slices of the G5NR box).
    Static fields on the G5NR grid: ``elevation`` (m), ``texture`` (high-passed terrain, unit
    variance), ``lowness`` (1 at sea level, 0 above 1500 m), ``pattern`` (smooth, unit variance).
    """

    def __init__(self, spec: SyntheticSpec):
        self.spec = spec
        self.params = p = spec.world
        self.merra2_lat = grid_subset("lat", *spec.region.lat)
        self.merra2_lon = grid_subset("lon", *spec.region.lon)
        cells = _cells(spec.region)
        self.lat = grid_subset("lat", *cells.lat, G5NR_GRID)
        self.lon = grid_subset("lon", *cells.lon, G5NR_GRID)
        box_lat = grid_subset("lat", *spec.g5nr_box.lat, G5NR_GRID)
        box_lon = grid_subset("lon", *spec.g5nr_box.lon, G5NR_GRID)
        first_row = int(np.argmin(np.abs(self.lat - box_lat[0])))
        first_col = int(np.argmin(np.abs(self.lon - box_lon[0])))
        self.g5nr_rows = slice(first_row, first_row + box_lat.size)
        self.g5nr_cols = slice(first_col, first_col + box_lon.size)

        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(4)]
        terrain_rng, static_rng, self._world_rng, self._merra2_rng = streams
        self._terrain = self._terrain_components(terrain_rng)
        self.elevation = self.terrain(self.lat, self.lon)
        texture = self.elevation - gaussian_filter(self.elevation, 6.0, mode="nearest")  # < ~0.4 degree
        self.texture = texture / texture.std()
        self.lowness = np.clip(1.0 - self.elevation / 1500.0, 0.0, 1.0)
        self.pattern = SmoothNoise(self.lat, self.lon, 3.0).sample(static_rng)
        bias_pattern = SmoothNoise(self.merra2_lat, self.merra2_lon, 4.0).sample(static_rng)
        self.merra2_bias_log10 = math.log10(p.merra2_bias_factor) + p.merra2_bias_pattern * bias_pattern

        # Conservative coarsening: the area (cos lat) weighted mean of the overlapping fine cells.
        lat_weights = overlap_weights(self.merra2_lat, MERRA2_GRID["lat"][1], self.lat, G5NR_GRID["lat"][1])
        lat_weights *= np.cos(np.radians(self.lat))[None, :]
        lon_weights = overlap_weights(self.merra2_lon, MERRA2_GRID["lon"][1], self.lon, G5NR_GRID["lon"][1])
        self._coarsen_lat = lat_weights / lat_weights.sum(axis=1, keepdims=True)
        self._coarsen_lon = lon_weights / lon_weights.sum(axis=1, keepdims=True)

        self._anomaly_noise = SmoothNoise(self.lat, self.lon, p.anomaly_scale_deg)
        self._merra2_noise = SmoothNoise(self.merra2_lat, self.merra2_lon, 0.75)

    def _terrain_components(self, rng: np.random.Generator) -> dict[str, Any]:
        """Random parameters of the terrain: Fourier modes, one ridge and two basins."""
        lat0, lat1, lon0, lon1 = self.lat[0], self.lat[-1], self.lon[0], self.lon[-1]
        n_modes = 256
        wavelength = np.exp(rng.uniform(np.log(0.25), np.log(6.0), n_modes))  # degrees
        direction = rng.uniform(0, np.pi, n_modes)
        amplitude = wavelength * rng.rayleigh(1.0, n_modes)  # red spectrum: large scales dominate
        amplitude *= 250.0 / np.sqrt(0.5 * (amplitude**2).sum())  # the modes' std: 250 m
        return {
            "k_lat": 2 * np.pi * np.cos(direction) / wavelength,
            "k_lon": 2 * np.pi * np.sin(direction) / wavelength,
            "coefficient": amplitude * np.exp(1j * rng.uniform(0, 2 * np.pi, n_modes)),
            "ridge": (rng.uniform(lat0, lat1), rng.uniform(lon0, lon1), rng.uniform(np.pi / 6, np.pi / 3)),
            "basins": [(rng.uniform(lat0, lat1), rng.uniform(lon0, lon1)) for _ in range(2)],
        }

    def terrain(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Elevation (m, >= 0) of the world's terrain on the grid ``lat`` x ``lon`` (any grid):
        a continuous function, so the elevation file and the world agree wherever sampled."""
        t = self._terrain
        lat_waves = np.exp(1j * np.outer(lat, t["k_lat"])) * t["coefficient"]  # (lat, modes)
        lon_waves = np.exp(1j * np.outer(lon, t["k_lon"]))  # (lon, modes)
        modes = (lat_waves @ lon_waves.T).real
        lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
        ridge_lat, ridge_lon, angle = t["ridge"]
        across = (lat2 - ridge_lat) * np.cos(angle) + (lon2 - ridge_lon) * np.sin(angle)
        along = -(lat2 - ridge_lat) * np.sin(angle) + (lon2 - ridge_lon) * np.cos(angle)
        ridge = 1800.0 * np.exp(-0.5 * (across / 0.7) ** 2 - 0.5 * (along / 6.0) ** 2)
        basins = sum(
            -300.0 * np.exp(-0.5 * ((lat2 - b_lat) ** 2 + (lon2 - b_lon) ** 2) / 1.5**2) for b_lat, b_lon in t["basins"]
        )
        return np.maximum(400.0 + modes + ridge + basins, 0.0)

    @staticmethod
    def season_index(day: np.datetime64) -> float:
        """+1 in early July, -1 in early January (sine of the day of the year)."""
        return math.sin(2 * math.pi * (day_of_year(day) - 100) / 365.25)

    def _spawn_events(self, day: np.datetime64, events: list[DustEvent]) -> None:
        """Add today's new events: a Poisson number peaking in mid-June, born upwind (west) of the
        region, drifting east (south-east in summer, like the shamal)."""
        p, rng = self.params, self._world_rng
        peak = math.exp(-0.5 * ((day_of_year(day) - 165) / 45.0) ** 2)
        rate = p.event_rate_winter + (p.event_rate_peak - p.event_rate_winter) * peak
        summer = 0.5 * (1 + self.season_index(day))
        for _ in range(rng.poisson(rate)):
            events.append(
                DustEvent(
                    lat=rng.uniform(self.lat[0] - 1.0, self.lat[-1] + 1.0),
                    lon=rng.uniform(self.lon[0] - 6.0, self.lon[-1]),
                    velocity=(rng.normal(0.3 - 1.0 * summer, 0.4), rng.normal(1.8 - 0.4 * summer, 0.5)),
                    amplitude=rng.uniform(*p.event_amplitude),
                    radius=rng.uniform(*p.event_radius_deg),
                    lifetime=int(rng.integers(p.event_lifetime_days[0], p.event_lifetime_days[1] + 1)),
                )
            )

    def coarsen(self, fine: np.ndarray) -> np.ndarray:
        """Conservative (area-weighted) mean of a fine (lat, lon) field over the MERRA-2 cells."""
        return self._coarsen_lat @ fine @ self._coarsen_lon.T

    def days(self, spin_up_days: int = 10) -> Iterator[WorldDay]:
        """The world day by day over the MERRA-2 period (after ``spin_up_days`` unwritten days
        that let dust events build up). Only the current day's fields are held."""
        p, rng = self.params, self._world_rng
        first, last = (np.datetime64(d, "D") for d in self.spec.merra2_period)
        grid = self.lat.shape + self.lon.shape
        anomaly = self._anomaly_noise.sample(rng)  # AR(1) states start from their stationary law
        fine = fine_noise(rng, grid, p.fine_scale_px)
        merra2_noise = self._merra2_noise.sample(self._merra2_rng)
        events: list[DustEvent] = []
        for day in np.arange(first - spin_up_days, last + 1, dtype="datetime64[D]"):
            anomaly = ar1(anomaly, self._anomaly_noise.sample(rng), p.anomaly_persistence)
            fine = ar1(fine, fine_noise(rng, grid, p.fine_scale_px), p.fine_persistence)
            merra2_noise = ar1(merra2_noise, self._merra2_noise.sample(self._merra2_rng), p.merra2_noise_persistence)
            self._spawn_events(day, events)
            dust_events = sum((e.field(self.lat, self.lon) for e in events), np.zeros(grid))
            for event in events:
                event.advance()
            events = [e for e in events if e.age < e.lifetime]
            if day < first:
                continue
            season = self.season_index(day)
            log10_aod = (
                p.mean_level
                + p.seasonal_amplitude * season
                - p.terrain_coefficient * (1 - 0.3 * season) * self.elevation / 1000.0
                + p.pattern_amplitude * self.pattern
                + p.anomaly_sigma * anomaly
                + dust_events * (0.4 + 0.6 * self.lowness)
                - p.texture_coefficient * self.texture * (1 + 2 * dust_events)
                + p.fine_sigma * fine
            )
            fine_aod = 10.0 ** np.clip(log10_aod, *p.log10_range)
            merra2_log10 = (
                np.log10(self.coarsen(fine_aod))
                + self.merra2_bias_log10
                + p.merra2_bias_seasonal * season
                + p.merra2_noise_sigma * merra2_noise
            )
            yield WorldDay(day, fine_aod, 10.0**merra2_log10)

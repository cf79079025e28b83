"""From ingested cubes to model inputs: normalisation, covariates and lazily cut tiles.

Nothing here materialises all tiles: datasets keep the normalised daily cubes and cut a tile
(a view) when asked, so memory is that of the cubes, whatever the number of tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.ndimage
import torch
import xarray as xr
from torch.utils.data import Dataset, Subset

from downscaling.data.tiling import TileGrid
from downscaling.files.contracts import CUBE_VARIABLE

#: Condition channels after the transfer features, in this order (see ConditionalUNet).
COVARIATES = ("merra2", "elevation", "lat", "lon", "year")
#: Per-pixel maps saved with a model trained with ``climatology_inputs``: the mean and standard
#: deviation over the season's training days of normalised G5NR and MERRA-2. A per-pixel
#: quantile map of MERRA-2 knows each pixel's climatology and bias; a network that sees 16-px
#: tiles and lat/lon would otherwise have to learn them as a function of position.
CLIMATOLOGY = ("g5nr_mean", "g5nr_std", "merra2_mean", "merra2_std")
#: The condition channels they add after COVARIATES: the maps, then the day's MERRA-2 matched
#: to G5NR's per-pixel mean and standard deviation (a product a convolutional network does not
#: form easily, and on the demo a better bias correction than quantile mapping).
CLIMATOLOGY_CHANNELS = (*CLIMATOLOGY, "merra2_matched")
#: Standard deviations below this (normalised units) are taken as this in the matching.
MIN_STD = 1e-3
#: Years are mapped to (year - YEAR_ZERO) / YEAR_SPAN, so 2000-2025 spans [0, 1].
YEAR_ZERO, YEAR_SPAN = 2000.0, 25.0


@dataclass(frozen=True)
class MinMax:
    """Min-max scaling to [0, 1], fitted on training days only and saved with each model."""

    lo: float
    hi: float

    @classmethod
    def fit(cls, values: np.ndarray) -> MinMax:
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        if not np.isfinite(lo) or hi <= lo:
            raise ValueError(f"cannot normalise values in [{lo}, {hi}]")
        return cls(lo, hi)

    def apply(self, x):
        return (x - self.lo) / (self.hi - self.lo)

    def invert(self, y):
        return y * (self.hi - self.lo) + self.lo

    def to_dict(self) -> dict:
        return {"lo": self.lo, "hi": self.hi}

    @classmethod
    def from_dict(cls, d: dict) -> MinMax:
        return cls(float(d["lo"]), float(d["hi"]))


def decimal_year(dates) -> np.ndarray:
    dates = pd.DatetimeIndex(dates)
    return dates.year + (dates.day_of_year.values - 1) / np.where(dates.is_leap_year, 366.0, 365.0)


def year_covariate(dates) -> np.ndarray:
    """Time covariate of each date, float32 (T,)."""
    return ((decimal_year(dates) - YEAR_ZERO) / YEAR_SPAN).astype(np.float32)


def open_cube(path) -> xr.DataArray:
    """The ``log10_aod`` cube of an ingested netCDF file, loaded (time, lat, lon) float32."""
    with xr.open_dataset(path) as ds:
        return ds[CUBE_VARIABLE].load().astype(np.float32)


def day_index(cube: xr.DataArray, dates) -> np.ndarray:
    """Positions of ``dates`` on the cube's time axis (KeyError names the first missing date)."""
    times = pd.DatetimeIndex(cube["time"].values).normalize()
    pos = pd.Index(times).get_indexer(pd.DatetimeIndex(dates))
    if (pos < 0).any():
        missing = pd.DatetimeIndex(dates)[pos < 0][0]
        raise KeyError(f"date {missing:%Y-%m-%d} is not in the cube")
    return pos


def with_history(positions: np.ndarray, n_lag: int) -> np.ndarray:
    """Keep the day positions that have ``n_lag`` earlier days on the (gap-free) daily axis."""
    return positions[positions >= n_lag]


class LagTileDataset(Dataset):
    """Small U-Net samples: ``n_lag`` daily lags of a tile -> the tile on the next day.

    cube: normalised (T, H, W) float32; target_days: positions on its time axis.
    Item k -> (x (n_lag, tile, tile), y (1, tile, tile)), oldest lag first.
    """

    def __init__(self, cube: np.ndarray, target_days, n_lag: int, tile: int, stride: int):
        self.cube = torch.from_numpy(np.ascontiguousarray(cube, dtype=np.float32))
        self.days = np.asarray(target_days)
        if (self.days < n_lag).any():
            raise ValueError(f"target days need {n_lag} days of history")
        self.n_lag, self.tile = n_lag, tile
        self.corners = TileGrid(*cube.shape[1:], tile, stride).origins

    def __len__(self) -> int:
        return len(self.days) * len(self.corners)

    def __getitem__(self, k: int):
        day = self.days[k // len(self.corners)]
        r, c = self.corners[k % len(self.corners)]
        window = self.cube[day - self.n_lag : day + 1, r : r + self.tile, c : c + self.tile]
        return window[:-1], window[-1:]


@dataclass
class AreaFields:
    """Normalised G5NR-grid fields of one area, the inputs of the large models.

    target: G5NR (T, H, W); merra2: MERRA-2 on the G5NR grid (T, H, W); static: elevation,
    lat, lon maps (3, H, W); year: (T,). All in [0, 1] (by training-day min-max).
    climatology: the CLIMATOLOGY maps (4, H, W) on the same scales, or None.
    """

    dates: pd.DatetimeIndex
    target: np.ndarray
    merra2: np.ndarray
    static: np.ndarray
    year: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    climatology: np.ndarray | None = None

    def condition(self, day: int, rows=slice(None), cols=slice(None)) -> np.ndarray:
        """Covariate channels (len(COVARIATES) [+ len(CLIMATOLOGY_CHANNELS)], h, w) of one
        day, optionally one window."""
        climatology = None if self.climatology is None else self.climatology[:, rows, cols]
        return covariate_stack(self.merra2[day, rows, cols], self.static[:, rows, cols], self.year[day], climatology)


def lowpass_history(fields: np.ndarray, sigma_px: float) -> np.ndarray:
    """Days of history (..., H, W) with their fine scales removed: a Gaussian filter of
    `sigma_px` pixels over each day (edges by the nearest pixel), the same in training and
    inference; unchanged for 0. A history read at full resolution carries each day's fine-scale
    texture into the next, and in a free run a model's own texture fed back that way grows
    (docs/evaluation.md); with sigma 3 px the 25-80 km band is mostly gone."""
    if not sigma_px:
        return fields
    sigma = (0,) * (fields.ndim - 2) + (sigma_px, sigma_px)
    return scipy.ndimage.gaussian_filter(fields, sigma, mode="nearest").astype(fields.dtype, copy=False)


def covariate_stack(merra2, static, year: float, climatology=None):
    """(..., 5 [+ 5], h, w) covariates in COVARIATES [+ CLIMATOLOGY_CHANNELS] order from
    normalised MERRA-2 (..., h, w), static maps (..., 3, h, w) and the CLIMATOLOGY maps
    (..., 4, h, w) or None: numpy arrays (one day of a training window) or torch tensors (the
    tiles of a day at inference)."""
    xp = torch if isinstance(merra2, torch.Tensor) else np
    channel = (..., None, slice(None), slice(None))
    parts = [merra2[channel], static, xp.full_like(merra2, year)[channel]]
    if climatology is not None:
        parts += [climatology, match_moments(merra2, climatology)[channel]]
    return xp.concatenate(parts, axis=-3)


def match_moments(merra2, climatology):
    """MERRA-2 (..., h, w) with each pixel's mean and standard deviation over the training days
    replaced by G5NR's: ``g5nr_mean + (merra2 - merra2_mean) * g5nr_std / merra2_std``, from
    the CLIMATOLOGY maps (..., 4, h, w) on MERRA-2's scale (numpy or torch)."""
    g5nr_mean, g5nr_std, merra2_mean, merra2_std = (climatology[..., k, :, :] for k in range(len(CLIMATOLOGY)))
    return g5nr_mean + (merra2 - merra2_mean) * g5nr_std / merra2_std.clip(min=MIN_STD)


#: Position of the matched MERRA-2 among the covariates of a model with climatology inputs.
MATCHED_CHANNEL = len(COVARIATES) + CLIMATOLOGY_CHANNELS.index("merra2_matched")


def matched_merra2(covariates: torch.Tensor) -> torch.Tensor:
    """The matched MERRA-2 channel (B, 1, h, w) of covariates (B, 5 + 5, h, w)."""
    if covariates.shape[1] <= MATCHED_CHANNEL:
        raise ValueError(
            f"covariates of {covariates.shape[1]} channels have no matched MERRA-2 (a model without climatology_inputs)"
        )
    return covariates[:, MATCHED_CHANNEL : MATCHED_CHANNEL + 1]


def pixel_climatology(target: np.ndarray, merra2: np.ndarray) -> np.ndarray:
    """The CLIMATOLOGY maps (4, H, W) float32 of normalised G5NR and MERRA-2 cubes (T, H, W) of
    training days: each pixel's mean and standard deviation over those days."""
    return np.stack([target.mean(axis=0), target.std(axis=0), merra2.mean(axis=0), merra2.std(axis=0)]).astype(
        np.float32
    )


def read_elevation(static_path) -> np.ndarray:
    """Elevation (H, W) in metres on the area's G5NR grid."""
    with xr.open_dataset(static_path) as ds:
        return ds["elevation"].values.astype(np.float32)


def static_maps(static_path, elevation_norm: MinMax) -> np.ndarray:
    """Static covariates (3, H, W): normalised elevation, and lat and lon scaled to [0, 1]."""
    with xr.open_dataset(static_path) as ds:
        lat, lon = ds["lat"].values, ds["lon"].values
    lat_map, lon_map = np.meshgrid((lat - lat.min()) / np.ptp(lat), (lon - lon.min()) / np.ptp(lon), indexing="ij")
    elevation = elevation_norm.apply(read_elevation(static_path))
    return np.stack([elevation, lat_map, lon_map]).astype(np.float32)


def load_area_fields(
    g5nr_path,
    merra2_on_g5nr_path,
    static_path,
    norm: dict | None = None,
    train_dates=None,
    climatology: bool = False,
) -> tuple[AreaFields, dict]:
    """Read an area's cubes and normalise them.

    Either ``norm`` (a saved normalisation dict) is given, or it is fitted on ``train_dates``
    (per source: g5nr, merra2; elevation over the area). With ``climatology``, the fields carry
    the per-pixel CLIMATOLOGY maps of ``train_dates``. Returns (fields, norm).
    """
    g5nr = open_cube(g5nr_path)
    merra2 = open_cube(merra2_on_g5nr_path)
    if merra2.shape != g5nr.shape:
        raise ValueError(f"{merra2_on_g5nr_path} has shape {merra2.shape}, {g5nr_path} has {g5nr.shape}")
    lat, lon = g5nr["lat"].values, g5nr["lon"].values
    train = None if train_dates is None else day_index(g5nr, train_dates)
    if norm is None:
        norm = {
            "g5nr": MinMax.fit(g5nr.values[train]).to_dict(),
            "merra2": MinMax.fit(merra2.values[train]).to_dict(),
            "elevation": MinMax.fit(read_elevation(static_path)).to_dict(),
        }
    static = static_maps(static_path, MinMax.from_dict(norm["elevation"]))
    dates = pd.DatetimeIndex(g5nr["time"].values).normalize()
    fields = AreaFields(
        dates=dates,
        target=MinMax.from_dict(norm["g5nr"]).apply(g5nr.values).astype(np.float32),
        merra2=MinMax.from_dict(norm["merra2"]).apply(merra2.values).astype(np.float32),
        static=static,
        year=year_covariate(dates),
        lat=lat,
        lon=lon,
    )
    if climatology:
        fields.climatology = pixel_climatology(fields.target[train], fields.merra2[train])
    return fields, norm


class DownscalingTileDataset(Dataset):
    """Large-model samples: one G5NR tile of one day with its condition.

    samples: int array (N, 3) of (day position, row, col); rows: which of them this dataset
    uses; features: (N, C, h, w) aligned with samples (float16, e.g. a memory map, read one
    row at a time so it never has to fit in memory); or history: a normalised (T, H, W) cube
    whose previous n_lag days of the tile a trainable encoder reads; or neither, when the
    model has no history. Item -> (x0 (1, t, t), features (C, h, w), history (n_lag, t, t) or
    nothing (0, 1, 1), covariates (5 [+ 5], t, t)).
    """

    def __init__(
        self,
        fields: AreaFields,
        samples: np.ndarray,
        rows,
        tile: int,
        features=None,
        history: np.ndarray | None = None,
        n_lag: int = 0,
    ):
        if features is not None and len(features) != len(samples):
            raise ValueError(f"{len(features)} feature rows for {len(samples)} samples")
        if history is not None and (samples[:, 0] < n_lag).any():
            raise ValueError(f"samples need {n_lag} days of history")
        self.fields, self.samples, self.rows, self.tile = fields, samples, np.asarray(rows), tile
        self.features, self.history, self.n_lag = features, history, n_lag

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int):
        j = self.rows[k]
        day, r, c = self.samples[j]
        window = (slice(r, r + self.tile), slice(c, c + self.tile))
        x0 = torch.from_numpy(self.fields.target[day][window][None].copy())
        cond = torch.from_numpy(self.fields.condition(day, *window))
        if self.features is not None:
            feats = torch.from_numpy(np.asarray(self.features[j], dtype=np.float32))
        elif self.history is not None:
            feats = torch.from_numpy(self.history[day - self.n_lag : day][(slice(None), *window)].copy())
        else:
            feats = torch.zeros(0, 1, 1)
        return x0, feats, cond


def tile_samples(day_positions, corners: np.ndarray) -> np.ndarray:
    """All (day, row, col) combinations, day-major: (len(days) * len(corners), 3) int64."""
    days = np.repeat(np.asarray(day_positions), len(corners))
    return np.column_stack([days, np.tile(corners, (len(day_positions), 1))]).astype(np.int64)


def split_by_day(days: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation days drawn from training days (grouped by day), seeded: (train, val)."""
    days = np.sort(np.asarray(days))
    n_val = max(1, int(round(val_fraction * len(days))))
    val = np.sort(np.random.default_rng(seed).choice(days, size=n_val, replace=False))
    return np.setdiff1d(days, val), val


def capped(dataset: Dataset, n_max: int | None, seed: int) -> Dataset:
    """At most ``n_max`` items of ``dataset``: a fixed, seeded subset (the whole set if None)."""
    if n_max is None or len(dataset) <= n_max:
        return dataset
    keep = np.sort(np.random.default_rng(seed).choice(len(dataset), size=n_max, replace=False))
    return Subset(dataset, keep.tolist())

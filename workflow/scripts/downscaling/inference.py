"""Stitched inference: whole-area daily fields from overlapping tiles.

Per day: cut the area into tiles at the inference stride, compute the transfer features of
every tile once from the previous n_lag days (true history in *lenient* mode, the model's own
earlier predictions in *strict* mode and in long runs), denoise all tiles of all ensemble
members in batches that fit the memory budget, and stitch each member with halo crop + 2-D
Hann overlap-add. Fields are log10 AOD on the G5NR grid until they are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr

from . import features as transfer
from . import large, pretrain
from .datasets import MinMax, covariate_stack, static_maps, year_covariate
from .diffusion import DDIMSampler, DDPMSampler, NoiseSchedule, sample
from .regrid import regrid
from .splits import season_of
from .tiling import extract_tiles, stitch_tiles


CPU_BATCH_TILES = 512


@dataclass(frozen=True)
class InferenceSettings:
    sampler: str = "ddim"
    steps: int = 20
    eta: float = 0.0
    stride: int = 8
    halo: int = 4
    members: int = 4
    memory_budget_mb: int = 2048
    encoder_every_step: bool = False  # the authors' way: features recomputed at every step

    @classmethod
    def from_config(cls, section: dict) -> "InferenceSettings":
        return cls(**{k: section[k] for k in cls.__dataclass_fields__ if k in section})


def tiles_per_batch(channels, tile: int, cond_channels: int, budget_mb: int) -> int:
    """Tiles per forward pass within the memory budget.

    A rough bound on activation memory: every level keeps a few feature maps of its width,
    the condition stack is held once; float32. Errs on the small side.
    """
    per_tile = 4 * tile * tile * (cond_channels + 16 * sum(c / 4**i for i, c in enumerate(channels)))
    return max(1, int(budget_mb * 2**20 // per_tile))


class Downscaler:
    """One trained large model (plus its transfer encoder) ready to downscale days of an area.

    static_path: the area's static.nc (elevation on the G5NR grid).
    """

    def __init__(self, model_path, small_unet_path, static_path, settings: InferenceSettings,
                 device: torch.device, seed: int):
        self.model, saved = large.load(model_path, device)
        self.variant = large.VARIANTS[saved["model"]]
        self.norm = {k: MinMax.from_dict(v) for k, v in saved["normalisation"].items()}
        self.tile = saved["tile"]
        self.settings, self.device, self.seed = settings, device, seed
        self.static = static_maps(static_path, self.norm["elevation"])
        self.members = settings.members if self.variant.diffusion else 1
        self.encoder = self.encoder_norm = None
        if self.variant.transfer:
            self.encoder, self.encoder_norm = pretrain.load_encoder(small_unet_path, device)
        if self.variant.diffusion:
            schedule = NoiseSchedule(saved["timesteps"], saved["schedule"]).to(device)
            self.sampler = (
                DDIMSampler(schedule, eta=settings.eta) if settings.sampler == "ddim" else DDPMSampler(schedule)
            )
        self.batch = tiles_per_batch(saved["kwargs"]["channels"], self.tile, self.model.cond_channels,
                                     settings.memory_budget_mb)
        if device.type == "cpu":
            # measured: 512-tile batches run ~2x faster per tile than 8000 on CPU (cache-bound)
            self.batch = min(self.batch, CPU_BATCH_TILES)

    @property
    def n_lag(self) -> int:
        return self.encoder.in_channels if self.encoder is not None else 0

    def _tiles(self, field: np.ndarray) -> tuple[torch.Tensor, object]:
        """(..., H, W) array -> (N, ..., t, t) tiles on the device, and the tile grid."""
        return extract_tiles(torch.from_numpy(np.ascontiguousarray(field)).to(self.device), self.tile, self.settings.stride)

    @torch.inference_mode()
    def predict_day(self, merra2_log: np.ndarray, date, history_log: np.ndarray | None, day_seed: int) -> np.ndarray:
        """Members (M, H, W) of log10 AOD for one date.

        merra2_log: MERRA-2 on the G5NR grid that day (H, W); history_log: the previous n_lag
        days (M or 1, n_lag, H, W) in log10 (one shared history is used for every member).
        """
        covariates = covariate_stack(
            self.norm["merra2"].apply(merra2_log).astype(np.float32), self.static, year_covariate([date])[0]
        )
        cov_tiles, grid = self._tiles(covariates)  # (N, 5, t, t)
        n_tiles, members = len(cov_tiles), self.members
        history_tiles = features = None
        if self.variant.transfer:
            normalised = self.encoder_norm.apply(history_log).astype(np.float32)  # (Mh, n_lag, H, W)
            history = torch.from_numpy(normalised).to(self.device)
            history_tiles = transfer.history_tiles(history, self.tile, self.settings.stride)  # (N, Mh, ...)
            if self.settings.encoder_every_step:
                history_tiles = per_member(history_tiles.transpose(0, 1), members)
            else:
                # once per tile and day, and per history: a shared history (Mh = 1) is encoded once
                # for all members
                features = transfer.encode(self.encoder, history_tiles.flatten(0, 1), self.batch)
                features = per_member(features.unflatten(0, history_tiles.shape[:2]).transpose(0, 1), members)
                history_tiles = None
        cov_tiles = cov_tiles.repeat(members, 1, 1, 1)  # (M*N, 5, t, t)
        generator = torch.Generator(self.device).manual_seed(day_seed)
        out = torch.empty(members * n_tiles, 1, self.tile, self.tile, device=self.device)
        for start in range(0, len(out), self.batch):
            window = slice(start, start + self.batch)
            out[window] = self._predict_tiles(
                cov_tiles[window],
                None if features is None else features[window],
                None if history_tiles is None else history_tiles[window],
                generator,
            )
        by_tile = out.reshape(members, n_tiles, self.tile, self.tile).transpose(0, 1)  # (N, M, t, t)
        stitched = stitch_tiles(by_tile, grid, self.settings.halo)  # (M, H, W)
        return self.norm["g5nr"].invert(stitched.float().cpu().numpy())

    def _predict_tiles(self, cov, features, history, generator) -> torch.Tensor:
        if features is not None or not self.variant.transfer:  # else: encoded at every step below
            cond = self.model.condition(features, cov)
        if not self.variant.diffusion:
            return self.model(cond)
        if self.settings.encoder_every_step and self.variant.transfer:
            def model_fn(x_t, t):
                return self.model(self.model.condition(self.encoder(history), cov), x_t, t)
        else:
            def model_fn(x_t, t):
                return self.model(cond, x_t, t)
        shape = (len(cov), 1, self.tile, self.tile)
        return sample(model_fn, shape, self.sampler, self.settings.steps, generator, self.device)


def per_member(tiles: torch.Tensor, members: int) -> torch.Tensor:
    """(Mh, N, ...) tiles of Mh = 1 shared or Mh = members histories -> (members * N, ...),
    member-major (the order of the covariate tiles)."""
    return tiles.expand(members, *tiles.shape[1:]).reshape(-1, *tiles.shape[2:])


def day_seed(seed: int, date) -> int:
    """Seed of one date's noise: the same day gets the same noise whatever else is run."""
    return int(np.random.SeedSequence([seed, int(np.datetime64(date, "D").astype(np.int64))]).generate_state(1)[0])


def downscale_test_days(downscaler: Downscaler, truth_log: np.ndarray, merra2_log: np.ndarray, dates,
                        test_positions, mode: str):
    """Yield (date, members (M, H, W) log10) for each test day, in date order.

    truth_log, merra2_log: (T, H, W) over ``dates``. strict: each predicted day replaces the
    truth in the history of later days (each member keeps its own history); lenient: the
    true history is always used.
    """
    if mode not in ("strict", "lenient"):
        raise ValueError(f"mode must be strict or lenient, got {mode!r}")
    n_lag, members = downscaler.n_lag, downscaler.members
    predicted: dict[int, np.ndarray] = {}
    for day in np.sort(np.asarray(test_positions)):
        history = None
        if n_lag:
            history = np.repeat(truth_log[None, day - n_lag : day], members if mode == "strict" else 1, axis=0)
            if mode == "strict":
                for lag, lag_day in enumerate(range(day - n_lag, day)):
                    if lag_day in predicted:
                        history[:, lag] = predicted[lag_day]
        predicted[day] = downscaler.predict_day(
            merra2_log[day], dates[day], history, day_seed(downscaler.seed, dates[day])
        )
        yield dates[day], predicted[day]


def long_run(downscaler_of_season, merra2_of_date, history_log: np.ndarray, dates):
    """Yield (date, members (M, H, W) log10) for consecutive ``dates``, fully autoregressive.

    history_log: the n_lag days before dates[0] (n_lag, H, W), e.g. the last G5NR days;
    downscaler_of_season(season) -> Downscaler; merra2_of_date(date) -> (H, W) log10 on the
    G5NR grid. Only the last n_lag days are kept, so memory is flat in the run's length.
    """
    history = None
    for date, season in zip(dates, season_of(dates)):
        downscaler = downscaler_of_season(season)
        if history is None:
            history = np.repeat(np.asarray(history_log, dtype=np.float32)[None], downscaler.members, axis=0)
        members = downscaler.predict_day(merra2_of_date(date), date, history, day_seed(downscaler.seed, date))
        history = np.concatenate([history[:, 1:], members[:, None]], axis=1)  # (M, n_lag, H, W)
        yield date, members


def interpolated_days(merra2_log: np.ndarray, dates, test_positions):
    """The ``interp`` baseline: MERRA-2 on the G5NR grid, one member, (date, (1, H, W))."""
    for day in np.sort(np.asarray(test_positions)):
        yield dates[day], merra2_log[day][None]


class Merra2OnGrid:
    """MERRA-2 of any date of its record on a target grid, read one day at a time (log10)."""

    def __init__(self, merra2_path, lat, lon, method: str = "nearest"):
        self.cube = xr.open_dataset(merra2_path)["log10_aod"]
        self.path, self.lat, self.lon, self.method = merra2_path, lat, lon, method
        self.dates = pd.DatetimeIndex(self.cube["time"].values).normalize()

    def __call__(self, date) -> np.ndarray:
        position = self.dates.get_indexer([pd.Timestamp(date)])[0]
        if position < 0:
            raise KeyError(f"{self.path}: {pd.Timestamp(date):%Y-%m-%d} is outside the MERRA-2 record "
                           f"({self.dates[0]:%Y-%m-%d} .. {self.dates[-1]:%Y-%m-%d})")
        return regrid(self.cube.isel(time=position).load(), self.lat, self.lon, self.method).values

"""Stitched inference: whole-area daily fields from overlapping tiles.

Per day: cut the area into tiles at the inference stride, compute the transfer features of
every tile once from the previous n_lag days (true history in *lenient* mode, the model's own
earlier predictions in *strict* mode and in long runs), and build each tile's condition once.

A deterministic model predicts every tile, and the tiles are stitched with halo crop + 2-D
Hann overlap-add. A diffusion model is sampled on the whole area, not tile by tile: the noisy
field x_t of each member lives on the area's grid, and at every denoising step its tiles are
cut, denoised in batches that fit the memory budget, and their x0 estimates stitched into one
field before the sampler's step (as CorrDiff's patch-based sampling). Tiles thus share their
overlaps at every step, so independent per-tile noise never meets at a seam. Fields are
log10 AOD on the G5NR grid until they are written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
import xarray as xr

from downscaling import variants
from downscaling.config_checks import member_count_problem, schema_defaults
from downscaling.data.datasets import MinMax, covariate_stack, lowpass_history, static_maps, year_covariate
from downscaling.data.splits import season_of
from downscaling.data.tiling import FieldTiles, OverlapAdd, TileGrid, extract_tiles
from downscaling.diffusion.losses import x0_from_output
from downscaling.diffusion.samplers import MemberGenerators, make_sampler, sample
from downscaling.diffusion.schedule import NoiseSchedule
from downscaling.files.contracts import CUBE_VARIABLE
from downscaling.files.outputs import DailyWriter
from downscaling.inference.spread_calibration import FIT_MEMBERS, SpreadCalibration
from downscaling.ingest.regrid import regrid
from downscaling.runtime import uses_bf16
from downscaling.training import large_model_stage, small_unet_stage

CPU_BATCH_TILES = 512


#: The schema's defaults of the inference section (one place: the schema describes each key).
_DEFAULTS = schema_defaults()["inference"]


@dataclass(frozen=True)
class InferenceSettings:
    """The config's inference section for one model, season and area (keys as in the schema)."""

    sampler: str = _DEFAULTS["sampler"]
    steps: int = _DEFAULTS["steps"]
    eta: float = _DEFAULTS["eta"]
    stride: int = _DEFAULTS["stride"]
    halo: int = _DEFAULTS["halo"]
    members: int = _DEFAULTS["members"]
    memory_budget_mb: int = _DEFAULTS["memory_budget_mb"]
    encoder_every_step: bool = _DEFAULTS["encoder_every_step"]
    timestep_spacing: str = _DEFAULTS["timestep_spacing"]
    clip_x0: bool | None = _DEFAULTS["clip_x0"]
    precision: str = _DEFAULTS["precision"]
    calibrate_spread: bool = _DEFAULTS["calibrate_spread"]  # the workflow then passes the calibration

    @classmethod
    def from_config(cls, section: dict) -> InferenceSettings:
        return cls(**{k: section[k] for k in cls.__dataclass_fields__ if k in section})

    def for_spread_fitting(self) -> InferenceSettings:
        """These settings with the ensemble the spread calibration is fitted with: FIT_MEMBERS
        members at most (spread_calibration.py says why that is enough)."""
        return replace(self, members=min(self.members, FIT_MEMBERS))


def tiles_per_batch(channels, tile: int, cond_channels: int, budget_mb: int) -> int:
    """Tiles per forward pass within the memory budget.

    A rough bound on activation memory: every level keeps a few feature maps of its width,
    the condition stack is held once; float32. Errs on the small side.
    """
    per_tile = 4 * tile * tile * (cond_channels + 16 * sum(c / 4**i for i, c in enumerate(channels)))
    return max(1, int(budget_mb * 2**20 // per_tile))


class Downscaler:
    """One trained large model (plus its transfer encoder) ready to downscale days of an area.

    static_path: the area's static.nc (elevation on the G5NR grid); base_path: for a residual
    variant, the deterministic model it builds on; spread_calibration_path: a diffusion model's
    spread calibration (spread_calibration.py), whose centred fields are added to its members.
    """

    def __init__(
        self,
        model_path,
        small_unet_path,
        static_path,
        settings: InferenceSettings,
        device: torch.device,
        seed: int,
        base_path=None,
        spread_calibration_path=None,
    ):
        self.model, saved = large_model_stage.load(model_path, device)
        self.variant = variants.VARIANTS[saved["model"]]
        self.base = large_model_stage.load_base(saved, base_path, device)  # what the network's output is added to
        self.norm = {k: MinMax.from_dict(v) for k, v in saved["normalisation"].items()}
        self.tile = saved["tile"]
        self.settings, self.device, self.seed = settings, device, seed
        self.bf16 = uses_bf16(settings.precision, device)
        self.static = static_maps(static_path, self.norm["elevation"])
        climatology = saved.get("climatology")  # per-pixel maps of the training days, or None
        self.climatology = None if climatology is None else climatology.cpu().numpy()
        self.members = settings.members if self.variant.diffusion else 1
        self.spread_calibration = None
        if spread_calibration_path is not None:
            if not self.variant.diffusion:
                raise ValueError(f"{saved['model']} has no ensemble to calibrate ({spread_calibration_path})")
            self.spread_calibration = SpreadCalibration.load(spread_calibration_path)
        self.history_lowpass = large_model_stage.history_lowpass(saved)  # the base's is the same (load_base)
        self.encoder = self.encoder_norm = None
        self.reads_history = variants.reads_history(saved["model"])
        if self.variant.trains_encoder:  # the model's own encoder, on the small U-Net's inputs
            self.encoder, (_, self.encoder_norm) = (
                self.model.history_encoder,
                small_unet_stage.saved_shape(small_unet_path),
            )
        elif self.reads_history:
            self.encoder, self.encoder_norm = small_unet_stage.load_encoder(small_unet_path, device)
        if self.variant.diffusion:
            schedule = NoiseSchedule(saved["timesteps"], saved["schedule"]).to(device)
            # only a normalised G5NR tile is known to lie in [0, 1]; the authors never clamp
            clip = self.model.bounded if settings.clip_x0 is None else settings.clip_x0
            self.sampler = make_sampler(settings.sampler, schedule, settings.eta, clip, settings.timestep_spacing)
        self._budget_batch = tiles_per_batch(
            saved["kwargs"]["channels"], self.tile, self.model.cond_channels, settings.memory_budget_mb
        )
        if device.type == "cpu":
            # measured: 512-tile batches run ~2x faster per tile than 8000 on CPU (cache-bound)
            self._budget_batch = min(self._budget_batch, CPU_BATCH_TILES)
        self._set_grid()

    def _set_grid(self) -> None:
        """Tile grid, static tiles, overlap-add and batch size of the static maps' area."""
        self.grid = TileGrid(*self.static.shape[1:], self.tile, self.settings.stride)
        self.static_tiles = self._tiles(self.static)  # (N, 3, t, t): once per area, not every day
        self.climatology_tiles = None if self.climatology is None else self._tiles(self.climatology)  # (N, 4, t, t)
        self.overlap_add = OverlapAdd(self.grid, self.settings.halo, device=self.device)
        self.batch = self._budget_batch
        if self.batch > self.grid.n_tiles:
            # whole members per batch: the rows of a condition shared by all members are then a
            # view, not a gather at every denoising step
            self.batch -= self.batch % self.grid.n_tiles

    def crop(self, rows: slice, cols: slice) -> None:
        """Downscale only a window of the area from now on (fields passed in must be cropped
        alike); lat/lon keep the whole area's scaling, so the model sees the inputs it was
        trained on. For benchmarks that need many samples of a small region."""
        self.static = np.ascontiguousarray(self.static[:, rows, cols])
        if self.climatology is not None:
            self.climatology = np.ascontiguousarray(self.climatology[:, rows, cols])
        self._set_grid()

    @property
    def n_lag(self) -> int:
        return self.encoder.in_channels if self.encoder is not None else 0

    def _tiles(self, field: np.ndarray) -> torch.Tensor:
        """(..., H, W) array -> (N, ..., t, t) tiles on the device, in grid order."""
        field = torch.from_numpy(np.ascontiguousarray(field)).to(self.device)
        return extract_tiles(field, self.tile, self.settings.stride)[0]

    def member_bytes(self, own_history: bool) -> int:
        """Bytes a day holds per member: its noisy tiles and their x0 estimates at each step,
        and with a history of its own also its transfer features and its base model's mean."""
        per_tile = 3 * self.tile**2
        if own_history:
            if self.encoder is not None:
                per_tile += self.encoder.out_channels * self.encoder.feature_size(self.tile) ** 2
            per_tile += self.tile**2 if self.base is not None else 0
        return 4 * self.grid.n_tiles * per_tile

    def member_groups(self, members: list, own_history: bool) -> list[list]:
        """The members split into as few equal groups as keep each group's held tensors
        within the memory budget, sampled one group after the other: memory flat in the
        ensemble size. One group when they fit (the demo); never less than one member."""
        per_group = max(1, self.settings.memory_budget_mb * 2**20 // self.member_bytes(own_history))
        n_groups = -(-len(members) // per_group)
        return [[int(m) for m in group] for group in np.array_split(np.asarray(members), n_groups)]

    @torch.inference_mode()
    def predict_day(
        self, merra2_log: np.ndarray, date, history_log: np.ndarray | None, day_seed: int, members=None
    ) -> np.ndarray:
        """Members (M, H, W) of log10 AOD for one date.

        merra2_log: MERRA-2 on the G5NR grid that day (H, W); history_log: the previous n_lag
        days (M or 1, n_lag, H, W) in log10 (one shared history is used for every member);
        members: which members of the ensemble (default: all); each draws its noise from its
        own stream of `day_seed`, so member m is the same run alone or with the others, and
        the members can be sampled in groups (:meth:`member_groups`).
        """
        members = list(range(self.members) if members is None else members)
        own_history = history_log is not None and len(history_log) > 1
        fields, start = [], 0
        for group in self.member_groups(members, own_history):
            history = history_log[start : start + len(group)] if own_history else history_log
            fields.append(self._predict_members(merra2_log, date, history, day_seed, group))
            start += len(group)
        fields = np.concatenate(fields)
        if self.spread_calibration is not None:
            seeds = [member_seed(day_seed, m) for m in range(self.members)]
            fields += self.spread_calibration.perturbations(fields.shape[1:], seeds, members).astype(fields.dtype)
        return fields

    def _predict_members(
        self, merra2_log: np.ndarray, date, history_log: np.ndarray | None, day_seed: int, members: list
    ) -> np.ndarray:
        """predict_day for one group of members, all held at once.

        Everything that does not depend on the member is built once per tile: the covariates,
        and with a shared history the transfer features and the whole condition. Tiles are
        denoised in member-major batches, each reading its rows of the shared tensors. The
        history's tiles are cut per batch, and the conditions are held only when they fit the
        memory budget, so memory grows with the features (C x 4 x 4 a tile), not the conditions.
        """
        merra2 = self._tiles(self.norm["merra2"].apply(merra2_log).astype(np.float32, copy=False))  # (N, t, t)
        covariates = covariate_stack(
            merra2, self.static_tiles, year_covariate([date])[0], self.climatology_tiles
        )  # (N, 5 [+ 5], t, t)
        every_step = self.variant.history is not None and self.settings.encoder_every_step
        history = None
        n_rows = self.grid.n_tiles  # rows of the shared tensors: one per tile, or per tile and history
        if self.reads_history:
            history = self.history_tiles(history_log)
            n_rows = len(history)  # Mh * N

        def encoded(rows):
            return self._net(self.encoder, history.rows(*rows))  # (B, C, h, w)

        features = means = None
        if self.reads_history and not (every_step and self.base is None):
            features = self._batched(encoded, n_rows)  # (Mh * N, C, h, w): the encoder once per tile
        if self.base is not None:  # the mean the output is added to (a residual model also sees it)

            def mean(rows):
                if self.variant.trains_encoder:  # the base's own encoder reads the history
                    read = history.rows(*rows)
                else:
                    read = None if features is None else rows_of(features, *rows)
                return self._net(self.base, read, rows_of(covariates, *rows))

            means = self._batched(mean, n_rows)  # (Mh * N, 1, t, t)

        def built(rows):
            if every_step:  # the authors' way: the encoder again at every denoising step
                used = encoded(rows)
            else:
                used = rows_of(features, *rows) if self.variant.history else None
            extra = rows_of(means, *rows) if self.variant.residual_of else None
            return self.model.condition(used, rows_of(covariates, *rows), extra)

        condition = built
        # Conditions are held for the whole day when they fit the memory budget (built once, read
        # as views), else built per batch from the features: memory flat in area and members.
        if (
            not every_step
            and n_rows * self.model.cond_channels * self.tile**2 * 4 <= self.settings.memory_budget_mb * 2**20
        ):
            conditions = self._batched(built, n_rows)  # (Mh * N, C, t, t)
            condition = lambda rows: rows_of(conditions, *rows)  # noqa: E731 (one line, as the builder it replaces)

        if not self.variant.diffusion:
            out = self._batched(lambda rows: self._net(self.model, condition(rows)), self.grid.n_tiles)
            field = self.overlap_add(out[:, 0]).unsqueeze(0)  # (1, H, W)
        else:
            generator = MemberGenerators([member_seed(day_seed, m) for m in members], self.device)
            shape = (len(members), *self.static.shape[1:])
            field = sample(
                lambda x_t, t: self._x0_field(x_t, t, condition),
                shape,
                self.sampler,
                self.settings.steps,
                generator,
                self.device,
            )  # (M, H, W)
        if means is not None:
            mean_field = self.overlap_add(means.unflatten(0, (-1, self.grid.n_tiles))[:, :, 0].transpose(0, 1))
            field = mean_field + self.base.scale * field  # (M, H, W)
        return self.norm["g5nr"].invert(field.float().cpu().numpy())  # (M, H, W)

    def history_tiles(self, history_log: np.ndarray) -> FieldTiles:
        """The tiles of histories (Mh, n_lag, H, W) in log10 as the model's encoder reads them:
        normalised for the small U-Net and low-passed where the model was trained so."""
        normalised = lowpass_history(
            self.encoder_norm.apply(history_log).astype(np.float32, copy=False), self.history_lowpass
        )
        return FieldTiles(torch.from_numpy(np.ascontiguousarray(normalised)).to(self.device), self.grid)

    def _net(self, network, *args) -> torch.Tensor:
        """network(*args) in the configured precision, returned as float32: only the network
        passes run in bfloat16; conditions, the sampler's arithmetic and the stitching do not."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return network(*args).float()

    def _batched(self, forward, n_rows: int) -> torch.Tensor:
        """forward((start, stop)) over rows 0..n_rows-1 in batches of self.batch, concatenated."""
        return torch.cat([forward((start, min(start + self.batch, n_rows))) for start in range(0, n_rows, self.batch)])

    def _x0_field(self, x_t: torch.Tensor, t: int, condition) -> torch.Tensor:
        """The stitched x0 estimate (M, H, W) of the members' noisy fields x_t (M, H, W) at
        timestep t: tiles cut from x_t, denoised in member-major batches (condition(rows) gives
        their conditions), stitched."""
        x_tiles = member_major(extract_tiles(x_t, self.tile, self.settings.stride)[0])[:, None]  # (M*N, 1, t, t)
        abar = self.sampler.alpha_bar(t)

        def denoise(rows):
            x = x_tiles[rows[0] : rows[1]]
            return x0_from_output(self._net(self.model, condition(rows), x, t), x, abar, self.variant.prediction)

        out = self._batched(denoise, len(x_tiles))
        by_tile = out.reshape(len(x_t), self.grid.n_tiles, self.tile, self.tile).transpose(0, 1)  # (N, M, t, t)
        return self.overlap_add(by_tile)


def member_major(tiles: torch.Tensor) -> torch.Tensor:
    """(N, Mh, ...) tiles -> (Mh * N, ...), the member-major order of the batches."""
    return tiles.transpose(0, 1).flatten(0, 1)


def rows_of(shared: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Rows start..stop-1 of the member-major batch order, (M * N, ...), read from a tensor of
    Mh * N rows with Mh = M (one history per member) or Mh = 1 (shared by all): row i is
    shared[i % len(shared)]. A view unless the window wraps around."""
    n = len(shared)
    if start // n == (stop - 1) // n:
        return shared[start % n : (stop - 1) % n + 1]
    return shared[torch.arange(start, stop, device=shared.device) % n]


def day_seed(seed: int, date) -> int:
    """Seed of one date's noise: the same day gets the same noise whatever else is run."""
    return int(np.random.SeedSequence([seed, int(np.datetime64(date, "D").astype(np.int64))]).generate_state(1)[0])


def member_seed(day_seed: int, member: int) -> int:
    """Seed of one member's noise on a day (see :class:`MemberGenerators`)."""
    return int(np.random.SeedSequence([day_seed, member]).generate_state(1)[0])


def downscale_test_days(
    downscaler: Downscaler, truth_log: np.ndarray, merra2_log: np.ndarray, dates, test_positions, mode: str
):
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
            history = truth_log[None, day - n_lag : day]
            if mode == "strict":  # each member's own history: a copy
                history = np.repeat(history, members, axis=0)
                for lag, lag_day in enumerate(range(day - n_lag, day)):
                    if lag_day in predicted:
                        history[:, lag] = predicted[lag_day]
        predicted[day] = downscaler.predict_day(
            merra2_log[day], dates[day], history, day_seed(downscaler.seed, dates[day])
        )
        yield dates[day], predicted[day]


def fit_spread_calibration(
    downscaler: Downscaler, truth_log: np.ndarray, merra2_log: np.ndarray, dates, days
) -> SpreadCalibration:
    """The spread calibration of ``downscaler``'s model from days held out of its training
    (positions in ``dates``), lenient (the true history), with the downscaler's members (the
    workflow's: ``InferenceSettings.for_spread_fitting``)."""
    days = np.sort(np.asarray(days))
    fields = [members for _, members in downscale_test_days(downscaler, truth_log, merra2_log, dates, days, "lenient")]
    return SpreadCalibration.fit(np.stack(fields, axis=1), truth_log[days])  # members (M, days, H, W)


def long_run(downscaler_of_season, merra2_of_date, history_log: np.ndarray, dates, members=None):
    """Yield (date, members (M, H, W) log10, history) for consecutive ``dates``, fully
    autoregressive; ``history`` (M, n_lag, H, W) is what the next date starts from, so a run
    cut after any date continues from it bit for bit.

    history_log: the n_lag days before dates[0], shared by the members (n_lag, H, W), e.g. the
    last G5NR days, or each member's own (M, n_lag, H, W) as a previous chunk left them;
    downscaler_of_season(season) -> Downscaler; merra2_of_date(date) -> (H, W) log10 on the
    G5NR grid; members: which members of the ensemble to run (default: all). Each member is an
    independent chain with its own noise, denoised on its own (batches never mix members, so
    reduced precision cannot couple them): a subset gives exactly, bit for bit, those members
    of the whole run. Only the last n_lag days are kept, so memory is flat in the run's length.
    """
    history = np.asarray(history_log, dtype=np.float32)
    for date, season in zip(dates, season_of(dates)):
        downscaler = downscaler_of_season(season)
        chosen = list(range(downscaler.members) if members is None else members)
        if history.ndim == 3:
            history = np.repeat(history[None], len(chosen), axis=0)
        merra2, seed = merra2_of_date(date), day_seed(downscaler.seed, date)
        fields = np.concatenate(
            [
                downscaler.predict_day(merra2, date, history[i : i + 1], seed, [member])
                for i, member in enumerate(chosen)
            ]
        )  # (M, H, W)
        history = np.concatenate([history[:, 1:], fields[:, None]], axis=1)  # (M, n_lag, H, W)
        yield date, fields, history


def run_members(settings: dict[str, InferenceSettings], area: str) -> int:
    """The ensemble size of a run across seasons (settings: {season: InferenceSettings}); a
    ValueError if the seasons disagree (config_checks.member_count_problem)."""
    problem = member_count_problem({season: s.members for season, s in settings.items()}, area)
    if problem:
        raise ValueError(problem)
    return next(iter(settings.values())).members


def write_long_run(out, days, start, lat, lon, members: int, described: dict, source, log):
    """Write the days of a long run (what :func:`long_run` yields) from ``start`` on into the
    netCDF ``out`` (DailyWriter: the downscaled-file contract); the days before ``start`` only
    advance the history. Returns the last date and the history it leaves, which a run in chunks
    saves for its next chunk."""
    date = history = None
    with DailyWriter(out, lat, lon, members, described, source) as writer:
        for date, fields, history in days:  # noqa: B007 - the last date and history are returned
            if date >= start:
                writer.write(date, fields)
            log.info("long run: %s done", f"{date:%Y-%m-%d}")
    return date, history


class SeasonalDownscalers:
    """The Downscaler of each season, loaded when first needed: what a run across seasons uses.

    paths: {season: (model, small_unet, base or None, spread calibration or None)}; settings:
    {season: InferenceSettings}.
    Calling it with a season returns that season's Downscaler (ValueError for a season without
    a trained model).
    """

    def __init__(self, paths: dict, static_path, settings: dict, device: torch.device, seed: int):
        self.paths, self.static_path, self.settings, self.device, self.seed = paths, static_path, settings, device, seed
        self._loaded = {}

    def __call__(self, season: str) -> Downscaler:
        if season not in self.paths:
            raise ValueError(f"the run reaches {season}, but there are models of {sorted(self.paths)} only")
        if season not in self._loaded:
            model, small_unet, base, calibration = self.paths[season]
            self._loaded[season] = Downscaler(
                model, small_unet, self.static_path, self.settings[season], self.device, self.seed, base, calibration
            )
        return self._loaded[season]

    @property
    def checkpoints(self) -> dict:
        """{kind_season: path} of every checkpoint the run may read (kind: model, small_unet,
        base, spread_calibration)."""
        return {
            f"{kind}_{season}": path
            for season, paths in self.paths.items()
            for kind, path in zip(("model", "small_unet", "base", "spread_calibration"), paths)
            if path
        }


def start_of_run(g5nr_log: np.ndarray, g5nr_dates: pd.DatetimeIndex, start, end, n_lag: int):
    """(history (n_lag, H, W), dates to run) of an autoregressive run whose first written day is
    `start`: from the n_lag G5NR days before `start` when the record has them, or, after the
    record, from its last n_lag days through the days between its end and `start`. ValueError
    when `start` has fewer than n_lag G5NR days before it."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if end < start:
        raise ValueError(f"the run {start:%Y-%m-%d}..{end:%Y-%m-%d} ends before it starts")
    first = g5nr_dates.get_indexer([start])[0] if start <= g5nr_dates[-1] else len(g5nr_dates)
    if first < n_lag:
        raise ValueError(
            f"{start:%Y-%m-%d} has {max(first, 0)} G5NR days before it in the record "
            f"({g5nr_dates[0]:%Y-%m-%d}..{g5nr_dates[-1]:%Y-%m-%d}); the history needs {n_lag}"
        )
    run_from = start if first < len(g5nr_dates) else g5nr_dates[-1] + pd.Timedelta(days=1)
    return g5nr_log[first - n_lag : first], pd.date_range(run_from, end)


class Merra2OnGrid:
    """MERRA-2 of any date of its record on a target grid, read one day at a time (log10)."""

    def __init__(self, merra2, lat, lon, method: str = "nearest"):
        """merra2: an ingested cube, as a path or an open Dataset."""
        dataset = merra2 if isinstance(merra2, xr.Dataset) else xr.open_dataset(merra2)
        self.cube = dataset[CUBE_VARIABLE]
        self.path = dataset.encoding.get("source", "the MERRA-2 cube") if merra2 is dataset else merra2
        self.lat, self.lon, self.method = lat, lon, method
        self.dates = pd.DatetimeIndex(self.cube["time"].values).normalize()

    def __call__(self, date) -> np.ndarray:
        position = self.dates.get_indexer([pd.Timestamp(date)])[0]
        if position < 0:
            raise KeyError(
                f"{self.path}: {pd.Timestamp(date):%Y-%m-%d} is outside the MERRA-2 record "
                f"({self.dates[0]:%Y-%m-%d} .. {self.dates[-1]:%Y-%m-%d})"
            )
        return regrid(self.cube.isel(time=position).load(), self.lat, self.lon, self.method).values

"""Downscale any period of an area with the models a finished run trained: the Python API of
the ``downscaling downscale`` command.

    from downscaling import api

    api.downscale_period(
        "results", "west", "2006-06-17", "2006-08-15",
        merra2="resources/synthetic/merra2/MERRA2_*.nc4", out="west.nc",
        config=yaml.safe_load(open("config/config.yaml")),
    )

Each date is downscaled by its season's model (``results/models/{model}/{season}/{area}``),
autoregressively, from the n_lag G5NR days before the period (after the G5NR record: from its
last n_lag days, through the days before the period, which are not written). MERRA-2 is read
from the raw files for the days run, as the workflow's ingest reads it, and the noise streams
(per day and member) and each member's chain are the workflow's: with the run's config this
gives the workflow's long run bit for bit, with the jobs' thread count (torch's reductions
split over more threads round differently).
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from downscaling import config_checks, paths, variants
from downscaling.data.datasets import open_cube
from downscaling.data.splits import SEASONS
from downscaling.files.outputs import SourceVariable
from downscaling.inference import stitched
from downscaling.ingest.cubes import Box, Plausibility, ingest_daily_log10
from downscaling.runtime import provenance, select_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedArea:
    """The trained models of one area and method model under a run's ``results`` directory."""

    results: Path
    area: str
    model: str

    def path(self, model: str, season: str) -> Path:
        return Path(paths.model(model, season, self.area, results=self.results))

    @property
    def static(self) -> Path:
        return Path(paths.area_data("static", self.area, results=self.results))

    @property
    def g5nr(self) -> Path:
        return Path(paths.area_data("g5nr", self.area, results=self.results))

    def seasons(self) -> list[str]:
        """The seasons with a trained model."""
        return [season for season in SEASONS if self.path(self.model, season).is_file()]

    def season_models(self, calibrated=()) -> dict:
        """{season: (model, small_unet, base or None, spread calibration or None)} of the
        seasons with a trained model, with the spread calibration of the seasons in
        `calibrated` (those whose inference settings say calibrate_spread); FileNotFoundError
        naming what is missing."""
        if self.model not in variants.VARIANTS:
            raise ValueError(f"{self.model!r} is not a trained model; those are {list(variants.VARIANTS)}")
        base = variants.VARIANTS[self.model].residual_of
        found = {}
        for season in self.seasons():
            needed = [self.path(self.model, season), self.path("small_unet", season)] + (
                [self.path(base, season)] if base else []
            )
            calibration = None
            if season in calibrated:
                calibration = Path(paths.spread_calibration(self.model, season, self.area, results=self.results))
            missing = [str(p) for p in needed if not p.is_file()]
            if calibration is not None and not calibration.is_file():
                missing.append(f"{calibration} (inference.calibrate_spread is set)")
            if missing:
                raise FileNotFoundError(f"{self.model} of {season} in {self.area} needs {', '.join(missing)}")
            found[season] = (*needed[:2], needed[2] if base else None, calibration)
        if not found or not self.static.is_file() or not self.g5nr.is_file():
            raise FileNotFoundError(
                f"{self.results}: no trained {self.model} of area {self.area!r} "
                f"(expected {self.path(self.model, 'JJA')}, {self.static} and {self.g5nr})"
            )
        return found


def settings_from_config(config: dict | None, area: str, model: str, seasons) -> tuple[dict, dict]:
    """({season: InferenceSettings}, {seed, variable, margin_deg, log_floor, regrid}) as the
    run's `config` gives them to this area and model (per_model and overrides included); the
    schema's defaults without a config."""
    config = config_checks.with_defaults(config) if config else config_checks.schema_defaults()
    inference_settings = {
        season: stitched.InferenceSettings.from_config(
            config_checks.merged_section(config, "inference", season, area, model)
        )
        for season in seasons
    }
    other = {"seed": config["seed"], "variable": config["inputs"]["variable"]}
    other.update({k: config["ingest"][k] for k in ("margin_deg", "log_floor", "regrid")})
    return inference_settings, other


def downscale_period(
    results,
    area: str,
    start,
    end,
    merra2: str,
    out,
    model: str | None = None,
    config: dict | None = None,
    overrides: dict | None = None,
    device: torch.device | None = None,
) -> Path:
    """Downscale `start`..`end` of `area` into the netCDF `out` (the workflow's downscaled-file
    contract: aod_member, aod_mean, log10_aod_spread) and return its path.

    merra2: a glob of the raw MERRA-2 files (granules or merged files); model: the diffusion
    model (default: the config's method, else the first diffusion variant trained); config:
    the run's config (inference settings, seed, variable, ingest settings; the run's spread
    calibrations are added where its calibrate_spread says so, as in the workflow); overrides:
    inference settings that win over it, e.g. {"members": 16} or {"calibrate_spread": False}.
    """
    config = config or {}
    if model is None:
        model = config.get("method") or next(
            (m for m in variants.ENSEMBLE_MODELS if (Path(results) / "models" / m).is_dir()), None
        )
        if model is None:
            raise FileNotFoundError(f"{results}: no trained diffusion model")
    trained = TrainedArea(Path(results), area, model)
    settings, other = settings_from_config(config, area, model, trained.seasons())
    if overrides:
        settings = {s: stitched.InferenceSettings(**{**vars(v), **overrides}) for s, v in settings.items()}
    season_models = trained.season_models(calibrated={s for s, chosen in settings.items() if chosen.calibrate_spread})
    filled = config_checks.with_defaults(config) if config else {}
    tile = filled.get("tiles", {}).get("size")
    for season, chosen in settings.items():
        timesteps = config_checks.merged_section(filled, "large_model", season, area, model).get("timesteps")
        problems = config_checks.inference_problems(vars(chosen), tile, timesteps)
        if problems:
            raise ValueError("; ".join(problems))
    members = stitched.run_members(settings, area)
    device = device or select_device(torch.get_num_threads())
    downscalers = stitched.SeasonalDownscalers(season_models, trained.static, settings, device, other["seed"])

    g5nr = open_cube(trained.g5nr)
    g5nr_dates = pd.DatetimeIndex(g5nr["time"].values).normalize()
    n_lag = downscalers(next(iter(season_models))).n_lag
    history, dates = stitched.start_of_run(g5nr.values, g5nr_dates, start, end, n_lag)
    files = sorted(glob.glob(merra2))
    if not files:
        raise FileNotFoundError(f"no file matches the MERRA-2 glob {merra2!r}")
    lat, lon = g5nr["lat"].values, g5nr["lon"].values
    box = (
        Box.from_config(config["areas"][area])
        if area in config.get("areas", {})
        else Box.from_config({"lat": [float(lat.min()), float(lat.max())], "lon": [float(lon.min()), float(lon.max())]})
    )
    log.info("%s %s: MERRA-2 %s..%s from %d files", area, model, dates[0].date(), dates[-1].date(), len(files))
    plausibility = Plausibility.from_config(filled.get("ingest"))
    merra2_cube = ingest_daily_log10(
        files,
        other["variable"],
        box,
        margin_deg=other["margin_deg"],
        log_floor=other["log_floor"],
        period=(f"{dates[0]:%Y-%m-%d}", f"{dates[-1]:%Y-%m-%d}"),
        plausibility=plausibility,
    )
    merra2_of_date = stitched.Merra2OnGrid(merra2_cube, lat, lon, other["regrid"])
    described = {
        "model": model,
        "mode": "autoregressive run (downscaling downscale)",
        "area": area,
        **provenance(config, device, downscalers.checkpoints),
        "history": f"{n_lag} G5NR days before {dates[0]:%Y-%m-%d}",
        "inference": {season: vars(s) for season, s in settings.items()},
    }
    days = stitched.long_run(downscalers, merra2_of_date, history, dates)
    source = SourceVariable.of_cube(g5nr.attrs)
    stitched.write_long_run(out, days, pd.Timestamp(start), lat, lon, members, described, source, log)
    return Path(out)

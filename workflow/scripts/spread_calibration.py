"""Measure one diffusion model's spread and its ensemble mean's error by spatial scale on the
model's validation days (held out of its training; lenient: the true history), with the
ensemble the calibration is fitted with (InferenceSettings.for_spread_fitting)."""

import json

import pandas as pd

from downscaling.data.datasets import day_index, open_cube
from downscaling.inference import stitched
from downscaling.jobs import log_to_file
from downscaling.runtime import select_device

log = log_to_file(snakemake.log[0])
inputs, params, wildcards = snakemake.input, snakemake.params, snakemake.wildcards
truth, merra2 = open_cube(inputs.g5nr), open_cube(inputs.merra2_on_g5nr)
dates = pd.DatetimeIndex(truth["time"].values).normalize()
with open(inputs.training) as stream:
    validation_days = json.load(stream).get("validation_days")
if validation_days is None:
    raise ValueError(
        f"{inputs.training} names no validation_days: the model was trained by an earlier version; "
        f"retrain it (snakemake --forcerun {inputs.model})"
    )
days = day_index(truth, validation_days)
settings = stitched.InferenceSettings.from_config(params.inference)
downscaler = stitched.Downscaler(
    inputs.model,
    inputs.get("small_unet"),
    inputs.static,
    settings.for_spread_fitting(),
    select_device(snakemake.threads),
    params.seed,
    inputs.get("base"),
)
calibration = stitched.fit_spread_calibration(downscaler, truth.values, merra2.values, dates, days)
for row in calibration.table():
    log.info(
        "%s %s %s, %s: error %.5f, spread %.5f (spread / error %s), added %.5f",
        wildcards.model,
        wildcards.season,
        wildcards.area,
        row["band"],
        row["error"],
        row["spread"],
        "-" if row["spread_over_error"] is None else f"{row['spread_over_error']:.2f}",
        row["added"],
    )
calibration.save(snakemake.output[0])

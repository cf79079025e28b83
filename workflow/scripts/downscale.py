"""Downscale one season x area's test days with one model, in strict or lenient mode."""

import pandas as pd

from downscaling.data.datasets import day_index, open_cube
from downscaling.data.splits import read_split
from downscaling.files.outputs import DailyWriter, SourceVariable
from downscaling.inference import baselines, stitched
from downscaling.jobs import log_to_file
from downscaling.runtime import provenance, select_device

log = log_to_file(snakemake.log[0])
inputs, params, wildcards = snakemake.input, snakemake.params, snakemake.wildcards
truth, merra2 = open_cube(inputs.g5nr), open_cube(inputs.merra2_on_g5nr)
dates = pd.DatetimeIndex(truth["time"].values).normalize()
split = read_split(inputs.split)
test_days = day_index(truth, split.date[split.split == "test"])
train_days = day_index(truth, split.date[split.split == "train"])  # what interp_qm and interp_mm learn from
settings = stitched.InferenceSettings.from_config(params.inference)
device = select_device(snakemake.threads)
checkpoints = {name: inputs[name] for name in ("model", "base", "small_unet", "spread_calibration") if inputs.get(name)}
described = {
    "model": wildcards.model,
    "mode": wildcards.mode,
    "season": wildcards.season,
    "area": wildcards.area,
    **provenance(snakemake.config, device, checkpoints),
}
if wildcards.model == "interp":
    members, days = 1, baselines.interpolated(merra2.values, dates, test_days)
elif wildcards.model == "interp_qm":
    members, days = 1, baselines.quantile_mapped(truth.values, merra2.values, dates, train_days, test_days)
elif wildcards.model == "interp_mm":
    members, days = 1, baselines.moment_matched(truth.values, merra2.values, dates, train_days, test_days)
elif wildcards.model == "interp_qm_stochastic":
    members = params.inference["members"]
    days = baselines.stochastic_quantile_mapped(
        truth.values, merra2.values, dates, train_days, test_days, members, params.seed
    )
elif wildcards.model == "persistence":
    members, days = 1, baselines.persistence(truth.values, dates, test_days, wildcards.mode)
else:
    downscaler = stitched.Downscaler(
        inputs.model,
        inputs.get("small_unet"),
        inputs.static,
        settings,
        device,
        params.seed,
        inputs.get("base"),
        inputs.get("spread_calibration"),
    )
    members = downscaler.members
    described.update(
        precision="bfloat16" if downscaler.bf16 else "float32",
        sampler=settings.sampler if downscaler.variant.diffusion else "none",
        steps=settings.steps if downscaler.variant.diffusion else 0,
        stride=settings.stride,
        halo=settings.halo,
        members=members,
    )
    days = stitched.downscale_test_days(downscaler, truth.values, merra2.values, dates, test_days, wildcards.mode)
source = SourceVariable.of_cube(truth.attrs)
with DailyWriter(snakemake.output[0], truth["lat"].values, truth["lon"].values, members, described, source) as out:
    for i, (date, fields) in enumerate(days, start=1):
        out.write(date, fields)
        log.info("%s %s: %d/%d (%s)", wildcards.model, wildcards.mode, i, len(test_days), f"{date:%Y-%m-%d}")

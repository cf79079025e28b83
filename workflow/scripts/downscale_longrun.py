"""One chunk of one member's chain of the long autoregressive run beyond the G5NR record, for
one area (each date by its season's method model), continuing from the state the member's
previous chunk left."""

import pandas as pd

from downscaling.data.datasets import open_cube
from downscaling.files.outputs import SourceVariable
from downscaling.inference import longrun, stitched
from downscaling.jobs import log_to_file
from downscaling.runtime import provenance, select_device

log = log_to_file(snakemake.log[0])
inputs, params, wildcards = snakemake.input, snakemake.params, snakemake.wildcards
g5nr = open_cube(inputs.g5nr)
g5nr_end = pd.Timestamp(g5nr["time"].values[-1]).normalize()
start, end = pd.Timestamp(wildcards.start), pd.Timestamp(wildcards.end)
if start <= g5nr_end or end < start:
    raise ValueError(
        f"long run {wildcards.start}..{wildcards.end} must start after the G5NR record "
        f"(which ends {g5nr_end:%Y-%m-%d}) and end after it starts"
    )
# each season's settings, its overrides included (one ensemble size: refused at planning otherwise)
settings = {season: stitched.InferenceSettings.from_config(section) for season, section in params.inference.items()}
ensemble = stitched.run_members(settings, wildcards.area)
device = select_device(snakemake.threads)
lat, lon = g5nr["lat"].values, g5nr["lon"].values
bases = inputs.bases or [None] * len(params.seasons)  # residual variants only
calibrations = [params.spread_calibrations.get(season) for season in params.seasons]
downscalers = stitched.SeasonalDownscalers(
    dict(zip(params.seasons, zip(inputs.models, inputs.small_unets, bases, calibrations))),
    inputs.static,
    settings,
    device,
    params.seed,
)
n_lag = downscalers(params.seasons[0]).n_lag
dates = longrun.chunk_dates(wildcards.chunk, end, params.chunk_days)
if inputs.get("previous"):
    history = longrun.load_state(inputs.previous, dates[0])
else:  # the first chunk: from the record's last n_lag days, through the days before the run's start
    history, dates = stitched.start_of_run(
        g5nr.values, pd.DatetimeIndex(g5nr["time"].values).normalize(), dates[0], dates[-1], n_lag
    )
member = int(wildcards.member)
if member >= ensemble:
    raise ValueError(f"member {member} of an ensemble of {ensemble}")
described = {
    "model": params.model,
    "member": member,
    "mode": "long run (fully autoregressive)",
    "area": wildcards.area,
    **provenance(snakemake.config, device, downscalers.checkpoints),
    "history": f"last {n_lag} G5NR days, {g5nr_end - pd.Timedelta(days=n_lag - 1):%Y-%m-%d}..{g5nr_end:%Y-%m-%d}",
    "inference": params.inference,  # per season
}
days = stitched.long_run(
    downscalers, stitched.Merra2OnGrid(inputs.merra2, lat, lon, params.regrid), history, dates, members=[member]
)
source = SourceVariable.of_cube(g5nr.attrs)
last, history = stitched.write_long_run(snakemake.output.days, days, start, lat, lon, 1, described, source, log)
longrun.save_state(snakemake.output.state, history, last)

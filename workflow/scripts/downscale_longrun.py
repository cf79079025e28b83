"""One chunk of one member's chain of the long autoregressive run beyond the G5NR record, for
one area (each date by its season's method model), continuing from the state the member's
previous chunk left."""

import pandas as pd

from downscaling.data.datasets import open_cube
from downscaling.files.outputs import DailyWriter, SourceVariable
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
# each season's settings, its overrides included; the members carry their own histories, so
# their number cannot change from one season to the next
settings = {season: stitched.InferenceSettings.from_config(section) for season, section in params.inference.items()}
member_counts = {season: s.members for season, s in settings.items()}
if len(set(member_counts.values())) != 1:  # refused at planning already (common.smk)
    raise ValueError(f"the long run needs one number of inference members in every season, got {member_counts}")
device = select_device(snakemake.threads)
lat, lon = g5nr["lat"].values, g5nr["lon"].values
bases = inputs.bases or [None] * len(params.seasons)  # residual variants only
downscalers = stitched.SeasonalDownscalers(
    dict(zip(params.seasons, zip(inputs.models, inputs.small_unets, bases))),
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
if member >= member_counts[params.seasons[0]]:
    raise ValueError(f"member {member} of an ensemble of {member_counts[params.seasons[0]]}")
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
with DailyWriter(snakemake.output.days, lat, lon, 1, described, SourceVariable.of_cube(g5nr.attrs)) as out:
    for date, members, history in days:  # noqa: B007 - the last day's history is saved below
        if date >= start:
            out.write(date, members)
        log.info("long run, member %d: %s done", member, f"{date:%Y-%m-%d}")
longrun.save_state(snakemake.output.state, history, date)

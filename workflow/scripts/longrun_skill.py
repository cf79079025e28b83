"""Free-running skill of one area's long run against the synthetic world's known truth, beside
MERRA-2, interp_qm, interp_mm, the stochastic interp_qm and the G5NR climatology of each season's training days."""

from downscaling.evaluation import longrun
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
training = {
    season: longrun.SeasonTraining.read(inputs.g5nr, inputs.merra2_on_g5nr, split)
    for season, split in zip(params.seasons, inputs.splits)
}
skill = longrun.longrun_skill(
    inputs.longrun, inputs.truth, inputs.g5nr, inputs.merra2, params.log_floor, params.regrid, training, params.seed
)
skill.to_csv(snakemake.output.table, index=False, float_format="%.6g", date_format="%Y-%m-%d")
monthly = longrun.drift_by_month(skill)
monthly.to_csv(snakemake.output.drift, index=False, float_format="%.6g")
notes = longrun.lead_summary(skill) + longrun.drift_summary(monthly)
for line in notes:
    log.info("%s", line)
title = f"Long run of {snakemake.wildcards.area} against the known truth"
figures.save_figure(figures.plot_longrun_skill(skill, title, notes), snakemake.output.figure)

"""Free-running skill of one area's long run against the synthetic world's known truth, beside
MERRA-2, interp_qm, interp_mm, the stochastic interp_qm and the G5NR climatology of each season's training days."""

from downscaling import longrun_evaluation, plots
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
training = {
    season: longrun_evaluation.SeasonTraining.read(inputs.g5nr, inputs.merra2_on_g5nr, split)
    for season, split in zip(params.seasons, inputs.splits)
}
skill = longrun_evaluation.longrun_skill(
    inputs.longrun, inputs.truth, inputs.g5nr, inputs.merra2, params.log_floor, params.regrid, training, params.seed
)
skill.to_csv(snakemake.output.table, index=False, float_format="%.6g", date_format="%Y-%m-%d")
monthly = longrun_evaluation.drift_by_month(skill)
monthly.to_csv(snakemake.output.drift, index=False, float_format="%.6g")
notes = longrun_evaluation.lead_summary(skill) + longrun_evaluation.drift_summary(monthly)
for line in notes:
    log.info("%s", line)
title = f"Long run of {snakemake.wildcards.area} against the known truth"
plots.save_figure(plots.plot_longrun_skill(skill, title, notes), snakemake.output.figure)

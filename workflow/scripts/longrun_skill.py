"""Free-running skill of one area's long run against the synthetic world's known truth."""

from downscaling import longrun_evaluation, plots
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
skill = longrun_evaluation.longrun_skill(inputs.longrun, inputs.truth, inputs.g5nr, inputs.merra2,
                                         params.log_floor, params.regrid)
skill.to_csv(snakemake.output.table, index=False, float_format="%.6g", date_format="%Y-%m-%d")
log.info("%d days, RMSE %.4f (MERRA-2 %.4f)", len(skill), skill["rmse"].mean(), skill["merra2_rmse"].mean())
title = f"Long run of {snakemake.wildcards.area} against the known truth"
plots.save_figure(plots.plot_longrun_skill(skill, title), snakemake.output.figure)

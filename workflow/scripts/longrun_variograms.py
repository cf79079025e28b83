"""Semivariograms (with spherical fits) of an area's long run against MERRA-2 on its days."""

from downscaling import evaluation, longrun_evaluation, plots
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
area = snakemake.wildcards.area
settings = snakemake.params.variogram
fields = longrun_evaluation.longrun_variogram_fields(
    snakemake.input.longrun, snakemake.input.merra2, snakemake.params.log_floor
)
curves, fits = evaluation.write_variogram_tables(
    fields, settings, snakemake.params.seed, snakemake.output.table, snakemake.output.fits
)
n_days = len(fields[0].values)
title = f"{area}: semivariograms of the long run and MERRA-2 (log10 AOD, {n_days} days)"
plots.save_figure(plots.plot_variograms(curves, fits, title), snakemake.output.figure)

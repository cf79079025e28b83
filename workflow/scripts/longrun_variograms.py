"""Semivariograms (with spherical fits) of an area's long run against MERRA-2 on its days."""

from downscaling.evaluation import longrun, scoring
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
area = snakemake.wildcards.area
settings = snakemake.params.variogram
fields = longrun.longrun_variogram_fields(snakemake.input.longrun, snakemake.input.merra2, snakemake.params.log_floor)
curves, fits = scoring.write_variogram_tables(
    fields, settings, snakemake.params.seed, snakemake.output.table, snakemake.output.fits
)
n_days = len(fields[0].values)
title = f"{area}: semivariograms of the long run and MERRA-2 (log10 AOD, {n_days} days)"
figures.save_figure(figures.plot_variograms(curves, fits, title), snakemake.output.figure)

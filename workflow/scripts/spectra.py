"""Radially averaged power spectra of G5NR and every model on one season x area's test days."""

from downscaling.evaluation import scoring
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
season, area = snakemake.wildcards.season, snakemake.wildcards.area
fields = scoring.season_prediction_fields(
    snakemake.input.g5nr,
    snakemake.input.split,
    dict(zip(snakemake.params.models, snakemake.input.downscaled)),
    snakemake.params.log_floor,
)
table = scoring.spectra_table(fields)
table.to_csv(snakemake.output.table, index=False, float_format="%.6g")
n_days = int(table["n_days"].iloc[0])
title = f"{season}, {area}: power spectra of log10 AOD, {n_days} test days, strict mode"
figures.save_figure(figures.plot_spectra(table, title), snakemake.output.figure)

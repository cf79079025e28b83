"""Semivariograms (with spherical fits) of G5NR, MERRA-2 and the strict-mode predictions of
one season x area on its test days."""

from downscaling.evaluation import scoring
from downscaling.files import contracts
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
season, area = snakemake.wildcards.season, snakemake.wildcards.area
settings = snakemake.params.variogram
predicted = scoring.season_prediction_fields(
    snakemake.input.g5nr,
    snakemake.input.split,
    dict(zip(snakemake.params.models, snakemake.input.downscaled)),
    snakemake.params.log_floor,
    members=1,  # the ensemble mean and one member: a member has the texture of a sample
)
truth = predicted[0]
merra2 = scoring.merra2_field(snakemake.input.merra2, contracts.test_days(snakemake.input.split), truth.lat, truth.lon)
curves, fits = scoring.write_variogram_tables(
    [truth, merra2, *predicted[1:]], settings, snakemake.params.seed, snakemake.output.table, snakemake.output.fits
)
title = f"{season}, {area}: semivariograms of log10 AOD on the test days, strict mode"
figures.save_figure(figures.plot_variograms(curves, fits, title), snakemake.output.figure)

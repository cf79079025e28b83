"""Rank histograms, spread-skill ratios and CRPS of the ensemble models in one figure."""

from downscaling.evaluation import comparison
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
records = comparison.read_metrics(snakemake.input.metrics)
figure = figures.plot_ensemble_skill(
    records, "Ensemble reliability: rank histograms of G5NR among the members (log10 AOD)"
)
figures.save_figure(figure, snakemake.output.figure)

"""The diffusion models' x0 estimate by noise level, from their training summaries (CSV and figure)."""

from downscaling.evaluation import training_checks
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
table = training_checks.x0_by_noise(snakemake.input)
log.info("x0 checks of %d models x seasons x areas", table.groupby(["model", "season", "area"]).ngroups)
table.to_csv(snakemake.output.table, index=False, float_format="%.6g")
figure = figures.plot_x0_by_noise(
    table, "The x0 estimate on forward-noised validation tiles, by noise level (scaled units)"
)
figures.save_figure(figure, snakemake.output.figure)

"""The comparison table of every model x season x area x mode: CSV, HTML and a bar figure."""

from pathlib import Path

from downscaling import evaluation, plots
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
table = evaluation.summary_table(snakemake.input.metrics)
log.info("summary of %d metrics files", len(table))
table.to_csv(snakemake.output.table, index=False, float_format="%.6g")
title = "Downscaled test days against G5NR: scores on log10 AOD"
Path(snakemake.output.html).write_text(evaluation.summary_html(table, title))
plots.save_figure(plots.plot_summary(table, title), snakemake.output.figure)

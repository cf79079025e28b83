"""The transfer ablation on each share of the training days beside the full record's
(downscaling/evaluation/data_efficiency.py): a table of every group and a figure of the means."""

from downscaling.evaluation import data_efficiency
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
params = snakemake.params
metrics = {fraction: snakemake.input[name] for name, fraction in params.fractions.items()}
table = data_efficiency.ablation_by_share(metrics, params.design, params.seed, params.models)
table.to_csv(snakemake.output.table, index=False, float_format="%.6g")
pooled = data_efficiency.pooled_effects(table)
for sentence in data_efficiency.findings(pooled):
    log.info("%s", sentence)
title = "The transfer ablation as the G5NR training record shrinks (mean over season x areas, 95 %)"
figures.save_figure(figures.plot_data_efficiency(pooled, title), snakemake.output.figure)

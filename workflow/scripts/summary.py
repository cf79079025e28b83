"""The comparison table of every model x season x area x mode (CSV, HTML, a bar figure) and the
transfer ablation (CSV, and a section of the HTML)."""

from pathlib import Path

from downscaling.evaluation import comparison
from downscaling.evaluation.paired_tests import PairedTest
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
params = snakemake.params
splits = params.splits
test = PairedTest(comparison.read_per_day(snakemake.input.metrics), splits["test_design"], seed=params.seed)
table = comparison.summary_table(snakemake.input.metrics, method=params.method, test=test)
log.info("summary of %d metrics files", len(table))
table.to_csv(snakemake.output.table, index=False, float_format="%.6g")
design = (
    "test days drawn at random between training days (the authors' design)"
    if splits["test_design"] == "random"
    else f"blocks of {splits['block_days']} test days, "
    f"{splits['gap_days'] if splits.get('gap_days') is not None else splits['n_lag']} days "
    "kept out of training around each"
)
title = f"Downscaled test days against G5NR: scores on log10 AOD; {design}"
ablation = comparison.transfer_ablation(test, params.models)
ablation.to_csv(snakemake.output.ablation, index=False, float_format="%.6g")
Path(snakemake.output.html).write_text(comparison.summary_html(table, title, test, params.method, ablation))
for sentence in comparison.findings(table, params.method) + comparison.ablation_findings(ablation):
    log.info("%s", sentence)
figures.save_figure(figures.plot_summary(table, title), snakemake.output.figure)

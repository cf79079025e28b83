"""The comparison table of every model x season x area x mode (CSV, HTML, a bar figure), the
transfer ablation (CSV, and a section of the HTML, with the transfer probe's findings) and,
with a second test design, both designs side by side (CSV, and the HTML's first section)."""

from pathlib import Path

import pandas as pd

from downscaling.evaluation import comparison, probe_summary
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
title = f"Downscaled test days against G5NR: scores on log10 AOD; {comparison.design_description(splits)}"
ablation = comparison.transfer_ablation(test, params.models)
ablation.to_csv(snakemake.output.ablation, index=False, float_format="%.6g")

tables = {splits["test_design"]: table}
described = {splits["test_design"]: comparison.design_description(splits)}
if snakemake.input.second_design:
    second = params.second_splits
    name = second["test_design"] + (" (second)" if second["test_design"] in tables else "")
    tables[name] = pd.read_csv(snakemake.input.second_design)
    described[name] = comparison.design_description(second)
    # the blocked design first: its numbers are the ones to quote
    tables = dict(sorted(tables.items(), key=lambda item: not item[0].startswith("blocked")))
    described = {name: described[name] for name in tables}
designs = comparison.design_comparison(tables, params.method)
designs.to_csv(snakemake.output.designs, index=False, float_format="%.6g")

probe = None
if snakemake.input.probe:
    probes = pd.read_csv(snakemake.input.probe)
    probe = probe_summary.probe_findings(probes) + [probe_summary.gap_finding(probes)]
Path(snakemake.output.html).write_text(
    comparison.summary_html(table, title, test, params.method, ablation, designs, described, probe)
)
for sentence in comparison.findings(table, params.method) + comparison.ablation_findings(ablation):
    log.info("%s", sentence)
figures.save_figure(figures.plot_summary(table, title), snakemake.output.figure)

"""The transfer probes of every season x area in one table (downscaling/evaluation/probe_summary.py)."""

from downscaling.evaluation import probe_summary
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
table = probe_summary.probe_table(snakemake.input)
table.to_csv(snakemake.output[0], index=False, float_format="%.6g")
for sentence in probe_summary.probe_findings(table):
    log.info("%s", sentence)

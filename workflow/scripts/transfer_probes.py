"""The transfer probes of every season x area in one table (downscaling/evaluation/feature_probe.py)."""

from downscaling.evaluation import feature_probe
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
table = feature_probe.probe_table(snakemake.input)
table.to_csv(snakemake.output[0], index=False, float_format="%.6g")
for sentence in feature_probe.probe_findings(table):
    log.info("%s", sentence)

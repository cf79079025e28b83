"""Domain diagnostic of one area: Wasserstein distances MERRA-2 vs G5NR (JSON + figure)."""

import json

from downscaling.evaluation.domain_gap import domain_gap
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
result, data = domain_gap(
    snakemake.input.merra2, snakemake.input.g5nr, snakemake.input.merra2_on_g5nr, snakemake.params.regrid
)
log.info("%s", result)
with open(snakemake.output.json, "w") as f:
    json.dump(result, f, indent=2)
figures.save_figure(figures.plot_domain_gap(result, data, snakemake.wildcards.area), snakemake.output.figure, dpi=120)

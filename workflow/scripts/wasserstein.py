"""Domain diagnostic of one area: Wasserstein distances MERRA-2 vs G5NR (JSON + figure)."""

import json

from downscaling.domain_gap import domain_gap, plot_domain_gap
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
result, data = domain_gap(
    snakemake.input.merra2, snakemake.input.g5nr, snakemake.input.merra2_on_g5nr, snakemake.params.regrid
)
log.info("%s", result)
with open(snakemake.output.json, "w") as f:
    json.dump(result, f, indent=2)
plot_domain_gap(result, data, snakemake.wildcards.area, snakemake.output.figure)

"""One-step MAE and R² of the small U-Net vs persistence on the season's MERRA-2 test days."""

import json

from downscaling.jobs import log_to_file
from downscaling.training import small_unet_stage

log = log_to_file(snakemake.log[0])
metrics = small_unet_stage.evaluate(
    snakemake.input.cube, snakemake.input.split, snakemake.input.model, snakemake.params.stride
)
log.info("%s", metrics)
with open(snakemake.output.metrics, "w") as f:
    json.dump(metrics, f, indent=2)

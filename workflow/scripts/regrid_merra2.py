"""Rule regrid_merra2: MERRA-2 on the G5NR grid over the G5NR period."""

from downscaling.ingest.cubes import write_merra2_on_g5nr
from downscaling.jobs import log_to_file

log_to_file(snakemake.log[0])
write_merra2_on_g5nr(snakemake.input.merra2, snakemake.input.g5nr, snakemake.output.cube, snakemake.params.method)

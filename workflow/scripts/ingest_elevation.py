"""Rule ingest_elevation: surface elevation (m) on the area's G5NR grid -> static.nc."""

from downscaling.ingest import write_elevation
from downscaling.jobs import log_to_file

log_to_file(snakemake.log[0])
write_elevation(
    snakemake.input.raw,
    snakemake.input.g5nr,
    snakemake.output.static,
    pattern=snakemake.params.pattern,
    variable=snakemake.params.variable,
    method=snakemake.params.method,
)

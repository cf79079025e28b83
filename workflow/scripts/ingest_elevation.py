"""Rule ingest_elevation: surface elevation (m) on the area's G5NR grid -> static.nc."""

from downscaling.ingest.elevation import write_elevation
from downscaling.ingest.manifest import read_manifest
from downscaling.jobs import log_to_file

log_to_file(snakemake.log[0])
write_elevation(
    read_manifest(snakemake.input.raw),
    snakemake.input.g5nr,
    snakemake.output.static,
    pattern=snakemake.params.pattern,
    variable=snakemake.params.variable,
    method=snakemake.params.method,
)

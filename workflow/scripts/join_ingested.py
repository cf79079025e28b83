"""Rule join_ingested: one area's cube of a source from its yearly parts."""

from downscaling.ingest.cubes import join_parts
from downscaling.jobs import log_to_file

log_to_file(snakemake.log[0])
join_parts(list(snakemake.input.parts), snakemake.output.cube)

"""Rules ingest_merra2 and ingest_g5nr: daily log10 AOD of one area from raw granules or merged files."""

from downscaling.ingest.cubes import write_daily_cube
from downscaling.ingest.manifest import read_manifest
from downscaling.jobs import log_to_file

log_to_file(snakemake.log[0])
params = snakemake.params
write_daily_cube(
    read_manifest(snakemake.input.raw),
    snakemake.output.cube,
    pattern=params.pattern,
    variable=params.variable,
    area=params.area,
    margin_deg=params.margin_deg,
    log_floor=params.log_floor,
    period=params.period,
    dataset=params.dataset,
    plausibility=params.plausibility,
)

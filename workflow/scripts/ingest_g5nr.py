"""Rule ingest_g5nr: G5NR daily log10 AOD cropped exactly to the area (no margin)."""

from downscaling.ingest import write_daily_cube
from downscaling.runtime import log_to_file

log_to_file(snakemake.log[0])
params = snakemake.params
write_daily_cube(
    snakemake.input.raw,
    snakemake.output.cube,
    pattern=params.pattern,
    variable=params.variable,
    area=params.area,
    margin_deg=0.0,
    log_floor=params.log_floor,
    period=params.period,
)

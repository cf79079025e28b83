"""Maps of one sample test day of a season x area: input, truth, the method, its deterministic twin, spread, error."""

from downscaling.evaluation import scoring
from downscaling.jobs import log_to_file
from downscaling.plots import figures, maps

log = log_to_file(snakemake.log[0])
season, area, day = snakemake.wildcards.season, snakemake.wildcards.area, snakemake.wildcards.day
date = scoring.sample_days(snakemake.input.g5nr, snakemake.input.split, [day])[day]
log.info("%s %s: the %s test day is %s", season, area, day, date.date())
shown = scoring.day_maps(
    date,
    snakemake.input.g5nr,
    snakemake.input.merra2_on_g5nr,
    snakemake.input.ensemble,
    snakemake.input.twin or None,
    log_floor=snakemake.params.log_floor,
    model=snakemake.params.model,
    twin=snakemake.params.twin,
)
which = {"min": "lowest", "median": "median", "max": "highest"}.get(day, f"{day[1:]}th-percentile")
title = f"{season}, {area}: {date:%Y-%m-%d}, the test day of {which} area-mean AOD (strict mode)"
figures.save_figure(
    maps.plot_day_maps(shown, title, maps.read_land_mask(snakemake.input.coastline)), snakemake.output.figure
)

"""One map per area: the study box on MERRA-2, the G5NR grid's elevation and the tile grid."""

import xarray as xr

from downscaling.files import contracts
from downscaling.jobs import log_to_file
from downscaling.plots import figures, maps

log = log_to_file(snakemake.log[0])
area = snakemake.wildcards.area
with xr.open_dataset(snakemake.input.static) as static:
    elevation = static["elevation"].load()
figure = maps.plot_domain(
    contracts.time_mean(snakemake.input.merra2),
    elevation,
    snakemake.params.box,
    tile=snakemake.params.tile,
    stride=snakemake.params.stride,
    halo=snakemake.params.halo,
    title=f"{area}: study area and what inference runs on",
    elevation_units=elevation.attrs.get("units", "m"),
    coast=maps.read_land_mask(snakemake.input.coastline),
)
figures.save_figure(figure, snakemake.output.figure)

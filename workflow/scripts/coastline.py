"""Rule coastline: the land mask the area's maps draw their coastline from -> coastline.nc."""

from downscaling.files import netcdf
from downscaling.jobs import log_to_file
from downscaling.plots import maps

log = log_to_file(snakemake.log[0])
box, pad = snakemake.params.box, snakemake.params.pad_deg
land = maps.land_mask([box["lat"][0] - pad, box["lat"][1] + pad], [box["lon"][0] - pad, box["lon"][1] + pad])
log.info(
    "%s: land mask of %d x %d points, land fraction %.3f", snakemake.wildcards.area, *land.shape, float(land.mean())
)
netcdf.write_cf(
    land.to_dataset(),
    snakemake.output.coastline,
    {"source": "global-land-mask (GLOBE 1-km land mask)", "step_deg": maps.COAST_STEP_DEG, "pad_deg": pad},
    title=f"Land mask of area {snakemake.wildcards.area} for map coastlines",
    summary="Land (1) or sea (0) from the GLOBE 1-km land mask shipped in global-land-mask, on a "
    f"{maps.COAST_STEP_DEG} degree grid over the area and its ingest margin; maps draw its 0.5 contour.",
)

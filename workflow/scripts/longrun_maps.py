"""An area's long run as an animated GIF beside MERRA-2 (plus an HTML page showing it) and
its area-mean daily series against MERRA-2."""

from pathlib import Path

from downscaling.evaluation import longrun
from downscaling.jobs import log_to_file
from downscaling.plots import figures, maps

log = log_to_file(snakemake.log[0])
area = snakemake.wildcards.area
frames = longrun.longrun_frames(snakemake.input.longrun, snakemake.input.merra2, log_floor=snakemake.params.log_floor)
log.info("animating %d days of the long run", len(frames.dates))
title = f"{area} long run"
maps.animate_longrun(frames, snakemake.output.gif, title, coast=maps.read_land_mask(snakemake.input.coastline))
Path(snakemake.output.page).write_text(
    maps.gif_page(snakemake.output.gif, f"{title}: downscaled (left) and MERRA-2 (right)")
)
series = longrun.longrun_series(snakemake.input.longrun, snakemake.input.merra2, log_floor=snakemake.params.log_floor)
series.to_csv(snakemake.output.table, index=False, date_format="%Y-%m-%d", float_format="%.6g")
figures.save_figure(
    figures.plot_longrun_series(series, f"{area}: area-mean daily log10 AOD, long run and MERRA-2"),
    snakemake.output.series,
)

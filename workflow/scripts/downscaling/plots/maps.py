"""The map figures: downscaled days beside G5NR and MERRA-2, the long run's animation, the
domain overview (matplotlib, Agg backend, as :mod:`downscaling.plots.figures`).

Maps have lon/lat axes in degrees with coastlines, one shared colour scale per row of fields and
a colour bar with units. The coastline is the 0.5 contour of a land mask that rule ``coastline``
cuts once per area from the GLOBE 1-km mask shipped inside ``global_land_mask`` (nothing is
downloaded); the package decompresses its whole 933 MB mask at import, which each map job would
otherwise repeat.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.animation import PillowWriter
from matplotlib.patches import Rectangle

from downscaling.plots.figures import ERROR_CMAP, FIELD_CMAP, LOG_AOD, SPREAD_CMAP  # first: it selects the Agg backend

COAST_STEP_DEG = 0.02  # the coastline's grid: about 2 km, finer than the 7-km fields
GIF_DPI = 72  # animation frames: about 700 px wide, a few hundred kB per 10 frames


def _map_axes(ax, lat, lon, coast: xr.DataArray | None = None):
    """Degrees on both axes, an aspect that keeps a degree of lon cos(lat) as wide as one of
    lat, so maps are not stretched, and the coastlines of ``coast`` (a land mask, see
    :func:`land_mask`) where it is given."""
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect(1.0 / np.cos(np.radians(np.mean(lat))))
    south, north = np.min(lat) - 0.5 * _step(lat), np.max(lat) + 0.5 * _step(lat)
    west, east = np.min(lon) - 0.5 * _step(lon), np.max(lon) + 0.5 * _step(lon)
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    if coast is None:
        return
    pad = 2 * COAST_STEP_DEG
    land = coast.sel(lat=slice(south - pad, north + pad), lon=slice(west - pad, east + pad))
    if land.size and 0 < float(land.mean()) < 1:
        ax.contour(
            land["lon"].values,
            land["lat"].values,
            land.values.astype(np.float32),
            levels=[0.5],
            colors="black",
            linewidths=0.6,
            alpha=0.7,
        )


def land_mask(lat_range, lon_range, step=COAST_STEP_DEG) -> xr.DataArray:
    """Land (1) or sea (0) on a grid of ``step`` degrees over the box, from the GLOBE 1-km land
    mask that the global-land-mask package ships: its 0.5 contour is the coastline."""
    from global_land_mask import globe  # here: its import decompresses the whole global mask

    (south, north), (west, east) = sorted(lat_range), sorted(lon_range)
    lat, lon = np.arange(south, north + step / 2, step), np.arange(west, east + step / 2, step)
    lat_grid, lon_grid = np.meshgrid(np.clip(lat, -90, 90), (lon + 180) % 360 - 180, indexing="ij")
    land = globe.is_land(lat_grid, lon_grid).astype(np.int8)
    return xr.DataArray(
        land,
        dims=("lat", "lon"),
        coords={"lat": lat, "lon": lon},
        name="land",
        attrs={
            "long_name": "land (1) or sea (0), GLOBE 1-km land mask",
            "units": "1",
            "flag_values": np.array([0, 1], dtype=np.int8),
            "flag_meanings": "sea land",
            "coverage_content_type": "referenceInformation",
        },
    )


def read_land_mask(path) -> xr.DataArray:
    """The land mask rule ``coastline`` wrote."""
    with xr.open_dataset(path) as ds:
        return ds["land"].load()


def _step(axis) -> float:
    return float(np.mean(np.diff(axis))) if len(axis) > 1 else 0.0


def _limits(fields, low=1.0, high=99.0):
    """Shared colour limits of several fields: the low/high percentiles of their finite values
    (robust to a few extreme pixels); a degenerate range is widened."""
    values = np.concatenate([np.ravel(f)[np.isfinite(np.ravel(f))] for f in fields])
    vmin, vmax = np.percentile(values, [low, high]) if values.size else (0.0, 1.0)
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return float(vmin), float(vmax)


def _map_width(lat, lon, height) -> float:
    """Width (inches) of a map panel of ``height`` inches that shows the grid undistorted, so
    that the figure's slots fit the maps and colour bars are as tall as the maps."""
    lon_km = np.ptp(lon) * np.cos(np.radians(np.mean(lat)))
    return height * max(lon_km, 1e-6) / max(np.ptp(lat), 1e-6)


def plot_day_maps(maps, title: str, coast: xr.DataArray | None = None):
    """The sample-day figure: a top row of log10 AOD fields on one shared colour scale
    (MERRA-2 input, G5NR truth, the ensemble mean, member 1, the deterministic twin; each titled with its
    RMSE against G5NR) and, below the ensemble mean and member, the error of the mean and the
    ensemble spread, each with its own colour bar.

    maps: evaluation.DayMaps. Axes: len(maps.fields) + 2 maps and 3 colour bars.
    """
    n_columns = len(maps.fields)
    panel_height = 2.6
    width = n_columns * (_map_width(maps.lat, maps.lon, panel_height) + 0.9) + 1.5
    fig = plt.figure(figsize=(width, 2 * panel_height + 2.8), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    vmin, vmax = _limits(list(maps.fields.values()))
    field_axes = top.subplots(1, n_columns, squeeze=False)[0]
    for ax, (name, field) in zip(field_axes, maps.fields.items()):
        image = ax.pcolormesh(maps.lon, maps.lat, field, cmap=FIELD_CMAP, vmin=vmin, vmax=vmax, shading="nearest")
        score = maps.rmse.get(name)
        ax.set_title(name if score is None else f"{name}\nRMSE {score:.3f}", fontsize="medium")
        _map_axes(ax, maps.lat, maps.lon, coast)
    top.colorbar(image, ax=list(field_axes), label=LOG_AOD)

    # the error sits under the ensemble mean, the spread under the member (columns 2 and 3)
    slots = bottom.subplots(1, n_columns, squeeze=False)[0]
    used = (2, 3) if n_columns >= 4 else (0, 1)
    for column, ax in enumerate(slots):
        if column not in used:
            ax.remove()
    error_ax, spread_ax = slots[used[0]], slots[used[1]]
    error_max = max(_limits([np.abs(maps.error)], 0, 99)[1], 1e-6)
    image = error_ax.pcolormesh(
        maps.lon, maps.lat, maps.error, cmap=ERROR_CMAP, vmin=-error_max, vmax=error_max, shading="nearest"
    )
    error_ax.set_title(f"error of the {maps.model} mean\n(mean − G5NR)", fontsize="medium")
    bottom.colorbar(image, ax=error_ax, label="Δ log$_{10}$ AOD")
    spread_max = max(_limits([maps.spread])[1], 1e-6)
    image = spread_ax.pcolormesh(
        maps.lon, maps.lat, maps.spread, cmap=SPREAD_CMAP, vmin=0, vmax=spread_max, shading="nearest"
    )
    spread_ax.set_title(f"{maps.model} ensemble spread\n(std over members)", fontsize="medium")
    bottom.colorbar(image, ax=spread_ax, label="std of log$_{10}$ AOD")
    for ax in (error_ax, spread_ax):
        _map_axes(ax, maps.lat, maps.lon, coast)
    top.suptitle(title)  # on the subfigure: constrained layout then keeps it clear of the maps
    return fig


def _edges_extent(lat, lon):
    """imshow extent (left, right, bottom, top) of a regular grid given by its cell centres."""
    return (
        lon[0] - 0.5 * _step(lon),
        lon[-1] + 0.5 * _step(lon),
        lat[0] - 0.5 * _step(lat),
        lat[-1] + 0.5 * _step(lat),
    )


def animate_longrun(frames, path, title: str, fps=4, coast: xr.DataArray | None = None):
    """Write an animated GIF of a long run: each frame the run's ensemble-mean map beside the
    native MERRA-2 map of the same day, one colour scale for all frames, the date in the
    title. frames: longrun_evaluation.LongrunFrames. Returns the figure, closed (2 maps + 1 colour
    bar)."""
    panel_height = 3.6
    width = 2 * _map_width(frames.lat, frames.lon, panel_height) + 2.6
    fig, axes = plt.subplots(1, 2, figsize=(width, panel_height + 0.9), layout="constrained")
    vmin, vmax = _limits([frames.run, frames.merra2])
    # imshow on the regular grids (ascending lat, hence origin lower): far cheaper per frame
    # than pcolormesh, which matters for hundreds of frames
    style = {"cmap": FIELD_CMAP, "vmin": vmin, "vmax": vmax, "origin": "lower", "interpolation": "nearest"}
    run_image = axes[0].imshow(frames.run[0], extent=_edges_extent(frames.lat, frames.lon), **style)
    merra2_image = axes[1].imshow(frames.merra2[0], extent=_edges_extent(frames.merra2_lat, frames.merra2_lon), **style)
    axes[0].set_title("downscaled (ensemble mean, G5NR grid)")
    axes[1].set_title("MERRA-2 (native grid)")
    for ax in axes:
        _map_axes(ax, frames.lat, frames.lon, coast)
    fig.colorbar(run_image, ax=list(axes), label=LOG_AOD, shrink=0.9)
    heading = fig.suptitle(f"{title}: {frames.dates[0]:%Y-%m-%d}")
    fig.canvas.draw()
    fig.set_layout_engine("none")  # freeze the layout: it would be recomputed every frame
    # the writer's own loop rather than FuncAnimation.save, which draws every frame twice
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi=GIF_DPI):
        for day, date in enumerate(frames.dates):
            run_image.set_data(frames.run[day])
            merra2_image.set_data(frames.merra2[day])
            heading.set_text(f"{title}: {date:%Y-%m-%d}")
            writer.grab_frame()
    plt.close(fig)
    return fig


def gif_page(gif_path, title: str) -> str:
    """A standalone HTML page showing a GIF (embedded as data), for the Snakemake report,
    which shows HTML pages but offers GIFs only as downloads."""
    data = base64.b64encode(Path(gif_path).read_bytes()).decode("ascii")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'></head>"
        "<body style='background:#fff;font-family:sans-serif'>"
        f"<h3>{html.escape(title)}</h3>"
        f"<img style='max-width:100%' alt='{html.escape(title)}' "
        f"src='data:image/gif;base64,{data}'></body></html>\n"
    )


def plot_domain(
    merra2_mean, elevation, box, tile, stride, halo, title: str, elevation_units="m", coast: xr.DataArray | None = None
):
    """The domain overview: (left) the time-mean MERRA-2 field around the area with the study
    box; (right) elevation on the G5NR grid with the inference tile grid: thin lines at the
    tile origins, one tile outlined in full (dashed) and its kept core after the halo crop
    (solid). merra2_mean, elevation: DataArrays (lat, lon); box: {lat: [lo, hi], lon: [lo,
    hi]}. Axes: 2 maps and 2 colour bars."""
    lat, lon = merra2_mean["lat"].values, merra2_mean["lon"].values
    g_lat, g_lon = elevation["lat"].values, elevation["lon"].values
    panel_height = 4.6
    width = _map_width(lat, lon, panel_height) + _map_width(g_lat, g_lon, panel_height) + 3.4
    fig, axes = plt.subplots(1, 2, figsize=(width, panel_height + 1.0), layout="constrained")
    image = axes[0].pcolormesh(lon, lat, merra2_mean.values, cmap=FIELD_CMAP, shading="nearest")
    fig.colorbar(image, ax=axes[0], label="time-mean " + LOG_AOD)
    (lat_lo, lat_hi), (lon_lo, lon_hi) = box["lat"], box["lon"]
    axes[0].add_patch(
        Rectangle(
            (lon_lo, lat_lo),
            lon_hi - lon_lo,
            lat_hi - lat_lo,
            fill=False,
            edgecolor="tab:blue",
            linewidth=2,
            label="study box",
        )
    )
    axes[0].legend(loc="upper right", fontsize="small")
    axes[0].set_title("MERRA-2 over its record (native grid, ingest margin)")
    _map_axes(axes[0], lat, lon, coast)

    from downscaling.data.tiling import TileGrid  # here, not at the top: tiling imports torch (a 1 s import)

    image = axes[1].pcolormesh(g_lon, g_lat, elevation.values, cmap="terrain", shading="nearest")
    fig.colorbar(image, ax=axes[1], label=f"elevation ({elevation_units})")
    grid = TileGrid(len(g_lat), len(g_lon), tile, stride)
    d_lat, d_lon = _step(g_lat), _step(g_lon)

    def lat_edge(row):  # southern edge of pixel row `row` (rows ascend with latitude)
        return g_lat[0] - 0.5 * d_lat + row * d_lat

    def lon_edge(col):
        return g_lon[0] - 0.5 * d_lon + col * d_lon

    for row in grid.rows:
        axes[1].axhline(lat_edge(row), color="black", linewidth=0.5, alpha=0.35)
    for col in grid.cols:
        axes[1].axvline(lon_edge(col), color="black", linewidth=0.5, alpha=0.35)
    row, col = grid.rows[len(grid.rows) // 2], grid.cols[len(grid.cols) // 2]
    axes[1].add_patch(
        Rectangle(
            (lon_edge(col), lat_edge(row)),
            tile * d_lon,
            tile * d_lat,
            fill=False,
            edgecolor="black",
            linestyle="--",
            linewidth=1.5,
            label=f"one tile ({tile} px)",
        )
    )
    axes[1].add_patch(
        Rectangle(
            (lon_edge(col + halo), lat_edge(row + halo)),
            (tile - 2 * halo) * d_lon,
            (tile - 2 * halo) * d_lat,
            fill=False,
            edgecolor="black",
            linewidth=1.5,
            label=f"its core kept (halo {halo} px cropped)",
        )
    )
    axes[1].legend(loc="upper right", fontsize="small")
    axes[1].set_title(
        f"G5NR grid and inference tiles: {tile} px = {tile * d_lat:.2f}°, stride "
        f"{stride} px, {grid.shape[0]} × {grid.shape[1]} = {grid.n_tiles} tiles",
        fontsize="medium",
    )
    _map_axes(axes[1], g_lat, g_lon, coast)
    fig.suptitle(title)
    return fig

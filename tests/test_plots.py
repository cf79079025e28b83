"""Every figure is written, with the panels (axes) it promises, from a tiny fake run."""

import json

import numpy as np
import pytest
import xarray as xr
from contract_fakes import BOX, fake_area
from PIL import Image

from downscaling.evaluation import comparison, longrun, scoring, training_checks
from downscaling.files import contracts
from downscaling.plots import figures, maps


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    return fake_area(tmp_path_factory.mktemp("area"))


def saved(fig, path):
    """Save the figure and return its number of axes (maps, panels and colour bars)."""
    n_axes = len(fig.axes)
    figures.save_figure(fig, path)
    assert path.stat().st_size > 10_000  # a rendered PNG, not an empty canvas
    assert Image.open(path).format == "PNG"
    return n_axes


def test_day_maps_have_seven_panels_and_three_colour_bars(area, tmp_path):
    date = area["test_days"][2]
    shown = scoring.day_maps(
        date,
        area["g5nr"],
        area["merra2_on_g5nr"],
        area["downscaled"]["ddpm", "strict"],
        area["downscaled"]["unet", "strict"],
    )
    assert list(shown.fields) == ["MERRA-2 input", "G5NR truth", "ddpm ensemble mean", "ddpm member 1", "unet"]
    assert shown.rmse["unet"] == pytest.approx(0.1, abs=1e-4)  # unet = truth + 0.1
    fig = maps.plot_day_maps(shown, f"JJA, west: {date:%Y-%m-%d}")
    map_axes = [ax for ax in fig.axes if ax.get_xlabel() == "longitude (°E)"]
    assert len(map_axes) == 7
    assert saved(fig, tmp_path / "map.png") == 7 + 3
    # one colour scale for the row of fields
    limits = {ax.collections[0].get_clim() for ax in map_axes[:5]}
    assert len(limits) == 1


def test_day_maps_without_unet(area, tmp_path):
    shown = scoring.day_maps(
        area["test_days"][0], area["g5nr"], area["merra2_on_g5nr"], area["downscaled"]["ddpm", "strict"]
    )
    assert saved(maps.plot_day_maps(shown, "no unet"), tmp_path / "map.png") == 6 + 3


def test_summary_and_ensemble_figures(area, tmp_path):
    paths = []
    for model in ("ddpm", "unet", "interp"):
        for mode in ("strict", "lenient"):
            overall, _ = scoring.evaluate_downscaled(
                area["downscaled"][model, mode], area["g5nr"], area["split"], seed=0
            )
            path = tmp_path / "results" / "metrics" / model / "JJA" / "west" / f"{mode}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            contracts.write_json(overall, path)
            paths.append(path)
    table = comparison.summary_table(paths)
    assert saved(figures.plot_summary(table, "summary"), tmp_path / "summary.png") == 2 * 2
    records = comparison.read_metrics(paths)
    assert saved(figures.plot_ensemble_skill(records, "ensembles"), tmp_path / "ens.png") == 1
    with pytest.raises(ValueError, match="no ensemble metrics"):
        figures.plot_ensemble_skill([r for r in records if r["model"] != "ddpm"], "none")


def test_spectra_and_variogram_figures(area, tmp_path):
    paths = {m: area["downscaled"][m, "strict"] for m in ("ddpm", "unet", "interp")}
    fields = scoring.season_prediction_fields(area["g5nr"], area["split"], paths, 1e-6)
    spectra = scoring.spectra_table(fields)
    fig = figures.plot_spectra(spectra, "spectra")
    # one entry per member group, not per member
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["G5NR", "ddpm ensemble mean", "ddpm members", "unet", "interp"]
    assert saved(fig, tmp_path / "spectra.png") == 1
    curves, fits = scoring.variogram_tables(fields[:2], max_km=300, bins=8, pairs=1000, seed=0)
    fig = figures.plot_variograms(curves, fits, "variograms")
    assert len(fig.axes[0].get_legend_handles_labels()[1]) == 2
    assert saved(fig, tmp_path / "variograms.png") == 1


def test_temporal_figures(area, tmp_path):
    acf, lags = scoring.temporal_tables(area["g5nr"], area["merra2"], area["longrun"], nlags=20, max_lag=5)
    assert saved(figures.plot_acf_pacf(acf, "acf"), tmp_path / "acf.png") == 2
    assert saved(figures.plot_lag_curves(lags, "lags"), tmp_path / "lags.png") == 2


def test_longrun_animation_series_and_page(area, tmp_path):
    frames = longrun.longrun_frames(area["longrun"], area["merra2"], max_frames=4)
    fig = maps.animate_longrun(frames, tmp_path / "run.gif", "west long run")
    assert len(fig.axes) == 2 + 1
    gif = Image.open(tmp_path / "run.gif")
    assert gif.format == "GIF" and gif.n_frames == 4
    page = maps.gif_page(tmp_path / "run.gif", "west long run")
    assert page.count("data:image/gif;base64,") == 1
    series = longrun.longrun_series(area["longrun"], area["merra2"])
    assert saved(figures.plot_longrun_series(series, "series"), tmp_path / "series.png") == 1
    skill = longrun.longrun_skill(area["longrun"], area["known_truth"], area["g5nr"], area["merra2"])
    assert saved(figures.plot_longrun_skill(skill, "skill"), tmp_path / "skill.png") == 4


def test_domain_overview(area, tmp_path):
    with xr.open_dataset(area["static"]) as ds:
        elevation = ds["elevation"].load()
    fig = maps.plot_domain(contracts.time_mean(area["merra2"]), elevation, BOX, tile=16, stride=8, halo=4, title="west")
    # 48 x 64 pixels, tiles of 16 every 8: 5 x 7 tiles
    assert "5 × 7 = 35 tiles" in fig.axes[1].get_title()
    assert saved(fig, tmp_path / "domain.png") == 2 + 2


def test_colour_limits_are_robust_and_never_empty():
    field = np.zeros((50, 50))
    field[0, 0] = 100.0  # one outlier pixel in 2500 does not set the scale
    assert maps._limits([field]) == pytest.approx((-0.5, 0.5))  # constant: widened
    assert maps._limits([np.full((3, 3), np.nan)]) == (0.0, 1.0)
    first, second = np.linspace(0, 1, 101), np.linspace(1, 2, 101)
    both = np.concatenate([first, second])
    assert maps._limits([first, second]) == pytest.approx(tuple(np.percentile(both, [1, 99])))


def test_maps_draw_the_coastline_from_the_shipped_land_mask():
    import matplotlib.pyplot as plt

    land = maps.land_mask([19.0, 30.0], [44.0, 53.0])
    assert land.sel(lat=27.0, lon=51.0, method="nearest") == 0  # the Persian Gulf
    assert land.sel(lat=24.0, lon=46.0, method="nearest") == 1  # Riyadh
    fig, (gulf, desert, none) = plt.subplots(1, 3)
    maps._map_axes(gulf, np.arange(24.0, 29.0, 0.0625), np.arange(48.0, 52.0, 0.0625), land)  # the Gulf's coast
    maps._map_axes(desert, np.arange(20.0, 22.0, 0.0625), np.arange(45.0, 47.0, 0.0625), land)  # all land: no line
    maps._map_axes(none, np.arange(24.0, 29.0, 0.0625), np.arange(48.0, 52.0, 0.0625))  # no mask: no line
    assert len(gulf.collections) == 1 and len(gulf.collections[0].get_paths()) > 0
    assert gulf.get_xlim() == pytest.approx((48.0 - 0.03125, 51.9375 + 0.03125))  # the mask's wider box is cut
    assert len(desert.collections) == 0 and len(none.collections) == 0
    plt.close(fig)


def test_the_x0_checks_of_training_are_read_and_drawn(tmp_path):
    logged = {"val_x0_error_by_t": {"19": 0.001, "1999": 0.9}, "val_x0_bias_by_t": {"19": 0.0, "1999": 0.02}}
    summaries = []
    for model, extra in (("ddpm_residual", logged), ("ddpm", {}), ("unet", {})):  # unet logs no x0 checks
        path = tmp_path / "models" / model / "JJA" / "west" / "training.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"model": model, "val_loss": 0.1, **extra}))
        summaries.append(path)
    table = training_checks.x0_by_noise(summaries)
    assert table.to_dict("records") == [
        {"model": "ddpm_residual", "season": "JJA", "area": "west", "t": 19, "x0_error": 0.001, "x0_bias": 0.0},
        {"model": "ddpm_residual", "season": "JJA", "area": "west", "t": 1999, "x0_error": 0.9, "x0_bias": 0.02},
    ]
    assert saved(figures.plot_x0_by_noise(table, "x0"), tmp_path / "x0.png") == 2

"""Every figure of the evaluation and the report (matplotlib, Agg backend, no display needed).

Each ``plot_*`` function takes the tables or arrays made by :mod:`downscaling.evaluation` and
returns a Figure, so that tests can count its panels; :func:`save_figure` writes and closes
it. Conventions: fields are log10 AOD (dust AOD is dimensionless); maps have lon/lat axes in
degrees, one shared colour scale per row of fields and a colour bar with units; titles name
the season, area, day and model they show; a source keeps its colour in every figure. The
maps are in :mod:`downscaling.plots.maps`.
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from downscaling.evaluation.spatial import spherical_model

LOG_AOD = "log$_{10}$ AOD (AOD dimensionless)"
SOURCE_COLOURS = {
    "G5NR": "black",
    "MERRA-2": "tab:gray",
    "MERRA-2 (G5NR period)": "tab:gray",
    "ddpm_residual_finetuned": "tab:red",  # the demo's method
    "ddpm_residual": "lightcoral",
    "ddpm_residual_scratch": "darkred",
    "ddpm_residual_notransfer": "rosybrown",
    "ddpm": "tab:brown",
    "ddpm_scratch": "tab:cyan",
    "ddpm_notransfer": "tab:orange",
    "unet": "tab:blue",
    "ddpm_finetuned": "teal",
    "unet_finetuned": "navy",
    "unet_scratch": "lightskyblue",
    "unet_notransfer": "slategray",
    "interp": "tab:green",
    "interp_qm": "tab:olive",
    "interp_mm": "goldenrod",
    "interp_qm_stochastic": "darkgoldenrod",
    "climatology": "tan",
    "persistence": "tab:pink",
    "long run": "tab:purple",
}
#: The long-run skill table's references: column prefix -> legend name (and colour).
LONGRUN_REFERENCES = {
    "merra2": "MERRA-2",
    "interp_qm": "interp_qm",
    "interp_mm": "interp_mm",
    "interp_qm_stochastic": "interp_qm_stochastic",
    "climatology": "climatology",
}
FIELD_CMAP = "YlOrBr"  # sequential, dust-coloured
SPREAD_CMAP = "viridis"
ERROR_CMAP = "RdBu_r"  # diverging: red where the prediction is too high


def colour_of(source: str) -> str:
    """The colour of a source (G5NR, MERRA-2, a model name or 'long run') in every figure."""
    return SOURCE_COLOURS.get(source, "tab:brown")


def save_figure(fig, path, dpi=110) -> None:
    """Write ``fig`` to ``path`` (format from the suffix) and close it."""
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# The domain diagnostic
# --------------------------------------------------------------------------------------------


def plot_domain_gap(result: dict, data: dict, area: str):
    """The domain diagnostic (:func:`downscaling.evaluation.domain_gap.domain_gap`): the per-day WD
    series and the two pooled CDFs side by side."""
    fig, (series, cdfs) = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    series.plot(data["dates"], data["per_day"], lw=1, color="tab:blue")
    series.axhline(result["per_day"]["mean"], color="k", ls="--", lw=1, label=f"mean {result['per_day']['mean']:.3f}")
    series.set(
        title=f"{area}: daily Wasserstein distance, MERRA-2 vs G5NR", xlabel="date", ylabel="WD (scaled log10 AOD)"
    )
    series.legend()
    lo, hi = result["scaling"]["log10_lo"], result["scaling"]["log10_hi"]
    for name, key, color in (("MERRA-2 (full record)", "merra2_cdf", "tab:orange"), ("G5NR", "g5nr_cdf", "tab:green")):
        edges, cdf = data[key]
        cdfs.plot(lo + edges * (hi - lo), cdf, color=color, label=name)
    cdfs.set(
        title=f"{area}: pooled CDFs, WD = {result['pooled']:.3f}", xlabel="log10 dust AOD", ylabel="cumulative fraction"
    )
    cdfs.legend()
    return fig


# --------------------------------------------------------------------------------------------
# Tables of scores
# --------------------------------------------------------------------------------------------


def plot_summary(table: pd.DataFrame, title: str):
    """Grouped bars of RMSE and R² per season × area (one bar per model), one column per mode.

    table: the summary table (columns model, season, area, mode, rmse, r2, ...).
    Axes: 2 × (number of modes).
    """
    modes = list(dict.fromkeys(table["mode"]))
    models = list(dict.fromkeys(table["model"]))
    groups = list(dict.fromkeys(zip(table["season"], table["area"])))
    width = 0.8 / len(models)
    fig, axes = plt.subplots(
        2, len(modes), figsize=(max(6.0, 1.1 * len(groups)) * len(modes), 7), squeeze=False, constrained_layout=True
    )
    for column, mode in enumerate(modes):
        for row, (metric, name, axis_label) in enumerate(
            [("rmse", "RMSE", "RMSE (log$_{10}$ AOD)"), ("r2", "R²", "R² (squared Pearson r)")]
        ):
            ax = axes[row, column]
            for k, model in enumerate(models):
                rows = table[(table["mode"] == mode) & (table["model"] == model)]
                by_group = dict(zip(zip(rows["season"], rows["area"]), rows[metric]))
                values = [by_group.get(group, np.nan) for group in groups]
                ax.bar(
                    np.arange(len(groups)) + (k - (len(models) - 1) / 2) * width,
                    values,
                    width,
                    label=model,
                    color=colour_of(model),
                )
            ax.set_xticks(np.arange(len(groups)), [f"{s}\n{a}" for s, a in groups])
            ax.set_ylabel(axis_label)
            ax.set_title(f"{name}, {mode} mode")
            ax.grid(axis="y", alpha=0.3)
            if metric == "r2":
                ax.set_ylim(0, 1)
    # one legend outside the panels, so that no bar is hidden behind it
    fig.legend(*axes[0, 0].get_legend_handles_labels(), title="model", loc="outside right upper", fontsize="small")
    fig.suptitle(title)
    return fig


def plot_ensemble_skill(records: list[dict], title: str):
    """Rank histograms of the ensemble models, one panel per season × area (rows seasons,
    columns areas); a line per model × mode with its spread-skill ratio and CRPS in the legend.

    records: metrics JSON dicts with model, season, area, mode, rank_histogram, spread_skill,
    crps (see comparison.read_metrics). Raises ValueError when none has a rank histogram.
    """
    records = [r for r in records if r.get("rank_histogram")]
    if not records:
        raise ValueError("no ensemble metrics (rank_histogram) to plot")
    seasons = list(dict.fromkeys(r["season"] for r in records))
    areas = list(dict.fromkeys(r["area"] for r in records))
    fig, axes = plt.subplots(
        len(seasons),
        len(areas),
        squeeze=False,
        sharey=True,
        figsize=(4.6 * len(areas), 3.0 * len(seasons)),
        constrained_layout=True,
    )
    styles = {"strict": "-", "lenient": "--"}
    for r in records:
        ax = axes[seasons.index(r["season"]), areas.index(r["area"])]
        counts = np.asarray(r["rank_histogram"], dtype=float)
        frequency = counts / counts.sum()
        ax.step(
            np.arange(counts.size),
            frequency,
            where="mid",
            color=colour_of(r["model"]),
            linestyle=styles.get(r["mode"], ":"),
            label=f"{r['model']} {r['mode']}: SSR {r['spread_skill']:.2f}, CRPS {r['crps']:.3f}",
        )
        ax.axhline(1.0 / counts.size, color="black", linewidth=0.8, linestyle=":")
    for row, season in enumerate(seasons):
        for column, area in enumerate(areas):
            ax = axes[row, column]
            ax.set_title(f"{season}, {area}")
            ax.set_xlabel("rank of G5NR among the members")
            ax.set_ylabel("relative frequency")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


def plot_x0_by_noise(table: pd.DataFrame, title: str):
    """The x0 estimate's validation error and bias by noise level (evaluation.training_checks):
    one column per diffusion model, a line per season × area."""
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(
        2, len(models), squeeze=False, sharex=True, figsize=(4.2 * len(models), 6.0), constrained_layout=True
    )
    for column, model in enumerate(models):
        for (season, area), rows in table[table["model"] == model].groupby(["season", "area"], sort=False):
            for row, score in enumerate(("x0_error", "x0_bias")):
                axes[row, column].plot(rows["t"], rows[score], marker="o", markersize=3, label=f"{season} {area}")
        axes[0, column].set_title(model)
        axes[0, column].set_yscale("log")
        axes[0, column].set_ylabel("x0 mean squared error")
        axes[1, column].axhline(0.0, color="black", linewidth=0.8)
        axes[1, column].set_ylabel("x0 mean error (bias)")
        axes[1, column].set_xlabel("noise level t (timestep)")
        axes[0, column].legend(fontsize="x-small", ncol=2)
    fig.suptitle(title)
    return fig


def plot_data_efficiency(pooled: pd.DataFrame, title: str):
    """The transfer ablation's paired RMSE differences against the share of the training days
    (evaluation.data_efficiency.pooled_effects): a panel per family and mode, a line per effect
    with its 95 % interval; below 0 the first model of the pair is better."""
    families, modes = list(dict.fromkeys(pooled.family)), list(dict.fromkeys(pooled["mode"]))
    fig, axes = plt.subplots(
        len(families),
        len(modes),
        squeeze=False,
        sharex=True,
        figsize=(4.4 * len(modes), 3.4 * len(families)),
        constrained_layout=True,
    )
    for (row, family), (column, mode) in itertools.product(enumerate(families), enumerate(modes)):
        ax = axes[row, column]
        panel = pooled[(pooled.family == family) & (pooled["mode"] == mode)]
        for offset, ((effect, model, minus), rows) in enumerate(
            panel.groupby(["effect", "model", "minus"], sort=False)
        ):
            rows = rows.sort_values("record_fraction")
            x = rows.record_fraction * 1.03**offset  # side by side, not on top of each other
            error = [rows.rmse_diff - rows.rmse_diff_low, rows.rmse_diff_high - rows.rmse_diff]
            ax.errorbar(x, rows.rmse_diff, yerr=error, marker="o", capsize=3, label=f"{effect}: {model} − {minus}")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(pooled.record_fraction)))
        ax.set_xticklabels([f"{100 * f:g} %" for f in sorted(set(pooled.record_fraction))])
        ax.set_title(f"{family}, {mode}")
        ax.set_xlabel("share of the G5NR training days")
        ax.set_ylabel("paired RMSE difference (log10)")
        ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------
# Spatial and temporal structure
# --------------------------------------------------------------------------------------------


def _plain_log_ticks(axis):
    """Ticks at 1, 2, 5 × 10^n labelled as plain numbers: a spectrum spans only a decade or
    two, where decade ticks alone would leave the axis nearly unlabelled."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _wavelength_axis(ax):
    """A top axis in wavelength (km) over a bottom axis in wavenumber (cycles/km)."""
    top = ax.secondary_xaxis(
        "top", functions=(lambda k: 1.0 / np.maximum(k, 1e-12), lambda w: 1.0 / np.maximum(w, 1e-12))
    )
    top.set_xlabel("wavelength (km)")
    _plain_log_ticks(top.xaxis)


def plot_spectra(table: pd.DataFrame, title: str):
    """Radially averaged PSD (log-log) of each source in a spectra table (one axes).

    Truth black, each model in its colour: ensemble members thin and translucent, the
    ensemble mean (or a deterministic model) solid.
    """
    fig, ax = plt.subplots(figsize=(7.5, 5.5), constrained_layout=True)
    for (source, kind, member), rows in table.groupby(["source", "kind", "member"], sort=False):
        is_member = kind == "member"
        first_member = (
            is_member and member == table.loc[(table["source"] == source) & (table["kind"] == "member"), "member"].min()
        )
        label = (f"{source} members" if first_member else None) if is_member else rows["label"].iloc[0]
        ax.loglog(
            rows["wavenumber_per_km"],
            rows["psd"],
            color=colour_of(source),
            linewidth=0.8 if is_member else 2.0,
            alpha=0.45 if is_member else 1.0,
            label=label,
            zorder=3 if source == "G5NR" else 2,
        )
    _plain_log_ticks(ax.xaxis)
    ax.set_xlabel("wavenumber (cycles km$^{-1}$)")
    ax.set_ylabel("PSD ((log$_{10}$ AOD)$^2$ km$^2$)")
    _wavelength_axis(ax)
    ax.grid(which="both", alpha=0.25)
    ax.legend(fontsize="small")
    ax.set_title(title)
    return fig


def plot_variograms(curves: pd.DataFrame, fits: pd.DataFrame, title: str):
    """Empirical semivariograms (markers) and spherical fits (lines) of each source (one axes);
    the legend gives each fit's range."""
    fig, ax = plt.subplots(figsize=(7.5, 5.5), constrained_layout=True)
    distance = np.linspace(0.0, curves["distance_km"].max(), 200)
    for fit in fits.itertuples():
        rows = curves[
            (curves["source"] == fit.source) & (curves["kind"] == fit.kind) & (curves["member"] == fit.member)
        ]
        colour = colour_of(fit.source)
        style = ":" if fit.kind == "member" else "-"
        ax.plot(rows["distance_km"], rows["gamma"], "o" if fit.kind != "member" else "x", color=colour, markersize=4)
        label = f"{fit.label} (range {fit.range_km:.0f} km)" if np.isfinite(fit.range_km) else f"{fit.label} (no fit)"
        if np.isfinite(fit.range_km):
            ax.plot(
                distance,
                spherical_model(distance, fit.nugget, fit.sill, fit.range_km),
                style,
                color=colour,
                label=label,
            )
        else:
            ax.plot([], [], style, color=colour, label=label)
    ax.set_xlabel("distance (km)")
    ax.set_ylabel("semivariance γ ((log$_{10}$ AOD)$^2$)")
    ax.set_xlim(0, None)
    ax.set_ylim(0, None)
    ax.grid(alpha=0.25)
    ax.legend(fontsize="small", title="markers: empirical; lines: spherical fit")
    ax.set_title(title)
    return fig


def plot_acf_pacf(table: pd.DataFrame, title: str):
    """ACF and PACF of each source's area-mean series (two axes), with statsmodels' 95 %
    intervals drawn as bands around zero (as statsmodels' plot_acf does)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    sources = list(dict.fromkeys(table["source"]))
    for ax, name in zip(axes, ("acf", "pacf")):
        for k, source in enumerate(sources):
            rows = table[table["source"] == source]
            lags = rows["lag"].to_numpy() + (k - (len(sources) - 1) / 2) * 0.15  # side by side
            colour = colour_of(source)
            half_width = rows[f"{name}_hi"] - rows[name]
            ax.fill_between(rows["lag"], -half_width, half_width, color=colour, alpha=0.12, step="mid", linewidth=0)
            ax.vlines(lags, 0, rows[name], color=colour, linewidth=1.2)
            ax.plot(
                lags, rows[name], "o", color=colour, markersize=3.5, label=f"{source} ({rows['n_days'].iloc[0]} days)"
            )
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xlabel("lag (days)")
        ax.set_ylabel(name.upper())
        ax.set_title(f"{name.upper()} of the area-mean daily log$_{{10}}$ AOD")
        ax.grid(alpha=0.25)
    axes[0].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def plot_lag_curves(table: pd.DataFrame, title: str):
    """Lag-k RMSE and R² of each source (two axes), k on the horizontal axis."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), constrained_layout=True)
    for source, rows in table.groupby("source", sort=False):
        for ax, metric in zip(axes, ("rmse", "r2")):
            ax.plot(rows["lag"], rows[metric], "o-", color=colour_of(source), label=source, markersize=4)
    axes[0].set_ylabel("RMSE of day t+k vs day t (log$_{10}$ AOD)")
    axes[1].set_ylabel("R² of day t+k vs day t (squared Pearson r)")
    axes[1].set_ylim(0, 1)
    for ax in axes:
        ax.set_xlabel("lag k (days)")
        ax.grid(alpha=0.25)
    axes[0].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def plot_longrun_series(series: pd.DataFrame, title: str):
    """Area-mean daily log10 AOD of the long run (ensemble mean, member range shaded) and of
    MERRA-2 (one axes)."""
    fig, ax = plt.subplots(figsize=(11, 4.2), constrained_layout=True)
    colour = colour_of("long run")
    ax.fill_between(
        series["date"],
        series["member_min"],
        series["member_max"],
        color=colour,
        alpha=0.2,
        linewidth=0,
        label="long run, range of the members",
    )
    ax.plot(series["date"], series["longrun"], color=colour, label="long run (ensemble mean)")
    ax.plot(series["date"], series["merra2"], color=colour_of("MERRA-2"), label="MERRA-2")
    ax.set_xlabel("date")
    ax.set_ylabel("area-mean " + LOG_AOD)
    ax.grid(alpha=0.25)
    ax.legend(fontsize="small")
    ax.set_title(title)
    fig.autofmt_xdate()
    return fig


def plot_longrun_skill(skill: pd.DataFrame, title: str, notes=()):
    """Free-running skill against the known truth by lead (days since the last G5NR day):
    RMSE, CRPS (a deterministic reference's MAE), spread-skill and PSD ratio (4 axes), each
    beside the references the table holds (columns ``<reference>_<score>``); ``notes``: lines
    written under the title (e.g. the lead sentences)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5 + 0.22 * len(notes)), sharex=True, constrained_layout=True)
    lead = skill["lead_days"]
    panels = [
        (axes[0, 0], "rmse", "RMSE, ensemble mean (log$_{10}$ AOD)", None),
        (axes[0, 1], "crps", "fair CRPS; MAE of a single field (log$_{10}$ AOD)", None),
        (axes[1, 0], "spread_skill", "spread-skill ratio", 1.0),
        (axes[1, 1], "psd_ratio", "PSD ratio, member 1, 25–80 km", 1.0),
    ]
    for ax, column, label, ideal in panels:
        if column in skill:
            ax.plot(lead, skill[column], color=colour_of("long run"), marker=".", label="long run")
        for reference, name in LONGRUN_REFERENCES.items():
            if f"{reference}_{column}" in skill:
                ax.plot(lead, skill[f"{reference}_{column}"], color=colour_of(name), label=name, linewidth=1)
        if ideal is not None:
            ax.axhline(ideal, color="black", linewidth=0.8, linestyle="--")
        ax.set_ylabel(label)
        ax.grid(alpha=0.25)
    axes[0, 0].legend(fontsize="small")
    for ax in axes[1]:
        ax.set_xlabel("days since the last G5NR day")
    fig.suptitle("\n".join([title, *notes]), fontsize="medium")
    return fig

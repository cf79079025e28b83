"""Is the diffusion model a generative model? The goal table of the pipeline's ensembles, read
from the written netCDF files and the ingested G5NR with netCDF4 and numpy only, independently
of the project's evaluation code (a script that prints a table, not a test).

For every season x area x mode of a finished run, for the ensemble model (default: the config's
method) against its deterministic twin (``variants.deterministic_twin``: a residual model's mean,
e.g. ``unet`` for ``ddpm_residual``, ``unet_finetuned`` for ``ddpm_residual_finetuned``):

- spread-skill: sqrt(mean member variance (ddof 1) x (M+1)/M) / RMSE of the ensemble mean;
- CRPS (fair) of the ensemble against the MAE of the twin;
- RMSE of the ensemble mean / RMSE of the twin;
- PSD ratio: radially averaged power of member 1 over G5NR's at wavelengths 25-80 km;
- seam ratio: mean |jump| between neighbouring pixels at the worst phase of the inference
  stride over the median phase, the worse axis (G5NR itself is about 1.0);
- rank histogram: smallest and largest bin over the uniform share;

with the rows that meet each goal (GOALS: the generative round's and the calibration round's);
spread-skill pooled over the rows by the number of the season's earlier test days within the
n_lag days before a test day (`own_days`: in strict mode, the days of a member's history that
are its own predictions; lenient beside it on the same days); and a table of the method
against the baselines of the same rows, where they were run: RMSE of the ensemble mean against
interp_qm's, interp_mm's and persistence's, and the fair CRPS against the stochastic
interp_qm's fair CRPS and interp_qm's MAE (goal: the method better in every row).

Usage (after `make demo`):
    python benchmarks/check_generative.py [--model ddpm_residual_finetuned] [--results results] [--design blocked]
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
from common import load_config, print_table, results_parser

from downscaling import paths, variants

EARTH_KM = 6371.0


def read_members(path) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """log10 AOD members (M, T, H, W) and the dates of a downscaled file."""
    with netCDF4.Dataset(path) as ds:
        aod = np.asarray(ds["aod_member"][:], dtype=np.float64)
        time = ds["time"]
        dates = pd.DatetimeIndex(
            netCDF4.num2date(time[:], time.units, only_use_cftime_datetimes=False, only_use_python_datetimes=True)
        ).normalize()
        dims = ds["aod_member"].dimensions
    if dims[0] != "member":  # (time, member, ...) files: members first here
        aod = np.moveaxis(aod, dims.index("member"), 0)
    return np.log10(np.maximum(aod, 1e-6)), dates


def read_truth(path, dates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """G5NR log10 AOD (T, H, W) on `dates`, with lat and lon."""
    with netCDF4.Dataset(path) as ds:
        time = ds["time"]
        all_dates = pd.DatetimeIndex(
            netCDF4.num2date(time[:], time.units, only_use_cftime_datetimes=False, only_use_python_datetimes=True)
        ).normalize()
        positions = all_dates.get_indexer(dates)
        return (
            np.asarray(ds["log10_aod"][positions], dtype=np.float64),
            np.asarray(ds["lat"][:]),
            np.asarray(ds["lon"][:]),
        )


def radial_psd(stack: np.ndarray, dx: float, dy: float):
    """Mean radially averaged periodogram of (T, H, W) fields, Hann-tapered, mean removed."""
    _, h, w = stack.shape
    taper = np.outer(np.hanning(h), np.hanning(w))
    power = np.mean([np.abs(np.fft.fft2((day - day.mean()) * taper)) ** 2 for day in stack], axis=0)
    ky, kx = np.meshgrid(np.fft.fftfreq(h, dy), np.fft.fftfreq(w, dx), indexing="ij")
    k = np.hypot(kx, ky)
    width = max(1 / (h * dy), 1 / (w * dx))
    edges = np.arange(width / 2, min(0.5 / dx, 0.5 / dy), width)
    which = np.digitize(k.ravel(), edges)
    centres, means = [], []
    for i in range(1, len(edges)):
        chosen = which == i
        if chosen.any():
            centres.append((edges[i - 1] + edges[i]) / 2)
            means.append(power.ravel()[chosen].mean())
    return np.array(centres), np.array(means)


def psd_ratio(field, truth, lat, lon, band=(25.0, 80.0)) -> float:
    dx = EARTH_KM * np.radians(np.diff(lon).mean()) * np.cos(np.radians(lat.mean()))
    dy = EARTH_KM * np.radians(np.diff(lat).mean())
    k, p = radial_psd(field, dx, dy)
    _, q = radial_psd(truth, dx, dy)
    inside = (1 / k >= band[0]) & (1 / k <= band[1])
    return float(np.mean(p[inside] / q[inside]))


def seam_ratio(stack: np.ndarray, stride: int) -> float:
    worst = []
    for axis in (1, 2):
        jumps = np.abs(np.diff(stack, axis=axis)).mean(axis=tuple(a for a in (0, 1, 2) if a != axis))
        jumps = jumps[: len(jumps) - len(jumps) % stride].reshape(-1, stride).mean(axis=0)
        worst.append(jumps.max() / np.median(jumps))
    return float(max(worst))


def fair_crps(members: np.ndarray, truth: np.ndarray) -> float:
    """Fair CRPS of members (M, ...) against truth (...); the MAE of a single member."""
    m = members.shape[0]
    skill = np.abs(members - truth).mean(axis=0)
    if m == 1:
        return float(skill.mean())
    pairs = np.abs(members[:, None] - members[None]).sum(axis=(0, 1)) / (2 * m * (m - 1))
    return float(np.mean(skill - pairs))


def own_days(dates: pd.DatetimeIndex, n_lag: int) -> np.ndarray:
    """For each test day in ``dates`` (sorted), how many earlier test days lie within the n_lag
    days before it: in strict mode, the days of its history that are the model's own output."""
    days = dates.values.astype("datetime64[D]").astype(np.int64)
    return np.array([np.count_nonzero((days < d) & (days >= d - n_lag)) for d in days])


def day_moments(members: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    """Per day: the squared error of the ensemble mean and the members' (M+1)/M-corrected
    variance, each averaged over the pixels (every day has the same pixels, so their means over
    days are the row's)."""
    m = members.shape[0]
    return pd.DataFrame(
        {
            "mse": ((members.mean(axis=0) - truth) ** 2).mean(axis=(1, 2)),
            "variance": members.var(axis=0, ddof=1).mean(axis=(1, 2)) * (m + 1) / m,
        }
    )


def ensemble_row(members, truth, twin, moments: pd.DataFrame, rng):
    """One row's scores; ``moments``: ``day_moments(members, truth)``."""
    m = members.shape[0]
    rmse, spread = np.sqrt(moments["mse"].mean()), np.sqrt(moments["variance"].mean())
    crps = fair_crps(members, truth)
    ranks = (members < truth).sum(axis=0) + rng.integers(0, (members == truth).sum(axis=0) + 1)
    shares = np.bincount(ranks.ravel(), minlength=m + 1) / ranks.size * (m + 1)
    twin_rmse = np.sqrt(np.mean((twin - truth) ** 2))
    return {
        "spread_skill": spread / rmse,
        "crps": crps,
        "twin_mae": float(np.abs(twin - truth).mean()),
        "rmse_ratio": rmse / twin_rmse,
        "rank_min": shares.min(),
        "rank_max": shares.max(),
    }


# Each goal on one row's scores: the generative round's (loose) and the calibration round's (tight).
GOALS = {
    "spread-skill in 0.7-1.3": lambda r: 0.7 <= r["spread_skill"] <= 1.3,
    "spread-skill in 0.9-1.1": lambda r: 0.9 <= r["spread_skill"] <= 1.1,
    "CRPS below the twin's MAE": lambda r: r["crps"] < r["twin_mae"],
    "CRPS >= 30 % below the twin's MAE": lambda r: r["crps"] <= 0.7 * r["twin_mae"],
    "RMSE of the mean within 2 % of the twin's or better": lambda r: r["rmse_ratio"] <= 1.02,
    "PSD ratio in 0.75-1.33": lambda r: 0.75 <= r["psd"] <= 1.33,
    "PSD ratio in 0.9-1.1": lambda r: 0.9 <= r["psd"] <= 1.1,
    "seam ratio <= 1.15": lambda r: r["seam"] <= 1.15,
    "seam ratio <= 1.05": lambda r: r["seam"] <= 1.05,
    "rank bins within 0.5-2x uniform": lambda r: r["rank_min"] >= 0.5 and r["rank_max"] <= 2.0,
    "rank bins within 0.75-1.33x uniform": lambda r: r["rank_min"] >= 0.75 and r["rank_max"] <= 1.33,
}

BASELINE_COLUMNS = {"interp_qm": "rmse", "interp_mm": "rmse", "persistence": "rmse", "interp_qm_stochastic": "crps"}


def baseline_rows(results, scored, model, config):
    """(rows, wins): the method's RMSE and CRPS beside each baseline's, per season x area x mode
    (``scored``: the results tree of the downscaled files; ``results``: that of the ingested data)."""
    rows, wins = [], {}
    for season in config["seasons"]:
        for area in config["areas"]:
            for mode in config["modes"]:
                members, dates = read_members(paths.downscaled(model, season, area, mode, results=scored))
                truth, _, _ = read_truth(paths.area_data("g5nr", area, results=results), dates)
                own = {
                    "rmse": float(np.sqrt(np.mean((members.mean(axis=0) - truth) ** 2))),
                    "crps": fair_crps(members, truth),
                }
                row = [f"{season} {area} {mode}", f"{own['rmse']:.4f}", f"{own['crps']:.4f}"]
                for baseline, score in BASELINE_COLUMNS.items():
                    path = Path(paths.downscaled(baseline, season, area, mode, results=scored))
                    if not path.exists():
                        row.append("-")
                        continue
                    fields, _ = read_members(path)
                    theirs = {
                        "rmse": float(np.sqrt(np.mean((fields.mean(axis=0) - truth) ** 2))),
                        "crps": fair_crps(fields, truth),
                    }
                    wins.setdefault(baseline, [0, 0])
                    wins[baseline][0] += own[score] < theirs[score]
                    wins[baseline][1] += 1
                    row.append(f"{theirs['rmse']:.4f} / {theirs['crps']:.4f}")
                rows.append(tuple(row))
    return rows, wins


def print_spread_skill_by_own_days(days: pd.DataFrame) -> None:
    """Spread-skill, RMSE of the mean and spread pooled over every row's test days with the same
    number of own days (strict) and over the same days lenient."""
    modes = sorted(days["mode"].unique())
    pooled = days.groupby(["own_days", "mode"])[["mse", "variance"]].mean().unstack("mode")
    count = days.groupby(["own_days", "mode"]).size().unstack("mode")
    rows = []
    for n, row in pooled.iterrows():
        cells = [n, count.loc[n].iloc[0]]
        for mode in modes:
            rmse, spread = np.sqrt(row[("mse", mode)]), np.sqrt(row[("variance", mode)])
            cells += [f"{spread / rmse:.3f}", f"{rmse:.4f}", f"{spread:.4f}"]
        rows.append(cells)
    print_table(
        "spread-skill by the test day's own days (earlier test days within n_lag), pooled over the rows",
        ("own days", "days", *(f"{mode} {what}" for mode in modes for what in ("spread-skill", "RMSE", "spread"))),
        rows,
    )


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--model", help="the ensemble model (default: the config's method)")
    parser.add_argument(
        "--design", help="the second test design's files (config second_design: results/designs/<design>/)"
    )
    args = parser.parse_args()
    # the downscaled files of the design checked; the ingested G5NR is shared by every design
    scored = paths.design_results(args.design, results=args.results) if args.design else args.results
    config = load_config(args.config)
    model = args.model or config.get("method") or "ddpm"
    twin = variants.deterministic_twin(model)
    stride = config["inference"]["stride"]
    rng = np.random.default_rng(0)
    rows, met, by_day = [], dict.fromkeys(GOALS, 0), []
    for season in config["seasons"]:
        for area in config["areas"]:
            for mode in config["modes"]:
                members, dates = read_members(paths.downscaled(model, season, area, mode, results=scored))
                deterministic, _ = read_members(paths.downscaled(twin, season, area, mode, results=scored))
                truth, lat, lon = read_truth(paths.area_data("g5nr", area, results=args.results), dates)
                moments = day_moments(members, truth)
                r = ensemble_row(members, truth, deterministic[0], moments, rng)
                by_day.append(moments.assign(mode=mode, own_days=own_days(dates, config["splits"]["n_lag"])))
                r["psd"] = psd_ratio(members[0], truth, lat, lon)
                r["seam"], seam_truth = seam_ratio(members[0], stride), seam_ratio(truth, stride)
                for goal, holds in GOALS.items():
                    met[goal] += bool(holds(r))
                rows.append(
                    (
                        f"{season} {area} {mode}",
                        members.shape[0],
                        f"{r['spread_skill']:.3f}",
                        f"{r['crps']:.4f} / {r['twin_mae']:.4f}",
                        f"{r['rmse_ratio']:.3f}",
                        f"{r['psd']:.3f}",
                        f"{r['seam']:.3f} ({seam_truth:.3f})",
                        f"{r['rank_min']:.2f}-{r['rank_max']:.2f}",
                    )
                )
    print_table(
        f"{model} against {twin} and G5NR ({scored})",
        (
            "season area mode",
            "M",
            "spread-skill",
            f"CRPS / {twin} MAE",
            f"RMSE / {twin}",
            "PSD ratio 25-80 km",
            "seam ratio (G5NR)",
            "rank bins min-max",
        ),
        rows,
    )
    print_table(
        "goals met (rows; 'twin': the deterministic twin)",
        ("goal", "rows"),
        [(goal, f"{n}/{len(rows)}") for goal, n in met.items()],
    )
    print_spread_skill_by_own_days(pd.concat(by_day))
    rows, wins = baseline_rows(args.results, scored, model, config)
    print_table(
        f"{model} against the baselines (RMSE of the mean / fair CRPS; a single field's CRPS is its MAE)",
        ("season area mode", f"{model} RMSE", f"{model} CRPS", *BASELINE_COLUMNS),
        rows,
    )
    print_table(
        "the method better than the baseline (rows)",
        ("baseline", "by", "rows"),
        [(baseline, BASELINE_COLUMNS[baseline], f"{won}/{of}") for baseline, (won, of) in wins.items()],
    )


if __name__ == "__main__":
    main()

"""Is a long run worse after a season boundary because of the new season's models or because of
the hand-over? A script that prints a table (not a test).

A long run crosses seasons: on a season's first day its models read a history of n_lag days that
the previous season's models wrote. This script takes every member's own history from a finished
long run at a season boundary and runs the new season's first days again twice, from that same
history: with the new season's models (what the run did) and with the previous season's. Both are
scored against the synthetic world's truth by five-day block, beside MERRA-2 with the new
season's per-pixel G5NR moments (``interp_mm``), which no history touches. If the previous
season's models do as badly, the history handed over is the problem; if they do better, the new
season's models are. ``--history truth`` starts both from the known truth's days instead: what
the models do on their own, without what the run handed over.

Usage (after a long run that crosses a season, e.g. config/longrun_long.yaml):
    python benchmarks/bench_season_handover.py --results /path/to/run/results \\
        --config /path/to/run/config/config.yaml \\
        --longrun /path/to/run/results/longrun/west/2006-06-17_2006-12-31.nc --boundary 2006-12-01
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from common import DemoPaths, load_config, pick_device, print_machine, print_table, results_parser

from downscaling.api import settings_from_config
from downscaling.data.splits import season_of
from downscaling.evaluation.longrun import SeasonTraining, longrun_skill
from downscaling.files.contracts import log10_aod
from downscaling.files.outputs import SourceVariable
from downscaling.inference import stitched

SCORES = ("rmse", "bias", "crps", "spread_skill", "psd_ratio")


def members_history(longrun_path, boundary, n_lag: int, log_floor: float) -> np.ndarray:
    """Each member's last ``n_lag`` days before ``boundary`` in a long run: (M, n_lag, H, W) log10."""
    with xr.open_dataset(longrun_path) as run:
        days = run["aod_member"].sel(time=slice(boundary - pd.Timedelta(days=n_lag), boundary - pd.Timedelta(days=1)))
        if days.sizes["time"] != n_lag:
            raise ValueError(f"{longrun_path}: {days.sizes['time']} days before {boundary:%Y-%m-%d}, need {n_lag}")
        return np.ascontiguousarray(log10_aod(days.values, log_floor).transpose(1, 0, 2, 3))


def truth_history(truth_path, lat, lon, boundary, n_lag: int, log_floor: float) -> np.ndarray:
    """The known truth's last ``n_lag`` days before ``boundary`` on the grid (lat, lon): (n_lag, H, W) log10."""
    with xr.open_dataset(truth_path) as truth:
        days = truth["aod"].sel(time=slice(boundary - pd.Timedelta(days=n_lag), boundary - pd.Timedelta(days=1)))
        if days.sizes["time"] != n_lag:
            raise ValueError(f"{truth_path}: {days.sizes['time']} days before {boundary:%Y-%m-%d}, need {n_lag}")
        return log10_aod(days.sel(lat=lat, lon=lon, method="nearest", tolerance=1e-6).values, log_floor)


def run_grid(longrun_path) -> tuple[np.ndarray, np.ndarray]:
    """The latitudes and longitudes of a long run's file."""
    with xr.open_dataset(longrun_path) as run:
        return run["lat"].values, run["lon"].values


def rerun(args, config, models_season: str, history, dates, out: Path) -> None:
    """The run's ``dates`` again from ``history``, every date with ``models_season``'s models."""
    paths = DemoPaths(args.results, models_season, args.area)
    settings, other = settings_from_config(config, args.area, args.model, [models_season])
    downscaler = paths.downscaler(args.model, settings[models_season], pick_device("cpu", args.threads), other["seed"])
    with xr.open_dataset(paths.data("g5nr")) as g5nr:
        lat, lon, source = g5nr["lat"].values, g5nr["lon"].values, SourceVariable.of_cube(g5nr.attrs)
    merra2 = stitched.Merra2OnGrid(paths.data("merra2"), lat, lon, other["regrid"])
    members = range(len(history) if history.ndim == 4 else settings[models_season].members)
    days = stitched.long_run(lambda season: downscaler, merra2, history, dates, members=members)
    described = {"model": args.model, "models_of": models_season, "mode": "long run from a run's history"}
    stitched.write_long_run(out, days, dates[0], lat, lon, len(members), described, source, logging.getLogger())


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--longrun", type=Path, required=True, help="a finished long run (netCDF)")
    parser.add_argument("--truth", type=Path, default=None, help="the known truth (default: the synthetic world's)")
    parser.add_argument("--boundary", required=True, help="a season's first day inside the run")
    parser.add_argument("--days", type=int, default=15)
    parser.add_argument("--model", default=None, help="default: the config's method")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--history",
        choices=["run", "truth"],
        default="run",
        help="run: each member's own days before the boundary; truth: the known truth's (the models' "
        "dynamics without what the run handed over)",
    )
    args = parser.parse_args()
    config = load_config(args.config)
    args.model = args.model or config["method"]
    args.area = args.area or config["longrun"]["areas"][0]
    boundary = pd.Timestamp(args.boundary)
    dates = pd.date_range(boundary, periods=args.days)
    new, previous = season_of(dates[:1])[0], season_of([boundary - pd.Timedelta(days=1)])[0]
    if new == previous:
        raise SystemExit(f"--boundary {args.boundary}: not a season's first day")
    truth = args.truth or Path(config["synthetic"]["outdir"]) / "verification" / "g5nr_after_record.nc"
    log_floor = config["ingest"]["log_floor"]
    n_lag = config["splits"]["n_lag"]
    history = (
        members_history(args.longrun, boundary, n_lag, log_floor)
        if args.history == "run"
        else truth_history(truth, *run_grid(args.longrun), boundary, n_lag, log_floor)
    )
    paths = DemoPaths(args.results, new, args.area)
    training = {new: SeasonTraining.read(paths.data("g5nr"), paths.data("merra2_on_g5nr"), paths.split("g5nr"))}
    print_machine(pick_device("cpu", args.threads))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for models_season in (new, previous):
            out = Path(folder) / f"{models_season}.nc"
            rerun(args, config, models_season, history, dates, out)
            skill = longrun_skill(
                out, truth, paths.data("g5nr"), paths.data("merra2"), log_floor, config["ingest"]["regrid"], training
            )
            skill["block"] = (skill["date"] - boundary).dt.days // 5
            for _, days in skill.groupby("block"):
                rows.append(
                    (
                        f"{models_season}'s",
                        f"{days['date'].iloc[0]:%m-%d}..{days['date'].iloc[-1]:%m-%d}",
                        *(f"{days[score].mean():+.4f}" for score in SCORES),
                        f"{days['interp_mm_rmse'].mean():.4f}",
                        f"{days['interp_mm_bias'].mean():+.4f}",
                    )
                )
    print_table(
        f"{args.model} in {args.area} from {boundary:%Y-%m-%d}, from "
        + (f"each member's own history in {args.longrun}" if args.history == "run" else f"the true history ({truth})"),
        ("models", "days", *SCORES, "interp_mm rmse", "interp_mm bias"),
        rows,
    )


if __name__ == "__main__":
    main()

"""Does a free run keep its fine-scale power? Trained runs side by side, each run freely for a
few weeks from the same known truth: a script that prints a table (not a test).

A long run's members read their own past days as history. Started from the synthetic world's
true days before ``--start`` (after the G5NR record, where the truth is known and the models
were not trained), each run's method model of the season runs ``--days`` days fully
autoregressively, as the workflow's long run does (the spread calibration included where the
config asks for it), and is scored against the truth by five-day block beside the stochastic
``interp_qm``, which no history touches. Give several ``--results`` trained with different
settings (e.g. ``large_model.history_lowpass_px``) to compare their drift on equal terms.

Usage (after runs that trained the season's models, e.g. the demo and a copy with another setting):
    python benchmarks/bench_free_run.py --config config/config.yaml --results results /tmp/other/results \\
        --start 2006-12-01 --days 30 --area west
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd
import xarray as xr
from bench_season_handover import truth_history
from common import REPO, DemoPaths, load_config, pick_device, print_machine, print_table

from downscaling import api
from downscaling.data.splits import season_of
from downscaling.evaluation.longrun import SeasonTraining, longrun_skill
from downscaling.evaluation.scoring import grid_spacing_km
from downscaling.evaluation.spatial import psd_ratio
from downscaling.files.contracts import log10_aod, normalised_dates
from downscaling.files.outputs import SourceVariable
from downscaling.inference import stitched

SCORES = ("rmse", "bias", "crps", "spread_skill", "psd_ratio")


def members_psd_ratio(run_path, truth_path, log_floor: float) -> list[float]:
    """Each day's PSD ratio at 25-80 km of all the members' mean spectrum over the truth's (the
    skill table's psd_ratio is of the first member alone)."""
    ratios = []
    with xr.open_dataset(run_path) as run, xr.open_dataset(truth_path) as truth:
        lat, lon = run["lat"].values, run["lon"].values
        dx, dy = grid_spacing_km(lat, lon)
        on_grid = truth["aod"].sel(lat=lat, lon=lon, method="nearest", tolerance=1e-6)
        truth_days = normalised_dates(on_grid["time"].values)
        for i, date in enumerate(normalised_dates(run["time"].values)):
            members = log10_aod(run["aod_member"].isel(time=i).values, log_floor)
            target = log10_aod(on_grid.isel(time=truth_days.get_loc(date)).values, log_floor)
            ratios.append(psd_ratio(members, target, dx, dy))
    return ratios


def free_run(results: Path, config: dict, area: str, model: str, truth_path, dates, threads: int, out: Path) -> None:
    """``model`` of ``results`` run freely over ``dates`` from the truth's days before them, into ``out``."""
    trained = api.TrainedArea(results, area, model)
    seasons = sorted(set(season_of(dates)))
    settings, other = api.settings_from_config(config, area, model, seasons)
    calibrated = [season for season in seasons if settings[season].calibrate_spread]
    found = trained.season_models(calibrated)
    models = {season: found[season] for season in seasons}
    downscalers = stitched.SeasonalDownscalers(
        models, trained.static, settings, pick_device("cpu", threads), other["seed"]
    )
    with xr.open_dataset(trained.g5nr) as g5nr:
        lat, lon, source = g5nr["lat"].values, g5nr["lon"].values, SourceVariable.of_cube(g5nr.attrs)
    n_lag = downscalers(seasons[0]).n_lag
    history = truth_history(truth_path, lat, lon, dates[0], n_lag, config["ingest"]["log_floor"])
    merra2 = stitched.Merra2OnGrid(DemoPaths(results, seasons[0], area).data("merra2"), lat, lon, other["regrid"])
    days = stitched.long_run(downscalers, merra2, history, dates)
    described = {"model": model, "mode": "free run from the known truth's history"}
    members = next(iter(settings.values())).members
    stitched.write_long_run(out, days, dates[0], lat, lon, members, described, source, logging.getLogger())


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--results", type=Path, nargs="+", required=True, help="results/ folders of trained runs")
    parser.add_argument("--truth", type=Path, default=None, help="the known truth (default: the synthetic world's)")
    parser.add_argument("--start", required=True, help="the first day run (after the G5NR record)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--area", help="default: the config's first area")
    parser.add_argument("--model", default=None, help="default: the config's method")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = load_config(args.config)
    model = args.model or config["method"]
    area = args.area or next(iter(config["areas"]))
    start = pd.Timestamp(args.start)
    dates = pd.date_range(start, periods=args.days)
    truth = args.truth or Path(config["synthetic"]["outdir"]) / "verification" / "g5nr_after_record.nc"
    log_floor = config["ingest"]["log_floor"]
    print_machine(pick_device("cpu", args.threads))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for results in args.results:
            out = Path(folder) / "run.nc"
            free_run(results, config, area, model, truth, dates, args.threads, out)
            training = {}
            for season in sorted(set(season_of(dates))):
                paths = DemoPaths(results, season, area)
                training[season] = SeasonTraining.read(
                    paths.data("g5nr"), paths.data("merra2_on_g5nr"), paths.split("g5nr")
                )
            skill = longrun_skill(
                out, truth, paths.data("g5nr"), paths.data("merra2"), log_floor, config["ingest"]["regrid"], training
            )
            skill["psd_ratio_members"] = members_psd_ratio(out, truth, log_floor)
            skill["block"] = (skill["date"] - start).dt.days // 5
            for _, block in skill.groupby("block"):
                rows.append(
                    (
                        str(results),
                        f"{block['date'].iloc[0]:%m-%d}..{block['date'].iloc[-1]:%m-%d}",
                        *(f"{block[score].mean():{'+' if score == 'bias' else ''}.4f}" for score in SCORES),
                        f"{block['psd_ratio_members'].mean():.3f}",
                        f"{block['interp_qm_stochastic_crps'].mean():.4f}",
                    )
                )
    print_table(
        f"{model} in {area}, free from the known truth's history before {start:%Y-%m-%d} ({truth})",
        ("results", "days", *SCORES, "psd_ratio all members", "stochastic interp_qm crps"),
        rows,
    )


if __name__ == "__main__":
    main()

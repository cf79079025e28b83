"""Does the time covariate leak? A perturbation test on a finished run (a script that prints a
table, not a test).

The models see the date as the decimal year resolved to the day; the authors used the year.
Under the random test design the neighbours of a test day are training targets, so a model
that recalled training days by their date would predict a test day from its neighbours' fields.
Such a model is hurt when the date it is given moves by a few days (it recalls other days),
while a model that uses the date only for slow changes is not. This script downscales every
test day of every season x area (lenient mode, true history) with the date covariate of the
true date, of the date shifted by a few days, and of the authors' resolution (the year's first
day), and prints the RMSE of each beside the true date's.

Usage (after the demo has trained its models):
    python benchmarks/bench_time_covariate.py                 # unet, every season x area
    python benchmarks/bench_time_covariate.py --model ddpm_residual --members 2 --shifts 3
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from common import DemoPaths, load_config, pick_device, print_machine, print_table, results_parser

from downscaling.config_checks import merged_section
from downscaling.data.datasets import year_covariate
from downscaling.evaluation import metrics
from downscaling.inference import stitched


def covariate_of(kind: str):
    """The date covariate a perturbation gives the models: 'true', '+N' / '-N' days, or 'year'."""
    if kind == "true":
        return year_covariate
    if kind == "year":
        return lambda dates: year_covariate([pd.Timestamp(year=pd.Timestamp(d).year, month=1, day=1) for d in dates])
    shift = pd.Timedelta(days=int(kind))
    return lambda dates: year_covariate([pd.Timestamp(d) + shift for d in dates])


def rmse_with_covariate(kind: str, paths: DemoPaths, model: str, settings, device, seed: int) -> float:
    """RMSE (ensemble mean, log10 AOD) of the season's test days with the date covariate ``kind``."""
    truth, merra2, dates, test = paths.test_days()
    original = stitched.year_covariate
    stitched.year_covariate = covariate_of(kind)  # what Downscaler reads for each day
    try:
        downscaler = paths.downscaler(model, settings, device, seed)
        days = list(stitched.downscale_test_days(downscaler, truth.values, merra2.values, dates, test, "lenient"))
    finally:
        stitched.year_covariate = original
    mean = np.stack([members.mean(axis=0) for _, members in days])
    return metrics.rmse(mean, truth.values[test])


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--model", default="unet", help="a trained model (default: unet, no sampling)")
    parser.add_argument("--members", type=int, help="for a diffusion model (default: the config's)")
    parser.add_argument("--shifts", type=int, nargs="+", default=[1, 3, 10], help="days, each applied + and -")
    parser.add_argument("--seasons", nargs="+", help="default: the config's")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = load_config(args.config)
    device = pick_device("cpu", args.threads)
    print_machine(device)
    kinds = ["true", *(f"{sign}{days}" for days in args.shifts for sign in "+-"), "year"]
    rows = []
    for season in args.seasons or config["seasons"]:
        for area in [args.area] if args.area else config["areas"]:
            paths = DemoPaths(args.results, season, area)
            paths.require(*paths.model_files(args.model), paths.data("g5nr"))
            settings = stitched.InferenceSettings.from_config(
                merged_section(config, "inference", season, area, args.model)
            )
            if args.members:
                settings = dataclasses.replace(settings, members=args.members)
            scores = {
                kind: rmse_with_covariate(kind, paths, args.model, settings, device, config["seed"]) for kind in kinds
            }
            rows.append(
                (
                    f"{season} {area}",
                    f"{scores['true']:.4f}",
                    *(f"{scores[kind] / scores['true']:.3f}" for kind in kinds[1:]),
                )
            )
    print_table(
        f"{args.model}, lenient: RMSE with the true date, and with a perturbed date over it",
        ("season area", "RMSE (true date)", *(f"{kind} d" if kind != "year" else "year only" for kind in kinds[1:])),
        rows,
    )


if __name__ == "__main__":
    main()

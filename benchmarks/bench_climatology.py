"""Per-pixel climatology inputs side by side with the paper's inputs (a script that prints a
table, not a test).

A per-pixel quantile map of MERRA-2 (`interp_qm`) knows each pixel's climatology and bias; a
network that sees 16-px tiles with lat/lon channels must learn them as a function of position
from one season of G5NR. The training setting `climatology_inputs` gives the large models four
more condition channels: each pixel's mean and standard deviation of G5NR and of MERRA-2 over
the season's training days, and the day's MERRA-2 matched to those moments; `predict_anomaly`
makes the network learn G5NR minus that matched MERRA-2. This script trains each model given
with the first setting (+clim) and with both (+anom; for a residual model, its base predicts
the anomaly), otherwise with the config's settings for the model on the demo's features and
splits, downscales the season's test days (lenient: true history) with them and with the
demo's model trained without, and prints RMSE of the (ensemble) mean and CRPS (fair; MAE for
one member) beside the matched MERRA-2 itself and the demo's `interp_qm` and
`interp_qm_stochastic` on the same days.

Usage (after the demo has trained its models):
    python benchmarks/bench_climatology.py                       # unet, ddpm_notransfer, every season x area
    python benchmarks/bench_climatology.py --models ddpm_residual --seasons JJA --areas west
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import DemoPaths, load_config, pick_device, print_load_at_end, print_machine, print_table, results_parser

from downscaling import paths, variants
from downscaling.config_checks import merged_section
from downscaling.data import transfer_features
from downscaling.data.datasets import MinMax, load_area_fields, matched_merra2
from downscaling.evaluation import metrics
from downscaling.inference import stitched
from downscaling.training import large_model_stage
from downscaling.training.loop import TrainingRun
from downscaling.training.settings import StageSettings

LOG = logging.getLogger("bench_climatology")


KINDS = {"+clim": {"climatology_inputs": True}, "+anom": {"climatology_inputs": True, "predict_anomaly": True}}


def train_with_climatology(model: str, kind: str, paths: DemoPaths, config: dict, folder: Path, device) -> Path:
    """`model` (and a residual model's base, first) trained with the settings of KINDS[kind]
    into `folder`, with the config's settings otherwise; the path of its checkpoint."""
    folder.mkdir(exist_ok=True)
    base = variants.VARIANTS[model].residual_of
    if base and not (folder / f"{base}.pt").exists():
        train_with_climatology(base, kind, paths, config, folder, device)
    settings = dict(KINDS[kind])
    if base:
        settings.pop("predict_anomaly", None)  # a residual model learns the difference from its base
    section = {**merged_section(config, "large_model", paths.season, paths.area, model), **settings}
    features, index = paths.features()
    inputs = {name: paths.data(name) for name in ("g5nr", "merra2_on_g5nr", "static")}
    inputs.update(features=features, index=index, small_unet=paths.model("small_unet"))
    if base:
        inputs["base"] = folder / f"{base}.pt"
    started = time.perf_counter()
    large_model_stage.train(
        model,
        inputs,
        StageSettings.from_section(section, config["seed"]),
        config["tiles"]["size"],
        config["seed"],
        TrainingRun(folder / f"{model}.ckpt", folder / f"{model}.pt", device, LOG, "bench"),
    )
    LOG.warning("%s %s %s %s: trained in %.0f s", model, kind, paths.season, paths.area, time.perf_counter() - started)
    return folder / f"{model}.pt"


def test_day_scores(downscaler, truth, merra2, dates, test) -> tuple[float, float]:
    """(RMSE of the mean, fair CRPS or MAE for one member) over the test days, lenient."""
    days = [members for _, members in stitched.downscale_test_days(downscaler, truth, merra2, dates, test, "lenient")]
    members = np.stack(days, axis=1)  # (M, D, H, W)
    target = truth[np.sort(test)]
    spread_score = metrics.crps_fair(members, target) if len(members) > 1 else metrics.mae(members[0], target)
    return metrics.rmse(members.mean(axis=0), target), spread_score


def matched_merra2_scores(paths: DemoPaths, test) -> tuple[float, float]:
    """(RMSE, MAE) of the day's MERRA-2 matched to each pixel's G5NR moments of the training
    days (the anomaly models' base) over the test days: the per-day means of the demo's tables."""
    _, index = transfer_features.load(*paths.features())
    fields, norm = load_area_fields(
        paths.data("g5nr"),
        paths.data("merra2_on_g5nr"),
        paths.data("static"),
        train_dates=index.date.unique(),
        climatology=True,
    )
    g5nr = MinMax.from_dict(norm["g5nr"])
    scores = []
    for day in test:
        covariates = torch.from_numpy(fields.condition(day))[None]
        matched = g5nr.invert(matched_merra2(covariates)[0, 0].numpy())
        truth = g5nr.invert(fields.target[day])
        scores.append((metrics.rmse(matched, truth), metrics.mae(matched, truth)))
    return tuple(np.mean(scores, axis=0))


def baseline_scores(results: Path, model: str, season: str, area: str) -> tuple[float, float]:
    """The demo's (RMSE, CRPS or MAE) of a baseline over its lenient test days (per-day means)."""
    table = pd.read_csv(paths.per_day(model, season, area, "lenient", results=results))
    return table.rmse.mean(), table["crps"].mean() if "crps" in table else table.mae.mean()


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--models", nargs="+", default=["unet", "ddpm_notransfer"])
    parser.add_argument("--seasons", nargs="+", help="default: the config's")
    parser.add_argument("--areas", nargs="+", help="default: the config's")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = load_config(args.config)
    device = pick_device("cpu", args.threads)
    print_machine(device)
    rows = []
    for season in args.seasons or config["seasons"]:
        for area in args.areas or config["areas"]:
            paths = DemoPaths(args.results, season, area)
            truth, merra2, dates, test = paths.test_days()
            qm = baseline_scores(args.results, "interp_qm", season, area)
            qm_stochastic = baseline_scores(args.results, "interp_qm_stochastic", season, area)
            matched = matched_merra2_scores(paths, test)
            with tempfile.TemporaryDirectory() as folder:
                for model in args.models:
                    paths.require(*paths.model_files(model), *paths.features())
                    settings = stitched.InferenceSettings.from_config(
                        merged_section(config, "inference", season, area, model)
                    )
                    base = variants.VARIANTS[model].residual_of
                    checkpoints = {"paper": (paths.model(model), base and paths.model(base))}
                    for kind in KINDS:
                        trained = Path(folder) / kind
                        checkpoints[kind] = (
                            train_with_climatology(model, kind, paths, config, trained, device),
                            base and trained / f"{base}.pt",
                        )
                    scores = {}
                    for kind, (model_path, base_path) in checkpoints.items():
                        downscaler = stitched.Downscaler(
                            model_path,
                            paths.model("small_unet"),
                            paths.data("static"),
                            settings,
                            device,
                            config["seed"],
                            base_path,
                        )
                        scores[kind] = test_day_scores(downscaler, truth.values, merra2.values, dates, test)
                    rows.append(
                        (
                            f"{season} {area}",
                            model,
                            len(test),
                            *(f"{scores[kind][0]:.4f}" for kind in checkpoints),
                            f"{matched[0]:.4f}",
                            f"{qm[0]:.4f}",
                            *(f"{scores[kind][1]:.4f}" for kind in checkpoints),
                            f"{matched[1]:.4f}",
                            f"{qm[1]:.4f}",
                            f"{qm_stochastic[1]:.4f}",
                        )
                    )
                    print(rows[-1], flush=True)
    print_table(
        "test days, lenient: RMSE of the (ensemble) mean and CRPS (MAE for one member), log10 AOD; paper: the "
        "demo's model; mm = matched MERRA-2; qm = the demo's interp_qm, qm-s = interp_qm_stochastic",
        (
            "season area",
            "model",
            "days",
            "RMSE paper",
            "+clim",
            "+anom",
            "mm",
            "qm",
            "CRPS paper",
            "+clim",
            "+anom",
            "MAE mm",
            "qm",
            "CRPS qm-s",
        ),
        rows,
    )
    print_load_at_end()


if __name__ == "__main__":
    main()

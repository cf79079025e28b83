"""Probabilistic skill of the method against its training budget (epochs of its large model),
side by side in one run (a script that prints a table, not a test).

One season x area of the demo. The large model (default: the config's method) is trained once
in a temporary folder through the library's own entry point (``large_model_stage.train``, the
config's settings); at each budget of ``--epochs`` (ascending) training stops and its model is
kept, then training resumes from the loop's checkpoint to the next budget. Nothing in the loop
reads ``max_epochs`` but the stopping test (the plateau schedule, the moving average, early
stopping and the epochs' tiles follow the epoch count), so each kept model is the one a run with
``max_epochs`` = that budget trains. For each budget:

- its spread calibration, fitted on its own validation days as rule spread_calibration fits it
  (when the config calibrates the model's spread);
- every test day downscaled lenient (the true history) with the config's sampler and members,
  scored against the G5NR truth as ``bench_sampler.py`` scores: fair CRPS beside the deterministic
  twin's MAE, spread-skill, RMSE of the mean over the twin's, PSD ratio at 25-80 km, seam ratio,
  the rank histogram's smallest and largest bin over uniform;
- the minutes its training took (the epochs' wall time, validation included) and its best
  validation loss.

What a cheaper demo costs in skill: the fewest epochs whose scores have levelled off.

Usage (after the demo has trained the method's base model, small U-Net and features):
    python benchmarks/bench_training_budget.py --season JJA --area west --epochs 5 10 20 30
Options: --model, --threads, --device, --config, --results.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from bench_sampler import downscale
from common import DemoPaths, load_config, pick_device, print_load_at_end, print_machine, print_table, results_parser

from downscaling import variants
from downscaling.config_checks import merged_section
from downscaling.data.datasets import day_index
from downscaling.evaluation import scoring
from downscaling.inference import stitched
from downscaling.training import large_model_stage
from downscaling.training.loop import TrainingRun
from downscaling.training.settings import StageSettings


def train_by_budget(model: str, config: dict, paths: DemoPaths, budgets, device, workdir: Path, log):
    """Yield (epochs, model path, minutes of training so far, best validation loss, validation
    days) at each budget, from one run resumed from budget to budget."""
    seed, tile = config["seed"], config["tiles"]["size"]
    section = merged_section(config, "large_model", paths.season, paths.area, model)
    run = TrainingRun(workdir / "checkpoint.pt", workdir / "model.pt", device, log, "budget")
    for epochs in budgets:
        section.update(max_epochs=epochs)
        settings = StageSettings.from_section(section, seed)
        summary = large_model_stage.train(model, paths.training_inputs(model), settings, tile, seed, run)
        kept = workdir / f"model_{epochs}.pt"
        shutil.copyfile(run.model_path, kept)
        minutes = sum(row["seconds"] for row in summary["history"]) / 60
        yield summary["epochs"], kept, minutes, summary["val_loss"], summary["validation_days"]


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--model", help="a diffusion model (default: the config's method)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 20, 30], help="budgets, ascending")
    parser.add_argument("--threads", type=int, default=1, help="as the rules: 1")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    if sorted(args.epochs) != args.epochs or args.epochs[0] < 1:
        parser.error("--epochs: positive budgets in ascending order")

    config = load_config(args.config)
    area = args.area or next(iter(config["areas"]))
    model = args.model or config.get("method") or "ddpm"
    if not variants.VARIANTS[model].diffusion:
        parser.error(f"--model {model}: not a diffusion model (no ensemble to score)")
    paths = DemoPaths(args.results, args.season, area)
    twin = variants.deterministic_twin(model)
    paths.require(*paths.training_inputs(model).values(), *paths.model_files(twin))
    device = pick_device(args.device, args.threads)
    print_machine(device)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log = logging.getLogger("bench_training_budget")

    truth, merra2, dates, test = paths.test_days()
    observed, lat, lon = truth.values[test], truth["lat"].values, truth["lon"].values
    cubes, seed = (truth, merra2, dates), config["seed"]
    settings = stitched.InferenceSettings.from_config(merged_section(config, "inference", args.season, area, model))

    det, _, _ = downscale(paths, twin, settings, device, seed, cubes, test)
    twin_scores = scoring.field_scores(det, observed, lat, lon, settings.stride, seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="budget_") as workdir:
        workdir = Path(workdir)
        for epochs, checkpoint, minutes, val_loss, validation_days in train_by_budget(
            model, config, paths, args.epochs, device, workdir, log
        ):
            calibration = None
            if settings.calibrate_spread:
                fitted = stitched.fit_spread_calibration(
                    paths.downscaler(model, settings.for_spread_fitting(), device, seed, checkpoint),
                    truth.values,
                    merra2.values,
                    dates,
                    day_index(truth, validation_days),
                )
                calibration = workdir / f"spread_calibration_{epochs}.json"
                fitted.save(calibration)
            fields, _, _ = downscale(paths, model, settings, device, seed, cubes, test, checkpoint, calibration)
            s = scoring.field_scores(fields, observed, lat, lon, settings.stride, seed)
            rows.append(
                (
                    epochs,
                    f"{minutes:.1f}",
                    f"{val_loss:.5f}",
                    f"{s['crps']:.4f}",
                    f"{twin_scores['mae']:.4f}",
                    f"{1 - s['crps'] / twin_scores['mae']:.1%}",
                    f"{s['spread_skill']:.3f}",
                    f"{s['rmse'] / twin_scores['rmse']:.3f}",
                    f"{s['psd_ratio']:.3f}",
                    f"{s['seam_ratio']:.3f}",
                    "{:.2f}-{:.2f}".format(*s["rank_extremes"]),
                )
            )
            log.info("budget scored: %s", " ".join(map(str, rows[-1])))
    print_table(
        f"{model}, {args.season} {area}: training budget against skill, lenient, {len(test)} test days, "
        f"{settings.members} members, {settings.sampler} {settings.steps} steps, "
        f"spread calibration {'fitted per budget' if settings.calibrate_spread else 'off'}",
        (
            "epochs",
            "training min",
            "best val loss",
            "CRPS",
            "MAE twin",
            "CRPS below twin",
            "spread-skill",
            "RMSE / twin",
            "PSD ratio 25-80 km",
            "seam ratio",
            "rank bins min-max",
        ),
        rows,
    )
    print_load_at_end()


if __name__ == "__main__":
    main()

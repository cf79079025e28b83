"""Probabilistic skill and cost of the sampler against its number of steps and members, side by
side in one run (a script that prints a table, not a test).

One season x area's trained diffusion model (default: the config's method model, with the
deterministic model it builds on for a residual variant), lenient mode (true history), all the
season's test days, the workflow's seed. For each (steps, members) it downscales every test day
and prints, against the G5NR truth on log10 AOD:

- CRPS (fair) and the MAE of the ensemble mean; the MAE of the model's deterministic
  twin beside them (``variants.deterministic_twin``: a residual model's base);
- the spread-skill ratio (1 = reliable, < 1 under-dispersed) and the spread-error slope (1 when
  the spread says where the error is large; 4 members or more);
- the RMSE of the ensemble mean over the twin's, and its bias (mean minus G5NR);
- the PSD ratio of member 1 over G5NR at 25-80 km (1 = realistic texture, < 1 too smooth);
- the seam ratio (tile-period signature; about 1 without seams);
- the rank histogram's smallest and largest bin over the uniform share;
- seconds per day.

Choose the demo default from this curve: the fewest steps and members whose scores have
levelled off.

Usage (after the demo has trained its models):
    python benchmarks/bench_sampler.py --season JJA --area west
    python benchmarks/bench_sampler.py --steps 1 2 4 8 16 32 --members 8 --model ddpm_residual
    python benchmarks/bench_sampler.py --steps 8 --precision float32 bfloat16
    python benchmarks/bench_sampler.py --sampler ddim dpmpp2m --spacing linspace logsnr --steps 8 16
    python benchmarks/bench_sampler.py --sampler ddpm --steps 1000 --days 4  # the authors' sampler
Options: --eta, --sampler, --spacing, --stride, --halo, --precision, --days, --threads, --device, --config,
--results.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
from common import DemoPaths, load_config, pick_device, print_load_at_end, print_machine, print_table, results_parser

from downscaling import variants
from downscaling.config_checks import merged_section
from downscaling.diffusion.samplers import SAMPLERS, Sampler
from downscaling.evaluation import scoring
from downscaling.inference import stitched


def downscale(
    paths: DemoPaths, model: str, settings, device, seed: int, cubes, test, checkpoint=None, spread_calibration=None
):
    """Members (M, T, H, W) of every test day, seconds per day, and network passes per tile and
    day (the sampler's timesteps: a spacing may merge two of the steps asked for);
    ``checkpoint`` and ``spread_calibration`` as ``DemoPaths.downscaler`` takes them."""
    truth, merra2, dates = cubes
    downscaler = paths.downscaler(model, settings, device, seed, checkpoint, spread_calibration)
    start = time.perf_counter()
    days = list(stitched.downscale_test_days(downscaler, truth.values, merra2.values, dates, test, "lenient"))
    seconds = (time.perf_counter() - start) / len(days)
    passes = len(downscaler.sampler.timesteps) if downscaler.variant.diffusion else 1
    return np.stack([members for _, members in days], axis=1), seconds, passes


def bias(members: np.ndarray, observed: np.ndarray) -> float:
    """Mean of the ensemble mean minus G5NR (log10): a shift the spread does not cover tilts
    the rank histogram to one side."""
    return float(np.mean(members.mean(axis=0) - observed))


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--model", help="a diffusion model (default: the config's method)")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--members", type=int, nargs="+", default=None, help="default: the config's")
    parser.add_argument("--sampler", nargs="+", choices=SAMPLERS, help="default: the config's")
    parser.add_argument(
        "--spacing", nargs="+", choices=Sampler.SPACINGS, help="timestep spacing (default: the config's)"
    )
    parser.add_argument(
        "--eta",
        type=float,
        nargs="+",
        help="the noise of ddim and dpmpp2m steps, 0 deterministic to 1 ancestral (default: the config's)",
    )
    parser.add_argument("--stride", type=int)
    parser.add_argument("--halo", type=int)
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=["auto", "float32", "bfloat16"],
        help="the network passes' arithmetic (default: the config's)",
    )
    parser.add_argument(
        "--days", type=int, help="score only this many test days, evenly spaced (for slow samplers; default: all)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()

    config = load_config(args.config)
    area = args.area or next(iter(config["areas"]))
    model = args.model or config.get("method") or "ddpm"
    paths = DemoPaths(args.results, args.season, area)
    twin = variants.deterministic_twin(model)  # the deterministic model scored beside it
    paths.require(*paths.model_files(model), *paths.model_files(twin), paths.data("g5nr"))
    device = pick_device(args.device, args.threads)
    print_machine(device)

    truth, merra2, dates, test = paths.test_days()
    if args.days and args.days < len(test):
        test = test[np.linspace(0, len(test) - 1, args.days).round().astype(int)]
    observed = truth.values[test]
    lat, lon = truth["lat"].values, truth["lon"].values
    cubes = (truth, merra2, dates)
    configured = stitched.InferenceSettings.from_config(merged_section(config, "inference", args.season, area, model))
    overrides = {k: v for k, v in (("stride", args.stride), ("halo", args.halo)) if v is not None}
    configured = dataclasses.replace(configured, **overrides)

    det, det_seconds, _ = downscale(paths, twin, configured, device, config["seed"], cubes, test)
    twin_scores = scoring.field_scores(det, observed, lat, lon, configured.stride, config["seed"])
    rows = [
        (
            f"{twin} (deterministic)",
            "-",
            configured.precision,
            "-",
            "-",
            1,
            1,
            "-",
            f"{twin_scores['mae']:.4f}",
            f"{twin_scores['mae']:.4f}",
            f"{bias(det, observed):+.4f}",
            "-",
            "-",
            "1.000",
            f"{twin_scores['psd_ratio']:.3f}",
            f"{twin_scores['seam_ratio']:.3f}",
            "-",
            f"{det_seconds:.2f}",
        )
    ]
    runs = itertools.product(
        args.sampler or [configured.sampler],
        args.spacing or [configured.timestep_spacing],
        args.precision or [configured.precision],
        args.eta or [configured.eta],
        args.members or [configured.members],
        args.steps,
    )
    for sampler, spacing, precision, eta, members, steps in runs:
        settings = dataclasses.replace(
            configured,
            sampler=sampler,
            timestep_spacing=spacing,
            steps=steps,
            members=members,
            precision=precision,
            eta=eta,
        )
        fields, seconds, passes = downscale(paths, model, settings, device, config["seed"], cubes, test)
        s = scoring.field_scores(fields, observed, lat, lon, settings.stride, config["seed"])
        rows.append(
            (
                model,
                f"{sampler} {spacing}",
                precision,
                eta if sampler in ("ddim", "dpmpp2m") else "-",
                steps,
                passes,
                members,
                f"{s['crps']:.4f}",
                f"{s['mae']:.4f}",
                f"{twin_scores['mae']:.4f}",
                f"{bias(fields, observed):+.4f}",
                f"{s['spread_skill']:.3f}",
                "-" if s.get("spread_error_slope") is None else f"{s['spread_error_slope']:.2f}",
                f"{s['rmse'] / twin_scores['rmse']:.3f}",
                f"{s['psd_ratio']:.3f}",
                f"{s['seam_ratio']:.3f}",
                "{:.2f}-{:.2f}".format(*s["rank_extremes"]),
                f"{seconds:.2f}",
            )
        )
    print_table(
        f"{args.season} {area}, lenient, {len(test)} test days, stride {configured.stride}, halo {configured.halo}",
        (
            "model",
            "sampler",
            "precision",
            "eta",
            "steps",
            "passes",
            "members",
            "CRPS",
            "MAE (mean)",
            "MAE twin",
            "bias (mean)",
            "spread-skill",
            "spread-error slope",
            "RMSE / twin",
            "PSD ratio 25-80 km",
            "seam ratio",
            "rank bins min-max",
            "s / day",
        ),
        rows,
    )
    print_load_at_end()


if __name__ == "__main__":
    main()

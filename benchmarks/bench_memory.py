"""Peak memory of one strict-mode day of inference against the area and the number of members,
side by side in one run (a script that prints a table, not a test).

Each case runs in a process of its own (its peak RSS is the process's maximum resident set),
with untrained models of the given sizes (memory does not depend on the weights): the paper's
small U-Net (transfer features of width 256) and the demo-size denoiser against area and
members, then the paper-size denoiser: one batch, and the whole Arabian day with 8 members
(bfloat16 autocast where the CPU has it, as inference.precision auto). Activations are bounded
by the batch (inference.memory_budget_mb) whatever the area; conditions are held when they fit
the budget and built per batch otherwise; the members' own transfer features are held for as
many members as fit the budget, the members sampled group after group. One denoising step: the
step count does not change the peak.

Usage:
    python benchmarks/bench_memory.py                    # the paper's Arabian area, 1-8 members, 1/4-1 area
    python benchmarks/bench_memory.py --no-paper-day     # without the paper-size whole day
    python benchmarks/bench_memory.py --budget-mb 1024 16000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import print_machine, print_table

SMALL_UNET = {"in_channels": 40, "channels": (64, 128, 256), "res_blocks": 2, "attention": True, "groups": 8}
DENOISERS = {
    "demo": {"channels": [8, 16, 32], "res_blocks": 1, "attention": True, "groups": 4},
    "paper": {"channels": [128, 256, 512], "res_blocks": 2, "attention": True, "groups": 8},
}
ARABIA = (432, 357)  # the paper's Arabian area on the G5NR grid (pixels)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def one_case(case: dict) -> dict:
    """Run one case in this process: write untrained checkpoints, downscale one day."""
    import numpy as np
    import pandas as pd
    import torch
    import xarray as xr

    from downscaling import variants
    from downscaling.data.datasets import MinMax
    from downscaling.inference import stitched
    from downscaling.models.small_unet import SmallUNet
    from downscaling.training import large_model_stage, small_unet_stage
    from downscaling.training.settings import NetworkSettings, StageSettings

    torch.set_num_threads(case["threads"])
    height, width, members = case["height"], case["width"], case["members"]
    folder = Path(tempfile.mkdtemp())
    lat, lon = 20 + 0.0625 * np.arange(height), 40 + 0.0625 * np.arange(width)
    xr.Dataset(
        {"elevation": (("lat", "lon"), np.random.default_rng(0).uniform(0, 2000, (height, width)).astype(np.float32))},
        coords={"lat": lat, "lon": lon},
    ).to_netcdf(folder / "static.nc")
    torch.manual_seed(0)
    norm = MinMax(-4.0, 0.5)
    small_unet_stage.save(folder / "small.pt", SmallUNet(**SMALL_UNET).state_dict(), SMALL_UNET, norm, 40, 16, "bench")
    stage = StageSettings(
        NetworkSettings.from_section(DENOISERS[case["denoiser"]]), timesteps=2000, schedule="squaredcos_cap_v2"
    )
    variant = variants.VARIANTS["ddpm"]
    model = large_model_stage.build(variant, SMALL_UNET["channels"][-1], large_model_stage.model_kwargs(variant, stage))
    norms = {"g5nr": norm.to_dict(), "merra2": norm.to_dict(), "elevation": {"lo": 0.0, "hi": 2000.0}}
    large_model_stage.save(
        folder / "ddpm.pt", model.state_dict(), "ddpm", stage, SMALL_UNET["channels"][-1], norms, 16, "bench"
    )
    del model
    settings = stitched.InferenceSettings(
        steps=1, members=members, stride=4, halo=4, precision=case["precision"], memory_budget_mb=case["budget_mb"]
    )
    downscaler = stitched.Downscaler(
        folder / "ddpm.pt", folder / "small.pt", folder / "static.nc", settings, torch.device("cpu"), seed=1
    )
    rng = np.random.default_rng(1)
    merra2 = rng.normal(-1.5, 0.3, (height, width)).astype(np.float32)
    history = rng.normal(-1.5, 0.3, (members, 40, height, width)).astype(np.float32)
    before = peak_mb()
    start = time.perf_counter()
    if case["one_batch"]:  # the denoiser's own peak: one batch of tiles through it
        cond = torch.rand(downscaler.batch, downscaler.model.cond_channels, 16, 16)
        with torch.inference_mode():
            downscaler.model(cond, torch.randn(downscaler.batch, 1, 16, 16), 999)
    else:
        downscaler.predict_day(merra2, pd.Timestamp("2007-07-01"), history, 0)
    groups = downscaler.member_groups(list(range(members)), own_history=members > 1)
    return {
        "tiles": downscaler.grid.n_tiles,
        "batch": downscaler.batch,
        "groups": len(groups),
        "before_mb": before,
        "peak_mb": peak_mb(),
        "seconds": time.perf_counter() - start,
    }


def run_case(case: dict) -> dict:
    result = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--area-fractions", type=float, nargs="+", default=[0.25, 1.0])
    parser.add_argument("--budget-mb", type=int, nargs="+", default=[1024])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--paper-day",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the paper-size denoiser's whole day at the most members (~16 min on 2 CPU cores)",
    )
    args = parser.parse_args()
    if args.case:
        print(json.dumps(one_case(json.loads(args.case))))
        return
    print_machine()
    rows = []

    def measured(height, width, members, budget, denoiser, precision, one_batch=False):
        r = run_case(
            {
                "height": height,
                "width": width,
                "members": members,
                "budget_mb": budget,
                "denoiser": denoiser,
                "precision": precision,
                "one_batch": one_batch,
                "threads": args.threads,
            }
        )
        rows.append(
            (
                f"{height} x {width}",
                "one batch" if one_batch else members,
                budget,
                denoiser,
                precision,
                r["tiles"],
                r["batch"],
                "" if one_batch else r["groups"],
                f"{r['before_mb']:.0f}",
                f"{r['peak_mb']:.0f}",
                f"{r['seconds']:.1f}",
            )
        )
        return r

    for budget in args.budget_mb:
        for fraction in args.area_fractions:
            height, width = (round(side * fraction**0.5) for side in ARABIA)
            for members in args.members:
                measured(height, width, members, budget, "demo", "float32")
        # the paper's default precision (auto: bfloat16 on CPUs with AVX512-BF16 or AMX)
        r = measured(*ARABIA, 1, budget, "paper", "auto", one_batch=True)
        if args.paper_day:
            measured(*ARABIA, max(args.members), budget, "paper", "auto")
    print_table(
        "one strict-mode day, stride 4, paper small U-Net (features 256 x 4 x 4), 1 denoising step",
        (
            "area (px)",
            "members",
            "budget MB",
            "denoiser",
            "precision",
            "tiles",
            "batch",
            "member groups",
            "RSS before MB",
            "peak RSS MB",
            "seconds",
        ),
        rows,
    )
    # Planning: the denoiser passes of 25 years of the Arabian area at the paper's inference
    # settings, at the paper-size denoiser's throughput measured above (one batch, this device).
    tiles_per_second = r["batch"] / r["seconds"]
    days, members, steps = 25 * 365.25, 8, 50
    passes = days * members * steps * r["tiles"]
    print_table(
        "planning: 25 years of the Arabian area, stride 4, 8 members, 50 DDIM steps (config/paper.yaml)",
        ("tile passes of the denoiser", "paper-size tiles / s here", "hours here", "members side by side"),
        [
            (
                f"{passes:.3g}",
                f"{tiles_per_second:.0f}",
                f"{passes / tiles_per_second / 3600:.3g}",
                f"{passes / tiles_per_second / 3600 / members:.3g} h wall on {members} devices",
            )
        ],
    )


if __name__ == "__main__":
    main()

"""Where does a free run's fine-scale power come from? One day of a finished long run drawn
again from different histories: a script that prints a table (not a test).

Each member of a long run reads its own past days. On ``--date`` this script draws every member
again with the same models and noise from (a) its own 40 days in the run, (b) the known truth's,
(c) its own days read by the residual model and the truth's by its mean, (d) the reverse, and
(e, f) the own and true days through a Gaussian low-pass of ``--lowpass`` px (models trained on
the full history: how much of their fine-scale power they copy from it). Scores against the
truth: the members' PSD ratio at 25-80 km (mean over members), the ensemble mean's RMSE. For
a residual method whose mean reads the history itself (the fine-tuned variants).

Usage (after a long run, e.g. config/longrun_long.yaml):
    python benchmarks/bench_history_feedback.py --results /path/to/run/results \\
        --config /path/to/run/config.yaml \\
        --longrun /path/to/run/results/longrun/west/2006-06-17_2006-12-31.nc --date 2006-12-31
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from bench_season_handover import members_history, run_grid, truth_history
from common import DemoPaths, load_config, pick_device, print_machine, print_table, results_parser

from downscaling import api
from downscaling.data.datasets import lowpass_history
from downscaling.data.splits import season_of
from downscaling.data.tiling import FieldTiles
from downscaling.evaluation import metrics
from downscaling.evaluation.scoring import grid_spacing_km
from downscaling.evaluation.spatial import psd_ratio
from downscaling.inference import stitched


class BaseReading:
    """The residual model's base network reading another history than the one the Downscaler
    was given: its tiles in the order the Downscaler asks for the means (one member a call)."""

    def __init__(self, base, history_tiles: FieldTiles):
        self.base, self.tiles, self.scale, self.row = base, history_tiles, base.scale, 0

    def __call__(self, read, covariates):
        out = self.base(self.tiles.rows(self.row, self.row + len(read)), covariates)
        self.row += len(read)
        return out


def members_from(downscaler, merra2, date, seed, own, true, model_history, base_history) -> np.ndarray:
    """Each member drawn with the model reading model_history(own[m], true) and its base
    base_history(own[m], true) (None: the same history)."""
    base, fields = downscaler.base, []
    for member in range(len(own)):
        read = model_history(own[member : member + 1], true)
        if base_history is not None:
            tiles = downscaler.history_tiles(base_history(own[member : member + 1], true))
            downscaler.base = BaseReading(base, tiles)
        fields.append(downscaler.predict_day(merra2, date, read, seed, [member])[0])
        downscaler.base = base
    return np.stack(fields)


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--longrun", type=Path, required=True, help="a finished long run (netCDF)")
    parser.add_argument("--truth", type=Path, default=None, help="the known truth (default: the synthetic world's)")
    parser.add_argument("--date", required=True, help="a day of the run with n_lag run days before it")
    parser.add_argument("--lowpass", type=float, default=3.0, help="sigma in pixels of the low-pass rows")
    parser.add_argument("--model", default=None, help="default: the config's method")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = load_config(args.config)
    model = args.model or config["method"]
    area = args.area or config["longrun"]["areas"][0]
    date = pd.Timestamp(args.date)
    season = season_of([date])[0]
    truth = args.truth or Path(config["synthetic"]["outdir"]) / "verification" / "g5nr_after_record.nc"
    log_floor, n_lag = config["ingest"]["log_floor"], config["splits"]["n_lag"]
    own = members_history(args.longrun, date, n_lag, log_floor)  # (M, n_lag, H, W)
    lat, lon = run_grid(args.longrun)
    true = truth_history(truth, lat, lon, date, n_lag, log_floor)[None]  # (1, n_lag, H, W)
    target = truth_history(truth, lat, lon, date + pd.Timedelta(days=1), n_lag, log_floor)[-1]
    trained = api.TrainedArea(args.results, area, model)
    settings, other = api.settings_from_config(config, area, model, [season])
    calibrated = [season] if settings[season].calibrate_spread else []
    device = pick_device("cpu", args.threads)
    checkpoint, small_unet, base, calibration = trained.season_models(calibrated)[season]
    downscaler = stitched.Downscaler(
        checkpoint, small_unet, trained.static, settings[season], device, other["seed"], base, calibration
    )
    if downscaler.base is None or not downscaler.variant.trains_encoder:
        raise SystemExit(f"{model}: not a residual model whose mean reads the history itself")
    merra2 = stitched.Merra2OnGrid(DemoPaths(args.results, season, area).data("merra2"), lat, lon, other["regrid"])(
        date
    )
    seed, (dx, dy) = stitched.day_seed(other["seed"], date), grid_spacing_km(lat, lon)

    def lowpass(days):
        return lowpass_history(days, args.lowpass)

    cases = (
        ("own", lambda o, t: o, None),
        ("true", lambda o, t: t, None),
        ("own (residual model), true (mean)", lambda o, t: o, lambda o, t: t),
        ("true (residual model), own (mean)", lambda o, t: t, lambda o, t: o),
        (f"own, low-passed {args.lowpass:g} px", lambda o, t: lowpass(o), None),
        (f"true, low-passed {args.lowpass:g} px", lambda o, t: lowpass(t), None),
    )
    print_machine(device)
    rows = []
    for name, model_history, base_history in cases:
        members = members_from(downscaler, merra2, date, seed, own, true, model_history, base_history)
        rows.append(
            (
                name,
                f"{np.mean([psd_ratio(m, target, dx, dy) for m in members]):.3f}",
                f"{metrics.rmse(members.mean(axis=0), target):.4f}",
            )
        )
    print_table(
        f"{model} in {area} on {date:%Y-%m-%d} ({len(own)} members), each drawn from the history named",
        ("history read", "PSD ratio 25-80 km", "RMSE of the mean"),
        rows,
    )


if __name__ == "__main__":
    main()

r"""Training throughput and the data-loading share of a training step, plus feature-extraction
throughput (a script that prints tables, not a test).

On the demo's ingested data (results/data, results/splits, results/features) for one season x
area, with the config's model sizes, batch sizes and tiles per epoch, a few epochs of

- the small U-Net (``small_unet_stage.train``: 40 MERRA-2 lags -> next day, native grid),
- the large models (``large_model_stage.train``; ``ddpm`` by default, ``--models`` adds ``ddpm_residual``
  (on the demo's trained ``unet``), ``ddpm_notransfer`` and ``unet``), reading the transfer features from the
  extraction stage's memory map,

run through the library's real training entry points into a temporary folder, once per
``--precision`` (float32, bfloat16 autocast, or auto as the workflow does), side by side. The training
loop's own bookkeeping gives the share of step time spent fetching batches (``data_share`` of
``FitResult``, as in the per-epoch log line). Training epochs are timed by wrapping the loop's
epoch function, so tiles/s excludes validation (timed apart); it is the median over the epochs
after the first (warm-up) one. Goal: data share < 10 % (mean over all epochs; the largest
epoch's share is printed beside).

Feature extraction: cutting G5NR histories into tiles (``features.history_tiles``) and the
frozen encoder (``features.encode``) timed apart on the first ``--feature-days`` training days,
then the whole ``features.extract`` of the season x area (float16 memory map written).

When the demo wrote them, the figures logged by its own training jobs (training.json of the large
models, the per-epoch log of the small U-Net) and Snakemake's benchmark files are printed beside.

Usage (after the demo has produced the season x area's features):
    python benchmarks/bench_training.py --season JJA --area west
    python benchmarks/bench_training.py --season JJA --area west --epochs 6 \
        --models small_unet ddpm ddpm_notransfer unet
    python benchmarks/bench_training.py --season DJF --area west --models small_unet ddpm_residual \
        --precision float32 bfloat16
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import (
    DemoPaths,
    load_config,
    pick_device,
    print_load_at_end,
    print_machine,
    print_table,
    results_parser,
    synchronize,
)

from downscaling.config_checks import merged_section
from downscaling.data import transfer_features
from downscaling.data.datasets import open_cube
from downscaling.runtime import PRECISIONS
from downscaling.training import large_model_stage, loop, small_unet_stage
from downscaling.training.loop import TrainingRun
from downscaling.training.settings import StageSettings

LARGE_MODELS = ("ddpm", "ddpm_residual", "ddpm_notransfer", "unet")


class EpochClock:
    """Wraps the training loop's epoch function: wall seconds, items and data share of each epoch."""

    def __init__(self, device):
        self.device = device
        self.epochs: list[dict] = []
        self._train_epoch = loop._train_epoch

    def __enter__(self):
        def timed(model, loss_fn, loader, *args, **kwargs):
            synchronize(self.device)
            start = time.perf_counter()
            loss, data_share = self._train_epoch(model, loss_fn, loader, *args, **kwargs)
            synchronize(self.device)
            self.epochs.append(
                {
                    "seconds": time.perf_counter() - start,
                    "items": len(loader.sampler),
                    "batches": len(loader),
                    "data_share": data_share,
                }
            )
            return loss, data_share

        loop._train_epoch = timed
        return self

    def __exit__(self, *exc):
        loop._train_epoch = self._train_epoch


def train_one(
    name: str, config: dict, paths: DemoPaths, epochs: int, precision: str, device, workdir: Path, log
) -> dict:
    """Train ``name`` for ``epochs`` epochs (early stop and plateau as configured) in ``precision``;
    figures as a dict."""
    seed, n_lag, tiles = config["seed"], config["splits"]["n_lag"], config["tiles"]
    section = merged_section(
        config, "small_unet" if name == "small_unet" else "large_model", paths.season, paths.area, name
    )
    section.update(max_epochs=epochs, precision=precision)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}_{precision}_", dir=workdir))  # a fresh run, never a resume
    run = TrainingRun(run_dir / "checkpoint.pt", run_dir / "model.pt", device, log, "bench")
    started = time.perf_counter()
    with EpochClock(device) as clock:
        if name == "small_unet":
            result = small_unet_stage.train(
                paths.data("merra2"),
                paths.split("merra2"),
                StageSettings.from_section(section, seed),
                n_lag,
                tiles["size"],
                tiles["train_stride"],
                seed,
                run,
            )
            history = result.history
        else:
            summary = large_model_stage.train(
                name, paths.training_inputs(name), StageSettings.from_section(section, seed), tiles["size"], seed, run
            )
            history = summary["history"]
    wall = time.perf_counter() - started
    timed = clock.epochs[1:] or clock.epochs  # the first epoch warms caches and the allocator up
    items = sum(epoch["items"] for epoch in timed)
    shares = [epoch["data_share"] for epoch in clock.epochs]
    fetch_seconds = sum(epoch["seconds"] * epoch["data_share"] for epoch in timed)
    epoch_seconds = sum(row["seconds"] for row in history)
    train_all = sum(epoch["seconds"] for epoch in clock.epochs)
    return {
        "model": name,
        "precision": result.precision if name == "small_unet" else summary["precision"],
        "val_loss": min(row["val_loss"] for row in history),
        "epochs": len(clock.epochs),
        "batch": section["batch_size"],
        "tiles_per_epoch": clock.epochs[0]["items"],
        "train_tiles_per_s": float(np.median([epoch["items"] / epoch["seconds"] for epoch in timed])),
        "epoch_tiles_per_s": [epoch["items"] / epoch["seconds"] for epoch in clock.epochs],
        "data_share_mean": float(np.mean(shares)),
        "data_share_max": float(np.max(shares)),
        "loader_tiles_per_s": items / max(fetch_seconds, 1e-12),
        "validation_s_per_epoch": (epoch_seconds - train_all) / len(clock.epochs),
        "other_s": wall - epoch_seconds,  # reading data, building datasets, baselines
    }


def feature_throughput(config: dict, paths: DemoPaths, days: int, device, workdir: Path) -> dict:
    """Tiles/s of the feature extraction: its parts on the first ``days`` training days (cutting
    the G5NR history into tiles, the frozen encoder), and the whole ``features.extract`` of the
    season x area (all days, float16 memory map written) as the rule runs it."""
    n_lag, tile, stride = config["splits"]["n_lag"], config["tiles"]["size"], config["tiles"]["train_stride"]
    encoder, norm = small_unet_stage.load_encoder(paths.model("small_unet"), device)
    values = norm.apply(open_cube(paths.data("g5nr")).values)
    index = pd.read_csv(paths.features()[1])
    first_days = index["day"].unique()[:days]

    def day_history(day):  # (n_lag, H, W) on the device, as features.extract reads it
        return torch.from_numpy(np.ascontiguousarray(values[day - n_lag : day], dtype=np.float32)).to(device)

    transfer_features.encode(
        encoder, transfer_features.history_tiles(day_history(first_days[0]), tile, stride)
    )  # warm-up
    cut_seconds = encode_seconds = 0.0
    n_tiles = 0
    for day in first_days:
        start = time.perf_counter()
        history = transfer_features.history_tiles(day_history(day), tile, stride)  # (N, n_lag, t, t)
        synchronize(device)
        cut = time.perf_counter()
        transfer_features.encode(encoder, history).cpu()
        synchronize(device)
        cut_seconds += cut - start
        encode_seconds += time.perf_counter() - cut
        n_tiles += len(history)

    start = time.perf_counter()
    written = transfer_features.extract(
        encoder,
        norm,
        paths.data("g5nr"),
        paths.split("g5nr"),
        n_lag,
        tile,
        stride,
        workdir / "features.npy",
        workdir / "index.csv",
    )
    synchronize(device)
    extract_seconds = time.perf_counter() - start
    return {
        "tiles": n_tiles,
        "days": len(first_days),
        "channels": encoder.out_channels,
        "cut_tiles_per_s": n_tiles / cut_seconds,
        "encode_tiles_per_s": n_tiles / encode_seconds,
        "season_tiles": len(written),
        "season_days": written["day"].nunique(),
        "extract_s": extract_seconds,
    }


def demo_logged(results: Path, paths: DemoPaths, name: str) -> tuple[str, str, str]:
    """(data share, epoch seconds, snakemake benchmark seconds) the demo's own job logged, or '-'."""
    share = epoch = "-"
    if name == "small_unet":
        log = results.parent / "logs" / "train_small_unet" / paths.season / f"{paths.area}.log"
        rule = "train_small_unet"
        bench = results.parent / "logs" / "benchmarks" / rule / paths.season / f"{paths.area}.tsv"
        if log.exists():
            # "epoch 3/8 train 0.05773 val 0.05994 lr 1.00e-03 2.4 s ETA 12.6 s data 1.5%"
            lines = re.findall(r"epoch \d+/\d+ .* (\d+\.\d+) (s|min) ETA .* data (\d+\.\d+)%", log.read_text())
            if lines:
                epoch = f"{np.mean([float(t) * (60 if unit == 'min' else 1) for t, unit, _ in lines]):.1f}"
                share = f"{np.mean([float(d) for _, _, d in lines]):.1f} %"
    else:
        summary = paths.model(name).with_name("training.json")
        bench = results.parent / "logs" / "benchmarks" / "train_large_model" / name / paths.season / f"{paths.area}.tsv"
        if summary.exists():
            logged = json.loads(summary.read_text())
            share = f"{100 * logged['data_share']:.1f} %"
            epoch = f"{np.mean([row['seconds'] for row in logged['history']]):.1f}"
    job = "-"
    if bench.exists():  # Snakemake's benchmark: file, tab-separated, wall seconds in column s
        seconds = pd.read_csv(bench, sep="\t")["s"].iloc[0]
        job = f"{seconds:.0f}"
    return share, epoch, job


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument(
        "--epochs", type=int, default=4, help="epochs per model; tiles/s is the median over all but the first"
    )
    parser.add_argument("--models", nargs="+", default=["small_unet", "ddpm"], choices=("small_unet",) + LARGE_MODELS)
    parser.add_argument("--feature-days", type=int, default=8, help="training days of G5NR tiles to encode")
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["auto"],
        choices=PRECISIONS,
        help="training arithmetic(s), each trained and printed side by side",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--verbose", action="store_true", help="show the trainers' per-epoch log lines")
    args = parser.parse_args()

    config = load_config(args.config)
    area = args.area or next(iter(config["areas"]))
    paths = DemoPaths(args.results, args.season, area)
    needed = [paths.data(name) for name in ("merra2", "g5nr", "merra2_on_g5nr", "static")]
    needed += [paths.split("merra2"), paths.split("g5nr"), paths.model("small_unet")]
    if set(args.models) & set(LARGE_MODELS):
        needed += list(paths.features())
    if "ddpm_residual" in args.models:
        needed.append(paths.model("unet"))
    paths.require(*needed)
    device = pick_device(args.device, args.threads)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="  %(asctime)s %(message)s")
    log = logging.getLogger("bench_training")

    print_machine(device)
    print(f"\nseason {args.season}, area {area}, config {args.config}, {args.epochs} epoch(s) per model")
    rows, logged_rows = [], []
    with tempfile.TemporaryDirectory(prefix="bench_training_") as workdir:
        for name in args.models:
            for precision in args.precision:
                figures = train_one(name, config, paths, args.epochs, precision, device, Path(workdir), log)
                rows.append(
                    (
                        name,
                        figures["precision"],
                        f"{figures['val_loss']:.5f}",
                        figures["epochs"],
                        figures["batch"],
                        figures["tiles_per_epoch"],
                        f"{figures['train_tiles_per_s']:.0f}",
                        " ".join(f"{rate:.0f}" for rate in figures["epoch_tiles_per_s"]),
                        f"{100 * figures['data_share_mean']:.1f} %",
                        f"{100 * figures['data_share_max']:.1f} %",
                        f"{figures['loader_tiles_per_s']:.0f}",
                        f"{figures['validation_s_per_epoch']:.2f}",
                        f"{figures['other_s']:.1f}",
                    )
                )
            logged_rows.append((name,) + demo_logged(args.results, paths, name))
        extraction = feature_throughput(config, paths, args.feature_days, device, Path(workdir))
    print_table(
        "training throughput (training epochs only) and data-loading share of step time",
        (
            "model",
            "precision",
            "best val loss",
            "epochs",
            "batch",
            "tiles/epoch",
            "tiles/s",
            "per epoch",
            "data share",
            "max epoch",
            "loader alone tiles/s",
            "validation s/epoch",
            "other s",
        ),
        rows,
    )
    worst = max(float(row[8].rstrip(" %")) for row in rows)
    print(f"largest mean data share {worst:.1f} % ({'meets' if worst < 10 else 'misses'} the < 10 % goal)")
    print_table(
        "the demo's own training jobs of this season x area (from their logs, if present)",
        ("model", "data share", "s/epoch (incl. validation)", "job s (logs/benchmarks/)"),
        logged_rows,
    )
    figures = extraction
    print_table(
        f"feature extraction -> ({figures['channels']}, h, w) float16 per tile",
        ("part", "tiles", "tiles/s"),
        [
            (
                f"cut G5NR histories into tiles (features.history_tiles), {figures['days']} days",
                figures["tiles"],
                f"{figures['cut_tiles_per_s']:.0f}",
            ),
            (
                f"frozen encoder (features.encode), {figures['days']} days",
                figures["tiles"],
                f"{figures['encode_tiles_per_s']:.0f}",
            ),
            (
                f"features.extract of the season x area ({figures['season_days']} days, .npy written)",
                figures["season_tiles"],
                f"{figures['season_tiles'] / figures['extract_s']:.0f}",
            ),
        ],
    )
    print(f"features.extract took {figures['extract_s']:.1f} s for the season x area")
    print_load_at_end()


if __name__ == "__main__":
    main()

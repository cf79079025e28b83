"""Inference per downscaled day: the project default against the authors' configuration, at
equal probabilistic skill, side by side in one run (a script that prints tables, not a test).

Same trained model (default: the config's method, e.g. ``ddpm_residual`` on its ``unet``, with
its transfer encoder), true (lenient) history, the workflow's seed:

(a) the project default: the config's ``inference`` section (DDIM with few steps, stride 8, the
    encoder once per tile and day, tiles batched to the memory budget, bf16 where native),
    one test day of the whole area, timed ``--repeats`` times after a warm-up, median reported;
(b) the authors' configuration on the same day: stride 2, halo 4, DDPM ancestral sampling with
    1000 steps, the encoder re-run at every step, float32, batches of 240 tiles. ``--authors-steps
    N`` times only its first N steps and extrapolates (the sampling loop scaled by 1000 / N, the
    rest counted once);
(c) where the default's time goes: model forwards against everything else (goal: < 5 %);
(d) skill at equal inputs: CRPS, spread-skill, PSD ratio (25-80 km) and rank histogram of the
    default, of the default sampler with 1/2, 2 and 4 times its steps, of ancestral sampling (the
    authors' sampler) with 4, 8 and 16 times the default's steps, of the default at the authors'
    stride, and of the authors' sampler with its 1000 steps — on a ``--crop`` x ``--crop`` px
    window in the middle of the area over all the season's test days (a 1000-step sample of the
    whole area takes hours on a CPU), ``--skill-members`` members. The speed-up at equal skill
    is the authors' time (b) over that of the cheapest of the cheaper rows whose skill is not
    worse than the 1000-step sampler's (CRPS within 1 %, spread-skill and PSD ratio no further
    from 1 by more than 0.05), its whole-area time scaled from (a) by its time on the window;
    the decomposition into steps, stride (tiles per day) and engineering (the rest) follows.

Usage (after the demo has trained its models):
    python benchmarks/bench_inference.py --season JJA --area west --authors-steps 5
Options: --model, --members, --day YYYY-MM-DD, --repeats, --crop, --skill-members, --threads,
--device, --config, --results.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import pandas as pd
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
from downscaling.data.datasets import day_index, open_cube
from downscaling.data.splits import read_split
from downscaling.data.tiling import TileGrid
from downscaling.evaluation import scoring
from downscaling.evaluation.metrics import rmse
from downscaling.inference import stitched
from downscaling.runtime import load_checkpoint

AUTHORS_STEPS = 1000
AUTHORS_BATCH = 240
library_sample = stitched.sample  # the library's sampling loop; InferenceClock.sample wraps it


class InferenceClock:
    """Wall seconds inside model forwards and inside the sampling loop of a Downscaler.

    Wraps the instance ``forward`` of the denoiser and the transfer encoder, and the library's
    ``stitched.sample`` (the reverse-process loop); forward time is booked as inside or outside
    the sampling loop. ``keep_steps`` makes every sampling loop stop after its first
    ``keep_steps`` timesteps (to time a long run in part).
    """

    def __init__(self, device, keep_steps: int | None = None):
        self.device, self.keep_steps = device, keep_steps
        self.forward_in_loop = self.forward_outside = self.loop = 0.0
        self.forward_calls = 0
        self._in_loop = False

    def reset(self) -> None:
        self.forward_in_loop = self.forward_outside = self.loop = 0.0
        self.forward_calls = 0

    def _timed(self, function, on_done):
        def timed(*args, **kwargs):
            synchronize(self.device)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                synchronize(self.device)
                on_done(time.perf_counter() - start)

        return timed

    def _book_forward(self, seconds: float) -> None:
        self.forward_calls += 1
        if self._in_loop:
            self.forward_in_loop += seconds
        else:
            self.forward_outside += seconds

    def attach(self, downscaler: stitched.Downscaler) -> None:
        for module in (downscaler.model, downscaler.encoder):
            if module is not None:
                module.forward = self._timed(module.forward, self._book_forward)
        if self.keep_steps is not None:
            sampler, set_all = downscaler.sampler, downscaler.sampler.set_timesteps

            def set_timesteps(n: int) -> None:
                set_all(n)
                sampler.timesteps = sampler.timesteps[: self.keep_steps]

            sampler.set_timesteps = set_timesteps

    def sample(self, *args, **kwargs):
        """Stand-in for ``stitched.sample`` that times the loop."""

        def loop(*a, **k):
            self._in_loop = True
            try:
                return library_sample(*a, **k)
            finally:
                self._in_loop = False

        def book(seconds):
            self.loop += seconds

        return self._timed(loop, book)(*args, **kwargs)


def downscale_day(downscaler, truth, merra2, dates, position, clock: InferenceClock) -> tuple[np.ndarray, float]:
    """Members (M, H, W) log10 of one test day with true history, and the wall seconds it took."""
    clock.reset()
    synchronize(downscaler.device)
    start = time.perf_counter()
    _, members = next(stitched.downscale_test_days(downscaler, truth, merra2, dates, [position], "lenient"))
    synchronize(downscaler.device)
    return members, time.perf_counter() - start


def make_downscaler(
    paths: DemoPaths,
    model: str,
    settings,
    device,
    seed,
    clock: InferenceClock | None = None,
    batch: int | None = None,
    window=None,
):
    downscaler = paths.downscaler(model, settings, device, seed)
    if window is not None:
        downscaler.crop(*window)
    if batch is not None:
        downscaler.batch = batch
    if clock is not None:
        clock.attach(downscaler)
    return downscaler


def tiles_of_day(downscaler) -> int:
    height, width = downscaler.static.shape[1:]
    return TileGrid(height, width, downscaler.tile, downscaler.settings.stride).n_tiles


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--model", help="a diffusion model (default: the config's method)")
    parser.add_argument("--crop", type=int, default=48, help="side (px) of the window of the skill runs (d)")
    parser.add_argument("--skill-members", type=int, help="members of the skill runs (default: the config's)")
    parser.add_argument("--day", help="test day YYYY-MM-DD (default: the season's first G5NR test day)")
    parser.add_argument("--members", type=int, default=1, help="ensemble members in both runs (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the default (median reported)")
    parser.add_argument(
        "--authors-steps",
        type=int,
        help=f"time only the first N of the authors' {AUTHORS_STEPS} steps and extrapolate (default: the full run)",
    )
    parser.add_argument("--authors-stride", type=int, default=2)
    parser.add_argument("--authors-halo", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args()
    if args.skill_members is not None and args.skill_members < 2:
        parser.error(f"--skill-members must be at least 2 (CRPS and spread need an ensemble), got {args.skill_members}")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.authors_steps is not None and not 1 <= args.authors_steps <= AUTHORS_STEPS:
        parser.error(f"--authors-steps must be in [1, {AUTHORS_STEPS}]")

    config = load_config(args.config)
    area = args.area or next(iter(config["areas"]))
    paths = DemoPaths(args.results, args.season, area)
    model = args.model or config.get("method") or "ddpm"
    paths.require(
        paths.data("g5nr"),
        paths.data("merra2_on_g5nr"),
        paths.data("static"),
        paths.split("g5nr"),
        *paths.model_files(model),
    )
    device = pick_device(args.device, args.threads)

    truth_cube, merra2_cube = open_cube(paths.data("g5nr")), open_cube(paths.data("merra2_on_g5nr"))
    truth, merra2 = truth_cube.values, merra2_cube.values
    dates = pd.DatetimeIndex(truth_cube["time"].values).normalize()
    split = read_split(paths.split("g5nr"))
    test_dates = pd.DatetimeIndex(split.date[split.split == "test"]).sort_values()
    day = pd.Timestamp(args.day) if args.day else test_dates[0]
    if day not in test_dates:
        raise SystemExit(f"{day:%Y-%m-%d} is not a {args.season} test day of {paths.split('g5nr')}")
    position = int(day_index(truth_cube, [day])[0])

    configured = stitched.InferenceSettings.from_config(merged_section(config, "inference", args.season, area, model))
    default_settings = dataclasses.replace(configured, members=args.members)
    # The authors' 1000 steps, or all of a model trained with fewer diffusion steps (tiny test configs).
    authors_steps = min(AUTHORS_STEPS, load_checkpoint(paths.model(model))["timesteps"])
    steps_run = min(args.authors_steps or authors_steps, authors_steps)
    authors_settings = stitched.InferenceSettings(
        sampler="ddpm",
        steps=authors_steps,
        eta=0.0,
        stride=args.authors_stride,
        halo=args.authors_halo,
        members=args.members,
        memory_budget_mb=default_settings.memory_budget_mb,
        encoder_every_step=True,
        precision="float32",
    )

    print_machine(device)
    print(
        f"\nday {day:%Y-%m-%d}, season {args.season}, area {area} ({truth.shape[1]} x {truth.shape[2]} px), "
        f"{args.members} member(s), model {paths.model(model)}"
    )

    # (a) the project default: warm-up, then the median of the timed repeats.
    default_clock = InferenceClock(device)
    stitched.sample = default_clock.sample
    default = make_downscaler(paths, model, default_settings, device, config["seed"], default_clock)
    downscale_day(default, truth, merra2, dates, position, default_clock)
    runs = []
    for _ in range(args.repeats):
        members, seconds = downscale_day(default, truth, merra2, dates, position, default_clock)
        runs.append((seconds, default_clock.forward_in_loop, default_clock.forward_outside, default_clock.loop))
    default_seconds, forward_in_loop, forward_outside, loop = sorted(runs)[(len(runs) - 1) // 2]  # (lower) median
    default_rmse = rmse(members.mean(axis=0), truth[position])

    # (b) the authors' configuration, once (in part with --authors-steps).
    partial = steps_run < authors_steps
    authors_clock = InferenceClock(device, keep_steps=steps_run if partial else None)
    stitched.sample = authors_clock.sample
    authors = make_downscaler(
        paths, model, authors_settings, device, config["seed"], authors_clock, batch=AUTHORS_BATCH
    )
    authors_members, measured = downscale_day(authors, truth, merra2, dates, position, authors_clock)
    stitched.sample = library_sample
    authors_seconds = measured - authors_clock.loop + authors_clock.loop * authors_steps / steps_run
    authors_rmse = None if partial else rmse(authors_members.mean(axis=0), truth[position])

    def describe(settings, downscaler):
        encoder = "every step" if settings.encoder_every_step else "once per tile"
        return (
            f"{settings.sampler} {settings.steps} steps, stride {settings.stride}, halo {settings.halo}, "
            f"{tiles_of_day(downscaler)} tiles in batches of {downscaler.batch}, encoder {encoder}"
        )

    timing = "extrapolated" if partial else "measured"
    rows = [
        (
            "project default",
            describe(default_settings, default),
            f"{default_seconds:.3f}",
            "measured",
            f"{default_rmse:.4f}",
        ),
        (
            "authors",
            describe(authors_settings, authors),
            f"{authors_seconds:.1f}",
            timing,
            "n/a (partial run)" if authors_rmse is None else f"{authors_rmse:.4f}",
        ),
        (
            "MERRA-2 on the G5NR grid",
            "nearest neighbour (reference)",
            "-",
            "-",
            f"{rmse(merra2[position], truth[position]):.4f}",
        ),
    ]
    print_table(
        "(a, b) seconds per downscaled day and RMSE against G5NR (log10 AOD)",
        ("configuration", "settings", "s / day", "timing", "RMSE"),
        rows,
    )
    if partial:
        print(
            f"authors: ran {steps_run} of {authors_steps} steps in {measured:.1f} s, of which "
            f"{authors_clock.loop:.1f} s in the sampling loop ({authors_clock.loop / steps_run:.3f} s per step "
            f"over all tiles); per day = {measured - authors_clock.loop:.1f} s outside the loop + "
            f"{authors_steps} x {authors_clock.loop / steps_run:.3f} s (linear extrapolation)"
        )
    speedup = authors_seconds / default_seconds
    line = f"speed-up of the default: {speedup:.0f}x ({'meets' if speedup >= 200 else 'misses'} the >= 200x goal)"
    if authors_rmse is not None:
        change = default_rmse / authors_rmse - 1
        line += (
            f"; RMSE default / authors = {default_rmse / authors_rmse:.3f} "
            f"({'within' if change <= 0.05 else 'NOT within'} 5 %, lower is better)"
        )
    print(line)

    # (c) where the default's time goes.
    forward = forward_in_loop + forward_outside
    sampler_arithmetic = loop - forward_in_loop
    rest = default_seconds - loop - forward_outside
    other = default_seconds - forward
    rows = [
        ("model forward (denoiser + encoder)", f"{forward:.4f}", f"{100 * forward / default_seconds:.1f} %"),
        (
            "  of which encoder/denoiser outside the sampling loop",
            f"{forward_outside:.4f}",
            f"{100 * forward_outside / default_seconds:.1f} %",
        ),
        (
            "sampler arithmetic inside the loop",
            f"{sampler_arithmetic:.4f}",
            f"{100 * sampler_arithmetic / default_seconds:.1f} %",
        ),
        (
            "tiles, history, conditions, stitching, normalisation",
            f"{rest:.4f}",
            f"{100 * rest / default_seconds:.1f} %",
        ),
        ("everything else (total - forward)", f"{other:.4f}", f"{100 * other / default_seconds:.1f} %"),
        ("total per day", f"{default_seconds:.4f}", "100.0 %"),
    ]
    print_table(
        f"(c) where the default's time goes (median of {args.repeats} runs, "
        f"{default_clock.forward_calls} forward calls per day)",
        ("part", "seconds", "share"),
        rows,
    )
    share = other / default_seconds
    print(
        f"non-model share {100 * share:.1f} % ({'meets' if share < 0.05 else 'misses'} the < 5 % goal); "
        f"default runs: {', '.join(f'{run[0]:.3f}' for run in runs)} s"
    )

    # (d) skill at equal inputs on a window, and the speed-up at equal skill.
    skill_settings = dataclasses.replace(default_settings, members=args.skill_members or configured.members)
    # cheaper configurations that might match the authors' sampler: the default sampler with 1/2,
    # 1, 2 and 4 times its steps, and ancestral sampling (the authors' sampler) with 4, 8 and 16 times
    candidates = [
        (
            "default" if factor == 1 else f"default sampler, {round(skill_settings.steps * factor)} steps",
            dataclasses.replace(skill_settings, steps=max(1, round(skill_settings.steps * factor))),
        )
        for factor in (0.5, 1, 2, 4)
    ] + [
        (
            f"ancestral (ddpm), {skill_settings.steps * factor} steps",
            dataclasses.replace(
                skill_settings, sampler="ddpm", steps=min(skill_settings.steps * factor, authors_steps)
            ),
        )
        for factor in (4, 8, 16)
        if skill_settings.steps * factor < authors_steps
    ]
    checks = [
        (
            "default at the authors' stride",
            dataclasses.replace(skill_settings, stride=args.authors_stride, halo=args.authors_halo),
        ),
        (
            f"authors' sampler (ddpm, {authors_steps} steps)",
            dataclasses.replace(skill_settings, sampler="ddpm", steps=authors_steps, eta=0.0),
        ),
    ]
    size = min(args.crop, truth.shape[1], truth.shape[2])
    top, left = (truth.shape[1] - size) // 2, (truth.shape[2] - size) // 2
    window = (slice(top, top + size), slice(left, left + size))
    test = np.sort(day_index(truth_cube, test_dates))
    observed = truth[test][:, window[0], window[1]]
    lat, lon = truth_cube["lat"].values[window[0]], truth_cube["lon"].values[window[1]]
    cropped = (truth[:, window[0], window[1]], merra2[:, window[0], window[1]])
    scores = {}
    for name, settings in candidates + checks:
        downscaler = make_downscaler(paths, model, settings, device, config["seed"], window=window)
        start = time.perf_counter()
        days = list(stitched.downscale_test_days(downscaler, *cropped, dates, test, "lenient"))
        seconds = (time.perf_counter() - start) / len(days)
        fields = np.stack([members for _, members in days], axis=1)
        scores[name] = (
            settings,
            seconds,
            scoring.field_scores(fields, observed, lat, lon, settings.stride, config["seed"]),
        )
    rows = [
        (
            name,
            f"{st.sampler} {st.steps}, stride {st.stride}",
            f"{sc['crps']:.4f}",
            f"{sc['spread_skill']:.3f}",
            f"{sc['psd_ratio']:.3f}",
            "{:.2f}-{:.2f}".format(*sc["rank_extremes"]),
            f"{sec:.2f}",
        )
        for name, (st, sec, sc) in scores.items()
    ]
    print_table(
        f"(d) skill on a {size} x {size} px window, {len(test)} test days, lenient, {skill_settings.members} members",
        ("configuration", "sampler", "CRPS", "spread-skill", "PSD ratio", "rank bins min-max", "s / day"),
        rows,
    )
    reference = scores[checks[-1][0]][2]

    def as_good(sc) -> bool:
        return (
            sc["crps"] <= 1.01 * reference["crps"]
            and abs(1 - sc["spread_skill"]) <= abs(1 - reference["spread_skill"]) + 0.05
            and abs(1 - sc["psd_ratio"]) <= abs(1 - reference["psd_ratio"]) + 0.05
        )

    matching = [(scores[name][1], name) for name, _ in candidates if as_good(scores[name][2])]
    if not matching:
        print(
            "speed-up at equal skill: no default-sampler row matches the authors' sampler's skill "
            f"(CRPS {reference['crps']:.4f}, spread-skill {reference['spread_skill']:.3f}, "
            f"PSD ratio {reference['psd_ratio']:.3f})"
        )
    else:
        window_seconds, name = min(matching)  # the cheapest
        settings = scores[name][0]
        seconds = default_seconds * window_seconds / scores["default"][1]
        steps_factor = authors_steps / settings.steps
        stride_factor = tiles_of_day(authors) / tiles_of_day(default)
        speedup = authors_seconds / seconds
        print(
            f"speed-up at equal skill: {name!r} ({seconds:.2f} s a day, whole area) vs the authors' "
            f"{authors_seconds:.1f} s: {speedup:.0f}x = steps {steps_factor:.0f}x * stride (tiles per day) "
            f"{stride_factor:.1f}x * engineering {speedup / steps_factor / stride_factor:.2f}x"
        )
    print_load_at_end()


if __name__ == "__main__":
    main()

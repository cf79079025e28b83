"""torch.compile of the denoiser against eager mode, in float32 and under bf16 autocast, and one
training step in float32, bf16 autocast and channels-last, side by side in one run (a script that
prints tables, not a test).

One forward pass of the method's network (``ddpm_residual``: the conditional U-Net with the
transfer features' condition stack and the unet's mean as an extra channel) on a batch of
16 x 16 tiles, as inference runs it at every denoising step (``torch.inference_mode``), at the
demo's and the paper's sizes; untrained weights (speed does not depend on them). For each
configuration: compile time (first call), median seconds per batch over ``--repeats`` calls,
tiles per second, speed-up over eager float32 and the largest difference from eager float32.
Decides whether inference should compile: only where it is measurably faster on the device.

The training step is the training loop's (its epoch function on one batch): the denoising loss
(v-prediction, t drawn from the cosine schedule), backward, Adam, with the forward under
autocast as ``training.precision`` runs it; median seconds per step over ``--repeats`` steps
after one warm-up step, and the loss of the first step beside float32's. Decides the training precision's default.

Usage:
    python benchmarks/bench_compile.py                 # demo and paper sizes
    python benchmarks/bench_compile.py --sizes demo --batch 512 --repeats 20
    python benchmarks/bench_compile.py --sizes paper --no-inference   # the training step only
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import pick_device, print_load_at_end, print_machine, print_table, synchronize

SIZES = {  # (denoiser section, transfer feature width, tiles per batch)
    "demo": ({"channels": [8, 16, 32], "res_blocks": 1, "attention": True, "groups": 4}, 32, 512),
    "paper": ({"channels": [128, 256, 512], "res_blocks": 2, "attention": True, "groups": 8}, 256, 32),
}


def timed_forward(network, cond, x_t, device, bf16: bool, repeats: int):
    """(first call seconds, median seconds of the next `repeats`, output of the last call)."""
    import torch

    def forward():
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return network(cond, x_t, 999).float()

    synchronize(device)
    start = time.perf_counter()
    out = forward()
    synchronize(device)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = forward()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), out


def timed_training_step(model, cond, x0, device, bf16: bool, channels_last: bool, repeats: int):
    """(median seconds per training step, loss of the first step) of ``model`` on one batch, each
    step taken by the training loop's own epoch function (autocast as ``training.precision``
    runs it, backward, Adam) on an epoch of that one batch."""
    import torch

    from downscaling.diffusion.losses import denoising_loss
    from downscaling.diffusion.schedule import NoiseSchedule
    from downscaling.training.loop import _train_epoch

    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        cond = cond.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    schedule = NoiseSchedule(2000, "squaredcos_cap_v2").to(device)
    generator = torch.Generator(device=device).manual_seed(0)

    def loss_fn(network, batch, generator):
        target, condition = batch
        return denoising_loss(network, target, condition, schedule, generator, "v")

    times, first_loss = [], None
    for step in range(repeats + 1):  # the first step warms the allocator and kernels up
        synchronize(device)
        start = time.perf_counter()
        loss, _ = _train_epoch(model, loss_fn, [(x0, cond)], optimizer, generator, device, None, bf16=bf16)
        synchronize(device)
        if step:
            times.append(time.perf_counter() - start)
        else:
            first_loss = loss
    return statistics.median(times), first_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["demo", "paper"])
    parser.add_argument("--batch", type=int, help="tiles per batch (default: per size)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--no-inference", action="store_true", help="only the training step's table")
    args = parser.parse_args()

    import torch

    from downscaling import variants
    from downscaling.training import large_model_stage
    from downscaling.training.settings import NetworkSettings, StageSettings

    device = pick_device(args.device, args.threads)
    print_machine(device)
    variant = variants.VARIANTS["ddpm_residual"]
    rows, training_rows = [], []
    for size in args.sizes:
        section, features, batch = SIZES[size]
        batch = args.batch or batch
        torch.manual_seed(0)
        model = large_model_stage.build(
            variant,
            features,
            large_model_stage.model_kwargs(variant, StageSettings(NetworkSettings.from_section(section))),
        )
        model = model.to(device).eval()
        cond = torch.rand(batch, model.cond_channels, 16, 16, device=device)
        x_t = torch.randn(batch, 1, 16, 16, device=device)
        for bf16, channels_last in ((False, False), (True, False), (False, True), (True, True)):
            torch.manual_seed(0)  # the same initial weights in every arithmetic
            fresh = large_model_stage.build(
                variant,
                features,
                large_model_stage.model_kwargs(variant, StageSettings(NetworkSettings.from_section(section))),
            )
            seconds, loss = timed_training_step(fresh.to(device), cond, x_t, device, bf16, channels_last, args.repeats)
            if not (bf16 or channels_last):
                float32_seconds, float32_loss = seconds, loss
            training_rows.append(
                (
                    size,
                    batch,
                    "bf16" if bf16 else "float32",
                    "yes" if channels_last else "no",
                    f"{seconds * 1e3:.0f}",
                    f"{batch / seconds:.1f}",
                    f"{float32_seconds / seconds:.2f}",
                    f"{loss:.5f}",
                    f"{loss - float32_loss:+.1e}",
                )
            )
        if args.no_inference:
            continue
        reference = None
        for compiled in (False, True):
            network = torch.compile(model) if compiled else model
            for bf16 in (False, True):
                first, seconds, out = timed_forward(network, cond, x_t, device, bf16, args.repeats)
                if reference is None:
                    reference, eager_seconds = out, seconds
                rows.append(
                    (
                        size,
                        batch,
                        "compiled" if compiled else "eager",
                        "bf16" if bf16 else "float32",
                        f"{first:.2f}",
                        f"{seconds * 1e3:.1f}",
                        f"{batch / seconds:.0f}",
                        f"{eager_seconds / seconds:.2f}",
                        f"{(out - reference).abs().max().item():.2e}",
                    )
                )
            torch._dynamo.reset()
    print_table(
        "one training step (denoising loss, backward, Adam; eager) on a batch of 16 x 16 tiles",
        (
            "size",
            "batch",
            "arithmetic",
            "channels-last",
            "ms / step",
            "tiles / s",
            "speed-up vs float32",
            "first step's loss",
            "vs float32",
        ),
        training_rows,
    )
    if args.no_inference:
        print_load_at_end()
        return
    print_table(
        "one denoiser forward (inference mode) on a batch of 16 x 16 tiles",
        (
            "size",
            "batch",
            "mode",
            "arithmetic",
            "first call s",
            "ms / batch",
            "tiles / s",
            "speed-up vs eager float32",
            "max |diff| vs eager float32",
        ),
        rows,
    )
    print_load_at_end()


if __name__ == "__main__":
    main()

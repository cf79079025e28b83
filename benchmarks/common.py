"""Shared bits of the benchmark scripts: the repository, the library on sys.path, the demo's
paths, the machine a run was measured on, and plain-text tables.

Not a test and not a benchmark itself; the ``bench_*.py`` scripts import it (they run as
``python benchmarks/bench_x.py``, so this directory is on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from downscaling import paths  # noqa: E402  (torch-free: the scripts' own imports stay lazy)


def load_config(path) -> dict:
    """A workflow config (YAML) as a dict with the schema's defaults filled in, as the workflow
    sees it (e.g. ``inference.precision: auto``)."""
    from downscaling.config_checks import with_defaults

    with open(path) as stream:
        return with_defaults(yaml.safe_load(stream))


class TestDays(NamedTuple):
    """An area's cubes and one season's test days (``DemoPaths.test_days``)."""

    truth: Any  # xarray.DataArray (time, lat, lon) log10
    merra2: Any  # MERRA-2 on the G5NR grid, the same axes
    dates: Any  # pandas.DatetimeIndex of the cubes' days
    test: Any  # numpy array: the test days' positions in ``dates``, in order


class DemoPaths:
    """Where the workflow put one season x area's inputs and models under ``results``."""

    def __init__(self, results: Path, season: str, area: str):
        self.results, self.season, self.area = Path(results), season, area

    def data(self, name: str) -> Path:
        """An ingested cube: merra2, g5nr, merra2_on_g5nr or static."""
        return Path(paths.area_data(name, self.area, results=self.results))

    def split(self, source: str) -> Path:
        return Path(paths.split(source, self.season, results=self.results))

    def test_days(self) -> TestDays:
        """The area's G5NR and MERRA-2 cubes (on the G5NR grid), their dates and the season's test
        days, as rule downscale reads them."""
        import numpy as np
        import pandas as pd

        from downscaling.data.datasets import day_index, open_cube
        from downscaling.data.splits import read_split

        truth, merra2 = open_cube(self.data("g5nr")), open_cube(self.data("merra2_on_g5nr"))
        split = read_split(self.split("g5nr"))
        return TestDays(
            truth,
            merra2,
            pd.DatetimeIndex(truth["time"].values).normalize(),
            np.sort(day_index(truth, split.date[split.split == "test"])),
        )

    def model(self, name: str) -> Path:
        return Path(paths.model(name, self.season, self.area, results=self.results))

    def features(self) -> tuple[Path, Path]:
        folder = self.results / "features" / self.season / self.area
        return folder / "features.npy", folder / "index.csv"

    def model_files(self, model: str) -> list[Path]:
        """What downscaling with ``model`` reads: its checkpoint, the small U-Net (its transfer
        encoder), and for a residual variant the deterministic model it builds on."""
        from downscaling import variants

        base = variants.VARIANTS[model].residual_of
        return [self.model(model), self.model("small_unet"), *([self.model(base)] if base else [])]

    def training_inputs(self, model: str) -> dict[str, Path]:
        """What training the large model ``model`` reads, as rule train_large_model passes it
        to ``large_model_stage.train``: the cubes, the extracted features, a residual variant's
        base and the small U-Net an encoder trained with the model starts from."""
        from downscaling import variants

        variant = variants.VARIANTS[model]
        features, index = self.features()
        inputs = {cube: self.data(cube) for cube in ("g5nr", "merra2_on_g5nr", "static")}
        inputs.update(features=features, index=index)
        if variant.residual_of:
            inputs["base"] = self.model(variant.residual_of)
        if variant.trains_encoder:
            inputs["small_unet"] = self.model("small_unet")
        return inputs

    def downscaler(self, model: str, settings, device, seed: int, checkpoint=None, spread_calibration=None):
        """A ``stitched.Downscaler`` of ``model`` on this season x area, as the workflow builds it
        (``checkpoint``: another file of the model than the workflow's; ``spread_calibration``:
        the path of one to apply)."""
        from downscaling.inference import stitched

        workflow_checkpoint, small_unet, *base = self.model_files(model)
        return stitched.Downscaler(
            checkpoint or workflow_checkpoint,
            small_unet,
            self.data("static"),
            settings,
            device,
            seed,
            base[0] if base else None,
            spread_calibration,
        )

    def require(self, *paths: Path) -> None:
        """Raise FileNotFoundError naming every missing path (the demo has not produced it yet)."""
        missing = [str(path) for path in paths if not Path(path).exists()]
        if missing:
            raise FileNotFoundError(
                "missing workflow outputs (run the demo first, e.g. `snakemake --cores 2`): " + ", ".join(missing)
            )


def snakemake_command(configfile: Path, workdir: Path, *options: str) -> list[str]:
    """The command line that runs the workflow on ``configfile`` in ``workdir`` with ``options``
    (e.g. ``-n`` or ``--cores 2`` and targets), with this Python's Snakemake."""
    snakefile = REPO / "workflow" / "Snakefile"
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "--configfile",
        str(configfile),
        "--directory",
        str(workdir),
        *options,
    ]


def pick_device(name: str, threads: int):
    """torch device for ``name`` (auto, cpu, cuda) with ``threads`` host threads, as the rules do."""
    import torch

    from downscaling.runtime import select_device

    device = select_device(threads)
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" and device.type != "cuda":
        raise RuntimeError("--device cuda asked for, but torch sees no GPU")
    return device


def synchronize(device) -> None:
    """Wait for queued GPU work, so wall-clock timers measure it (no-op on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine_rows(device=None) -> list[tuple[str, str]]:
    """(what, value) rows describing the machine: CPU count, torch version and threads, device."""
    import torch

    rows = [
        ("CPU cores (os.cpu_count)", str(os.cpu_count())),
        ("CPU", platform.processor() or platform.machine()),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("torch threads", str(torch.get_num_threads())),
        ("load average 1/5/15 min (now)", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows.append(("device", str(device)))
    if device.type == "cuda":
        rows.append(("GPU", torch.cuda.get_device_name(device)))
    return rows


def format_table(header: tuple[str, ...], rows: list[tuple]) -> str:
    """Left-aligned first column, right-aligned others, widths from the content."""
    cells = [tuple(str(value) for value in header)] + [tuple(str(value) for value in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        return "  ".join(
            value.ljust(width) if i == 0 else value.rjust(width) for i, (value, width) in enumerate(zip(row, widths))
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def print_table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    print(f"\n{title}")
    print(format_table(header, rows))


def print_load_at_end() -> None:
    """The load average after a run: anything well above 0 besides the run itself means contention."""
    print(
        f"\nload average 1/5/15 min at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        "(the timings assume an otherwise idle machine)"
    )


def print_machine(device=None) -> None:
    print_table("machine", ("what", "value"), machine_rows(device))


def results_parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark on a finished run shares: config, results, season, area."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--results", type=Path, default=REPO / "results", help="the workflow's results/ folder")
    parser.add_argument("--season", default="JJA")
    parser.add_argument("--area", help="default: the config's first area")
    return parser

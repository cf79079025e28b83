"""The ``downscaling`` command (installed by ``pip install -e .``; also ``python -m downscaling.cli``).

    downscaling downscale --results results --area west --start 2006-06-17 --end 2006-08-15 \
        --merra2 'resources/synthetic/merra2/MERRA2_*.nc4' --config config/config.yaml --out west.nc

downscales a period of one area with the models a finished run trained (see
:func:`downscaling.api.downscale_period`). Errors are one line naming the file or setting, with
exit status 1; the output appears only when complete.

    downscaling check-config my-config.yaml

says everything the workflow would refuse in a config file, one line each (YAML syntax with its
line, schema, relations between values), before Snakemake reads it; exit status 1 if anything.
"""

from __future__ import annotations

import argparse
import logging
import sys

import torch

from downscaling import __version__, api, config_checks
from downscaling.ingest.cubes import IngestError
from downscaling.runtime import CheckpointError, select_device

#: Inference settings the command line can override, with their types.
INFERENCE_OPTIONS = {
    "members": int,
    "steps": int,
    "stride": int,
    "halo": int,
    "sampler": str,
    "eta": float,
    "precision": str,
}


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="downscaling", description=__doc__.split("\n\n")[0])
    main.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = main.add_subparsers(dest="command", required=True)
    run = commands.add_parser("downscale", help="downscale a period of one area with a run's trained models")
    run.add_argument("--results", required=True, help="the run's results directory (models/, data/)")
    run.add_argument("--area", required=True, help="an area of the run")
    run.add_argument("--start", required=True, help="first day written, YYYY-MM-DD")
    run.add_argument("--end", required=True, help="last day written, YYYY-MM-DD")
    run.add_argument("--merra2", required=True, help="glob of the raw MERRA-2 files (quote it)")
    run.add_argument("--out", required=True, help="the netCDF file to write")
    run.add_argument("--config", help="the run's config file: inference settings, seed, variable, ingest")
    run.add_argument("--model", help="the diffusion model (default: the config's method)")
    run.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    for name, kind in INFERENCE_OPTIONS.items():
        run.add_argument(f"--{name}", type=kind, help=f"inference {name} (default: the config's)")
    check = commands.add_parser("check-config", help="say everything the workflow would refuse in a config file")
    check.add_argument("config", help="the config file (YAML)")
    return main


def check_config(path: str) -> int:
    problems = config_checks.check_file(path)
    for problem in problems:
        print(
            f"downscaling: {path}: {problem}" if not problem.startswith(str(path)) else f"downscaling: {problem}",
            file=sys.stderr,
        )
    if not problems:
        print(f"{path}: no problem found")
    return 1 if problems else 0


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        config = config_checks.load(args.config) if args.config else None
        overrides = {name: getattr(args, name) for name in INFERENCE_OPTIONS if getattr(args, name) is not None}
        out = api.downscale_period(
            args.results,
            args.area,
            args.start,
            args.end,
            args.merra2,
            args.out,
            model=args.model,
            config=config,
            overrides=overrides,
            device=select_device(args.threads),
        )
    except (OSError, ValueError, KeyError, CheckpointError, IngestError) as error:
        print(f"downscaling: error: {error}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

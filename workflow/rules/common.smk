"""Config validation, wildcard constraints, input functions and small helpers shared by every rule."""

import copy
import glob
from pathlib import Path

from snakemake.utils import validate

import yaml


validate(config, schema="../schemas/config.schema.yaml")

AREAS = list(config["areas"])
SEASONS = config["seasons"]
MODELS = config["models"]
MODES = config["modes"]
LEARNED_MODELS = [m for m in MODELS if m != "interp"]
SCRIPTS = Path(workflow.basedir) / "scripts"


wildcard_constraints:
    area="|".join(AREAS),
    season="DJF|MAM|JJA|SON",
    model="ddpm|ddpm_notransfer|unet|interp",
    large_model="ddpm|ddpm_notransfer|unet",
    mode="strict|lenient",
    source="g5nr|merra2",


def settings(section, season, area):
    """The config section for one season x area: the section itself, then `overrides` on top.

    Passed to rules as params, so that editing one season's override makes exactly its jobs stale.
    """
    merged = copy.deepcopy(config.get(section, {}))
    merged.update(config["overrides"].get(area, {}).get(season, {}).get(section, {}))
    return merged


def raw_inputs(source):
    """Raw files of one input source ('merra2', 'g5nr' or 'elevation').

    With synthetic data the files are written by a checkpoint rule, so the glob is evaluated
    after it ran; otherwise the user's files are globbed directly. Either way Snakemake sees
    every raw file as an input, and touching one reruns its dependents only.
    """

    def files(wildcards):
        if config["synthetic"]["enabled"]:
            checkpoints.synthetic_data.get()
        matched = sorted(glob.glob(config["inputs"][source]))
        if not matched:
            raise WorkflowError(
                f"no file matches inputs.{source} = {config['inputs'][source]!r}"
            )
        return matched

    return files


def area_data(name):
    """Path of one ingested cube of an area (name: merra2, g5nr, merra2_on_g5nr, static)."""
    return f"results/data/{{area}}/{name}.nc"


def longrun_target():
    run = config.get("longrun")
    if not run:
        return []
    return expand(
        "results/longrun/{area}/{start}_{end}.nc",
        area=run["areas"],
        start=run["start"],
        end=run["end"],
    )


def get_final_output():
    """Everything `snakemake` builds by default: the paper's table, diagnostics and figures."""
    return (
        expand("results/diagnostics/wasserstein/{area}.json", area=AREAS)
        + expand(
            "results/small_unet/{season}/{area}/metrics.json",
            season=SEASONS,
            area=AREAS,
        )
        + ["results/metrics/summary.csv"]
        + longrun_target()
    )

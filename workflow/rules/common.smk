"""Config validation, wildcard constraints, input functions and small helpers shared by every rule."""

import copy
import sys
from pathlib import Path

from snakemake.utils import validate

for _renamed in config_checks.renamed_sections(
    config
):  # old names still run, with a warning
    print(f"Warning: config {_renamed}", file=sys.stderr)
validate(config, schema="../schemas/config.schema.yaml")


def canonical(value):
    """``value`` with every dict's keys sorted, recursively."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    return value


# Snakemake compares params including dict key order: with the config in canonical order,
# reordering keys in a config file never makes a job stale.
_canonical_config = canonical(dict(config))
config.clear()
config.update(_canonical_config)

AREAS = list(config["areas"])
# the synthetic world's truth after the G5NR record: the long run's known truth
VERIFICATION = f"{config['synthetic'].get('outdir', 'resources/synthetic')}/verification/g5nr_after_record.nc"
SEASONS = config["seasons"]
MODELS = config["models"]
MODES = config["modes"]
from downscaling import config_checks, paths, variants
from downscaling.inference import longrun
from downscaling.ingest.manifest import ManifestError, period_parts, write_manifest

_config_problems = config_checks.problems(config)
if _config_problems:
    raise WorkflowError(
        "the config has these problems:\n  " + "\n  ".join(_config_problems)
    )

# the diffusion model the maps and the long run show
METHOD = config.get("method") or variants.default_method(MODELS)
# the deterministic model beside it on the maps (a residual method's mean)
METHOD_TWIN = variants.deterministic_twin(METHOD) if METHOD else None
# the config's diffusion models (variants.ENSEMBLE_MODELS: those that sample ensembles)
DIFFUSION_MODELS = [m for m in MODELS if m in variants.ENSEMBLE_MODELS]
#: Models that train a history encoder of their own (fine-tuned or from scratch): the transfer
#: probe compares what their encoders know with what the frozen pretrained one knows.
ENCODER_MODELS = [
    m for m in MODELS if m in variants.VARIANTS and variants.VARIANTS[m].trains_encoder
]

# the config of the test design scored beside this one (Snakefile: module second_design), and
# that design's name (the folder of its results), or None
SECOND_CONFIG = (
    config_checks.second_design_config(config) if config.get("second_design") else None
)
SECOND_DESIGN = SECOND_CONFIG["splits"]["test_design"] if SECOND_CONFIG else None
# the data-efficiency study's configs, one per share of the training days: {design: config}
RECORD_CONFIGS = config_checks.record_fraction_configs(config)
# the workflow run again as modules (Snakefile) on the same ingested data, each under
# results/designs/<design>/: {module name: (config, design)}
DESIGN_MODULES = (
    {"second_design": (SECOND_CONFIG, SECOND_DESIGN)} if SECOND_CONFIG else {}
) | {
    design: (module_config, design) for design, module_config in RECORD_CONFIGS.items()
}
# the report's subcategory of this design's tables
DESIGN_SUBCATEGORY = f"{config['splits']['test_design']} design"


wildcard_constraints:
    area="|".join(AREAS),
    season="DJF|MAM|JJA|SON",
    model=variants.wildcard_pattern(variants.MODELS),
    large_model=variants.wildcard_pattern(variants.VARIANTS),
    mode="strict|lenient",
    source="g5nr|merra2",
    chunk=r"\d{4}-\d{2}-\d{2}",
    member=r"\d+",
    start=r"\d{4}-\d{2}-\d{2}",
    end=r"\d{4}-\d{2}-\d{2}",


def in_this_tree(path):
    """``path`` in this workflow's results tree: a second design's module (Snakefile) moves its
    files with replace_prefix, which Snakemake applies to inputs, outputs, logs and benchmarks
    but not to params. A path passed as a param goes through this."""
    return workflow.modifier.path_modifier.replace_prefix(path)


def settings(section, season=None, area=None, model=None):
    """The config section for one season x area and model: the section itself, then the
    model's `per_model` entries (a transfer ablation's: its model's, then its own), then the
    season x area's `overrides` on top.

    Passed to rules as params, so that editing one model's or one season's settings makes
    exactly its jobs stale. Without season and area (the long run): section and model only.
    """
    return canonical(
        copy.deepcopy(
            config_checks.merged_section(config, section, season, area, model)
        )
    )


def model_inference(wildcards):
    """Params: the inference settings a model samples with; for the baselines, which do not
    sample, only the member count of an ensemble baseline (the method's), so that a sampler
    change leaves them as they are."""
    if wildcards.model in variants.VARIANTS:
        return settings("inference", wildcards.season, wildcards.area, wildcards.model)
    if variants.BASELINES[wildcards.model].ensemble:
        method = settings("inference", wildcards.season, wildcards.area, METHOD)
        return {"members": method["members"]}
    return {}


# source -> its manifest's path, or the WorkflowError of a glob without files (write_manifests)
_manifests = {}
RAW_SOURCES = ("merra2", "g5nr", "elevation")


def write_manifests():
    """Write the manifest of every raw source at once, the first time one is asked for.

    Snakemake lists a directory once while it plans: a manifest written into results/inputs/
    after that listing would be "missing" (a target that needs two sources, e.g. static.nc, in
    a fresh folder). A glob that matches nothing is an error only for a job that needs it.
    """
    if _manifests:
        return
    for source in RAW_SOURCES:
        try:
            _manifests[source] = str(
                write_manifest(config["inputs"][source], f"results/inputs/{source}.tsv")
            )
        except ManifestError as error:
            _manifests[source] = WorkflowError(f"inputs.{source}: {error}")


def raw_inputs(source):
    """Input function: the manifest of one raw source ('merra2', 'g5nr' or 'elevation').

    The manifest lists every file of the source's glob with its size and modification time and
    is rewritten only when that changes (downscaling/ingest/manifest.py), so touching one raw file
    reruns that source's dependents only, without every granule being an input of every job.
    With synthetic data the files are written by a checkpoint rule, so the glob is evaluated
    after it ran.
    """

    def manifest(wildcards):
        if config["synthetic"]["enabled"]:
            checkpoints.synthetic_data.get()
        write_manifests()  # glob and stat once per Snakemake process
        if isinstance(_manifests[source], WorkflowError):
            raise _manifests[source]
        return _manifests[source]

    return manifest


def ingest_parts(source):
    """{part: (first, last) or None} of one source's record (merra2 or g5nr), one ingest job each
    (downscaling.ingest.manifest.period_parts): calendar years of its period, which is periods.<source>,
    else the synthetic world's period of that source; one part for the whole record if neither.
    """
    period = config["periods"].get(source)
    if period is None and config["synthetic"]["enabled"]:
        period = config["synthetic"][f"{source}_period"]
    return period_parts(period)


def downscale_inputs(wildcards):
    """Cubes and split of the area and season, the trained model(s) the method needs, and
    its spread calibration when its settings ask for one."""
    calibration = spread_calibrations(
        wildcards.model, wildcards.area, [wildcards.season]
    )
    return {
        **AREA_CUBES,
        "split": paths.split("g5nr"),
        **sampled_models(wildcards),
        **{"spread_calibration": path for path in calibration.values()},
    }


def spread_calibration_inputs(wildcards):
    """What downscaling the model's validation days reads: the cubes and trained models, and
    the training summary that names those days."""
    return {
        **AREA_CUBES,
        **sampled_models(wildcards),
        "training": paths.training_summary(),
    }


# the ingested cubes a model downscales an area from
AREA_CUBES = {
    name: paths.area_data(name) for name in ("g5nr", "merra2_on_g5nr", "static")
}


def sampled_models(wildcards):
    """The trained model(s) a model downscales with, and the small U-Net it reads the history
    through."""
    inputs = trained_models(wildcards.model)
    if variants.needs_small_unet(wildcards.model):
        inputs["small_unet"] = rules.train_small_unet.output.model
    return inputs


def spread_calibrations(model, area, seasons):
    """{season: the model's spread calibration} of the seasons whose inference settings ask
    for one (inference.calibrate_spread)."""
    return {
        season: paths.spread_calibration(model, season, area)
        for season in seasons
        if model in variants.VARIANTS
        and settings("inference", season, area, model).get("calibrate_spread")
    }


def trained_models(model):
    """{"model": its weights, "base": those of the model a residual variant builds on}."""
    return dict(
        zip(["model", "base"], map(paths.model, variants.trained_inputs(model)))
    )


def trained_encoder_start(wildcards):
    """Input function: the small U-Net whose shape and normalisation (and for a fine-tuned
    encoder, weights) a history encoder trained with the model takes (nothing for the others).
    """
    if not variants.VARIANTS[wildcards.large_model].trains_encoder:
        return []
    return rules.train_small_unet.output.model


def residual_base(wildcards):
    """Input function: the base model of a residual variant (nothing for the others)."""
    return trained_models(wildcards.large_model).get("base", [])


def longrun_target():
    run = config.get("longrun")
    if not run:
        return []
    return expand(
        paths.longrun(),
        area=run["areas"],
        start=run["start"],
        end=run["end"],
    )


def longrun_previous_state(wildcards):
    """Input function: the state the member's chunk before left (nothing for its first chunk)."""
    previous = longrun.previous_chunk(
        wildcards.start, wildcards.chunk, config["longrun"]["chunk_days"]
    )
    if previous is None:
        return []
    return paths.longrun_chunk(
        wildcards.area,
        wildcards.start,
        wildcards.end,
        wildcards.member,
        previous,
        suffix=".state.npz",
    )


def longrun_members(area):
    """The long run's ensemble size in `area` (the same in every season: checked above)."""
    return settings("inference", SEASONS[0], area, METHOD)["members"]


def longrun_chunk_files(wildcards):
    """Input function: every member's file of every chunk, chunk-major (the join's order)."""
    return [
        paths.longrun_chunk(
            wildcards.area, wildcards.start, wildcards.end, member, chunk
        )
        for chunk in longrun.chunks(
            wildcards.start, wildcards.end, config["longrun"]["chunk_days"]
        )
        for member in range(longrun_members(wildcards.area))
    ]


def scored_files(path_of, models=MODELS, results=paths.RESULTS):
    """The evaluate rule's outputs (path_of: paths.metrics or paths.per_day) of every row of
    the summary table (or of `models` under another results tree), in the table's order
    (season, area, mode, model: model varies fastest).
    """
    return [
        path_of(model, season, area, mode, results=results)
        for season in SEASONS
        for area in AREAS
        for mode in MODES
        for model in models
    ]


# {input name: share of the training days} of the data-efficiency study, the full record first
DATA_EFFICIENCY_SHARES = {"full": 1.0} | {
    design: module_config["splits"]["record_fraction"]
    for design, module_config in RECORD_CONFIGS.items()
}
# the models the study trains and scores on every share
DATA_EFFICIENCY_MODELS = (
    config_checks.data_efficiency_models(config) if RECORD_CONFIGS else []
)


def data_efficiency_inputs(wildcards):
    """The data_efficiency rule's metrics: {input name: the study's metrics JSONs of one share}."""
    return {"full": scored_files(paths.metrics, DATA_EFFICIENCY_MODELS)} | {
        design: scored_files(
            paths.metrics, DATA_EFFICIENCY_MODELS, paths.design_results(design)
        )
        for design in RECORD_CONFIGS
    }


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
        + evaluation_figures()
    )


def evaluation_figures():
    """The report's figures and tables (rules in evaluate.smk and report.smk)."""
    figures = (
        ["results/metrics/summary.html", "results/metrics/summary.png"]
        + expand(
            "results/evaluation/{kind}/{season}/{area}.png",
            kind=["spectra", "variograms"],
            season=SEASONS,
            area=AREAS,
        )
        + expand(
            "results/evaluation/temporal/{area}/{figure}.png",
            area=AREAS,
            figure=["acf_pacf", "lag_curves"],
        )
        + expand("results/evaluation/domain/{area}.png", area=AREAS)
    )
    if config["inference"]["members"] > 1 and DIFFUSION_MODELS:
        figures.append("results/metrics/ensemble_skill.png")
    if ENCODER_MODELS:
        figures.append("results/metrics/transfer_probe.csv")
    if RECORD_CONFIGS:
        figures.append("results/metrics/data_efficiency.png")
    if DIFFUSION_MODELS:  # diffusion models log their x0 checks
        figures.append("results/evaluation/training/x0_by_noise.png")
    if METHOD:
        figures += expand(
            "results/evaluation/maps/{season}/{area}/{day}.png",
            season=SEASONS,
            area=AREAS,
            day=config["evaluation"]["sample_days"],
        )
    if config.get("longrun"):
        figures += expand(
            "results/evaluation/longrun/{area}/{output}",
            area=config["longrun"]["areas"],
            output=["animation.html", "series.png", "variograms.png"]
            + (["skill.png"] if config["synthetic"]["enabled"] else []),
        )
    return figures

"""Train one large model (a variant of downscaling/variants.py) of one season x area."""

import json

from downscaling.training import large_model_stage
from downscaling.training.loop import TrainingRun
from downscaling.training.settings import StageSettings

inputs, params, model = snakemake.input, snakemake.params, snakemake.wildcards.large_model
paths = {name: inputs[name] for name in ("g5nr", "merra2_on_g5nr", "static", "features", "index")}
for optional in ("base", "small_unet"):  # a residual variant's base; a scratch encoder's shape
    if inputs.get(optional):
        paths[optional] = inputs[optional]
identity = {"model": model, "settings": params.settings, "tile": params.tile, "seed": params.seed}
summary = large_model_stage.train(
    model,
    paths,
    StageSettings.from_section(params.settings, params.seed),
    tile=params.tile,
    seed=params.seed,
    run=TrainingRun.of_job(snakemake, identity, paths.values()),
)
with open(snakemake.output.summary, "w") as f:
    json.dump(summary, f, indent=2)

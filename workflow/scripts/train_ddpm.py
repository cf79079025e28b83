"""Train one large model (ddpm, ddpm_notransfer or unet) of one season x area."""

import json

from downscaling import large
from downscaling.runtime import config_hash, file_hash, log_to_file, select_device

log = log_to_file(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
paths = {name: inputs[name] for name in ("g5nr", "merra2_on_g5nr", "static", "features", "index")}
run_id = config_hash(
    {
        "model": snakemake.wildcards.large_model,
        "settings": params.settings,
        "tile": params.tile,
        "seed": params.seed,
        "inputs": [file_hash(path) for path in paths.values()],
    }
)
summary = large.train(
    snakemake.wildcards.large_model,
    paths,
    params.settings,
    tile=params.tile,
    seed=params.seed,
    checkpoint_path=params.checkpoint,
    model_path=snakemake.output.model,
    device=select_device(snakemake.threads),
    log=log,
    run_id=run_id,
)
with open(snakemake.output.summary, "w") as f:
    json.dump(summary, f, indent=2)

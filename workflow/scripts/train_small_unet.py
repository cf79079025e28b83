"""Train the small U-Net of one season x area (resumes from its checkpoint after a kill)."""

from downscaling import pretrain
from downscaling.runtime import config_hash, file_hash, log_to_file, select_device

log = log_to_file(snakemake.log[0])
inputs = snakemake.input
params = snakemake.params
run_id = config_hash(
    {
        "settings": params.settings,
        "n_lag": params.n_lag,
        "tiles": params.tiles,
        "seed": params.seed,
        "inputs": [file_hash(inputs.cube), file_hash(inputs.split)],
    }
)
pretrain.train(
    inputs.cube,
    inputs.split,
    params.settings,
    n_lag=params.n_lag,
    tile=params.tiles["size"],
    stride=params.tiles["train_stride"],
    seed=params.seed,
    checkpoint_path=params.checkpoint,
    model_path=snakemake.output.model,
    device=select_device(snakemake.threads),
    log=log,
    run_id=run_id,
)

"""Train the small U-Net of one season x area (resumes from its checkpoint after a kill)."""

from downscaling.training import small_unet_stage
from downscaling.training.loop import TrainingRun
from downscaling.training.settings import StageSettings

inputs, params = snakemake.input, snakemake.params
identity = {"settings": params.settings, "n_lag": params.n_lag, "tiles": params.tiles, "seed": params.seed}
small_unet_stage.train(
    inputs.cube,
    inputs.split,
    StageSettings.from_section(params.settings, params.seed),
    n_lag=params.n_lag,
    tile=params.tiles["size"],
    stride=params.tiles["train_stride"],
    seed=params.seed,
    run=TrainingRun.of_job(snakemake, identity, [inputs.cube, inputs.split]),
)

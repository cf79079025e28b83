"""Transfer features of one season x area's large-model training tiles."""

from downscaling.data import transfer_features
from downscaling.jobs import log_to_file
from downscaling.runtime import select_device
from downscaling.training import small_unet_stage

log = log_to_file(snakemake.log[0])
encoder, norm = small_unet_stage.load_encoder(snakemake.input.small_unet, select_device(snakemake.threads))
index = transfer_features.extract(
    encoder,
    norm,
    snakemake.input.cube,
    snakemake.input.split,
    n_lag=encoder.in_channels,  # the days the small U-Net was trained on: its checkpoint decides
    tile=snakemake.params.tiles["size"],
    stride=snakemake.params.tiles["train_stride"],
    features_path=snakemake.output.features,
    index_path=snakemake.output.index,
)
log.info("%d tiles on %d days", len(index), index.date.nunique())

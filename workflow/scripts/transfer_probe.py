"""What the history encoders of one season x area know (a linear probe of the day's anomaly on
their features) and the frozen encoder's domain gap: downscaling/evaluation/feature_probe.py."""

import json

import numpy as np

from downscaling.data.datasets import open_cube
from downscaling.evaluation import feature_probe
from downscaling.jobs import log_to_file
from downscaling.training import large_model_stage, small_unet_stage

log = log_to_file(snakemake.log[0])
inputs = snakemake.input
tile = snakemake.params.tile
encoder, norm = small_unet_stage.load_encoder(inputs.small_unet)
n_lag = encoder.in_channels
g5nr, merra2_on_g5nr, merra2 = (open_cube(path) for path in (inputs.g5nr, inputs.merra2_on_g5nr, inputs.merra2))
days = small_unet_stage.season_days(g5nr, inputs.g5nr_split, n_lag)
anomaly = feature_probe.anomaly(g5nr.values, merra2_on_g5nr.values, days["train"])
cells = encoder.feature_size(tile)


def per_cell(field, shift=0):
    """{train, test: the field on those days (shift: days before), averaged per feature cell}."""
    return {name: feature_probe.cell_means(field[positions - shift], tile, cells) for name, positions in days.items()}


history = norm.apply(g5nr.values)  # every encoder reads the history as the frozen one does


def features(network):
    return {
        name: feature_probe.cell_features(network, history, positions, n_lag, tile) for name, positions in days.items()
    }


target = per_cell(anomaly)
# Every probe also reads the day's matched MERRA-2, as the models do: the question is what a
# predictor adds to it. Beside the encoders: their own last input (yesterday's G5NR) and
# yesterday's anomaly, which needs yesterday's MERRA-2, an input no encoder reads.
sets = {"frozen pretrained encoder": features(encoder)}
for model, path in zip(snakemake.params.encoder_models, inputs.encoders):
    sets[f"{model}'s encoder"] = features(large_model_stage.load(path)[0].history_encoder)
singles = {
    "the day's MERRA-2 alone": {},
    "yesterday's G5NR": per_cell(g5nr.values, shift=1),
    "yesterday's anomaly": per_cell(anomaly, shift=1),
}
sets |= {name: {k: v[:, None] for k, v in found.items()} for name, found in singles.items()}
sets["frozen encoder + yesterday's anomaly"] = {
    k: np.concatenate([sets["frozen pretrained encoder"][k], sets["yesterday's anomaly"][k]], axis=1) for k in days
}
matched = per_cell(g5nr.values - anomaly)
predictors = {
    name: tuple(
        np.concatenate([*([found[k]] if found else []), matched[k][:, None]], axis=1) for k in ("train", "test")
    )
    for name, found in sets.items()
}
test_dates = g5nr.indexes["time"][days["test"]].normalize()
table = feature_probe.probe(predictors, target, test_dates)
merra2_days = small_unet_stage.season_days(merra2, inputs.merra2_split, n_lag)["train"]
gap = feature_probe.domain_gap(encoder, norm, merra2.values, merra2_days, g5nr.values, days["train"], n_lag, tile)
result = {
    "season": snakemake.wildcards.season,
    "area": snakemake.wildcards.area,
    "probe": table.to_dict(orient="records"),
    "target": "the day's G5NR minus MERRA-2 matched to each pixel's G5NR mean and std over the training days, "
    f"log10, averaged over each feature cell ({tile // cells} x {tile // cells} px); every probe also reads the "
    "day's matched MERRA-2",
    "train_days": len(days["train"]),
    "test_days": len(days["test"]),
    "domain_gap": gap,
}
for row in result["probe"]:
    log.info(
        "%s: R2 %.3f, daily MSE minus %s %+.5f [%+.5f, %+.5f]",
        row["predictors"],
        row["r2"],
        row["minus"],
        row["mse_minus_first"],
        row["low"],
        row["high"],
    )
log.info("domain gap: %s", gap)
with open(snakemake.output.probe, "w") as f:
    json.dump(result, f, indent=1)

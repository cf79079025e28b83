"""Stage 2: the large models on G5NR, conditioned on MERRA-2, covariates and transfer features.

Three variants share data, training loop and file format:
- ``ddpm``: the method, a conditional DDPM predicting x0, with the transfer features;
- ``ddpm_notransfer``: the ablation, the same DDPM without any feature input;
- ``unet``: deterministic, the same inputs minus the noisy target and timestep, MSE to target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import features as transfer
from .datasets import DownscalingTileDataset, MinMax, capped, load_area_fields, split_by_day
from .diffusion import NoiseSchedule, x0_loss
from .models.conditional_unet import ConditionalUNet, condition_channels
from .runtime import atomic_save, load_checkpoint
from .training import TrainingRun, TrainSettings, fit, mean_loss


@dataclass(frozen=True)
class Variant:
    diffusion: bool
    transfer: bool


VARIANTS = {
    "ddpm": Variant(diffusion=True, transfer=True),
    "ddpm_notransfer": Variant(diffusion=True, transfer=False),
    "unet": Variant(diffusion=False, transfer=True),
}


def make_loss(variant: Variant, schedule: NoiseSchedule | None):
    """Training loss of a variant: x0-prediction MSE at a random noise level, or plain MSE."""

    def loss(model, batch, generator):
        x0, batch_features, covariates = batch
        cond = model.condition(batch_features if variant.transfer else None, covariates)
        if variant.diffusion:
            return x0_loss(model, x0, cond, schedule, generator)
        return F.mse_loss(model(cond), x0)

    return loss


def merra2_as_prediction_loss(model, batch, generator, norm: dict) -> torch.Tensor:
    """MSE of simply predicting the MERRA-2 input (mapped to the target's scale): the bar to beat."""
    x0, _, covariates = batch
    merra2_log = MinMax.from_dict(norm["merra2"]).invert(covariates[:, :1])
    return F.mse_loss(MinMax.from_dict(norm["g5nr"]).apply(merra2_log), x0)


def build(variant: Variant, feature_channels: int, kwargs: dict) -> ConditionalUNet:
    used = feature_channels if variant.transfer else 0
    return ConditionalUNet(condition_channels(used), feature_channels=used, **kwargs)


def feature_statistics(features, rows: np.ndarray, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (C,) of features[rows], streamed over the memory map."""
    total = np.zeros(features.shape[1]); squares = np.zeros(features.shape[1]); count = 0
    for start in range(0, len(rows), chunk):
        x = np.asarray(features[rows[start : start + chunk]], dtype=np.float64)  # (n, C, h, w)
        total += x.sum(axis=(0, 2, 3)); squares += (x**2).sum(axis=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


def model_kwargs(variant: Variant, section: dict) -> dict:
    return {
        "channels": tuple(section["channels"]),
        "res_blocks": section["res_blocks"],
        "attention": section["attention"],
        "groups": section["groups"],
        "diffusion": variant.diffusion,
    }


def train(
    model_name: str,
    paths: dict,
    section: dict,
    tile: int,
    seed: int,
    run: TrainingRun,
) -> dict:
    """Fit one large model of one season x area; save it to ``run.model_path`` and return a
    validation summary.

    paths: g5nr, merra2_on_g5nr, static (cubes), features, index (extraction outputs).
    """
    variant, device, log = VARIANTS[model_name], run.device, run.log
    feats, index = transfer.load(paths["features"], paths["index"])
    fields, norm = load_area_fields(
        paths["g5nr"], paths["merra2_on_g5nr"], paths["static"], train_dates=index.date.unique()
    )
    train_days, val_days = split_by_day(index.day.unique(), section["val_fraction"], seed)
    samples = index[["day", "row", "col"]].to_numpy()
    in_train = np.isin(samples[:, 0], train_days)
    datasets = {
        name: DownscalingTileDataset(
            fields, samples, rows, tile, feats if variant.transfer else None
        )
        for name, rows in (("train", np.flatnonzero(in_train)), ("val", np.flatnonzero(~in_train)))
    }
    datasets["val"] = capped(datasets["val"], section.get("val_tiles"), seed)
    log.info(
        "%s: %d train tiles on %d days, %d validation tiles on %d days, %s",
        model_name, len(datasets["train"]), len(train_days),
        len(datasets["val"]), len(val_days), device,
    )
    schedule = NoiseSchedule(section["timesteps"], section["schedule"]).to(device) if variant.diffusion else None
    torch.manual_seed(seed)
    model = build(variant, feats.shape[1], model_kwargs(variant, section))
    if variant.transfer:
        model.set_feature_statistics(*feature_statistics(feats, np.flatnonzero(in_train)))
    loss = make_loss(variant, schedule)
    settings = TrainSettings.from_config(section, seed)
    result = fit(model, loss, datasets["train"], datasets["val"], settings, run)
    baseline = mean_loss(
        model,
        lambda m, b, g: merra2_as_prediction_loss(m, b, g, norm),
        datasets["val"], settings.batch_size, device, seed,
    )
    summary = {
        "model": model_name,
        "val_loss": result.best_val_loss,
        "val_loss_merra2_as_prediction": baseline,
        "epochs": result.epochs_run,
        "stopped_early": result.stopped_early,
        "data_share": result.data_share,
        "history": result.history,
    }
    if variant.diffusion:
        # the honest number for a DDPM: x0 predicted from pure noise, i.e. from the condition alone
        summary["val_loss_from_pure_noise"] = mean_loss(
            model, lambda m, b, g: _loss_at_last_step(m, b, variant, schedule), datasets["val"],
            settings.batch_size, device, seed,
        )
    log.info(
        "%s: best validation loss %.5f vs %.5f for MERRA-2 as the prediction",
        model_name, result.best_val_loss, baseline,
    )
    atomic_save(
        {
            "state_dict": result.best_state,
            "model": model_name,
            "kwargs": model_kwargs(variant, section),
            "feature_channels": int(feats.shape[1]),
            "normalisation": norm,
            "timesteps": section.get("timesteps"),
            "schedule": section.get("schedule"),
            "tile": tile,
            "run_id": run.run_id,
        },
        run.model_path,
    )
    return summary


def _loss_at_last_step(model, batch, variant: Variant, schedule: NoiseSchedule) -> torch.Tensor:
    x0, batch_features, covariates = batch
    cond = model.condition(batch_features if variant.transfer else None, covariates)
    t = torch.full((x0.shape[0],), schedule.T - 1, device=x0.device)
    noise = torch.randn(x0.shape, generator=torch.Generator(x0.device).manual_seed(0), device=x0.device)
    return F.mse_loss(model(cond, schedule.add_noise(x0, noise, t), t), x0)


def load(model_path, device="cpu") -> tuple[ConditionalUNet, dict]:
    """A trained large model (eval mode) and what was saved with it (normalisation, sizes)."""
    saved = load_checkpoint(model_path, map_location=device)
    kwargs = dict(saved["kwargs"], channels=tuple(saved["kwargs"]["channels"]))
    model = build(VARIANTS[saved["model"]], saved["feature_channels"], kwargs)
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval(), saved

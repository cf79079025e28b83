"""Stage 2: the large models on G5NR, conditioned on MERRA-2, covariates and transfer features.

The variants (downscaling.variants) share data, training loop and file format:
- ``ddpm``: the paper's formulation, a conditional DDPM predicting x0, with the transfer features;
- ``ddpm_residual``: residual diffusion (CorrDiff, Mardani et al. 2025): the deterministic
  ``unet`` gives the mean, a DDPM with v-prediction samples G5NR minus that mean;
- ``ddpm_scratch``: the transfer ablation, ``ddpm`` whose history encoder (same shape) is
  trained from scratch with it instead of pretrained on MERRA-2 and frozen; ``ddpm_finetuned``:
  the pretrained encoder trained further with it (the same for ``unet``: ``unet_*``);
- ``ddpm_notransfer``: the paper's ablation, the same DDPM as ``ddpm`` without any history;
- ``unet``: deterministic, the same inputs minus the noisy target and timestep, MSE to target.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from downscaling.data import transfer_features
from downscaling.data.datasets import (
    CLIMATOLOGY_CHANNELS,
    DownscalingTileDataset,
    MinMax,
    capped,
    load_area_fields,
    lowpass_history,
    matched_merra2,
    split_by_day,
)
from downscaling.diffusion.losses import SNR_CAP, denoising_loss, x0_bias, x0_error
from downscaling.diffusion.schedule import NoiseSchedule
from downscaling.models.conditional_unet import ConditionalUNet, condition_channels
from downscaling.models.small_unet import HistoryEncoder
from downscaling.runtime import constructor_kwargs, load_model, save_model
from downscaling.training import small_unet_stage
from downscaling.training.loop import TrainingRun, fit, mean_loss
from downscaling.training.settings import StageSettings
from downscaling.variants import VARIANTS, Variant, reads_history

#: Training tiles whose residual sets a residual model's scale.
RESIDUAL_SCALE_TILES = 4096


class MatchedMerra2(torch.nn.Module):
    """The base of a model trained with ``predict_anomaly``: the day's MERRA-2 matched to each
    pixel's G5NR mean and standard deviation (a covariate channel). The model learns and
    predicts (target - base) / scale, its anomaly (unit RMS over training tiles)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, features, covariates) -> torch.Tensor:
        """The base (B, 1, H, W) on the normalised G5NR scale."""
        return matched_merra2(covariates)


class ResidualBase(torch.nn.Module):
    """The deterministic model a residual variant builds on: its prediction is the mean, and
    (target - mean) / scale is what the diffusion model learns and samples (unit RMS over
    training tiles, as the noise). The mean is also a condition channel of the diffusion model.
    anomaly: the base model's own base, when it was trained with ``predict_anomaly``."""

    def __init__(self, model: ConditionalUNet, scale: float = 1.0, anomaly: MatchedMerra2 | None = None):
        super().__init__()
        self.model, self.scale, self.anomaly = model.eval(), scale, anomaly

    @torch.no_grad()
    def forward(self, features, covariates) -> torch.Tensor:
        """The mean (B, 1, H, W) on the normalised G5NR scale. features: what the residual
        model's batch carries, the transfer features or, for a base that trained its own
        encoder (as the residual model then did), the normalised history that encoder reads."""
        if self.model.history_encoder is not None:
            features = self.model.history_encoder(features)
        out = self.model(self.model.condition(features, covariates))
        return out if self.anomaly is None else self.anomaly(features, covariates) + self.anomaly.scale * out


Base = ResidualBase | MatchedMerra2


def condition_and_target(model, variant: Variant, batch, base: Base | None):
    """(condition, what the model learns) of a training batch: the G5NR tile, or its scaled
    difference from a base (a residual variant's base model, or the matched MERRA-2 of a model
    that predicts the anomaly). The batch's second item is the transfer features, or for a
    scratch encoder the normalised history it encodes."""
    x0, batch_features, covariates = batch
    features = None
    if variant.history == "transfer":
        features = batch_features
    elif variant.trains_encoder:
        features = model.history_encoder(batch_features)
    if base is None:
        return model.condition(features, covariates), x0
    mean = base(batch_features, covariates)
    extra = mean if variant.residual_of else None  # a residual model also sees the mean it adds to
    return model.condition(features, covariates, extra=extra), (x0 - mean) / base.scale


def validation_dates(index, val_days) -> list:
    """The dates (Timestamps) of the validation days, given by their day numbers in `index`."""
    dates = index.drop_duplicates("day").set_index("day")["date"]
    return sorted(pd.Timestamp(date) for date in dates.loc[list(val_days)])


def make_loss(
    variant: Variant,
    schedule: NoiseSchedule | None,
    base: Base | None = None,
    weighting: str = "none",
    snr_cap: float = SNR_CAP,
):
    """Training loss of a variant: denoising loss at a random noise level (weighted by it as
    `weighting` says), or plain MSE."""

    def loss(model, batch, generator):
        cond, target = condition_and_target(model, variant, batch, base)
        if variant.diffusion:
            return denoising_loss(model, target, cond, schedule, generator, variant.prediction, weighting, snr_cap)
        return F.mse_loss(model(cond), target)

    return loss


def x0_error_by_t(
    model,
    variant: Variant,
    dataset,
    schedule: NoiseSchedule,
    base: Base | None,
    batch_size: int,
    device,
    seed: int,
    fractions=(0.01, 0.1, 0.25, 0.5, 0.75, 1.0),
    score=x0_error,
) -> dict:
    """{t: `score` of the x0 estimated from x_t at timestep t} over `dataset` (on the scale the
    model samples: normalised G5NR, or the scaled residual); by default its MSE. A denoiser that
    uses x_t has a much smaller error at small t than at t = T-1, where x_t is pure noise and
    only the condition is left; one that ignores x_t has about the same error at every t.
    `score=x0_bias`: the mean error, which a sampler carries into every sample."""
    errors = {}
    for fraction in fractions:
        t = min(schedule.T - 1, max(0, round(fraction * schedule.T) - 1))

        def error_at_t(m, batch, generator, t=t):
            cond, target = condition_and_target(m, variant, batch, base)
            return score(m, target, cond, schedule, t, variant.prediction, generator)

        errors[t] = mean_loss(model, error_at_t, dataset, batch_size, device, seed)
    return errors


def merra2_as_prediction_loss(model, batch, generator, norm: dict) -> torch.Tensor:
    """MSE of simply predicting the MERRA-2 input (mapped to the target's scale): the bar to beat."""
    x0, _, covariates = batch
    merra2_log = MinMax.from_dict(norm["merra2"]).invert(covariates[:, :1])
    return F.mse_loss(MinMax.from_dict(norm["g5nr"]).apply(merra2_log), x0)


def build(
    variant: Variant, feature_channels: int, kwargs: dict, encoder_kwargs: dict | None = None, climatology: bool = False
) -> ConditionalUNet:
    """The network of a variant; `encoder_kwargs` (the small U-Net's constructor arguments)
    shape the history encoder a scratch variant trains; `climatology`: whether its covariates
    hold the CLIMATOLOGY_CHANNELS."""
    encoder = HistoryEncoder(**encoder_kwargs) if variant.trains_encoder else None
    used = feature_channels if variant.history else 0
    extra = 1 if variant.residual_of else 0  # the residual model also sees the mean it adds to
    return ConditionalUNet(
        condition_channels(used, len(CLIMATOLOGY_CHANNELS) if climatology else 0) + extra,
        feature_channels=used,
        history_encoder=encoder,
        **kwargs,
    )


def residual_scale(base: Base, dataset, batch_size: int, device, seed: int) -> float:
    """RMS of (target - base mean) over `dataset` (normalised G5NR units)."""

    def squared_residual(model, batch, generator):
        x0, batch_features, covariates = batch
        return F.mse_loss(base(batch_features, covariates), x0)

    return max(float(np.sqrt(mean_loss(base, squared_residual, dataset, batch_size, device, seed))), 1e-6)


def feature_statistics(features, rows: np.ndarray, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (C,) of features[rows], streamed over the memory map."""
    total = np.zeros(features.shape[1])
    squares = np.zeros(features.shape[1])
    count = 0
    for start in range(0, len(rows), chunk):
        x = np.asarray(features[rows[start : start + chunk]], dtype=np.float64)  # (n, C, h, w)
        total += x.sum(axis=(0, 2, 3))
        squares += (x**2).sum(axis=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


def model_kwargs(variant: Variant, settings: StageSettings) -> dict:
    return {
        **settings.network.kwargs(),
        "diffusion": variant.diffusion,
        # an anomaly is unbounded; only a normalised G5NR tile lies in [0, 1]
        "bounded": variant.bounded and not settings.predict_anomaly,
    }


def train(
    model_name: str,
    paths: dict,
    settings: StageSettings,
    tile: int,
    seed: int,
    run: TrainingRun,
) -> dict:
    """Fit one large model of one season x area; save it to ``run.model_path`` and return a
    validation summary.

    paths: g5nr, merra2_on_g5nr, static (cubes), features, index (extraction outputs), for
    a residual variant `base`: the trained model it builds on, and for a scratch encoder
    `small_unet`: the pretrained model whose shape and normalisation the encoder takes.
    """
    variant, device, log = VARIANTS[model_name], run.device, run.log
    feats, index = transfer_features.load(paths["features"], paths["index"])
    fields, norm = load_area_fields(
        paths["g5nr"],
        paths["merra2_on_g5nr"],
        paths["static"],
        train_dates=index.date.unique(),
        climatology=settings.climatology_inputs,
    )
    train_days, val_days = split_by_day(index.day.unique(), settings.val_fraction, seed)
    samples = index[["day", "row", "col"]].to_numpy()
    in_train = np.isin(samples[:, 0], train_days)
    inputs, encoder_kwargs = {"features": feats if reads_history(model_name) else None}, None
    if variant.trains_encoder:
        encoder_kwargs, encoder_norm = small_unet_stage.saved_shape(paths["small_unet"])
        g5nr = MinMax.from_dict(norm["g5nr"]).invert(fields.target)
        history = lowpass_history(encoder_norm.apply(g5nr).astype(np.float32), settings.history_lowpass_px)
        inputs = {"history": history, "n_lag": encoder_kwargs["in_channels"]}
    elif settings.history_lowpass_px and reads_history(model_name):
        raise ValueError(
            f"{model_name}: history_lowpass_px is for models whose encoder reads the history itself "
            "(the fine-tuned and scratch variants); this one reads features extracted beforehand"
        )
    datasets = {
        name: DownscalingTileDataset(fields, samples, rows, tile, **inputs)
        for name, rows in (("train", np.flatnonzero(in_train)), ("val", np.flatnonzero(~in_train)))
    }
    datasets["val"] = capped(datasets["val"], settings.val_tiles, seed)
    log.info(
        "%s: %d train tiles on %d days, %d validation tiles on %d days, %s",
        model_name,
        len(datasets["train"]),
        len(train_days),
        len(datasets["val"]),
        len(val_days),
        device,
    )
    schedule = NoiseSchedule(settings.timesteps, settings.schedule).to(device) if variant.diffusion else None
    loop, anomaly = settings.loop, settings.predict_anomaly
    if variant.history == "finetuned":
        loop = replace(loop, encoder_lr_factor=settings.finetune_lr_factor)
    if anomaly and (variant.residual_of or fields.climatology is None):
        raise ValueError(
            f"{model_name}: predict_anomaly needs climatology_inputs (the matched MERRA-2 is one of "
            "them), and is for models other than residual variants (those learn the difference from "
            "their base model)"
        )
    base = None
    if variant.residual_of:
        base_model, base_saved = load(paths["base"], device)
        check_same_climatology(model_name, fields.climatology, variant.residual_of, base_saved.get("climatology"))
        check_same_history_lowpass(model_name, settings.history_lowpass_px, variant.residual_of, base_saved)
        base = ResidualBase(base_model, anomaly=anomaly_base(base_saved))
    elif anomaly:
        base = MatchedMerra2()
    if base is not None:
        base.scale = residual_scale(
            base, capped(datasets["train"], RESIDUAL_SCALE_TILES, seed), loop.batch_size, device, seed
        )
        log.info(
            "%s: learns the difference from %s, RMS %.5f (normalised units)",
            model_name,
            variant.residual_of or "the matched MERRA-2",
            base.scale,
        )
    torch.manual_seed(seed)
    model = build(
        variant, feats.shape[1], model_kwargs(variant, settings), encoder_kwargs, fields.climatology is not None
    )
    if variant.history == "finetuned":  # starts from the pretrained weights, as the transfer variant's frozen copy
        model.history_encoder.load_state_dict(small_unet_stage.load_encoder(paths["small_unet"])[0].state_dict())
    if variant.history in ("transfer", "finetuned"):  # the pretrained encoder's features: standardised
        model.set_feature_statistics(*feature_statistics(feats, np.flatnonzero(in_train)))
    loss = make_loss(variant, schedule, base, settings.loss_weighting, settings.snr_cap)
    result = fit(model, loss, datasets["train"], datasets["val"], loop, run)
    baseline = mean_loss(
        model,
        lambda m, b, g: merra2_as_prediction_loss(m, b, g, norm),
        datasets["val"],
        loop.batch_size,
        device,
        seed,
    )
    summary = {
        "model": model_name,
        "val_loss": result.best_val_loss,
        "val_loss_merra2_as_prediction": baseline,
        "epochs": result.epochs_run,
        "stopped_early": result.stopped_early,
        "data_share": result.data_share,
        "precision": result.precision,
        # held out of training: where the spread calibration (spread_calibration.py) is measured
        "validation_days": [f"{date:%Y-%m-%d}" for date in validation_dates(index, val_days)],
        "history": result.history,
    }
    if variant.diffusion:
        # the validation loss is weighted alike
        summary["loss_weighting"] = {"weighting": settings.loss_weighting, "snr_cap": settings.snr_cap}
        # the honest numbers for a DDPM: does the x0 estimate improve as x_t gets less noisy?
        by_t = x0_error_by_t(model, variant, datasets["val"], schedule, base, loop.batch_size, device, seed)
        summary["val_x0_error_by_t"] = {str(t): error for t, error in by_t.items()}
        summary["val_loss_from_pure_noise"] = by_t[schedule.T - 1]
        bias = x0_error_by_t(
            model, variant, datasets["val"], schedule, base, loop.batch_size, device, seed, score=x0_bias
        )
        summary["val_x0_bias_by_t"] = {str(t): value for t, value in bias.items()}
        log.info(
            "%s: validation x0 error by timestep %s", model_name, ", ".join(f"t={t}: {e:.5f}" for t, e in by_t.items())
        )
    log.info(
        "%s: best validation loss %.5f vs %.5f for MERRA-2 as the prediction",
        model_name,
        result.best_val_loss,
        baseline,
    )
    save(
        run.model_path,
        result.best_state,
        model_name,
        settings,
        int(feats.shape[1]),
        norm,
        tile,
        run.run_id,
        encoder_kwargs,
        base.scale if base else None,
        fields.climatology,
    )  # residual_scale: either base's
    return summary


def save(
    path,
    state_dict: dict,
    model_name: str,
    settings: StageSettings,
    feature_channels: int,
    norm: dict,
    tile: int,
    run_id: str,
    encoder_kwargs: dict | None = None,
    residual_scale: float | None = None,
    climatology: np.ndarray | None = None,
) -> None:
    """Write a large model's weights with everything :func:`load` and inference need to use it
    (its constructor arguments, normalisation, per-pixel climatology maps, noise schedule),
    atomically, weights-only."""
    save_model(
        path,
        state_dict,
        run_id,
        model=model_name,
        kwargs=model_kwargs(VARIANTS[model_name], settings),
        feature_channels=feature_channels,
        history_encoder=encoder_kwargs,
        normalisation=norm,
        timesteps=settings.timesteps,
        schedule=settings.schedule,
        residual_scale=residual_scale,
        tile=tile,
        **({} if climatology is None else {"climatology": torch.from_numpy(climatology)}),
        **({"predicts_anomaly": True} if settings.predict_anomaly else {}),
        **({"history_lowpass_px": settings.history_lowpass_px} if settings.history_lowpass_px else {}),
    )


def load(model_path, device="cpu") -> tuple[ConditionalUNet, dict]:
    """A trained large model (eval mode) and what was saved with it (normalisation, sizes)."""

    def untrained(saved):
        encoder_kwargs = saved.get("history_encoder")
        return build(
            VARIANTS[saved["model"]],
            saved["feature_channels"],
            constructor_kwargs(saved["kwargs"]),
            encoder_kwargs and constructor_kwargs(encoder_kwargs),
            saved.get("climatology") is not None,
        )

    return load_model(model_path, untrained, device)


def load_base(saved: dict, base_path, device) -> Base | None:
    """What a loaded model's prediction builds on, at its saved scale: a residual variant's base
    model, the matched MERRA-2 of a model trained with ``predict_anomaly``, else None."""
    residual_of = VARIANTS[saved["model"]].residual_of
    if not residual_of:
        return anomaly_base(saved)
    base_model, base_saved = load(base_path, device)
    check_same_climatology(saved["model"], saved.get("climatology"), residual_of, base_saved.get("climatology"))
    check_same_history_lowpass(saved["model"], history_lowpass(saved), residual_of, base_saved)
    return ResidualBase(base_model, saved["residual_scale"], anomaly_base(base_saved))


def anomaly_base(saved: dict) -> MatchedMerra2 | None:
    """The matched-MERRA-2 base of a loaded model trained with ``predict_anomaly`` (else None)."""
    return MatchedMerra2(saved["residual_scale"]) if saved.get("predicts_anomaly") else None


def history_lowpass(saved: dict) -> float:
    """The sigma (G5NR pixels) of the low-pass a loaded model's history is read through; 0: none."""
    return float(saved.get("history_lowpass_px", 0.0))


def check_same_history_lowpass(model_name: str, sigma_px: float, base_name: str, base_saved: dict) -> None:
    """A residual model and its base read one history, so through one low-pass."""
    if sigma_px != history_lowpass(base_saved):
        raise ValueError(
            f"{model_name} reads the history through a low-pass of {sigma_px} px, its base {base_name} "
            f"through {history_lowpass(base_saved)} px: a residual model and its base read one history; "
            "set large_model.history_lowpass_px alike for both"
        )


def check_same_climatology(model_name: str, climatology, base_name: str, base_climatology) -> None:
    """ValueError unless a residual model and its base read the same per-pixel climatology maps
    (both or neither): they are fed one covariate stack."""
    if (climatology is None) != (base_climatology is None):

        def has(maps):
            return "with" if maps is not None else "without"

        raise ValueError(
            f"{model_name} was trained {has(climatology)} per-pixel climatology inputs and its base "
            f"{base_name} {has(base_climatology)}; set climatology_inputs alike for both (large_model section "
            f"or per_model) and retrain"
        )

"""Stage 1: pretrain the small U-Net on the long MERRA-2 record of one season x area.

40 daily lags of a native MERRA-2 tile -> the next day. The model, its constructor arguments
and its normalisation are saved together in one weights-only file, so that the transfer
encoder (stage 2) and inference read exactly what was trained.
"""

from __future__ import annotations

import torch

from downscaling.data.datasets import LagTileDataset, MinMax, capped, day_index, open_cube, split_by_day, with_history
from downscaling.data.splits import read_split
from downscaling.evaluation.metrics import mae, r2
from downscaling.models.small_unet import SmallUNet, TransferEncoder
from downscaling.runtime import constructor_kwargs, load_checkpoint, load_model, save_model
from downscaling.training.loop import FitResult, TrainingRun, fit
from downscaling.training.settings import StageSettings


def model_kwargs(settings: StageSettings, n_lag: int) -> dict:
    """SmallUNet constructor arguments from the ``small_unet`` settings."""
    return {"in_channels": n_lag, **settings.network.kwargs()}


def l1_loss(model, batch, generator):
    lags, target = batch
    return torch.nn.functional.l1_loss(model(lags), target)


def season_days(cube, split_csv, n_lag: int) -> dict:
    """Positions on the cube's time axis of the season's train and test days with history."""
    split = read_split(split_csv)
    return {name: with_history(day_index(cube, split.date[split.split == name]), n_lag) for name in ("train", "test")}


def train(
    merra2_path,
    split_csv,
    settings: StageSettings,
    n_lag: int,
    tile: int,
    stride: int,
    seed: int,
    run: TrainingRun,
) -> FitResult:
    """Fit the small U-Net on the season's training days and save the best weights to
    ``run.model_path``."""
    cube = open_cube(merra2_path)
    days = season_days(cube, split_csv, n_lag)
    train_days, val_days = split_by_day(days["train"], settings.val_fraction, seed)
    norm = MinMax.fit(cube.values[days["train"]])
    values = norm.apply(cube.values)
    train_set = LagTileDataset(values, train_days, n_lag, tile, stride)
    val_set = capped(LagTileDataset(values, val_days, n_lag, tile, stride), settings.val_tiles, seed)
    run.log.info(
        "small U-Net: %d train days (%d tiles), %d validation days (%d tiles), %s",
        len(train_days),
        len(train_set),
        len(val_days),
        len(val_set),
        run.device,
    )
    kwargs = model_kwargs(settings, n_lag)
    torch.manual_seed(seed)
    model = SmallUNet(**kwargs)
    result = fit(model, l1_loss, train_set, val_set, settings.loop, run)
    save(run.model_path, result.best_state, kwargs, norm, n_lag, tile, run.run_id, result.best_val_loss)
    return result


def save(
    path,
    state_dict: dict,
    kwargs: dict,
    norm: MinMax,
    n_lag: int,
    tile: int,
    run_id: str,
    best_val_loss: float | None = None,
) -> None:
    """Write the small U-Net's weights with its constructor arguments and normalisation,
    atomically, weights-only (the history, with its timings, is in the training log)."""
    save_model(
        path,
        state_dict,
        run_id,
        kwargs=kwargs,
        normalisation=norm.to_dict(),
        n_lag=n_lag,
        tile=tile,
        best_val_loss=best_val_loss,
    )


def load(model_path, device="cpu") -> tuple[SmallUNet, MinMax]:
    """The trained small U-Net (eval mode) and its MERRA-2 normalisation."""
    model, saved = load_model(model_path, lambda saved: SmallUNet(**constructor_kwargs(saved["kwargs"])), device)
    return model, MinMax.from_dict(saved["normalisation"])


def saved_shape(model_path) -> tuple[dict, MinMax]:
    """The constructor arguments and the normalisation of a trained small U-Net: what an
    encoder of the same shape, reading the same inputs, is built from."""
    saved = load_checkpoint(model_path)
    return constructor_kwargs(saved["kwargs"]), MinMax.from_dict(saved["normalisation"])


def load_encoder(model_path, device="cpu") -> tuple[TransferEncoder, MinMax]:
    """The frozen transfer encoder of a trained small U-Net and its normalisation."""
    model, norm = load(model_path, device)
    return TransferEncoder(model).to(device), norm


@torch.inference_mode()
def evaluate(merra2_path, split_csv, model_path, stride: int, device="cpu") -> dict:
    """One-step-ahead MAE and R² (log10 units) on the test days, beside persistence."""
    model, norm = load(model_path, device)
    saved = load_checkpoint(model_path)
    n_lag, tile = saved["n_lag"], saved["tile"]
    cube = open_cube(merra2_path)
    test_days = season_days(cube, split_csv, n_lag)["test"]
    dataset = LagTileDataset(norm.apply(cube.values), test_days, n_lag, tile, stride)
    lags, target = (torch.stack(x) for x in zip(*(dataset[k] for k in range(len(dataset)))))
    predicted = torch.cat([model(chunk.to(device)).cpu() for chunk in lags.split(256)])
    truth = norm.invert(target.numpy())
    model_pred = norm.invert(predicted.numpy())
    persistence = norm.invert(lags[:, -1:].numpy())
    return {
        "n_days": int(len(test_days)),
        "n_tiles": int(len(dataset)),
        "model": {"mae": mae(model_pred, truth), "r2": r2(model_pred, truth)},
        "persistence": {"mae": mae(persistence, truth), "r2": r2(persistence, truth)},
    }

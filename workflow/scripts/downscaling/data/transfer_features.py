"""Transfer features: the frozen small-U-Net encoder applied to high-resolution history.

For a G5NR tile on day t the history is the tile on days t-n_lag .. t-1, normalised with the
small model's MERRA-2 normalisation (the same physical value means the same input, which is
what makes the encoder transferable). The features of a tile and day are computed once and
reused: from the file written here in training, once per day before denoising at inference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from numpy.lib.format import open_memmap

from downscaling.data.datasets import MinMax, day_index, open_cube, tile_samples, with_history
from downscaling.data.splits import read_split
from downscaling.data.tiling import TileGrid, extract_tiles
from downscaling.models.small_unet import TransferEncoder


def history_tiles(history: torch.Tensor, tile: int, stride: int) -> torch.Tensor:
    """Tiles of the previous days, (..., n_lag, H, W) -> (N, ..., n_lag, tile, tile), row-major."""
    return extract_tiles(history, tile, stride)[0]


@torch.inference_mode()
def encode(encoder: TransferEncoder, history: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Features (N, C, h, w) of histories (N, n_lag, tile, tile), on the encoder's device."""
    device = next(encoder.parameters()).device
    return torch.cat([encoder(chunk.to(device)) for chunk in history.split(batch_size)])


def training_samples(g5nr_cube, split_csv, n_lag: int, tile: int, stride: int) -> pd.DataFrame:
    """(date, day, row, col) of every training tile of the large models, day-major."""
    split = read_split(split_csv)
    days = with_history(day_index(g5nr_cube, split.date[split.split == "train"]), n_lag)
    corners = TileGrid(*g5nr_cube.shape[1:], tile, stride).origins
    samples = tile_samples(days, corners)
    dates = pd.DatetimeIndex(g5nr_cube["time"].values).normalize()[samples[:, 0]]
    return pd.DataFrame({"date": dates, "day": samples[:, 0], "row": samples[:, 1], "col": samples[:, 2]})


def extract(
    encoder: TransferEncoder,
    norm: MinMax,
    g5nr_path,
    split_csv,
    n_lag: int,
    tile: int,
    stride: int,
    features_path,
    index_path,
) -> pd.DataFrame:
    """Write float16 features (N, C, h, w) as a .npy (memory-map friendly) and their index CSV."""
    cube = open_cube(g5nr_path)
    values = norm.apply(cube.values)
    index = training_samples(cube, split_csv, n_lag, tile, stride)
    size = encoder.feature_size(tile)
    out = open_memmap(features_path, mode="w+", dtype=np.float16, shape=(len(index), encoder.out_channels, size, size))
    per_day = TileGrid(*cube.shape[1:], tile, stride).n_tiles
    device = next(encoder.parameters()).device
    for start, day in zip(range(0, len(index), per_day), index["day"].unique()):
        history = torch.from_numpy(np.ascontiguousarray(values[day - n_lag : day], dtype=np.float32))
        out[start : start + per_day] = encode(encoder, history_tiles(history.to(device), tile, stride)).cpu().numpy()
    out.flush()
    index.to_csv(index_path, index=False, date_format="%Y-%m-%d")
    return index


def load(features_path, index_path) -> tuple[np.ndarray, pd.DataFrame]:
    """Features as a read-only memory map, and their (date, day, row, col) index."""
    return np.load(features_path, mmap_mode="r"), pd.read_csv(index_path, parse_dates=["date"])

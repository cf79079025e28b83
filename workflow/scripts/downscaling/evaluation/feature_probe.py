"""What the history encoders know, and how far the transfer encoder's inputs are from those it
was trained on: the diagnostics of the transfer ablation (docs/evaluation.md).

**Linear probe.** For each day with n_lag days of history, the features of every
non-overlapping tile's history (days d-n_lag .. d-1 of G5NR, normalised as the pipeline
normalises it) are regressed cell by cell on the day's anomaly averaged over the cell's pixels:
G5NR minus the day's MERRA-2 matched to each pixel's G5NR mean and standard deviation over the
training days, which is what the method's mean learns (``predict_anomaly``). Every probe also
reads the day's matched MERRA-2, as the models do. Ridge regression fitted on the training
days, R² on the test days; beside the encoders (the rule script chooses the sets): the day's
MERRA-2 alone, yesterday's G5NR of the cell (the encoders' own last input), yesterday's anomaly
(which needs yesterday's MERRA-2, an input no encoder reads) and the frozen encoder with it. The
daily mean squared error of each probe minus the first set's, with the interval of a daily
series (:func:`paired_tests.series_interval`).

**Domain gap.** The frozen encoder was pretrained on native MERRA-2 tiles (16 cells, about
8 x 10 degrees) and is applied to G5NR tiles (16 pixels, about 1 degree), both min-max
normalised with the small U-Net's MERRA-2 range. Three numbers: the Wasserstein-1 distance of
the normalised values, the mean within-tile standard deviation of each (texture at the tile's
scale), and the encoder's features on either (per channel Wasserstein-1 over the standard
deviation of the features on G5NR, averaged over channels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

from downscaling.data.datasets import MinMax, match_moments, pixel_climatology
from downscaling.data.tiling import extract_tiles
from downscaling.data.transfer_features import encode
from downscaling.evaluation.paired_tests import series_interval

#: Ridge penalty on standardised features, relative to the number of training samples: enough
#: to keep 32-256 correlated channels stable, far below the signal's scale.
RIDGE = 1e-3


def anomaly(g5nr: np.ndarray, merra2: np.ndarray, train_positions) -> np.ndarray:
    """G5NR minus MERRA-2 matched to each pixel's G5NR mean and standard deviation over the
    training days (T, H, W), both log10 on the G5NR grid."""
    climatology = pixel_climatology(g5nr[train_positions], merra2[train_positions])
    return g5nr - match_moments(merra2, climatology)


def tiled_shape(shape: tuple[int, int], tile: int) -> tuple[int, int]:
    """Rows and columns of whole non-overlapping tiles in an (H, W) field."""
    return shape[0] // tile, shape[1] // tile


def cell_means(fields: np.ndarray, tile: int, cells: int) -> np.ndarray:
    """(T, H, W) -> (T, rows * cells, cols * cells): the mean over each feature cell's pixels
    of the whole non-overlapping tiles (a tile has cells x cells feature cells)."""
    rows, cols = tiled_shape(fields.shape[-2:], tile)
    size = tile // cells
    cropped = fields[:, : rows * tile, : cols * tile]
    return cropped.reshape(len(fields), rows * cells, size, cols * cells, size).mean(axis=(2, 4))


@torch.inference_mode()
def cell_features(encoder, history: np.ndarray, days, n_lag: int, tile: int) -> np.ndarray:
    """The encoder's features of each day's history (n_days, C, rows * h, cols * w), tiles
    placed where they lie. history: normalised (T, H, W); days: positions with history."""
    rows, cols = tiled_shape(history.shape[-2:], tile)
    out = []
    for day in days:
        window = torch.from_numpy(np.ascontiguousarray(history[day - n_lag : day], dtype=np.float32))
        tiles = extract_tiles(window[:, : rows * tile, : cols * tile], tile, tile)[0]  # (N, n_lag, t, t)
        features = encode(encoder, tiles).cpu().float()  # (N, C, h, w)
        c, h, w = features.shape[1:]
        out.append(features.reshape(rows, cols, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, rows * h, cols * w))
    return torch.stack(out).numpy()


def _samples(features: np.ndarray) -> np.ndarray:
    """(n_days, C, h, w) -> (n_days * h * w, C), day-major."""
    return features.transpose(0, 2, 3, 1).reshape(-1, features.shape[1])


def ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Ridge regression with an intercept on standardised columns (:data:`RIDGE` x n)."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0

    def design(x):
        return np.column_stack([np.ones(len(x)), (x - mean) / std])

    a = design(x_train)
    penalty = RIDGE * len(a) * np.eye(a.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(a.T @ a + penalty, a.T @ y_train)
    return design(x_test) @ coef


def probe(
    predictors: dict[str, tuple[np.ndarray, np.ndarray]], target: dict[str, np.ndarray], test_dates
) -> pd.DataFrame:
    """Per predictor set {name: (train (n_days, C, h, w), test (...))}: R² on the test cells and
    the daily mean squared error minus the first set's, with a 95 % interval over the days."""
    y_train, y_test = (target[k].reshape(-1) for k in ("train", "test"))
    cells = target["test"][0].size
    daily = {}
    rows = []
    for name, (train, test) in predictors.items():
        predicted = ridge_predict(_samples(train), y_train, _samples(test))
        daily[name] = pd.Series(((predicted - y_test) ** 2).reshape(-1, cells).mean(axis=1), index=test_dates)
        r2 = 1 - float(np.sum((predicted - y_test) ** 2)) / float(np.sum((y_test - y_test.mean()) ** 2))
        rows.append({"predictors": name, "channels": train.shape[1], "r2": r2, "mse": float(daily[name].mean())})
    first = next(iter(daily))
    for row in rows:
        difference = daily[row["predictors"]] - daily[first]
        low, high = series_interval(difference) if row["predictors"] != first else (0.0, 0.0)
        row.update(mse_minus_first=float(difference.mean()), low=low, high=high, minus=first)
    return pd.DataFrame(rows)


def domain_gap(encoder, norm: MinMax, merra2_native: np.ndarray, merra2_days, g5nr: np.ndarray, g5nr_days, n_lag, tile):
    """The frozen encoder's inputs and features on the MERRA-2 days it was trained on against
    the G5NR days it is applied to (see the module's docstring)."""
    merra2_n = norm.apply(merra2_native).astype(np.float32)
    g5nr_n = norm.apply(g5nr).astype(np.float32)
    merra2_features = cell_features(encoder, merra2_n, merra2_days, n_lag, tile)
    g5nr_features = cell_features(encoder, g5nr_n, g5nr_days, n_lag, tile)

    def tile_std(values, days):
        rows, cols = tiled_shape(values.shape[-2:], tile)
        cut = values[days][:, : rows * tile, : cols * tile].reshape(len(days), rows, tile, cols, tile)
        return float(cut.std(axis=(2, 4)).mean())

    per_channel = [
        stats.wasserstein_distance(merra2_features[:, c].ravel(), g5nr_features[:, c].ravel())
        / max(float(g5nr_features[:, c].std()), 1e-12)
        for c in range(g5nr_features.shape[1])
    ]
    return {
        "inputs_wasserstein": float(
            stats.wasserstein_distance(merra2_n[merra2_days].ravel(), g5nr_n[g5nr_days].ravel())
        ),
        "tile_std_merra2": tile_std(merra2_n, merra2_days),
        "tile_std_g5nr": tile_std(g5nr_n, g5nr_days),
        "features_wasserstein_over_std": float(np.mean(per_channel)),
        "units": "normalised inputs (the small U-Net's MERRA-2 min-max); features in G5NR feature standard deviations",
    }

"""Vectorised tiling: cut a field into square tiles and stitch tiles back with halo cropping
and 2-D Hann overlap-add weights. No Python loop runs over tiles: extraction is a strided
view (Tensor.unfold) plus one gather, stitching is one scatter-add (index_add_).

Tile origins along an axis are 0, stride, 2*stride, ... and, when the stride does not divide
the domain, a last origin flush with the edge (length - tile). Tiles are ordered row-major
over (row origin, column origin).
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def tile_origins(length: int, tile: int, stride: int) -> np.ndarray:
    """1-D int64 origins 0, stride, ... plus length - tile if not already reached.

    Raises ValueError if tile or stride < 1, or length < tile.
    """
    if tile < 1 or stride < 1:
        raise ValueError(f"tile and stride must be >= 1, got tile={tile}, stride={stride}")
    if length < tile:
        raise ValueError(f"domain length {length} is smaller than the tile {tile}")
    origins = np.arange(0, length - tile + 1, stride, dtype=np.int64)
    if origins[-1] != length - tile:
        origins = np.append(origins, length - tile)
    return origins


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of a (height, width) domain sit: `rows` and `cols` are the 1-D origins,
    `origins` the (N, 2) (row, col) pairs in row-major order, N = len(rows) * len(cols)."""

    height: int
    width: int
    tile: int
    stride: int

    @property
    def rows(self) -> np.ndarray:
        return tile_origins(self.height, self.tile, self.stride)

    @property
    def cols(self) -> np.ndarray:
        return tile_origins(self.width, self.tile, self.stride)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    @property
    def n_tiles(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def origins(self) -> np.ndarray:
        rows, cols = np.meshgrid(self.rows, self.cols, indexing="ij")
        return np.stack([rows.ravel(), cols.ravel()], axis=1)  # (N, 2)


def extract_tiles(field: torch.Tensor, tile: int, stride: int) -> tuple[torch.Tensor, TileGrid]:
    """Cut field (..., H, W) into tiles (N, ..., tile, tile), row-major; returns (tiles, grid)."""
    grid = TileGrid(field.shape[-2], field.shape[-1], tile, stride)
    windows = field.unfold(-2, tile, 1).unfold(-2, tile, 1)  # view (..., H-t+1, W-t+1, t, t)
    # window positions first, so that the one gather below writes (N, ..., t, t) contiguously
    windows = windows.movedim((-4, -3), (0, 1))  # view (H-t+1, W-t+1, ..., t, t)
    rows = torch.from_numpy(grid.rows).to(field.device)
    cols = torch.from_numpy(grid.cols).to(field.device)
    tiles = windows[rows[:, None], cols[None, :]]  # (ny, nx, ..., t, t)
    return tiles.flatten(0, 1), grid


def hann_window_2d(tile: int, halo: int, eps: float = 1e-3, dtype=torch.float32) -> torch.Tensor:
    """(tile - 2*halo, tile - 2*halo) outer product of symmetric 1-D Hann windows over the tile
    interior left after cropping `halo` pixels per edge, floored at eps so no weight vanishes."""
    if halo < 0 or tile - 2 * halo < 1:
        raise ValueError(f"halo must be in [0, (tile - 1) / 2]; got halo={halo} for tile={tile}")
    hann = torch.hann_window(tile - 2 * halo, periodic=False, dtype=torch.float64).clamp_min(eps)
    return torch.outer(hann, hann).to(dtype)


def _kept_along_axis(origins: np.ndarray, length: int, tile: int, halo: int) -> torch.Tensor:
    """(n, tile) bool: which pixels of each tile along one axis survive halo cropping. Edges
    inside the domain lose `halo` pixels; edges on the domain boundary keep them."""
    kept = np.ones((len(origins), tile), dtype=bool)
    kept[origins > 0, :halo] = False
    kept[origins + tile < length, tile - halo:] = False
    return torch.from_numpy(kept)


def stitch_tiles(tiles: torch.Tensor, grid: TileGrid, halo: int, eps: float = 1e-3,
                 window: torch.Tensor | None = None) -> torch.Tensor:
    """Overlap-add tiles (N, ..., tile, tile) in `grid` order into (..., H, W).

    Each tile loses `halo` pixels on its edges that lie inside the domain; its kept pixels are
    weighted by `window` (default hann_window_2d(tile, halo, eps), an (n, n) interior window,
    n = tile - 2*halo; halo pixels kept on the domain boundary take the nearest interior
    weight); the weighted sum is divided by the summed weights. The inverse of extract_tiles
    for identical overlaps. Raises ValueError if stride > tile - 2*halo (the cropped tiles
    would leave gaps) or the tiles do not match the grid.

    Blending needs overlap: at stride == tile - 2*halo the kept regions only abut, so tiles
    that disagree meet in a step; stride <= (tile - 2*halo) / 2 hides such seams.
    """
    n_tiles, tile = tiles.shape[0], grid.tile
    if tiles.shape[0] != grid.n_tiles or tiles.shape[-2:] != (tile, tile):
        raise ValueError(f"expected tiles (N={grid.n_tiles}, ..., {tile}, {tile}), got {tuple(tiles.shape)}")
    if halo < 0 or 2 * halo >= tile:
        raise ValueError(f"halo must be in [0, (tile - 1) / 2]; got halo={halo} for tile={tile}")
    if grid.stride > tile - 2 * halo:
        raise ValueError(
            f"stride {grid.stride} > tile - 2*halo = {tile - 2 * halo}: cropped tiles would not cover the domain"
        )
    if window is None:
        window = hann_window_2d(tile, halo, eps, dtype=tiles.dtype)
    interior = tile - 2 * halo
    if window.shape != (interior, interior):
        raise ValueError(f"window must be the ({interior}, {interior}) tile interior, got {tuple(window.shape)}")
    window = window.to(device=tiles.device, dtype=tiles.dtype)
    window = F.pad(window[None, None], (halo,) * 4, mode="replicate")[0, 0]  # (t, t)

    kept_rows = _kept_along_axis(grid.rows, grid.height, tile, halo).to(tiles.device)  # (ny, t)
    kept_cols = _kept_along_axis(grid.cols, grid.width, tile, halo).to(tiles.device)  # (nx, t)
    kept = kept_rows[:, None, :, None] & kept_cols[None, :, None, :]  # (ny, nx, t, t)
    weights = (window * kept).reshape(n_tiles, tile, tile)  # (N, t, t)

    # Flat index of every tile pixel in the (H, W) domain.
    offsets = torch.arange(tile, device=tiles.device)
    rows = torch.from_numpy(grid.rows).to(tiles.device)[:, None] + offsets  # (ny, t)
    cols = torch.from_numpy(grid.cols).to(tiles.device)[:, None] + offsets  # (nx, t)
    flat_index = (rows[:, None, :, None] * grid.width + cols[None, :, None, :]).reshape(-1)  # (N*t*t,)

    leading = tiles.shape[1:-2]
    weighted = tiles * weights.reshape(n_tiles, *([1] * len(leading)), tile, tile)
    weighted = weighted.movedim(0, -3).reshape(*leading, -1)  # (..., N*t*t)
    numerator = tiles.new_zeros(*leading, grid.height * grid.width).index_add_(-1, flat_index, weighted)
    denominator = tiles.new_zeros(grid.height * grid.width).index_add_(0, flat_index, weights.reshape(-1))
    return (numerator / denominator).reshape(*leading, grid.height, grid.width)

"""Vectorised tiling: cut a field into square tiles and stitch tiles back with halo cropping
and 2-D Hann overlap-add weights. No Python loop runs over tiles: extraction is a strided
view (Tensor.unfold) copied out in at most four blocks, stitching is one scatter-add (index_add_).

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


def _axis_blocks(origins: np.ndarray, stride: int) -> list[tuple[slice, slice]]:
    """(window positions, tile positions) slice pairs along one axis: the evenly spaced
    origins as one strided slice, and a last origin flush with the edge (if any) as another."""
    regular = len(origins) if len(origins) == 1 or origins[-1] - origins[-2] == stride else len(origins) - 1
    blocks = [(slice(0, int(origins[regular - 1]) + 1, stride), slice(0, regular))]
    if regular < len(origins):
        blocks.append((slice(int(origins[-1]), int(origins[-1]) + 1), slice(regular, regular + 1)))
    return blocks


def extract_tiles(field: torch.Tensor, tile: int, stride: int) -> tuple[torch.Tensor, TileGrid]:
    """Cut field (..., H, W) into tiles (N, ..., tile, tile), row-major; returns (tiles, grid)."""
    grid = TileGrid(field.shape[-2], field.shape[-1], tile, stride)
    windows = field.unfold(-2, tile, 1).unfold(-2, tile, 1)  # view (..., H-t+1, W-t+1, t, t)
    windows = windows.movedim((-4, -3), (0, 1))  # view (H-t+1, W-t+1, ..., t, t)
    # At most four strided copies of basic-slice views: measured 2.8x faster than one
    # advanced-indexing gather of the same tiles (40 days x 667 tiles of 16 x 16).
    tiles = field.new_empty(*grid.shape, *field.shape[:-2], tile, tile)
    for window_rows, tile_rows in _axis_blocks(grid.rows, stride):
        for window_cols, tile_cols in _axis_blocks(grid.cols, stride):
            tiles[tile_rows, tile_cols] = windows[window_rows, window_cols]
    return tiles.flatten(0, 1), grid


class FieldTiles:
    """The tiles of fields (Mh, C, H, W), read by rows of the member-major order (row i: field
    (i // N) % Mh, tile i % N of the grid's N) without cutting every tile at once: memory of the
    fields, not of their tiles (16 times the fields at a stride of a quarter tile)."""

    def __init__(self, fields: torch.Tensor, grid: TileGrid):
        self.windows = fields.unfold(-2, grid.tile, 1).unfold(-2, grid.tile, 1)  # view (Mh, C, H-t+1, W-t+1, t, t)
        self.origins = torch.as_tensor(grid.origins, device=fields.device)
        self.n_tiles, self.n_fields = grid.n_tiles, len(fields)

    def __len__(self) -> int:
        return self.n_fields * self.n_tiles

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Tiles (stop - start, C, t, t) of rows start..stop-1."""
        i = torch.arange(start, stop, device=self.origins.device)
        field, tile = (i // self.n_tiles) % self.n_fields, i % self.n_tiles
        return self.windows[field, :, self.origins[tile, 0], self.origins[tile, 1]]


def hann_window_2d(tile: int, halo: int, eps: float = 1e-3, dtype=torch.float32) -> torch.Tensor:
    """(tile - 2*halo, tile - 2*halo) outer product of a symmetric 1-D Hann window over the whole
    tile, cropped to the interior left after cutting `halo` pixels per edge (the authors'
    window), floored at eps so no weight vanishes.

    A Hann window over the interior alone falls to ~0 at the interior's edge, so where cropped
    tiles overlap by a few pixels one tile carries nearly all the weight: a hard seam. Cropped
    from the whole tile, the weights at the interior's edge stay large (0.55 for tile 16, halo
    4) and overlapping tiles blend.
    """
    if halo < 0 or tile - 2 * halo < 1:
        raise ValueError(f"halo must be in [0, (tile - 1) / 2]; got halo={halo} for tile={tile}")
    hann = torch.hann_window(tile, periodic=False, dtype=torch.float64)[halo : tile - halo].clamp_min(eps)
    return torch.outer(hann, hann).to(dtype)


def _kept_along_axis(origins: np.ndarray, length: int, tile: int, halo: int) -> torch.Tensor:
    """(n, tile) bool: which pixels of each tile along one axis survive halo cropping. Edges
    inside the domain lose `halo` pixels; edges on the domain boundary keep them."""
    kept = np.ones((len(origins), tile), dtype=bool)
    kept[origins > 0, :halo] = False
    kept[origins + tile < length, tile - halo :] = False
    return torch.from_numpy(kept)


class OverlapAdd:
    """Stitching of tiles in one grid: halo crop + window overlap-add, with the weights, the
    scatter index and the summed weights built once, so that stitching day after day of an
    area costs one weighting and one scatter-add (index_add_) per call.

    Each tile loses `halo` pixels on its edges that lie inside the domain; its kept pixels are
    weighted by `window` (default hann_window_2d(tile, halo, eps), an (n, n) interior window,
    n = tile - 2*halo; halo pixels kept on the domain boundary take the nearest interior
    weight); the weighted sum is divided by the summed weights. The inverse of extract_tiles
    for identical overlaps. Raises ValueError if stride > tile - 2*halo (the cropped tiles
    would leave gaps).

    Blending needs overlap: at stride == tile - 2*halo the kept regions only abut, so tiles
    that disagree meet in a step; stride <= (tile - 2*halo) / 2 hides such seams.
    """

    def __init__(
        self,
        grid: TileGrid,
        halo: int,
        eps: float = 1e-3,
        window: torch.Tensor | None = None,
        device=None,
        dtype=torch.float32,
    ):
        tile = grid.tile
        if halo < 0 or 2 * halo >= tile:
            raise ValueError(f"halo must be in [0, (tile - 1) / 2]; got halo={halo} for tile={tile}")
        if grid.stride > tile - 2 * halo:
            raise ValueError(
                f"stride {grid.stride} > tile - 2*halo = {tile - 2 * halo}: cropped tiles would not cover the domain"
            )
        if window is None:
            window = hann_window_2d(tile, halo, eps, dtype=dtype)
        interior = tile - 2 * halo
        if window.shape != (interior, interior):
            raise ValueError(f"window must be the ({interior}, {interior}) tile interior, got {tuple(window.shape)}")
        window = window.to(device=device, dtype=dtype)
        window = F.pad(window[None, None], (halo,) * 4, mode="replicate")[0, 0]  # (t, t)

        kept_rows = _kept_along_axis(grid.rows, grid.height, tile, halo).to(device)  # (ny, t)
        kept_cols = _kept_along_axis(grid.cols, grid.width, tile, halo).to(device)  # (nx, t)
        kept = kept_rows[:, None, :, None] & kept_cols[None, :, None, :]  # (ny, nx, t, t)
        self.grid = grid
        self.weights = (window * kept).reshape(grid.n_tiles, tile, tile)  # (N, t, t)

        # Flat index of every tile pixel in the (H, W) domain.
        offsets = torch.arange(tile, device=device)
        rows = torch.from_numpy(grid.rows).to(device)[:, None] + offsets  # (ny, t)
        cols = torch.from_numpy(grid.cols).to(device)[:, None] + offsets  # (nx, t)
        self.flat_index = (rows[:, None, :, None] * grid.width + cols[None, :, None, :]).reshape(-1)  # (N*t*t,)
        self.weight_sum = self.weights.new_zeros(grid.height * grid.width).index_add_(
            0, self.flat_index, self.weights.reshape(-1)
        )

    def __call__(self, tiles: torch.Tensor) -> torch.Tensor:
        """Tiles (N, ..., tile, tile) in grid order -> the stitched field (..., H, W)."""
        grid, tile = self.grid, self.grid.tile
        if tiles.shape[0] != grid.n_tiles or tiles.shape[-2:] != (tile, tile):
            raise ValueError(f"expected tiles (N={grid.n_tiles}, ..., {tile}, {tile}), got {tuple(tiles.shape)}")
        leading = tiles.shape[1:-2]
        weighted = tiles * self.weights.reshape(grid.n_tiles, *([1] * len(leading)), tile, tile)
        weighted = weighted.movedim(0, -3).reshape(*leading, -1)  # (..., N*t*t)
        numerator = tiles.new_zeros(*leading, grid.height * grid.width).index_add_(-1, self.flat_index, weighted)
        return (numerator / self.weight_sum).reshape(*leading, grid.height, grid.width)


def stitch_tiles(
    tiles: torch.Tensor, grid: TileGrid, halo: int, eps: float = 1e-3, window: torch.Tensor | None = None
) -> torch.Tensor:
    """Overlap-add tiles (N, ..., tile, tile) in `grid` order into (..., H, W); see OverlapAdd
    (build one to stitch many fields of the same grid)."""
    return OverlapAdd(grid, halo, eps, window, tiles.device, tiles.dtype)(tiles)

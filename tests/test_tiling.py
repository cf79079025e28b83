"""Tile extraction and halo + Hann overlap-add stitching."""
import numpy as np
import pytest
import torch

from downscaling.tiling import TileGrid, extract_tiles, hann_window_2d, stitch_tiles, tile_origins

TILE, HALO = 16, 4


def test_tile_origins():
    assert tile_origins(40, 16, 8).tolist() == [0, 8, 16, 24]  # stride divides: no extra origin
    assert tile_origins(45, 16, 8).tolist() == [0, 8, 16, 24, 29]  # last one flush with the edge
    assert tile_origins(16, 16, 4).tolist() == [0]
    assert tile_origins(17, 16, 4).tolist() == [0, 1]
    with pytest.raises(ValueError, match="smaller than the tile"):
        tile_origins(15, 16, 4)
    with pytest.raises(ValueError, match="stride"):
        tile_origins(40, 16, 0)


def test_extract_tiles_row_major_with_leading_dims():
    field = torch.arange(2 * 3 * 37 * 45, dtype=torch.float32).reshape(2, 3, 37, 45)
    tiles, grid = extract_tiles(field, TILE, 8)
    assert grid.shape == (4, 5) and grid.n_tiles == 20
    assert tiles.shape == (20, 2, 3, TILE, TILE)
    assert grid.origins[0].tolist() == [0, 0] and grid.origins[1].tolist() == [0, 8]
    assert grid.origins[-1].tolist() == [37 - TILE, 45 - TILE]
    for k, (r, c) in enumerate(grid.origins):
        assert torch.equal(tiles[k], field[..., r:r + TILE, c:c + TILE])


@pytest.mark.parametrize("height, width, stride", [(16, 16, 4), (17, 40, 8), (40, 45, 8), (45, 17, 6), (46, 46, 1)])
def test_extract_tiles_with_and_without_an_edge_origin(height, width, stride):
    # the evenly spaced origins and the flush last one are copied as separate blocks
    field = torch.rand(3, height, width)
    tiles, grid = extract_tiles(field, TILE, stride)
    expected = torch.stack([field[:, r:r + TILE, c:c + TILE] for r, c in grid.origins])
    assert torch.equal(tiles, expected)


def test_hann_window_2d():
    window = hann_window_2d(TILE, HALO, eps=1e-3)
    n = TILE - 2 * HALO
    assert window.shape == (n, n)
    assert window.min().item() == pytest.approx(1e-6)  # eps^2 in the corners: never zero
    hann = torch.hann_window(n, periodic=False).clamp_min(1e-3)
    torch.testing.assert_close(window, torch.outer(hann, hann))
    torch.testing.assert_close(window, window.T)
    with pytest.raises(ValueError, match="halo"):
        hann_window_2d(8, 4)


@pytest.mark.parametrize("height, width", [(37, 45), (16, 29), (50, 17)])
@pytest.mark.parametrize("stride", [1, 2, 3, 5, 8])
def test_stitch_reproduces_the_field(height, width, stride):
    field = torch.randn(2, height, width, dtype=torch.float64, generator=torch.Generator().manual_seed(stride))
    tiles, grid = extract_tiles(field, TILE, stride)
    torch.testing.assert_close(stitch_tiles(tiles, grid, HALO), field, rtol=0, atol=1e-12)


def test_stitch_float32_with_member_batch_matches_per_member():
    members = torch.rand(3, 1, 37, 45, generator=torch.Generator().manual_seed(0))  # (M, C, H, W)
    tiles, grid = extract_tiles(members, TILE, 4)  # (N, M, C, t, t)
    stitched = stitch_tiles(tiles, grid, HALO)
    assert stitched.shape == (3, 1, 37, 45)
    torch.testing.assert_close(stitched, members, rtol=1e-6, atol=1e-6)
    for m in range(3):
        torch.testing.assert_close(stitched[m], stitch_tiles(tiles[:, m], grid, HALO), rtol=0, atol=1e-7)


def test_stride_wider_than_the_cropped_tile_raises():
    tiles, grid = extract_tiles(torch.rand(40, 40), TILE, 9)
    with pytest.raises(ValueError, match="stride 9 > tile - 2\\*halo = 8"):
        stitch_tiles(tiles, grid, HALO)
    stitch_tiles(tiles, grid, halo=3)  # 9 <= 16 - 6: allowed
    with pytest.raises(ValueError, match="expected tiles"):
        stitch_tiles(tiles[:-1], grid, halo=3)


def _kept_membership(grid: TileGrid, halo: int) -> np.ndarray:
    """(N, H, W) bool: pixel lies in tile k's kept (halo-cropped) region. Written independently
    of the library, one tile at a time."""
    kept = np.zeros((grid.n_tiles, grid.height, grid.width), dtype=bool)
    for k, (r, c) in enumerate(grid.origins):
        r0 = r + (halo if r > 0 else 0)
        r1 = r + grid.tile - (halo if r + grid.tile < grid.height else 0)
        c0 = c + (halo if c > 0 else 0)
        c1 = c + grid.tile - (halo if c + grid.tile < grid.width else 0)
        kept[k, r0:r1, c0:c1] = True
    return kept


def _border_and_inside_jumps(stitched: np.ndarray, kept: np.ndarray):
    """Max |difference| between neighbouring pixels (along rows and columns), split into
    border pairs (the set of tiles whose kept region holds the pixel changes between the two:
    where a hard cut would put a seam) and inside pairs (same set of tiles)."""
    border, inside = [], []
    for axis in (0, 1):
        jump = np.abs(np.diff(stitched, axis=axis))
        crosses = np.any(np.diff(kept, axis=axis + 1), axis=0)
        border.append(jump[crosses].max())
        inside.append(jump[~crosses].max())
    return max(border), max(inside)


# Strides from half the cropped interior (8 px) up to an overlap of 2 px. Below half the
# interior every other neighbour pair is a border pair, so the border / inside split stops
# meaning anything; at stride == tile - 2*halo the kept regions abut without overlap and a
# per-tile offset necessarily shows as a step (see stitch_tiles).
@pytest.mark.parametrize("stride", [4, 5, 6])
def test_no_seam_for_tiles_with_constant_offsets(stride):
    # A smooth field; tile k is the field plus its own constant c_k, as if each tile's sample
    # were off by a different bias.
    height, width = 45, 53
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    field = torch.from_numpy(np.sin(x / 7.0) + np.cos(y / 5.0) * 0.5)
    tiles, grid = extract_tiles(field[None], TILE, stride)  # (N, 1, t, t)
    offsets = torch.rand(grid.n_tiles, 1, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    tiles = tiles + (offsets - 0.5)  # c_k in [-0.5, 0.5]: far larger than the field's steps (<= 0.15)
    kept = _kept_membership(grid, HALO)

    hann = stitch_tiles(tiles, grid, HALO)[0].numpy()
    border, inside = _border_and_inside_jumps(hann, kept)
    assert border <= inside, (border, inside)

    # The criterion can fail: equal weights (a plain average of the cropped tiles) jump at borders.
    flat = stitch_tiles(tiles, grid, HALO, window=torch.ones(TILE - 2 * HALO, TILE - 2 * HALO))[0].numpy()
    flat_border, flat_inside = _border_and_inside_jumps(flat, kept)
    assert flat_border > flat_inside, (flat_border, flat_inside)

"""Tile extraction and halo + Hann overlap-add stitching."""

import numpy as np
import pytest
import torch

from downscaling.data.tiling import FieldTiles, extract_tiles, hann_window_2d, stitch_tiles, tile_origins
from downscaling.evaluation.spatial import seam_ratio

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
        assert torch.equal(tiles[k], field[..., r : r + TILE, c : c + TILE])


@pytest.mark.parametrize("height, width, stride", [(16, 16, 4), (17, 40, 8), (40, 45, 8), (45, 17, 6), (46, 46, 1)])
def test_extract_tiles_with_and_without_an_edge_origin(height, width, stride):
    # the evenly spaced origins and the flush last one are copied as separate blocks
    field = torch.rand(3, height, width)
    tiles, grid = extract_tiles(field, TILE, stride)
    expected = torch.stack([field[:, r : r + TILE, c : c + TILE] for r, c in grid.origins])
    assert torch.equal(tiles, expected)


def test_hann_window_2d():
    window = hann_window_2d(TILE, HALO, eps=1e-3)
    n = TILE - 2 * HALO
    assert window.shape == (n, n)
    # the authors' window: Hann over the whole tile, cropped; 0.552 at the interior's edge
    hann = 0.5 * (1 - torch.cos(2 * torch.pi * torch.arange(HALO, TILE - HALO) / (TILE - 1)))
    torch.testing.assert_close(window, torch.outer(hann, hann))
    assert window.min().item() == pytest.approx(0.552**2, abs=1e-3)
    assert hann_window_2d(TILE, 0).min().item() == pytest.approx(1e-6)  # eps^2 in the corners: never zero
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


@pytest.mark.parametrize("stride", [4, 6])
def test_stitching_leaves_no_tile_period_signature(stride):
    # A smooth field; tile k is the field plus its own constant c_k, as if each tile's estimate
    # were off by a different bias: the stitched field must not show the stride's period.
    height, width = 64, 160
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    field = torch.from_numpy(np.sin(x / 7.0) + np.cos(y / 5.0) * 0.5)
    assert seam_ratio(field.numpy(), stride) < 1.1  # the smooth field itself has no signature
    tiles, grid = extract_tiles(field[None], TILE, stride)  # (N, 1, t, t)
    torch.testing.assert_close(stitch_tiles(tiles, grid, HALO)[0], field, rtol=0, atol=1e-12)  # known answer
    offsets = 0.1 * torch.randn(grid.n_tiles, 1, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    stitched = stitch_tiles(tiles + offsets, grid, HALO)[0].numpy()
    blended = seam_ratio(stitched, stride)
    # The criterion can fail: a Hann window over the cropped interior only (weights ~0 at its
    # edges) hands each overlapped pixel to one tile, a hard switch at one phase of the stride.
    n = TILE - 2 * HALO
    interior = torch.hann_window(n, periodic=False, dtype=torch.float64).clamp_min(1e-3)
    hard = seam_ratio(
        stitch_tiles(tiles + offsets, grid, HALO, window=torch.outer(interior, interior))[0].numpy(), stride
    )
    assert blended < 1.15, blended
    if stride == 6:  # 2 px of overlap: there the interior-only window switches hard
        assert hard > 1.5 and blended < 0.75 * hard, (blended, hard)


def test_seam_ratio_sees_a_periodic_step():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(3, 48, 96))
    assert seam_ratio(noise, 6) < 1.1
    blocks = np.repeat(rng.normal(size=96 // 6), 6)  # a level per block of six columns
    assert seam_ratio(noise + blocks, 6) > 1.3


def test_field_tiles_reads_the_tiles_of_extract_tiles_by_member_major_rows():
    fields = torch.randn(3, 2, 30, 41)  # 3 histories of 2 channels
    tiles, grid = extract_tiles(fields, 16, 5)  # (N, 3, 2, 16, 16)
    by_rows = FieldTiles(fields, grid)
    assert len(by_rows) == 3 * grid.n_tiles
    expected = tiles.transpose(0, 1).flatten(0, 1)  # member-major: row i = field i // N, tile i % N
    torch.testing.assert_close(by_rows.rows(0, len(by_rows)), expected, rtol=0, atol=0)
    torch.testing.assert_close(by_rows.rows(7, 19), expected[7:19], rtol=0, atol=0)
    # rows past the last field wrap around (M members reading one shared history, Mh = 1)
    shared = FieldTiles(fields[:1], grid)
    torch.testing.assert_close(shared.rows(grid.n_tiles, 2 * grid.n_tiles), expected[: grid.n_tiles], rtol=0, atol=0)

"""Shapes and contracts of the small U-Net, the frozen transfer encoder and the conditional U-Net."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from downscaling.models.blocks import ResidualBlock, SelfAttention2d, sinusoidal_embedding
from downscaling.models.conditional_unet import ConditionalUNet, build_condition, condition_channels, upsample_bilinear
from downscaling.models.small_unet import SmallUNet, TransferEncoder

DEMO_SMALL = dict(channels=(16, 32, 64), res_blocks=1)
DEMO_LARGE = dict(channels=(16, 32, 64), res_blocks=1)


def _lags(batch=2, size=16, seed=0):
    return torch.rand(batch, 40, size, size, generator=torch.Generator().manual_seed(seed))


def _static_maps(batch, size, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, 1, size, size, generator=g) for _ in range(5)]  # merra, elev, lat, lon, year


def test_sinusoidal_embedding_shape_and_distinct_timesteps():
    emb = sinusoidal_embedding(torch.tensor([0, 1, 1999]), 33)
    assert emb.shape == (3, 33)
    assert torch.all(emb[0, :16] == 1) and torch.all(emb[0, 16:] == 0)  # cos 0, sin 0, pad
    assert not torch.allclose(emb[1], emb[2])


def test_residual_block_and_attention_keep_shape():
    x = torch.randn(2, 16, 8, 8)
    assert ResidualBlock(16, 32, groups=8)(x).shape == (2, 32, 8, 8)
    assert ResidualBlock(16, 16, groups=8, time_dim=12)(x, torch.randn(2, 12)).shape == (2, 16, 8, 8)
    assert SelfAttention2d(16, groups=8, heads=2)(x).shape == x.shape
    with pytest.raises(ValueError, match="divisible by groups"):
        ResidualBlock(12, 16, groups=8)
    with pytest.raises(ValueError, match="timestep embedding"):
        ResidualBlock(16, 16, groups=8, time_dim=12)(x)


@pytest.mark.parametrize("config", [DEMO_SMALL, dict(channels=(64, 128, 256), res_blocks=2)])
def test_small_unet_shapes(config):
    torch.manual_seed(0)
    model = SmallUNet(**config)
    x = _lags()
    assert model(x).shape == (2, 1, 16, 16)
    assert model.encode(x).shape == (2, config["channels"][-1], 4, 4)


def test_small_unet_rejects_bad_input():
    model = SmallUNet(**DEMO_SMALL)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.rand(1, 40, 18, 18))
    with pytest.raises(ValueError, match=r"\(B, 40, H, W\)"):
        model(torch.rand(1, 39, 16, 16))


def test_feature_size_follows_levels():
    torch.manual_seed(0)
    two_levels = SmallUNet(channels=(16, 32), res_blocks=1)
    assert two_levels.encode(_lags(size=16)).shape == (2, 32, 8, 8)
    assert TransferEncoder(two_levels).feature_size(16) == 8
    assert TransferEncoder(SmallUNet(**DEMO_SMALL)).feature_size(16) == 4


def test_transfer_encoder_is_frozen_and_matches_encode():
    torch.manual_seed(0)
    small = SmallUNet(**DEMO_SMALL)
    encoder = TransferEncoder(small)
    x = _lags()
    torch.testing.assert_close(encoder(x), small.encode(x), rtol=0, atol=0)
    assert encoder.out_channels == 64 and encoder.in_channels == 40

    # The source model is left trainable; the copy is not.
    assert all(p.requires_grad for p in small.parameters())
    assert not any(p.requires_grad for p in encoder.parameters())

    encoder.train()
    assert not encoder.training and not any(m.training for m in encoder.modules())
    with pytest.raises(RuntimeError, match="frozen"):
        encoder.requires_grad_(True)

    # A head trained through the features, with the encoder's parameters (wrongly) handed to the
    # optimiser too: the head moves, the encoder does not and gets no gradients.
    head = torch.nn.Conv2d(64, 1, 1)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    head_before = head.weight.detach().clone()
    optimiser = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), lr=1e-2)
    loss = head(encoder(x)).square().mean()
    loss.backward()
    optimiser.step()
    assert all(p.grad is None for p in encoder.parameters())
    assert not torch.equal(head.weight, head_before)
    for name, value in encoder.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_build_condition_upsamples_features_bilinearly():
    merra, elevation, lat, lon, year = _static_maps(2, 16)
    features = torch.rand(2, 8, 4, 4)
    cond = build_condition(features, merra, elevation, lat, lon, year)
    assert cond.shape == (2, condition_channels(8), 16, 16)
    expected = torch.nn.functional.interpolate(features, size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(cond[:, :8], expected)
    torch.testing.assert_close(cond[:, 8:9], merra)
    torch.testing.assert_close(cond[:, 12:13], year)
    # A constant feature map stays constant after upsampling.
    flat = build_condition(torch.full((2, 1, 4, 4), 0.3), merra, elevation, lat, lon, year)[:, 0]
    torch.testing.assert_close(flat, torch.full((2, 16, 16), 0.3))

    with pytest.raises(ValueError, match="elevation"):
        build_condition(features, merra, elevation[:, :, :8], lat, lon, year)


@pytest.mark.parametrize("feature_channels", [64, 0])
def test_conditional_unet_shapes_and_range(feature_channels):
    torch.manual_seed(0)
    net = ConditionalUNet(condition_channels(feature_channels), **DEMO_LARGE)
    features = torch.rand(3, feature_channels, 4, 4) if feature_channels else None
    cond = build_condition(features, *_static_maps(3, 16))
    out = net(cond, torch.randn(3, 1, 16, 16), torch.tensor([0, 999, 1999]))
    assert out.shape == (3, 1, 16, 16)
    assert out.min() >= 0 and out.max() <= 1  # sigmoid: a normalised x0
    assert net(cond, torch.randn(3, 1, 16, 16), 5).shape == (3, 1, 16, 16)  # one t for all
    with pytest.raises(ValueError, match="x_t"):
        net(cond)


def test_ablation_has_no_feature_input():
    net = ConditionalUNet(condition_channels(0), **DEMO_LARGE)
    # Noisy target + MERRA-2, elevation, lat, lon, year; nothing else enters the network.
    assert net.encoder.stem.in_channels == 1 + 5
    with_features = ConditionalUNet(condition_channels(64), **DEMO_LARGE)
    assert with_features.encoder.stem.in_channels == 1 + 64 + 5


def test_deterministic_unet_takes_only_the_condition():
    torch.manual_seed(0)
    net = ConditionalUNet(condition_channels(64), diffusion=False, **DEMO_LARGE)
    assert net.encoder.stem.in_channels == 64 + 5
    assert net.time_embedding is None
    assert not any(block.time_proj is not None for block in net.modules() if isinstance(block, ResidualBlock))
    cond = build_condition(torch.rand(2, 64, 4, 4), *_static_maps(2, 16))
    assert net(cond).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="only the condition"):
        net(cond, torch.rand(2, 1, 16, 16), torch.tensor([1, 2]))


def test_paper_size_conditional_unet_runs():
    torch.manual_seed(0)
    net = ConditionalUNet(condition_channels(256))  # channels (128, 256, 512), 2 res blocks
    cond = build_condition(torch.rand(1, 256, 4, 4), *_static_maps(1, 16))
    assert net(cond, torch.randn(1, 1, 16, 16), torch.tensor([7])).shape == (1, 1, 16, 16)


@pytest.mark.parametrize("shape, size", [((5, 3, 4, 4), (16, 16)), ((2, 7, 3, 5), (12, 20)), ((1, 2, 8, 8), (4, 6))])
def test_separable_bilinear_upsampling_equals_f_interpolate(shape, size):
    features = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    expected = F.interpolate(features, size=size, mode="bilinear", align_corners=False)
    assert torch.allclose(upsample_bilinear(features, size), expected, atol=1e-6)


def test_upsampling_first_used_in_inference_mode_still_trains():
    """Its resampling matrices are cached: a first call in inference mode (downscaling) must
    not leave matrices that a later backward pass (training, same process) cannot use."""
    shape, size = (2, 3, 5, 7), (11, 13)  # sizes no other test caches
    with torch.inference_mode():
        upsample_bilinear(torch.randn(shape), size)
    features = torch.randn(shape, requires_grad=True)
    upsample_bilinear(features, size).sum().backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()


def test_condition_standardises_the_features_with_the_training_statistics():
    net = ConditionalUNet(condition_channels(3), feature_channels=3, **DEMO_LARGE)
    mean, std = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([2.0, 0.5, 1.0])
    net.set_feature_statistics(mean, std)
    generator = torch.Generator().manual_seed(0)
    features, covariates = torch.randn(2, 3, 4, 4, generator=generator), torch.rand(2, 5, 16, 16, generator=generator)
    raw = build_condition(features, *covariates.split(1, dim=1))
    cond = net.condition(features, covariates)
    # standardised before upsampling, equal to standardising the upsampled features
    assert torch.allclose(cond[:, :3], (raw[:, :3] - mean[:, None, None]) / std[:, None, None], atol=1e-5)
    assert torch.equal(cond[:, 3:], raw[:, 3:])
    assert torch.equal(
        ConditionalUNet(condition_channels(0), **DEMO_LARGE).condition(None, covariates),
        build_condition(None, *covariates.split(1, dim=1)),
    )


def test_the_climatology_channels_end_with_merra2_matched_to_each_pixels_g5nr_moments():
    from downscaling.data.datasets import CLIMATOLOGY_CHANNELS, covariate_stack

    rng = np.random.default_rng(0)
    merra2, static = rng.uniform(size=(6, 5)).astype(np.float32), rng.uniform(size=(3, 6, 5)).astype(np.float32)
    climatology = np.stack(
        [np.full((6, 5), 0.4), np.full((6, 5), 0.1), np.full((6, 5), 0.5), np.full((6, 5), 0.2)]
    ).astype(np.float32)
    climatology[3, 0, 0] = 0.0  # a pixel whose MERRA-2 never varied: the floor, not a division by 0
    stack = covariate_stack(merra2, static, 0.3, climatology)
    assert stack.shape == (5 + len(CLIMATOLOGY_CHANNELS), 6, 5)
    np.testing.assert_array_equal(stack[5:9], climatology)
    expected = 0.4 + (merra2 - 0.5) * 0.1 / 0.2  # the day's anomaly in MERRA-2 units, in G5NR's
    np.testing.assert_allclose(stack[9].ravel()[1:], expected.ravel()[1:], rtol=1e-6)
    assert np.isfinite(stack).all()
    # tiles at inference (torch, a batch of them) give the same channels as a training window
    tiles = covariate_stack(
        torch.from_numpy(merra2)[None], torch.from_numpy(static)[None], 0.3, torch.from_numpy(climatology)[None]
    )
    np.testing.assert_allclose(tiles[0].numpy(), stack, rtol=1e-6)

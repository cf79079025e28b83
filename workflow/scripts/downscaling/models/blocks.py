"""Building blocks shared by the small U-Net and the conditional (diffusion) U-Net.

Read top to bottom: timestep embedding, residual block, self-attention, down/upsampling, and
the U-Net skeleton (`UNetEncoder` = stem + down path + middle block, `UNetDecoder` = up path with
skip connections) that both networks are assembled from. Every block works on (B, C, H, W).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style sinusoidal embedding of diffusion timesteps.

    t: (B,) integer or float timesteps. Returns (B, dim) float32: [cos(t f_k), sin(t f_k)] with
    frequencies f_k = max_period ** (-k / (dim/2)), k = 0..dim/2-1 (a zero column pads odd dim).
    """
    half = dim // 2
    frequencies = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )  # (half,)
    angles = t.float()[:, None] * frequencies[None, :]  # (B, half)
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


class TimestepEmbedding(nn.Module):
    """Sinusoidal embedding of `base_dim` followed by a two-layer MLP -> (B, out_dim)."""

    def __init__(self, base_dim: int, out_dim: int):
        super().__init__()
        self.base_dim = base_dim
        self.mlp = nn.Sequential(nn.Linear(base_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.base_dim))


def _check_groups(channels: int, groups: int) -> None:
    if channels % groups:
        raise ValueError(f"GroupNorm needs channels divisible by groups; got {channels} channels, {groups} groups")


class ResidualBlock(nn.Module):
    """GroupNorm-SiLU-conv3x3 twice, plus a (1x1-projected) skip; optional timestep injection.

    With `time_dim`, a linear projection of the (B, time_dim) embedding is added per channel
    after the first convolution (the DDPM reference design).
    """

    def __init__(self, in_ch: int, out_ch: int, groups: int, time_dim: int | None = None):
        super().__init__()
        _check_groups(in_ch, groups)
        _check_groups(out_ch, groups)
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_ch) if time_dim is not None else None
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_proj is not None:
            if temb is None:
                raise ValueError("this ResidualBlock was built with time_dim and needs a timestep embedding")
            h = h + self.time_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H*W positions, GroupNorm pre-norm, residual."""

    def __init__(self, channels: int, groups: int, heads: int = 1):
        super().__init__()
        _check_groups(channels, groups)
        if channels % heads:
            raise ValueError(f"attention needs channels divisible by heads; got {channels}, {heads}")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x))  # (B, 3C, H, W)
        # -> 3 x (B, heads, H*W, C/heads)
        q, k, v = qkv.reshape(b, 3, self.heads, c // self.heads, h * w).permute(1, 0, 2, 4, 3)
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, heads, H*W, C/heads)
        attended = attended.permute(0, 1, 3, 2).reshape(b, c, h, w)
        return x + self.out(attended)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 convolution (channels kept)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour x2 then a 3x3 convolution (channels kept)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNetEncoder(nn.Module):
    """Stem conv, down path and middle block of a U-Net.

    Level i runs `res_blocks` residual blocks at channels[i], keeps the result as a skip, then
    (except at the last level) downsamples by 2; so H, W shrink by 2 ** (len(channels) - 1).
    The middle block is residual block + self-attention (if `attention`) + residual block.
    forward(x (B, in_channels, H, W), temb) -> (h (B, channels[-1], H/f, W/f), skips).
    """

    def __init__(
        self, in_channels: int, channels, res_blocks: int, attention: bool, groups: int, time_dim: int | None = None
    ):
        super().__init__()
        channels = tuple(channels)
        if not channels or res_blocks < 1:
            raise ValueError(f"a U-Net needs at least one level and one residual block; got {channels}, {res_blocks}")
        self.in_channels = in_channels
        self.out_channels = channels[-1]
        self.downsample_factor = 2 ** (len(channels) - 1)
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.levels = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        previous = channels[0]
        for i, ch in enumerate(channels):
            self.levels.append(
                nn.ModuleList(
                    ResidualBlock(previous if j == 0 else ch, ch, groups, time_dim) for j in range(res_blocks)
                )
            )
            previous = ch
            self.downsamples.append(Downsample(ch) if i < len(channels) - 1 else nn.Identity())
        self.middle_in = ResidualBlock(channels[-1], channels[-1], groups, time_dim)
        self.middle_attention = SelfAttention2d(channels[-1], groups) if attention else nn.Identity()
        self.middle_out = ResidualBlock(channels[-1], channels[-1], groups, time_dim)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-2] % self.downsample_factor or x.shape[-1] % self.downsample_factor:
            raise ValueError(
                f"H and W must be divisible by {self.downsample_factor} (2 ** (levels - 1)); got {tuple(x.shape[-2:])}"
            )
        h = self.stem(x)
        skips = []  # one (B, channels[i], H_i, W_i) per level
        for blocks, downsample in zip(self.levels, self.downsamples):
            for block in blocks:
                h = block(h, temb)
            skips.append(h)
            h = downsample(h)
        h = self.middle_in(h, temb)
        h = self.middle_attention(h)
        h = self.middle_out(h, temb)
        return h, skips


class UNetDecoder(nn.Module):
    """Up path of a U-Net: from the lowest level upward, concatenate that level's skip, run
    `res_blocks` residual blocks to channels[i], then upsample (except at the top level).
    forward(h (B, channels[-1], h, w), skips, temb) -> (B, channels[0], H, W).
    """

    def __init__(self, channels, res_blocks: int, groups: int, time_dim: int | None = None):
        super().__init__()
        channels = tuple(channels)
        self.levels = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        previous = channels[-1]
        for i in reversed(range(len(channels))):
            ch = channels[i]
            self.levels.append(
                nn.ModuleList(
                    ResidualBlock(previous + ch if j == 0 else ch, ch, groups, time_dim) for j in range(res_blocks)
                )
            )
            previous = ch
            self.upsamples.append(Upsample(ch) if i > 0 else nn.Identity())

    def forward(self, h: torch.Tensor, skips, temb: torch.Tensor | None = None) -> torch.Tensor:
        for blocks, upsample, skip in zip(self.levels, self.upsamples, reversed(skips)):
            h = torch.cat([h, skip], dim=1)
            for block in blocks:
                h = block(h, temb)
            h = upsample(h)
        return h


def output_head(channels: int, groups: int, out_channels: int = 1) -> nn.Sequential:
    """GroupNorm-SiLU then a linear 3x3 convolution to `out_channels` (no final activation)."""
    _check_groups(channels, groups)
    return nn.Sequential(nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))

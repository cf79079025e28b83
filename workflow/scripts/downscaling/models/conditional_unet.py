"""Stage 2: the conditional U-Net that predicts the G5NR tile x0, and its input builder.

Used three ways: the method (`ddpm`: noisy target + transfer features + static maps, with a
timestep embedding), the ablation (`ddpm_notransfer`: the same without feature channels) and
the deterministic large U-Net (`unet`: diffusion=False, condition only, no timestep).

The authors used a 3-D U-Net run on a single frame with an all-zero cross-attention context.
With one frame a 3-D convolution reduces to a 2-D one (its other temporal taps only see
padding), and cross-attention to an all-zero context returns a constant; a 2-D network is the
same model without that dead weight.
"""

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from downscaling.models.blocks import TimestepEmbedding, UNetDecoder, UNetEncoder, output_head

# MERRA-2 at day t on the G5NR grid, elevation, latitude, longitude, year.
STATIC_CONDITION_CHANNELS = 5


def condition_channels(feature_channels: int, climatology_channels: int = 0) -> int:
    """Channels of `ConditionalUNet.condition`'s output before extra maps: feature channels
    (0 for the ablation) + 5 + the per-pixel climatology maps (0 without them)."""
    return feature_channels + STATIC_CONDITION_CHANNELS + climatology_channels


@lru_cache(maxsize=16)
def _bilinear_matrix(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) matrix of 1-D linear resampling with align_corners=False (F.interpolate's).
    Built outside inference mode whatever the caller's mode: the cache is shared, and a tensor
    made in inference mode cannot be saved for a backward pass (training after inference in
    one process)."""
    with torch.inference_mode(False):
        identity = torch.eye(n_in, dtype=torch.float64)[:, None, :]  # n_in signals of length n_in
        return F.interpolate(identity, size=n_out, mode="linear", align_corners=False)[:, 0, :].T.to(device, dtype)


def upsample_bilinear(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.interpolate(features, size, mode="bilinear", align_corners=False)`` as two matrix
    products (bilinear resampling is separable): the same values up to rounding, and ~5x faster
    on CPU for small feature maps, where F.interpolate was a sizeable share of inference."""
    rows = _bilinear_matrix(features.shape[-2], size[0], features.dtype, features.device)
    cols = _bilinear_matrix(features.shape[-1], size[1], features.dtype, features.device)
    return rows @ (features @ cols.T)  # columns first: measured 2.5x faster than rows first


def build_condition(features, merra, elevation, lat, lon, year) -> torch.Tensor:
    """Stack the network's condition: (B, Cf + 5, H, W) in the order features, merra,
    elevation, lat, lon, year.

    features: (B, Cf, h, w) transfer features, bilinearly upsampled to (H, W)
    (align_corners=False), or None for the no-transfer ablation. The other five are
    (B, 1, H, W) maps on the G5NR tile. Raises ValueError on a shape mismatch.
    """
    maps = {"merra": merra, "elevation": elevation, "lat": lat, "lon": lon, "year": year}
    shape = merra.shape
    for name, tensor in maps.items():
        if tensor.ndim != 4 or tensor.shape[1] != 1 or tensor.shape != shape:
            raise ValueError(f"{name}: expected (B, 1, H, W) = {tuple(shape)}, got {tuple(tensor.shape)}")
    parts = list(maps.values())
    if features is not None:
        if features.ndim != 4 or features.shape[0] != shape[0]:
            raise ValueError(f"features: expected (B={shape[0]}, C, h, w), got {tuple(features.shape)}")
        upsampled = upsample_bilinear(features.to(merra.dtype), tuple(shape[-2:]))
        parts.insert(0, upsampled)
    return torch.cat(parts, dim=1)


class ConditionalUNet(nn.Module):
    """U-Net predicting (B, 1, H, W): the normalised target x0 in [0, 1] (bounded=True, a
    sigmoid output), or an unbounded quantity (bounded=False: v, or a residual).

    diffusion=True: forward(cond, x_t, t) with x_t (B, 1, H, W) the noisy target and t (B,)
    integer timesteps (or one int for the whole batch); the network sees cat(x_t, cond) and a
    timestep embedding.
    diffusion=False: forward(cond), no noisy target and no timestep embedding.
    cond: (B, cond_channels, H, W), built by `condition`: the transfer features standardised
    with the buffers `feature_mean` and `feature_std` (set them from the training features with
    `set_feature_statistics`; they are saved with the weights), the other channels already in
    [0, 1], then any extra maps (the residual model's: the deterministic prediction).
    """

    def __init__(
        self,
        cond_channels: int,
        channels=(128, 256, 512),
        res_blocks: int = 2,
        attention: bool = True,
        groups: int = 8,
        diffusion: bool = True,
        feature_channels: int = 0,
        bounded: bool = True,
        history_encoder: nn.Module | None = None,
    ):
        super().__init__()
        self.cond_channels = cond_channels
        # the transfer ablation's encoder of the history, trained with this network (None when
        # the features come from the frozen pretrained encoder, or there is no history)
        self.history_encoder = history_encoder
        self.diffusion = diffusion
        self.bounded = bounded
        # Encoder features have channel means of +-2 and spreads of 0.3..1.6, the covariates
        # live in [0, 1]: unscaled, the first epochs stall on a plateau (measured).
        self.register_buffer("feature_mean", torch.zeros(feature_channels))
        self.register_buffer("feature_std", torch.ones(feature_channels))
        time_dim = 4 * channels[0] if diffusion else None
        self.time_embedding = TimestepEmbedding(channels[0], time_dim) if diffusion else None
        in_channels = cond_channels + (1 if diffusion else 0)
        self.encoder = UNetEncoder(in_channels, channels, res_blocks, attention, groups, time_dim)
        self.decoder = UNetDecoder(channels, res_blocks, groups, time_dim)
        self.head = output_head(channels[0], groups)

    @torch.no_grad()
    def set_feature_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel mean and std (feature_channels,) of the training features."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-6))

    def condition(
        self, features: torch.Tensor | None, covariates: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network's condition from transfer features (B, Cf, h, w) (None for the ablation),
        covariates (B, 5 + Cc, H, W) (the five of `build_condition`, then Cc per-pixel
        climatology maps, appended as they are) and optional extra maps (B, Ce, H, W), appended
        last. Built once per tile, not at every denoising step; the features are standardised
        at their own resolution, which is the same as after `build_condition`'s bilinear
        upsampling (its weights sum to one)."""
        with torch.autocast(covariates.device.type, enabled=False):  # float32 under bf16 inference too
            if features is not None:
                features = (features.to(covariates.dtype) - self.feature_mean[:, None, None]) / self.feature_std[
                    :, None, None
                ]
            first, more = covariates.split(
                [STATIC_CONDITION_CHANNELS, covariates.shape[1] - STATIC_CONDITION_CHANNELS], dim=1
            )
            parts = [build_condition(features, *first.split(1, dim=1)), more]
            if extra is not None:
                parts.append(extra.to(covariates.dtype))
            return torch.cat(parts, dim=1)

    def forward(
        self, cond: torch.Tensor, x_t: torch.Tensor | None = None, t: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.diffusion:
            if x_t is None or t is None:
                raise ValueError("a diffusion ConditionalUNet needs the noisy target x_t and timesteps t")
            x = torch.cat([x_t, cond], dim=1)  # (B, 1 + cond_channels, H, W)
            t = torch.as_tensor(t, device=x.device).reshape(-1).expand(x.shape[0])  # (B,)
            temb = self.time_embedding(t)  # (B, time_dim)
        else:
            if x_t is not None or t is not None:
                raise ValueError("a deterministic ConditionalUNet (diffusion=False) takes only the condition")
            x, temb = cond, None
        features, skips = self.encoder(x, temb)
        out = self.head(self.decoder(features, skips, temb))
        return torch.sigmoid(out) if self.bounded else out

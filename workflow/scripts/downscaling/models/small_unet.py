"""Stage 1: the small U-Net forecaster and the frozen transfer encoder cut from it.

`SmallUNet` maps 40 daily lags of a normalised MERRA-2 tile (oldest first) to the next day.
Its down path + middle block (`encode`) are the transfer features that stage 2 conditions on;
`TransferEncoder` is a frozen copy of exactly those layers.
"""

import copy

import torch
from torch import nn

from downscaling.models.blocks import UNetDecoder, UNetEncoder, output_head


class HistoryEncoder(nn.Module):
    """The down path + middle block of a SmallUNet: (B, n_lag, H, W) history -> features.

    Freshly built (from the SmallUNet's constructor arguments) it is trainable: the transfer
    ablation trains one from scratch with its large model. `TransferEncoder` is the frozen,
    pretrained one. H and W must be divisible by 2 ** (len(channels) - 1); with 3 levels a
    16x16 tile gives 4x4 features. Demo sizes: channels (16, 32, 64), res_blocks 1; paper:
    (64, 128, 256), 2.
    """

    def __init__(
        self,
        in_channels: int = 40,
        channels=(64, 128, 256),
        res_blocks: int = 2,
        attention: bool = True,
        groups: int = 8,
    ):
        super().__init__()
        self.encoder = UNetEncoder(in_channels, channels, res_blocks, attention, groups)
        self.unet_shape = {"channels": channels, "res_blocks": res_blocks, "groups": groups}  # what a decoder mirrors

    @property
    def in_channels(self) -> int:
        return self.encoder.in_channels

    @property
    def out_channels(self) -> int:
        return self.encoder.out_channels

    def feature_size(self, tile: int) -> int:
        """Spatial side of the features for a square input tile: tile / 2 ** (levels - 1)."""
        if tile % self.encoder.downsample_factor:
            raise ValueError(f"tile {tile} is not divisible by {self.encoder.downsample_factor}")
        return tile // self.encoder.downsample_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H/f, W/f)."""
        features, _ = self.encoder(x)
        return features


class SmallUNet(HistoryEncoder):
    """U-Net: (B, in_channels, H, W) lags -> (B, 1, H, W) next day = last lag + learned change:
    its history encoder (the transfer features, `encode`) followed by a decoder.

    The data are min-max normalised to about [0, 1], so no output activation is applied.
    """

    def __init__(self, **shape):
        """shape: the HistoryEncoder's arguments (in_channels, channels, res_blocks, attention, groups)."""
        super().__init__(**shape)
        self.decoder = UNetDecoder(**self.unet_shape)
        self.head = output_head(self.unet_shape["channels"][0], self.unet_shape["groups"])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Transfer features: (B, in_channels, H, W) -> (B, channels[-1], H/f, W/f), f = 2**(levels-1)."""
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, skips = self.encoder(x)
        # The net learns the change from the last lag: persistence is built in, and on a
        # persistent field (dust AOD) that is what lets a small net beat it.
        return x[:, -1:] + self.head(self.decoder(features, skips))  # (B, 1, H, W)


class TransferEncoder(HistoryEncoder):
    """A frozen copy of a SmallUNet's down path + middle block; forward returns its features.

    The copy leaves the source model untouched. It cannot be trained by accident: parameters
    have requires_grad False, forward runs under torch.no_grad, train() always keeps eval mode,
    and requires_grad_(True) raises.
    """

    def __init__(self, small_unet: SmallUNet):
        nn.Module.__init__(self)
        self.encoder = copy.deepcopy(small_unet.encoder)
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        # Always eval: the encoder is a fixed feature extractor.
        return super().train(False)

    def requires_grad_(self, requires_grad: bool = True):
        if requires_grad:
            raise RuntimeError("TransferEncoder is frozen; train the SmallUNet it was copied from instead")
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H/f, W/f), no autograd graph."""
        return super().forward(x)

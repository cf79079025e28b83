"""The training sections of the config (``small_unet``, ``large_model``) as typed settings, parsed
once where a rule script reads its params and handed down whole (keys as in the schema)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from downscaling.diffusion.losses import SNR_CAP
from downscaling.training.loop import TrainSettings

#: A fine-tuned encoder's learning rate over the model's (setting ``finetune_lr_factor``): the
#: usual practice of fine-tuning, which keeps the pretrained weights from being overwritten in
#: the first steps, when the rest of the network is still random.
FINETUNE_LR_FACTOR = 0.1


@dataclass(frozen=True)
class NetworkSettings:
    """The U-Net's shape: widths per level, residual blocks per level, attention, GroupNorm groups."""

    channels: tuple[int, ...]
    res_blocks: int
    attention: bool
    groups: int

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> NetworkSettings:
        return cls(tuple(section["channels"]), section["res_blocks"], section["attention"], section["groups"])

    def kwargs(self) -> dict:
        """The constructor arguments they give (saved with the weights, in this order)."""
        return asdict(self)


@dataclass(frozen=True)
class StageSettings:
    """One model's training section with its per_model and overrides merged in (without ``loop``
    and ``val_fraction``: enough to build and save a model, not to train one)."""

    network: NetworkSettings
    loop: TrainSettings | None = None  # optimiser, schedule, stopping, precision
    val_fraction: float | None = None  # share of the training days held out, whole days
    val_tiles: int | None = None  # validation tiles per pass; None = all
    timesteps: int | None = None  # diffusion models: the noise schedule's steps
    schedule: str | None = None
    climatology_inputs: bool = False  # large models: each pixel's training-day moments as inputs
    predict_anomaly: bool = False  # large models: learn G5NR minus the matched MERRA-2
    finetune_lr_factor: float = FINETUNE_LR_FACTOR  # a fine-tuned encoder's learning rate over lr
    loss_weighting: str = "none"  # diffusion models: how x0's error counts by noise level
    snr_cap: float = SNR_CAP  # the cap of that weight
    history_lowpass_px: float = 0.0  # large models that read the history: its Gaussian low-pass

    @classmethod
    def from_section(cls, section: Mapping[str, Any], seed: int) -> StageSettings:
        """Parse a config section (ValueError naming what a training loop needs and it lacks)."""
        return cls(
            network=NetworkSettings.from_section(section),
            loop=TrainSettings.from_config(section, seed),
            val_fraction=section["val_fraction"],
            val_tiles=section.get("val_tiles"),
            timesteps=section.get("timesteps"),
            schedule=section.get("schedule"),
            climatology_inputs=bool(section.get("climatology_inputs", False)),
            predict_anomaly=bool(section.get("predict_anomaly", False)),
            finetune_lr_factor=float(section.get("finetune_lr_factor", FINETUNE_LR_FACTOR)),
            loss_weighting=section.get("loss_weighting", "none"),
            snr_cap=float(section.get("snr_cap", SNR_CAP)),
            history_lowpass_px=float(section.get("history_lowpass_px", 0.0)),
        )

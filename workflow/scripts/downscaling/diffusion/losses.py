"""What the network predicts and how it is trained and checked: the x0 or v output, the denoising
loss, and the x0 error and bias by noise level.

The network predicts either x0 directly (the paper's: targets min-max normalised to [0, 1]) or
v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022). With v, x0 = sqrt(abar) x_t -
sqrt(1 - abar) v: at low noise the network only corrects x_t, so it cannot ignore it, and the
uniform loss on v weights x0's error by SNR + 1 instead of uniformly over t, where the high-noise
steps (the conditional mean) dominate x0-prediction's loss.

Weighting the loss by noise level (``loss_weighting``) sets how much x0's error counts at each
SNR whatever the output: ``min_snr`` min(SNR, gamma) (Hang et al. 2023), ``snr_plus_one``
min(SNR + 1, gamma), the weighting v-prediction implies, capped. Both move the weight from the
high-noise steps, where x_t says nothing and only the conditional mean can be learnt, to the
low-noise steps, where a denoiser must read x_t to do well; ``snr_plus_one`` keeps the
high-noise steps at the unweighted x0 loss's weight (1), ``min_snr`` almost drops them. For an
x0 network that otherwise learns to ignore x_t (the paper's formulation), that is the
difference between sampling its conditional mean and sampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from downscaling.diffusion.schedule import NoiseSchedule

PREDICTIONS = ("x0", "v")
WEIGHTINGS = ("none", "min_snr", "snr_plus_one")
#: The cap of a loss weighting by SNR when none is set (setting ``snr_cap``): Hang et al.'s gamma.
SNR_CAP = 5.0


def _noised(x0: torch.Tensor, schedule: NoiseSchedule, t: torch.Tensor, generator: torch.Generator):
    """(noise, x_t) for x0 at timesteps t, the noise ~ N(0, I) drawn from `generator`."""
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return noise, schedule.add_noise(x0, noise, t)


def denoising_loss(
    model,
    x0: torch.Tensor,
    cond: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
    prediction: str = "x0",
    weighting: str = "none",
    snr_cap: float = SNR_CAP,
) -> torch.Tensor:
    """Scalar MSE between model(cond, x_t, t) and its target (x0 or v), with t ~ U{0..T-1} and
    noise ~ N(0, I) drawn from `generator` (which must live on x0's device); each sample's error
    weighted by noise level as `weighting` says (:func:`x0_error_weight`, capped at `snr_cap`).

    x0: (B, 1, H, W) target; cond: (B, C, H, W).
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    t = torch.randint(0, schedule.T, (x0.shape[0],), generator=generator, device=x0.device)
    noise, x_t = _noised(x0, schedule, t, generator)
    abar = schedule.alpha_bar(t, x0)
    target = x0 if prediction == "x0" else abar.sqrt() * noise - (1.0 - abar).sqrt() * x0
    if weighting == "none":
        return F.mse_loss(model(cond, x_t, t), target)
    snr = (abar / (1.0 - abar)).flatten()
    weight = x0_error_weight(snr, weighting, snr_cap)
    if prediction == "v":  # an error e in v is an error e / sqrt(SNR + 1) in x0
        weight = weight / (snr + 1.0)
    squared = (model(cond, x_t, t) - target).square().flatten(1).mean(1)  # (B,)
    return (squared * weight).mean()


def x0_error_weight(snr: torch.Tensor, weighting: str, cap: float) -> torch.Tensor:
    """How much x0's squared error counts at signal-to-noise ratios `snr` (see the module's
    docstring): min(SNR, cap) for min_snr, min(SNR + 1, cap) for snr_plus_one."""
    if weighting == "min_snr":
        return snr.clamp(max=cap)
    if weighting == "snr_plus_one":
        return (snr + 1.0).clamp(max=cap)
    raise ValueError(f"loss weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def x0_loss(model, x0, cond, schedule: NoiseSchedule, generator: torch.Generator) -> torch.Tensor:
    """The paper's loss: MSE of the predicted x0 (denoising_loss with prediction x0)."""
    return denoising_loss(model, x0, cond, schedule, generator, "x0")


def x0_from_output(output: torch.Tensor, x_t: torch.Tensor, abar_t, prediction: str) -> torch.Tensor:
    """The network's x0 estimate from its output (x0 itself, or v) at noise level abar_t (a
    float, or a tensor broadcasting against x_t)."""
    if prediction == "x0":
        return output
    if prediction == "v":
        if isinstance(abar_t, float):  # the samplers' host floats
            return math.sqrt(abar_t) * x_t - math.sqrt(1.0 - abar_t) * output
        return abar_t.sqrt() * x_t - (1.0 - abar_t).sqrt() * output
    raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")


def x0_estimate(
    model,
    x0: torch.Tensor,
    cond: torch.Tensor,
    schedule: NoiseSchedule,
    t: int,
    prediction: str,
    generator: torch.Generator,
) -> torch.Tensor:
    """The x0 a denoiser estimates from x0 noised to timestep t (the same t for the batch)."""
    t_batch = torch.full((x0.shape[0],), t, dtype=torch.long, device=x0.device)
    _, x_t = _noised(x0, schedule, t_batch, generator)
    return x0_from_output(model(cond, x_t, t_batch), x_t, schedule.alpha_bar(t_batch, x0), prediction)


def x0_error(model, x0: torch.Tensor, *rest) -> torch.Tensor:
    """MSE of the x0 estimated at timestep t (arguments as :func:`x0_estimate`): the check that
    a denoiser uses x_t (its error must fall clearly below the error at t = T-1, where x_t is
    pure noise)."""
    return F.mse_loss(x0_estimate(model, x0, *rest), x0)


def x0_bias(model, x0: torch.Tensor, *rest) -> torch.Tensor:
    """Mean of (estimated - true) x0 at timestep t (arguments as :func:`x0_estimate`): a bias at
    any noise level is carried into every sample by the sampler's steps (the signal behind past
    sampler drifts)."""
    return (x0_estimate(model, x0, *rest) - x0).mean()

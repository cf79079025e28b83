"""The cosine noise schedule (Nichol & Dhariwal 2021) and the forward noising `add_noise`."""

from __future__ import annotations

import math

import numpy as np
import torch


def cosine_betas(T: int, max_beta: float = 0.999) -> torch.Tensor:
    """(T,) float32 betas of the cosine schedule, as diffusers' "squaredcos_cap_v2":
    beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), max_beta) with
    alpha_bar(s) = cos((s + 0.008) / 1.008 * pi / 2) ** 2 (computed in float64).
    """
    if T < 1:
        raise ValueError(f"the number of diffusion steps T must be >= 1, got {T}")
    s = np.arange(T + 1, dtype=np.float64) / T
    alpha_bar = np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)
    return torch.tensor(betas, dtype=torch.float32)


def cosine_alphas_cumprod(T: int, max_beta: float = 0.999) -> torch.Tensor:
    """(T,) float32 alphas_cumprod = cumprod(1 - betas), as diffusers computes it (float32).

    Without clipping this telescopes to alpha_bar((t+1)/T) / alpha_bar(0).
    """
    return torch.cumprod(1.0 - cosine_betas(T, max_beta), dim=0)


class NoiseSchedule:
    """The forward process q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I), t = 0..T-1.

    Holds float32 `betas`, `alphas`, `alphas_cumprod` (T,). Only kind "squaredcos_cap_v2"
    (the authors' choice) is implemented.
    """

    def __init__(self, T: int = 2000, kind: str = "squaredcos_cap_v2"):
        if kind != "squaredcos_cap_v2":
            raise ValueError(f"noise schedule kind {kind!r} is not implemented; use 'squaredcos_cap_v2'")
        self.T = T
        self.kind = kind
        self.betas = cosine_betas(T)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)

    def to(self, device) -> NoiseSchedule:
        """Move the tensors to `device` (in place), so add_noise copies nothing per call."""
        self.betas, self.alphas, self.alphas_cumprod = (
            x.to(device) for x in (self.betas, self.alphas, self.alphas_cumprod)
        )
        return self

    def alpha_bar(self, t, like: torch.Tensor) -> torch.Tensor:
        """abar_t for timesteps t ((B,) integers in [0, T), or an int for all), shaped (B or 1,
        1, ...) to broadcast against `like` (B, ...), on its device and in its dtype."""
        t = torch.as_tensor(t, device=like.device).reshape(-1)
        abar = self.alphas_cumprod.to(like.device)[t].to(like.dtype)
        return abar.reshape(-1, *([1] * (like.ndim - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise.

        x0, noise: (B, ...); t: (B,) integer timesteps in [0, T) (or an int for all).
        """
        abar = self.alpha_bar(t, x0)
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

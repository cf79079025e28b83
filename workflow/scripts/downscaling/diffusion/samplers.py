"""Three samplers with the diffusers interface `set_timesteps(n)` / `step(x0_pred, t, x_t)` (DDPM
ancestral, DDIM with eta, DPM-Solver++(2M)), per-member random streams, and the sampling loop."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch

from downscaling.diffusion.schedule import NoiseSchedule

#: Where "logsnr" spacing starts: lambda = -5, where the signal is 0.7 % of the noise, so a
#: start from N(0, I) is exact to that; below it the cosine schedule's clipped tail spends steps
#: (lambda -10.6 at T - 1) on fields that hold no signal. DPM-Solver truncates the cosine
#: schedule likewise (at t = 0.9946, lambda about -4.8).
LOGSNR_START = -5.0


class Sampler(ABC):
    """Shared sampler machinery. A step goes from timestep t to the next entry of `timesteps`
    (or to "t = -1", the clean data, after the last) by

        x_prev = c_x0 * x0_pred + c_xt * x_t + sigma * z,   z ~ N(0, I),

    with scalar coefficients each subclass derives in `_coefficients`. The coefficients are
    Python floats computed on the host from a float64 copy of alphas_cumprod, so a step never
    moves data between host and device.
    """

    SPACINGS = ("linspace", "leading", "logsnr")

    def __init__(self, schedule: NoiseSchedule, clip_x0: bool = True, spacing: str = "linspace"):
        if spacing not in self.SPACINGS:
            raise ValueError(f"timestep spacing must be one of {self.SPACINGS}, got {spacing!r}")
        self.T = schedule.T
        self.clip_x0 = clip_x0  # targets live in [0, 1]
        self.spacing = spacing
        self._alphas_cumprod = schedule.alphas_cumprod.detach().cpu().double().tolist()
        # lambda = log(sqrt(abar / (1 - abar))) of every timestep, increasing as t decreases
        self._lambdas = np.array([0.5 * math.log(abar / (1.0 - abar)) for abar in self._alphas_cumprod])
        self.timesteps = torch.empty(0, dtype=torch.long)
        self._previous = {}

    def set_timesteps(self, n: int) -> None:
        """Use n timesteps, descending. "linspace": evenly spaced over [0, T-1], both ends
        included (n == T gives T-1, ..., 0), so that sampling starts from pure noise.
        "leading" (diffusers' default, the authors'): multiples of T // n from 0, so n = 2 on
        T = 2000 gives [1000, 0] and the first step starts from a half-noised field. "logsnr":
        evenly spaced in lambda = log(sqrt(abar / (1 - abar))) from LOGSNR_START to timestep 0,
        each taken to the nearest timestep (fewer than n if two round to one): DPM-Solver's
        spacing, whose multistep extrapolation assumes steps of similar size in lambda."""
        if not 1 <= n <= self.T:
            raise ValueError(f"number of sampling steps must be in [1, {self.T}], got {n}")
        if self.spacing == "leading":
            steps = (np.arange(n, dtype=np.int64) * (self.T // n))[::-1]
        elif self.spacing == "logsnr":
            lam = self._lambdas
            wanted = np.linspace(max(lam[-1], LOGSNR_START), lam[0], n)
            steps = np.unique(np.abs(lam[None, :] - wanted[:, None]).argmin(axis=1))[::-1]
        else:  # spacing >= 1 keeps them distinct
            steps = np.unique(np.round(np.linspace(self.T - 1, 0, n)).astype(np.int64))[::-1]
        self.timesteps = torch.from_numpy(steps.copy())  # (n,) descending
        self._previous = dict(zip(steps.tolist(), steps[1:].tolist() + [-1]))

    def alpha_bar(self, t: int) -> float:
        """alphas_cumprod at timestep t, a host float."""
        return self._alphas_cumprod[t]

    def _alpha_bars(self, t: int):
        if t not in self._previous:
            raise ValueError(f"timestep {t} is not in the sampler's timesteps; call set_timesteps first")
        t_prev = self._previous[t]
        abar_prev = self._alphas_cumprod[t_prev] if t_prev >= 0 else 1.0
        return self._alphas_cumprod[t], abar_prev

    @abstractmethod
    def _coefficients(self, abar_t: float, abar_prev: float) -> tuple[float, float, float]:
        """(c_x0, c_xt, sigma) of a step from abar_t to abar_prev (1.0 after the last step)."""

    def step(
        self, x0_pred: torch.Tensor, t, x_t: torch.Tensor, generator: torch.Generator | MemberGenerators | None = None
    ) -> torch.Tensor:
        """One reverse step: x0_pred and x_t (B, ...) at timestep t -> x_prev (B, ...)."""
        if self.clip_x0:
            x0_pred = x0_pred.clamp(0.0, 1.0)
        t = int(t)
        c_x0, c_xt, sigma = self._coefficients(*self._alpha_bars(t))
        x_prev = c_x0 * self._x0_of_step(x0_pred, t) + c_xt * x_t
        if sigma > 0:
            z = randn(x_t.shape, generator, x_t.device, x_t.dtype)
            x_prev = x_prev + sigma * z
        return x_prev

    def _x0_of_step(self, x0_pred: torch.Tensor, t: int) -> torch.Tensor:
        """The x0 estimate the step from t uses: the network's (a multistep solver extrapolates)."""
        return x0_pred


class DDPMSampler(Sampler):
    """Ancestral sampling from the posterior q(x_prev | x_t, x0) (Ho et al. 2020, eqs. 6-7),
    with variance beta_tilde. On n < T evenly spaced steps the per-step beta is
    1 - abar_t / abar_prev (respacing); with n == T this is exactly the paper's DDPM.
    """

    def _coefficients(self, abar_t: float, abar_prev: float):
        beta = 1.0 - abar_t / abar_prev
        c_x0 = math.sqrt(abar_prev) * beta / (1.0 - abar_t)
        c_xt = math.sqrt(1.0 - beta) * (1.0 - abar_prev) / (1.0 - abar_t)
        variance = (1.0 - abar_prev) / (1.0 - abar_t) * beta  # beta_tilde
        return c_x0, c_xt, math.sqrt(max(variance, 0.0))


class DDIMSampler(Sampler):
    """DDIM (Song et al. 2021, eq. 12): x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev -
    sigma^2) eps + sigma z with eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t) and
    sigma = eta * sqrt(beta_tilde). eta = 0 is deterministic; eta = 1 is DDPM's posterior step.
    """

    def __init__(self, schedule: NoiseSchedule, eta: float = 0.0, clip_x0: bool = True, spacing: str = "linspace"):
        super().__init__(schedule, clip_x0, spacing)
        if eta < 0:
            raise ValueError(f"DDIM eta must be >= 0, got {eta}")
        self.eta = eta

    def _coefficients(self, abar_t: float, abar_prev: float):
        beta_tilde = (1.0 - abar_prev) / (1.0 - abar_t) * (1.0 - abar_t / abar_prev)
        sigma = self.eta * math.sqrt(max(beta_tilde, 0.0))
        direction = math.sqrt(max(1.0 - abar_prev - sigma**2, 0.0))  # weight of eps
        # Expand eps: direction * (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t).
        c_xt = direction / math.sqrt(1.0 - abar_t)
        c_x0 = math.sqrt(abar_prev) - c_xt * math.sqrt(abar_t)
        return c_x0, c_xt, sigma


class DPMSolverPP2M(DDIMSampler):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): the probability-flow ODE solved to second
    order with one network pass per step. Its step is DDIM's deterministic one with the x0
    estimate replaced by an extrapolation through the previous step's,

        D = (1 + 1 / (2 r)) x0_t - 1 / (2 r) x0_last,   r = h_last / h,

    where h is the step's increase of lambda (the half log-SNR, see Sampler). The first step
    has no previous estimate and the last (to the clean data, h infinite) uses the current one
    alone, as diffusers' ``lower_order_final``: both are DDIM steps. Stateful within one
    reverse process; `set_timesteps` starts a new one.

    eta as DDIM's: 0 solves the ODE; 1 is SDE-DPM-Solver++(2M) (the midpoint variant of
    diffusers' ``sde-dpmsolver++``), whose first-order step is DDPM's posterior step and which
    adds fresh noise at every step, so the sample forgets some of the error of earlier steps.
    """

    def __init__(self, schedule: NoiseSchedule, eta: float = 0.0, clip_x0: bool = True, spacing: str = "linspace"):
        super().__init__(schedule, eta=eta, clip_x0=clip_x0, spacing=spacing)
        self._last = None  # (lambda at the last step's t, its x0 estimate)

    def set_timesteps(self, n: int) -> None:
        super().set_timesteps(n)
        self._last = None

    def _x0_of_step(self, x0_pred: torch.Tensor, t: int) -> torch.Tensor:
        t_prev, lambda_t = self._previous[t], float(self._lambdas[t])
        x0_used = x0_pred
        if self._last is not None and t_prev >= 0:
            lambda_last, x0_last = self._last
            r = (lambda_t - lambda_last) / (float(self._lambdas[t_prev]) - lambda_t)
            x0_used = (1.0 + 0.5 / r) * x0_pred - (0.5 / r) * x0_last
        self._last = (lambda_t, x0_pred)
        return x0_used


SAMPLERS = ("ddim", "ddpm", "dpmpp2m")


def make_sampler(
    name: str, schedule: NoiseSchedule, eta: float = 0.0, clip_x0: bool = True, spacing: str = "linspace"
) -> Sampler:
    """The sampler called `name` (one of SAMPLERS); eta is DDIM's and DPM-Solver++'s noise."""
    if name == "ddim":
        return DDIMSampler(schedule, eta=eta, clip_x0=clip_x0, spacing=spacing)
    if name == "ddpm":
        return DDPMSampler(schedule, clip_x0=clip_x0, spacing=spacing)
    if name == "dpmpp2m":
        return DPMSolverPP2M(schedule, eta=eta, clip_x0=clip_x0, spacing=spacing)
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {name!r}")


class MemberGenerators:
    """One random stream per ensemble member: a draw of shape (M, ...) takes member m's values
    from its own generator, so a member's noise is the same whatever members are drawn with it
    (a member can be run alone, e.g. one job per member of a long run)."""

    def __init__(self, seeds, device):
        self.generators = [torch.Generator(device).manual_seed(int(seed)) for seed in seeds]

    def randn(self, shape, device, dtype=torch.float32) -> torch.Tensor:
        if shape[0] != len(self.generators):
            raise ValueError(f"{shape[0]} members drawn from {len(self.generators)} member generators")
        return torch.stack([torch.randn(shape[1:], generator=g, device=device, dtype=dtype) for g in self.generators])


def randn(shape, generator: torch.Generator | MemberGenerators | None, device, dtype=torch.float32) -> torch.Tensor:
    """N(0, I) of `shape` from a torch generator, or per member from MemberGenerators."""
    if isinstance(generator, MemberGenerators):
        return generator.randn(shape, device, dtype)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


@torch.no_grad()
def sample(
    model_fn, shape, sampler: Sampler, n_steps: int, generator: torch.Generator | MemberGenerators, device
) -> torch.Tensor:
    """Run the reverse process from x_T ~ N(0, I) of `shape` (B, ...) and return x0 (B, ...).

    model_fn(x_t, t) -> x0_pred, with t the timestep as a Python int (the same for the whole
    batch; ConditionalUNet takes it as it is). Everything stays on `device` inside the loop (no
    host <-> device copies); `generator` must live there too.
    """
    x = randn(shape, generator, device)
    sampler.set_timesteps(n_steps)
    for t in sampler.timesteps.tolist():
        x = sampler.step(model_fn(x, t), t, x, generator)
    return x

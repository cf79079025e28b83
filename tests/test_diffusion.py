"""The cosine schedule, add_noise, the x0 loss and the DDPM / DDIM samplers."""

import math

import pytest
import torch

from downscaling.diffusion.losses import denoising_loss, x0_error, x0_from_output, x0_loss
from downscaling.diffusion.samplers import LOGSNR_START, DDIMSampler, DDPMSampler, make_sampler, sample
from downscaling.diffusion.schedule import NoiseSchedule, cosine_alphas_cumprod, cosine_betas
from downscaling.models.conditional_unet import ConditionalUNet

T = 2000


def _alpha_bar(s):
    return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2


def test_betas_match_diffusers_loop():
    # diffusers' betas_for_alpha_bar(..., alpha_transform_type="cosine"), written out as its loop.
    reference = [min(1 - _alpha_bar((i + 1) / T) / _alpha_bar(i / T), 0.999) for i in range(T)]
    torch.testing.assert_close(cosine_betas(T), torch.tensor(reference, dtype=torch.float32), rtol=0, atol=0)


def test_alphas_cumprod_monotone_and_cosine():
    abar = cosine_alphas_cumprod(T)
    assert abar.shape == (T,) and abar.dtype == torch.float32
    assert torch.all(abar[1:] < abar[:-1])
    assert 0 < abar[-1] < 1e-6  # the last beta is clipped at 0.999
    # Unclipped, the product telescopes: abar_t = alpha_bar((t+1)/T) / alpha_bar(0).
    formula = torch.tensor([_alpha_bar((t + 1) / T) / _alpha_bar(0) for t in range(T - 1)], dtype=torch.float64)
    torch.testing.assert_close(abar[:-1].double(), formula, rtol=1e-4, atol=1e-6)
    # By hand: t = 999 -> cos(0.508/1.008 * pi/2)^2 / cos(0.008/1.008 * pi/2)^2 = 0.49384359.
    assert abar[999].item() == pytest.approx(0.49384359, abs=1e-5)
    schedule = NoiseSchedule(T)
    torch.testing.assert_close(schedule.alphas_cumprod, abar)
    torch.testing.assert_close(schedule.alphas, 1 - schedule.betas)


def test_unknown_schedule_kind_raises():
    with pytest.raises(ValueError, match="linear"):
        NoiseSchedule(T, kind="linear")


def test_add_noise_at_t0_returns_the_clean_target():
    schedule = NoiseSchedule(T)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 16, 16, generator=g)
    noise = torch.randn(x0.shape, generator=g)
    x_t = schedule.add_noise(x0, noise, torch.zeros(4, dtype=torch.long))
    # beta_0 = 1 - alpha_bar(1/T) / alpha_bar(0) = 2.0035e-5, so the noise weight is
    # sqrt(1 - abar_0) = 4.476e-3 and the signal weight sqrt(abar_0) = 1 - 1.0e-5.
    abar0 = schedule.alphas_cumprod[0].item()
    assert 1 - abar0 == pytest.approx(2.0035e-5, rel=1e-2)
    bound = (1 - math.sqrt(abar0)) * x0.abs() + math.sqrt(1 - abar0) * noise.abs()
    assert torch.all((x_t - x0).abs() <= bound + 1e-7)
    assert (x_t - x0).abs().max() < 5 * 4.476e-3 * noise.abs().max()
    torch.testing.assert_close(schedule.add_noise(x0, torch.zeros_like(x0), 0), x0, rtol=0, atol=2e-5)
    # Late timesteps are almost pure noise.
    late = schedule.add_noise(x0, noise, torch.full((4,), T - 1))
    torch.testing.assert_close(late, noise, rtol=0, atol=1e-3)


def test_add_noise_uses_each_samples_timestep():
    schedule = NoiseSchedule(T)
    x0, noise = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    x_t = schedule.add_noise(x0, noise, torch.tensor([10, 1500]))
    abar = schedule.alphas_cumprod[[10, 1500]].sqrt()
    torch.testing.assert_close(x_t[:, 0, 0, 0], abar)


@pytest.mark.slow
def test_x0_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    net = ConditionalUNet(cond_channels=5, channels=(16, 32), res_blocks=1)
    schedule = NoiseSchedule(T)
    data = torch.Generator().manual_seed(1)
    cond = torch.rand(8, 5, 8, 8, generator=data)
    x0 = cond[:, :1] * 0.5 + 0.25  # a target the condition explains

    def fixed_loss():  # same t and noise before and after training
        with torch.no_grad():
            return x0_loss(net, x0, cond, schedule, torch.Generator().manual_seed(123)).item()

    before = fixed_loss()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    train_noise = torch.Generator().manual_seed(2)
    for _ in range(20):
        optimiser.zero_grad()
        loss = x0_loss(net, x0, cond, schedule, train_noise)
        loss.backward()
        optimiser.step()
    after = fixed_loss()
    assert after < 0.3 * before, (before, after)


def test_set_timesteps_even_descending():
    sampler = DDPMSampler(NoiseSchedule(T))
    sampler.set_timesteps(T)
    assert torch.equal(sampler.timesteps, torch.arange(T - 1, -1, -1))
    sampler.set_timesteps(20)
    steps = sampler.timesteps
    assert steps.dtype == torch.long and len(steps) == 20 and steps[0] == T - 1 and steps[-1] == 0
    assert torch.all(steps[1:] < steps[:-1])
    assert (steps[:-1] - steps[1:]).max() - (steps[:-1] - steps[1:]).min() <= 1  # evenly spaced
    sampler.set_timesteps(1)
    assert sampler.timesteps.tolist() == [T - 1]
    with pytest.raises(ValueError):
        sampler.set_timesteps(T + 1)
    with pytest.raises(ValueError, match="set_timesteps"):
        sampler.step(torch.zeros(1), 5, torch.zeros(1))


def test_ddpm_step_is_the_posterior():
    schedule = NoiseSchedule(T)
    sampler = DDPMSampler(schedule)
    sampler.set_timesteps(T)
    t = 700
    abar_t, abar_prev = schedule.alphas_cumprod[t].double(), schedule.alphas_cumprod[t - 1].double()
    beta_t = 1 - abar_t / abar_prev
    x0, x_t = torch.full((1, 1), 0.6), torch.full((1, 1), -0.3)
    # Ho et al. eq. 7: mean = [sqrt(abar_prev) beta x0 + sqrt(alpha_t) (1 - abar_prev) x_t] / (1 - abar_t).
    mean = (abar_prev.sqrt() * beta_t * 0.6 + (1 - beta_t).sqrt() * (1 - abar_prev) * -0.3) / (1 - abar_t)
    variance = (1 - abar_prev) / (1 - abar_t) * beta_t
    z = torch.randn((1, 1), generator=torch.Generator().manual_seed(5))
    x_prev = sampler.step(x0, t, x_t, torch.Generator().manual_seed(5))
    assert x_prev.item() == pytest.approx((mean + variance.sqrt() * z.double()).item(), abs=1e-6)
    # The last step returns the (clamped) x0 prediction without noise.
    assert sampler.step(torch.full((1, 1), 1.4), 0, x_t).item() == pytest.approx(1.0)
    unclipped = DDPMSampler(schedule, clip_x0=False)
    unclipped.set_timesteps(T)
    assert unclipped.step(torch.full((1, 1), 1.4), 0, x_t).item() == pytest.approx(1.4)


@pytest.mark.parametrize("n_steps", [T, 50])
def test_ddim_eta1_equals_ddpm_posterior_step(n_steps):
    schedule = NoiseSchedule(T)
    ddpm, ddim = DDPMSampler(schedule), DDIMSampler(schedule, eta=1.0)
    ddpm.set_timesteps(n_steps)
    ddim.set_timesteps(n_steps)
    data = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 1, 8, 8, generator=data)
    x_t = torch.randn(2, 1, 8, 8, generator=data)
    for t in ddpm.timesteps.tolist()[:: max(1, n_steps // 25)] + [ddpm.timesteps[-2].item(), 0]:
        a = ddpm.step(x0, t, x_t, torch.Generator().manual_seed(t))
        b = ddim.step(x0, t, x_t, torch.Generator().manual_seed(t))
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6, msg=f"t={t}")
    # The comparison can fail: DDIM with eta = 0 is a different step.
    deterministic = DDIMSampler(schedule, eta=0.0)
    deterministic.set_timesteps(n_steps)
    t = ddpm.timesteps[1].item()
    a = ddpm.step(x0, t, x_t, torch.Generator().manual_seed(t))
    assert (a - deterministic.step(x0, t, x_t)).abs().max() > 0.1


def test_ddim_eta0_is_deterministic_and_consistent():
    schedule = NoiseSchedule(T)
    ddim = DDIMSampler(schedule, eta=0.0)
    ddim.set_timesteps(10)
    x0 = torch.full((1, 4), 0.7)
    # If x_t is exactly the noised x0 with noise eps, DDIM moves it to the noised x0 with the same eps.
    eps = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    t, t_prev = ddim.timesteps[3].item(), ddim.timesteps[4].item()
    x_t = schedule.add_noise(x0, eps, t)
    torch.testing.assert_close(ddim.step(x0, t, x_t), schedule.add_noise(x0, eps, t_prev), rtol=0, atol=1e-5)


def test_sample_is_reproducible_and_lands_in_range():
    schedule = NoiseSchedule(T)
    target = torch.linspace(0.1, 0.9, 16).reshape(1, 1, 4, 4)

    def oracle(x_t, t):  # a perfect denoiser of a single known field
        assert isinstance(t, int) and 0 <= t < T
        return target.expand(x_t.shape[0], -1, -1, -1)

    for sampler in (DDPMSampler(schedule), DDIMSampler(schedule, eta=0.0)):
        runs = [sample(oracle, (3, 1, 4, 4), sampler, 20, torch.Generator().manual_seed(9), "cpu") for _ in range(2)]
        assert torch.equal(runs[0], runs[1])
        torch.testing.assert_close(runs[0], target.expand(3, -1, -1, -1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sample_does_not_synchronise_with_the_host():
    schedule = NoiseSchedule(T).to("cuda")
    target = torch.rand(2, 1, 16, 16, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = sample(
            lambda x, t: target,
            (2, 1, 16, 16),
            DDIMSampler(schedule),
            10,
            torch.Generator("cuda").manual_seed(0),
            "cuda",
        )
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(out, target)


def _textured_tiles(n, generator):
    """Tiles whose coarse part the condition gives (4 x 4 block means) and whose fine texture
    it does not: only a denoiser that reads x_t can recover the texture."""
    x0 = torch.randn(n, 1, 16, 16, generator=generator)
    coarse = torch.nn.functional.avg_pool2d(x0, 4)
    return x0, torch.nn.functional.interpolate(coarse, scale_factor=4)


def _train_denoiser(prediction, steps=40):
    torch.manual_seed(0)
    net = ConditionalUNet(cond_channels=1, channels=(16, 32), res_blocks=1, attention=False, groups=4, bounded=False)
    schedule, data = NoiseSchedule(T), torch.Generator().manual_seed(1)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    noise = torch.Generator().manual_seed(2)
    for _ in range(steps):
        x0, cond = _textured_tiles(32, data)
        optimiser.zero_grad()
        denoising_loss(net, x0, cond, schedule, noise, prediction).backward()
        optimiser.step()
    return net.eval(), schedule


@pytest.mark.slow
@pytest.mark.parametrize("prediction", ["v", "x0"])
def test_a_trained_denoiser_uses_its_noisy_input(prediction):
    net, schedule = _train_denoiser(prediction)
    x0, cond = _textured_tiles(64, torch.Generator().manual_seed(5))  # held out

    def errors(model):
        with torch.no_grad():
            return [
                x0_error(model, x0, cond, schedule, t, prediction, torch.Generator().manual_seed(6)).item()
                for t in (T // 100, T - 1)
            ]

    small_t, pure_noise = errors(net)
    assert small_t < 0.3 * pure_noise, (small_t, pure_noise)
    if prediction == "x0":
        # The check can fail: the same network given a blank x_t sees only the condition and
        # returns its conditional mean at every t. (With v the parameterisation itself carries
        # x_t into x0 = sqrt(abar) x_t - sqrt(1 - abar) v, which is why the residual model uses it.)
        blind = errors(lambda c, x_t, t: net(c, torch.zeros_like(x_t), t))
        assert blind[0] > 0.8 * blind[1], blind


def test_v_prediction_recovers_x0():
    schedule = NoiseSchedule(T)
    x0, eps = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    t = torch.tensor([0, 500, 1500, 1999])
    abar = schedule.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    v = abar.sqrt() * eps - (1 - abar).sqrt() * x0
    x_t = schedule.add_noise(x0, eps, t)
    torch.testing.assert_close(x0_from_output(v, x_t, abar, "v"), x0, atol=1e-4, rtol=0)
    torch.testing.assert_close(x0_from_output(v[1:2], x_t[1:2], float(abar[1]), "v"), x0[1:2], atol=1e-4, rtol=0)


@pytest.mark.parametrize("prediction", ["x0", "v"])
@pytest.mark.parametrize(
    ("weighting", "expected"), [("min_snr", lambda snr: snr), ("snr_plus_one", lambda snr: snr + 1)]
)
def test_a_loss_weighting_counts_the_x0_error_by_snr_capped(prediction, weighting, expected):
    """Whatever the output, the weighted loss is the mean over samples of the weighting's
    function of SNR_t, capped, times the x0 estimate's squared error (the error an output's
    error makes in x0)."""
    schedule, cap = NoiseSchedule(T), 5.0
    cond, x0 = torch.randn(64, 1, 8, 8), torch.randn(64, 1, 8, 8)
    seen = {}

    def model(c, x_t, t):  # a wrong output, remembered with its input
        seen.update(x_t=x_t, t=t, out=0.3 * x_t + c)
        return seen["out"]

    loss = denoising_loss(model, x0, cond, schedule, torch.Generator().manual_seed(0), prediction, weighting, cap)
    abar = schedule.alpha_bar(seen["t"], x0)
    x0_error = (x0_from_output(seen["out"], seen["x_t"], abar, prediction) - x0).square().flatten(1).mean(1)
    snr = (abar / (1 - abar)).flatten()
    assert snr.min() < 0.5 and snr.max() > 2 * cap  # both sides of the cap were drawn
    torch.testing.assert_close(loss, (expected(snr).clamp(max=cap) * x0_error).mean(), rtol=1e-4, atol=0)
    unweighted = denoising_loss(model, x0, cond, schedule, torch.Generator().manual_seed(0), prediction)
    assert not torch.isclose(loss, unweighted, rtol=1e-2)


def test_leading_timestep_spacing_is_diffusers_default():
    schedule = NoiseSchedule(2000)
    leading = DDIMSampler(schedule, spacing="leading")
    leading.set_timesteps(2)
    assert leading.timesteps.tolist() == [1000, 0]  # diffusers: (arange(n) * (T // n))[::-1]
    leading.set_timesteps(3)
    assert leading.timesteps.tolist() == [1332, 666, 0]
    linspace = DDIMSampler(schedule)
    linspace.set_timesteps(2)
    assert linspace.timesteps.tolist() == [1999, 0]
    with pytest.raises(ValueError, match="timestep spacing"):
        DDPMSampler(schedule, spacing="trailing")


def test_the_x0_bias_is_the_mean_error_of_the_estimate_at_each_noise_level():
    from downscaling.diffusion.losses import x0_bias, x0_error

    schedule = NoiseSchedule(100, "squaredcos_cap_v2")
    x0, cond = torch.full((4, 1, 8, 8), 0.5), torch.zeros(4, 1, 8, 8)
    biased = lambda cond, x_t, t: torch.full_like(x_t, 0.6)  # noqa: E731 - a denoiser off by +0.1
    for t in (0, 50, 99):
        generator = torch.Generator().manual_seed(0)
        assert float(x0_bias(biased, x0, cond, schedule, t, "x0", generator)) == pytest.approx(0.1, abs=1e-6)
        assert float(x0_error(biased, x0, cond, schedule, t, "x0", generator)) == pytest.approx(0.01, abs=1e-6)


def gaussian_denoiser(schedule: NoiseSchedule, mean: float, std: float):
    """The exact x0 estimate E[x0 | x_t] for data x0 ~ N(mean, std^2): the probability-flow ODE
    then carries N(0, 1) noise to that distribution, so a sampler's error can be measured."""

    def denoise(x_t, t):
        abar = schedule.alphas_cumprod[t].double()
        gain = abar.sqrt() * std**2 / (abar * std**2 + 1 - abar)
        return mean + gain * (x_t.double() - abar.sqrt() * mean)

    return denoise


def test_dpm_solver_is_ddim_on_its_first_step_and_second_order_after():
    schedule = NoiseSchedule(T)
    denoise = gaussian_denoiser(schedule, 0.0, 1.0)  # unit variance, as a residual model's target

    def solve(name, n_steps, spacing="logsnr"):
        sampler = make_sampler(name, schedule, clip_x0=False, spacing=spacing)
        return sample(denoise, (4000,), sampler, n_steps, torch.Generator().manual_seed(3), "cpu")

    reference = solve("ddim", T, "linspace")  # the ODE's solution (std 1.008 on these draws)
    error = {
        (name, n): (solve(name, n) - reference).abs().mean().item()
        for name in ("ddim", "dpmpp2m")
        for n in (8, 12, 16, 32)
    }
    for n_steps in (8, 12, 16, 32):  # on the same steps, the second-order solver is much closer ...
        assert error["dpmpp2m", n_steps] < error["ddim", n_steps] / 3
    assert error["dpmpp2m", 32] < error["dpmpp2m", 8] / 3  # ... and converges
    # DDIM with few steps shrinks the spread (the ODE's curvature is cut off); DPM-Solver++ keeps it.
    assert solve("ddim", 8, "linspace").std() < 0.9 < 0.95 < solve("dpmpp2m", 12).std() < 1.1
    assert solve("ddim", 16, "linspace").std() < 0.95  # the demo's former 16 steps: 0.93
    # With one step there is nothing to extrapolate from: the same step as DDIM.
    x_t = torch.randn(5, generator=torch.Generator().manual_seed(4))
    one = [make_sampler(name, schedule, clip_x0=False) for name in ("ddim", "dpmpp2m")]
    for sampler in one:
        sampler.set_timesteps(1)
    torch.testing.assert_close(
        one[0].step(denoise(x_t, T - 1), T - 1, x_t), one[1].step(denoise(x_t, T - 1), T - 1, x_t)
    )


def test_the_sde_dpm_solver_adds_ddpm_noise_and_keeps_the_spread_where_ancestral_sampling_shrinks_it():
    schedule = NoiseSchedule(T)
    denoise = gaussian_denoiser(schedule, 0.0, 1.0)

    def std(name, n_steps, eta, spacing="logsnr"):
        sampler = make_sampler(name, schedule, eta=eta, clip_x0=False, spacing=spacing)
        return sample(denoise, (20000,), sampler, n_steps, torch.Generator().manual_seed(3), "cpu").std().item()

    # measured: 0.96 / 1.05 / 1.02 at 8 / 16 / 64 steps; DDPM ancestral 0.77 / 0.87 / 0.96
    for n_steps in (8, 16, 64):
        assert 0.94 < std("dpmpp2m", n_steps, 1.0) < 1.07
        assert std("ddpm", n_steps, 0.0, "linspace") < std("dpmpp2m", n_steps, 1.0)
    # Its first step (nothing to extrapolate from) is DDPM's posterior step, noise included.
    x_t = torch.randn(5, generator=torch.Generator().manual_seed(4))
    first = []
    for name, eta in (("ddpm", 0.0), ("dpmpp2m", 1.0)):
        sampler = make_sampler(name, schedule, eta=eta, clip_x0=False)
        sampler.set_timesteps(4)
        t = int(sampler.timesteps[0])
        first.append(sampler.step(denoise(x_t, t), t, x_t, torch.Generator().manual_seed(5)))
    torch.testing.assert_close(first[0], first[1])


def test_logsnr_spacing_runs_from_lambda_minus_5_to_clean_in_even_steps_of_log_snr():
    schedule = NoiseSchedule(T)
    sampler = DDIMSampler(schedule, spacing="logsnr")
    sampler.set_timesteps(12)
    steps = sampler.timesteps.tolist()
    assert len(steps) == 12 and steps[-1] == 0 and steps == sorted(set(steps), reverse=True)
    abar = schedule.alphas_cumprod.double()[steps]
    lam = 0.5 * torch.log(abar / (1 - abar))
    assert lam[0].item() == pytest.approx(LOGSNR_START, abs=0.1)  # not the schedule's -10.6 at T - 1
    increments = torch.diff(lam)
    assert increments.min() > 0.9 * increments.mean() and increments.max() < 1.1 * increments.mean()


def test_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="sampler must be one of"):
        make_sampler("euler", NoiseSchedule(T))

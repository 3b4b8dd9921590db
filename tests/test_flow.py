"""The flow-matching decoder and code sampler: the ODE solver against the exact flow between two
Gaussians, the training target against its definition, the EMA against its closed form, guidance,
determinism under a seed, and the learned sampler on a mixture a Gaussian cannot fit."""
import math

import pytest
import torch
from flow_matching.solver import ODESolver

from isogen.config import make_config
from isogen.geometry import EUCLIDEAN
from isogen.models import DECODERS
from isogen.samplers import SAMPLERS


def flow_decoder(**overrides):
    return DECODERS["flow"].from_config(make_config("smoke-flow", {k: str(v) for k, v in overrides.items()}))


@pytest.mark.parametrize("method, steps, tolerance", [("euler", 200, 2e-2), ("midpoint", 20, 2e-3), ("rk4", 10, 1e-5)])
def test_ode_solver_follows_the_exact_flow_between_two_gaussians(method, steps, tolerance):
    """x_0 ~ N(0, I) -> x_1 ~ N(mu, s^2 I) on the straight path: x_t ~ N(t mu, ((1-t)^2 + t^2 s^2) I), and the
    marginal velocity E[x_1 - x_0 | x_t = x] = mu + (x - t mu)(t s^2 - (1 - t)) / ((1 - t)^2 + t^2 s^2)
    carries each x_0 to the optimal-transport image mu + s x_0."""
    mu, s = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64), 0.3

    def velocity(x, t):
        var = (1 - t) ** 2 + t**2 * s**2
        return mu + (x - t * mu) * (t * s**2 - (1 - t)) / var

    x0 = torch.randn(500, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grid = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    x1 = ODESolver(velocity).sample(x_init=x0, step_size=None, method=method, time_grid=grid)
    assert (x1 - (mu + s * x0)).abs().max() < tolerance


def test_the_training_target_is_the_straight_path_velocity():
    decoder = flow_decoder()
    noise = {k: v[0] for k, v in decoder.noise(1, 4, torch.Generator().manual_seed(0)).items()}
    x = torch.rand(4, 1, 28, 28)
    captured = {}
    decoder.net.forward = lambda xt, t, z: captured.update(xt=xt, t=t) or torch.zeros_like(xt)
    loss = decoder.loss(torch.randn(4, 16), x, noise)["flow_mse"]
    t = noise["flow_t"][:, None, None, None]
    x1, x0 = 2 * x - 1, noise["flow_x0"]
    assert torch.allclose(captured["xt"], t * x1 + (1 - t) * x0, atol=1e-6)
    # with v = 0 the loss is the squared target velocity x_1 - x_0, summed over pixels, averaged over images
    assert loss.item() == pytest.approx((x1 - x0).pow(2).sum((1, 2, 3)).mean().item(), rel=1e-5)


def test_reflow_starts_from_the_ema_and_regresses_the_straight_line_between_its_pairs():
    decoder = flow_decoder()
    with torch.no_grad():
        for p in decoder.net.parameters():
            p.add_(1.0)  # network and EMA differ: the student must start from the EMA (what generates)
    ema = [p.clone() for p in decoder.ema.parameters()]
    z, x0, x1 = torch.randn(5, 16), torch.randn(5, 1, 28, 28), torch.rand(5, 1, 28, 28)
    captured = {}

    def network(xt, t, codes):
        captured.update(xt=xt, t=t, codes=codes, weights=[p.detach().clone() for p in decoder.net.parameters()])
        return decoder.net.stem.weight.sum() * 0 + torch.zeros_like(xt)  # v = 0, on a graph to the weights

    decoder.net.forward = network
    loss = decoder.reflow(z, x0, x1, torch.Generator().manual_seed(0), steps=1, batch_size=3, lr=0.0)[0]
    draws = torch.Generator().manual_seed(0)
    rows, t = torch.randint(5, (3,), generator=draws), torch.rand(3, generator=draws)
    target = (2 * x1 - 1)[rows] - x0[rows]
    assert all(torch.equal(a, b) for a, b in zip(captured["weights"], ema, strict=True))
    assert torch.allclose(captured["t"], t) and torch.equal(captured["codes"], z[rows])
    assert torch.allclose(captured["xt"], x0[rows] + t[:, None, None, None] * target, atol=1e-6)
    assert loss == pytest.approx(target.pow(2).sum((1, 2, 3)).mean().item(), rel=1e-5)


def test_reflow_learns_a_straight_flow_that_one_euler_step_follows():
    """Pairs x1 = x0 + c(z) (in [-1, 1]) lie on straight lines of velocity c(z): after reflow one Euler step
    of the student lands near the targets, where the untrained teacher's step did not."""
    torch.manual_seed(0)
    decoder = flow_decoder(decoder_width=8, flow_steps=1, flow_solver="euler", ema_decay=0.9)
    z = torch.randn(2, 16).repeat(32, 1)  # two codes, 32 noises each
    shift = torch.where(torch.arange(64)[:, None, None, None] % 2 == 0, 0.5, -0.5)
    x0 = 0.1 * torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    x1 = (x0 + shift + 1) / 2  # the teacher's images, in [0, 1]
    before = (decoder.integrate(x0, z) - x1).abs().mean().item()
    decoder.reflow(z, x0, x1, torch.Generator().manual_seed(2), steps=150, batch_size=16, lr=3e-3)
    after = (decoder.integrate(x0, z) - x1).abs().mean().item()
    assert after < 0.05 < before


def test_codes_are_dropped_to_the_null_code_at_the_set_rate():
    keep = flow_decoder(flow_drop_prob=0.25).noise(40, 100, torch.Generator().manual_seed(1))["flow_keep"]
    assert keep.dtype == torch.bool and keep.float().mean().item() == pytest.approx(0.75, abs=0.02)


def test_ema_follows_its_closed_form():
    decoder = flow_decoder(ema_decay=0.9)
    ema0 = [p.clone() for p in decoder.ema.parameters()]
    live = list(decoder.net.parameters())
    with torch.no_grad():
        for p in live:
            p.add_(1.0)  # the network moves by 1 everywhere; the EMA approaches it
    expected = [e.clone() for e in ema0]
    for k in range(1, 31):
        decay = min(0.9, (1 + k) / (10 + k))
        expected = [decay * e + (1 - decay) * p for e, p in zip(expected, live, strict=True)]
        decoder.after_step()
    assert all(torch.allclose(e, p, atol=1e-6) for e, p in zip(expected, decoder.ema.parameters(), strict=True))
    assert not any(p.requires_grad for p in decoder.ema.parameters())


def test_generation_repeats_under_a_seed_differs_across_seeds_and_shares_noise_in_groups():
    decoder = flow_decoder(flow_guidance=2.0)  # with guidance: conditional and null passes batched together
    z = torch.randn(6, 16)
    a, b = (decoder.generate(z, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a, decoder.generate(z, torch.Generator().manual_seed(4)))
    # three codes, each decoded twice with one shared noise: equal codes give equal images
    twice = decoder.generate(z[:3].repeat_interleave(2, dim=0), torch.Generator().manual_seed(5), noise_group=2)
    assert torch.equal(twice[0], twice[1]) and torch.equal(twice[4], twice[5]) and not torch.equal(twice[0], twice[2])


def test_learned_sampler_reproduces_a_mixture_a_matched_gaussian_cannot():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 6, generator=g) * 3
    codes = torch.cat([c + 0.5 * torch.randn(2000, 6, generator=g) for c in centres])  # (6000, 6)
    config = make_config("smoke", {"embed_dim": "6", "code_flow_width": "64"})
    true_distance = 0.5 * math.sqrt(2) * math.gamma(3.5) / math.gamma(3)  # E|N(0, 0.25 I_6)| = 1.17
    for name, expected in (("learned", true_distance), ("matched", None)):
        sampler = SAMPLERS[name](EUCLIDEAN, config).fit(codes, "cpu", torch.Generator().manual_seed(1), 1500)
        z = sampler.sample(6000, torch.Generator().manual_seed(2))
        distance = torch.cdist(z, centres).min(1).values.mean().item()  # to the nearest mixture centre
        if expected:
            assert distance == pytest.approx(expected, rel=0.1)
        else:
            assert distance > 1.5 * true_distance

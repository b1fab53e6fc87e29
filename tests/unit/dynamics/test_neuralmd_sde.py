"""NeuralMD-SDE, the underdamped ``sampler: langevin`` form: samples from one batched solve, seeded, distinct; constraints; paper variant."""

from __future__ import annotations

import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.dynamics.registry import build_method
from tests.unit.dynamics.conftest import TINY, batch_of, random_rotation, transform_batch, window

LANGEVIN = {"sampler": "langevin"}


@pytest.mark.parametrize("options", [LANGEVIN, {"paper_compat": True}])
def test_samples_distinct_and_seeded(t4l_system, t4l_seed1_system, options):
    torch.manual_seed(0)
    method = build_method("neuralmd-sde", TINY, options).eval()
    batch = batch_of(window(t4l_system, 20, 2), window(t4l_seed1_system, 40, 2))

    def run(seed):
        return method.rollout(batch, 3, samples=4, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(7), run(7), run(8)
    assert a.shape == (4, 3, batch[keys.LIG_Z].shape[0], 3) and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    for i in range(4):
        for j in range(i + 1, 4):
            assert (a[i] - a[j]).abs().max() > 1e-4, (i, j)


def test_constraints_and_noise_enters_velocity_only(t4l_system):
    torch.manual_seed(0)
    method = build_method(
        "neuralmd-sde", TINY, {**LANGEVIN, "friction_init": 0.3, "sigma_init": 0.2}
    )
    batch = batch_of(window(t4l_system, 20, 2))
    ctx = method.context(batch)
    x = batch[keys.LIG_POS][-1]
    assert abs(float(method.friction().detach()) - 0.3) < 1e-6
    sigma = method.sigma(ctx, x)
    assert sigma.shape == (x.shape[0], 1) and torch.allclose(sigma, torch.full_like(sigma, 0.2))
    with torch.no_grad():
        method.raw_friction.fill_(-50.0)
        method.sigma_head.bias.fill_(-50.0)
    assert float(method.friction().detach()) >= 0 and bool((method.sigma(ctx, x) >= 0).all())


def test_sigma_is_rotation_invariant_and_training_reaches_it(t4l_system):
    torch.manual_seed(0)
    method = build_method("neuralmd-sde", TINY, LANGEVIN).double()
    torch.nn.init.normal_(method.sigma_head.weight)
    batch = batch_of(window(t4l_system, 20, 3), dtype=torch.float64)
    moved = transform_batch(batch, random_rotation(3), torch.tensor([1.0, 2.0, -3.0]).double())
    s1 = method.sigma(method.context(batch), batch[keys.LIG_POS][-1])
    s2 = method.sigma(method.context(moved), moved[keys.LIG_POS][-1])
    assert torch.allclose(s1, s2, atol=1e-10)
    method.loss(batch, 1, "multi", "mse").backward()
    for p in (method.raw_friction, method.sigma_head.weight, method.net.out.w2.weight):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0


def _sigma_after(score: str, t4l_system, steps: int = 25) -> float:
    torch.manual_seed(0)
    method = build_method(
        "neuralmd-sde", TINY, {**LANGEVIN, "sigma_init": 0.01, "training_score": score}
    )
    batch = batch_of(window(t4l_system, 10, 6))
    opt = torch.optim.Adam([method.sigma_head.bias], lr=0.05)  # fit the noise level alone
    for _ in range(steps):
        value = method.loss(batch, 2, "single", "l1")
        opt.zero_grad()
        value.backward()
        opt.step()
    return float(torch.nn.functional.softplus(method.sigma_head.bias.detach()))


def test_energy_score_fits_the_noise_instead_of_collapsing_it(t4l_system):
    """At 1 ps the ligand's next positions are spread by ~1 Å: the proper energy score raises a
    too-small σ, while the one-sample L1 loss pushes it down (the collapse it replaces)."""
    energy = _sigma_after("energy", t4l_system)
    sample = _sigma_after("sample", t4l_system)
    assert energy > 0.03 > 0.01 > sample, (energy, sample)

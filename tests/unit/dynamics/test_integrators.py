"""The integrators on analytic problems: harmonic Verlet energy, ODE order, SDE noise scaling."""

from __future__ import annotations

import math

import pytest
import torch

from neuralmd_core.dynamics._integrators import (
    KCAL_PER_MOL_A_AMU_TO_A_PS2,
    LangevinSDE,
    integrate_langevin,
    integrate_newton,
    velocity_verlet,
)


def test_velocity_verlet_harmonic_energy_conservation():
    torch.manual_seed(0)
    k = torch.tensor([[50.0], [120.0], [10.0]], dtype=torch.float64)  # kcal/mol/Å²
    m = torch.tensor([12.011, 15.999, 1.008], dtype=torch.float64)  # amu
    x = torch.randn(3, 3, dtype=torch.float64) * 0.3
    v = torch.randn(3, 3, dtype=torch.float64) * 5.0  # Å/ps

    def energy(x, v):
        potential = 0.5 * (k * x**2).sum()
        kinetic = 0.5 * (m.unsqueeze(-1) * v**2).sum() / KCAL_PER_MOL_A_AMU_TO_A_PS2
        return float(potential + kinetic)

    e0 = energy(x, v)
    # fastest period 2π sqrt(m/(418.4 k)) ≈ 0.043 ps (H atom); dt = 1 fs
    dt, f, drift = 1e-3, None, 0.0
    for _ in range(100):
        x, v, f = velocity_verlet(x, v, lambda y: -k * y, m, dt, 10, force=f)
        drift = max(drift, abs(energy(x, v) - e0) / e0)
    assert drift < 1e-3
    # and the dynamics is not trivially frozen: exact solution check for one oscillator
    x1 = torch.tensor([[0.1, 0.0, 0.0]], dtype=torch.float64)
    w = math.sqrt(KCAL_PER_MOL_A_AMU_TO_A_PS2 * 50.0 / 12.0)
    xt, _, _ = velocity_verlet(
        x1,
        torch.zeros_like(x1),
        lambda y: -50.0 * y,
        torch.tensor([12.0], dtype=torch.float64),
        1e-4,
        1000,
    )
    assert abs(float(xt[0, 0]) - 0.1 * math.cos(w * 0.1)) < 1e-5


@pytest.mark.parametrize("solver,order", [("euler", 1), ("rk4", 4)])
def test_newton_ode_converges_with_order(solver, order):
    # x'' = -x, x(0)=1, v(0)=0 -> x(t)=cos t
    x0 = torch.ones(1, 3, dtype=torch.float64)
    v0 = torch.zeros(1, 3, dtype=torch.float64)
    errs = []
    for step in (0.1, 0.05):
        xs, vs = integrate_newton(lambda x, v: -x, x0, v0, 2, step, solver)
        assert xs.shape == (2, 1, 3)
        errs.append(abs(float(xs[-1, 0, 0]) - math.cos(2.0)))
    assert errs[1] < errs[0] / 2**order * 1.5
    # adjoint gives the same forward values
    xa, _ = integrate_newton(lambda x, v: -x, x0, v0, 2, 0.05, solver, adjoint=True)
    assert torch.allclose(xa[-1], xs[-1])


def test_newton_euler_one_step_matches_hand():
    x0 = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    v0 = torch.tensor([[0.5, 0.0, -1.0]], dtype=torch.float64)
    a = torch.tensor([[2.0, 2.0, 2.0]], dtype=torch.float64)
    xs, vs = integrate_newton(lambda x, v: a, x0, v0, 1, 0.5, "euler")
    # two Euler steps of 0.5: x½ = x0 + 0.5 v0, v½ = v0 + 0.5 a; x1 = x½ + 0.5 v½
    assert torch.allclose(xs[0], x0 + 0.5 * v0 + 0.5 * (v0 + 0.5 * a))
    assert torch.allclose(vs[0], v0 + 2 * 0.5 * a)


def test_langevin_noise_scales_with_sqrt_dt_and_seed():
    n, sigma, t = 4000, 0.7, 4
    x0 = torch.zeros(n, 3, dtype=torch.float64)
    sde = LangevinSDE(
        torch.zeros_like,
        lambda: torch.zeros((), dtype=torch.float64),
        lambda x: torch.full((x.shape[0], 1), sigma, dtype=x.dtype),
    )
    for step in (0.5, 0.1):
        xs, vs = integrate_langevin(sde, x0, x0.clone(), t, step, seed=3)
        var = float(vs[-1].var())
        # var of v(t) = σ² t; sampling error of a variance with 12000 samples ≈ 1.3 %
        assert abs(var - sigma**2 * t) < 0.06 * sigma**2 * t, (step, var)
    a, _ = integrate_langevin(sde, x0[:5], x0[:5], 2, 0.5, seed=11)
    b, _ = integrate_langevin(sde, x0[:5], x0[:5], 2, 0.5, seed=11)
    c, _ = integrate_langevin(sde, x0[:5], x0[:5], 2, 0.5, seed=12)
    assert torch.equal(a, b) and not torch.allclose(a, c)

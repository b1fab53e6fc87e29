"""NeuralMD-ODE: SE(3)-equivariance of a whole rollout, protocols, the reference quirk."""

from __future__ import annotations

import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.dynamics.registry import build_method
from tests.unit.dynamics.conftest import TINY, batch_of, random_rotation, transform_batch, window


@pytest.mark.parametrize(
    "options,history",
    [
        ({}, 2),  # finite-difference v0 through the velocity net, euler
        ({"solver": "rk4", "alpha_ref": 1.0, "velocity_net": False}, 1),  # zero v0, Ref term
        ({"rollout_velocity": "reestimate"}, 3),
    ],
)
def test_rollout_is_se3_equivariant(t4l_system, options, history):
    torch.manual_seed(0)
    method = build_method("neuralmd-ode", TINY, options).double().eval()
    batch = batch_of(window(t4l_system, 20, history), dtype=torch.float64)
    rot, shift = random_rotation(1), torch.tensor([3.0, -7.0, 11.0], dtype=torch.float64)
    out = method.rollout(batch, 3)
    out_t = method.rollout(transform_batch(batch, rot, shift), 3)
    assert out.abs().max() < 1e4 and not torch.isnan(out).any()
    assert torch.allclose(out_t, out @ rot.T + shift, atol=1e-6 * max(1.0, float(out.abs().max())))
    assert not torch.allclose(out[0, 0], batch[keys.LIG_POS][-1])  # it moved


def test_paper_single_trajectory_quirk_is_one_small_euler_step(t4l_system):
    # reference single-trajectory defaults: scaling 100, step 1 -> x_{t+1} = x_t + 0.01 (x_t - x_{t-1})
    method = build_method(
        "neuralmd-ode",
        TINY,
        {
            "time_scaling": 100.0,
            "step": 1.0,
            "velocity_net": False,
            "rollout_velocity": "reestimate",
        },
    ).double()
    batch = batch_of(window(t4l_system, 5, 2), dtype=torch.float64)
    x = batch[keys.LIG_POS]
    out = method.rollout(batch, 1)
    assert torch.allclose(out[0, 0], x[1] + 0.01 * (x[1] - x[0]), atol=1e-12)


def test_init_velocity_overrides_history_and_reestimate_matches_carry_for_one_snapshot(t4l_system):
    torch.manual_seed(0)
    carry = build_method("neuralmd-ode", TINY).double().eval()
    rees = build_method("neuralmd-ode", TINY, {"rollout_velocity": "reestimate"}).double().eval()
    rees.load_state_dict(carry.state_dict())
    batch = batch_of(window(t4l_system, 30, 2), dtype=torch.float64)
    assert torch.allclose(carry.rollout(batch, 1), rees.rollout(batch, 1))
    assert not torch.allclose(carry.rollout(batch, 3), rees.rollout(batch, 3))
    single = dict(batch, **{keys.LIG_POS: batch[keys.LIG_POS][-1:]})
    single["init_velocity"] = batch[keys.LIG_POS][1] - batch[keys.LIG_POS][0]
    assert torch.allclose(carry.rollout(single, 2), carry.rollout(batch, 2))


def test_adjoint_matches_direct_loss(t4l_system):
    torch.manual_seed(0)
    direct = build_method("neuralmd-ode", TINY, {"step": 1.0}).double()
    adjoint = build_method("neuralmd-ode", TINY, {"step": 1.0, "adjoint": True}).double()
    adjoint.load_state_dict(direct.state_dict())
    batch = batch_of(window(t4l_system, 40, 3), dtype=torch.float64)
    losses = []
    for method in (direct, adjoint):
        value = method.loss(batch, 1, "multi", "mse")
        value.backward()
        losses.append(value)
    assert torch.allclose(losses[0], losses[1])
    g1, g2 = direct.net.out.w2.weight.grad, adjoint.net.out.w2.weight.grad
    assert torch.allclose(g1, g2, rtol=0.05, atol=1e-3 * float(g1.abs().max()))


@pytest.mark.parametrize("friction", [True, False])
def test_friction_bounds_free_flight(t4l_system, friction):
    """With zero force, v0 carries the ligand 20 Å in 20 snapshots without friction; with γ = 1
    per interval (Euler, step 0.5) the total drift is bounded by v0/γ = 1 Å per unit velocity."""
    method = build_method("neuralmd-ode", TINY, {"friction": friction, "velocity_net": False})
    for p in method.net.parameters():
        torch.nn.init.zeros_(p)
    batch = batch_of(window(t4l_system, 0, 1))
    batch["init_velocity"] = torch.zeros_like(batch[keys.LIG_POS][0]) + torch.tensor([1.0, 0, 0])
    traj = method.rollout(batch, 20)[0]
    drift = (traj[-1] - batch[keys.LIG_POS][0])[:, 0]
    expected = 1.0 - 0.5**40 if friction else 20.0  # Euler: v halves every step of 0.5
    assert torch.allclose(drift, torch.full_like(drift, expected), atol=1e-4)

"""VerletMD: forces are −∇E (finite differences), energy labels, loss without labels."""

from __future__ import annotations

import torch

from neuralmd_core import keys
from neuralmd_core.data.batch import with_positions
from neuralmd_core.dynamics.registry import build_method
from tests.unit.dynamics.conftest import TINY, batch_of, window


def test_forces_equal_minus_energy_gradient(t4l_system):
    torch.manual_seed(0)
    method = build_method("verlet-md", TINY).double()
    batch = batch_of(window(t4l_system, 15, 1), dtype=torch.float64)
    ctx = method.context(batch)
    x = batch[keys.LIG_POS][0].clone()
    forces = method.forces(ctx, x)
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (7, 2), (5, 0)]:
        dx = torch.zeros_like(x)
        dx[atom, axis] = h
        with torch.no_grad():
            e_plus = method.energy(ctx, x + dx).sum()
            e_minus = method.energy(ctx, x - dx).sum()
        fd = -(e_plus - e_minus) / (2 * h)
        assert abs(float(fd) - float(forces[atom, axis])) < 1e-6 * max(
            1.0, float(forces.abs().max())
        )
    assert float(forces.abs().max()) > 1e-6


def test_energy_loss_uses_labels_and_position_loss_without(t4l_system):
    torch.manual_seed(0)
    method = build_method("verlet-md", TINY, {"position_weight": 0.0})
    batch = batch_of(window(t4l_system, 15, 3))
    ctx = method.context(batch)
    pos = batch[keys.LIG_POS]
    energies = torch.stack([method.energy(ctx, pos[t]) for t in range(3)])  # (T, B)
    expected = (energies[:, 0] - batch[keys.ENERGY][0]).abs().mean()
    loss = method.loss(batch, 2, "single", "l1")
    assert torch.allclose(loss, expected, rtol=1e-5)
    unlabeled = {k: v for k, v in batch.items() if k != keys.ENERGY}
    position_only = method.loss(unlabeled, 2, "single", "l1")
    pred = method.rollout(with_positions(unlabeled, pos[:2]), 1)[0]
    assert torch.allclose(position_only, (pred - pos[2:]).abs().mean(), rtol=1e-5)
    position_only.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in method.parameters())


def test_rollout_uses_snapshot_interval(t4l_system):
    torch.manual_seed(0)
    slow = build_method("verlet-md", TINY, {"snapshot_interval_ps": 1.0, "steps_per_snapshot": 4})
    fast = build_method("verlet-md", TINY, {"snapshot_interval_ps": 0.01, "steps_per_snapshot": 4})
    fast.load_state_dict(slow.state_dict())
    batch = batch_of(window(t4l_system, 15, 2))
    x = batch[keys.LIG_POS]
    # a tiny interval: forces barely act, x_{t+1} ≈ x_t + (x_t − x_{t−1})
    out = fast.rollout(batch, 1)[0, 0]
    assert torch.allclose(out, 2 * x[1] - x[0], atol=1e-2)
    assert not torch.allclose(slow.rollout(batch, 1)[0, 0], out, atol=1e-2)

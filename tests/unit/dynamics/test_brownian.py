"""Length-unit noise of the manifold sampler (``_brownian.metric_weights``): the weights are what
isotropic per-atom noise projected onto the manifold gives each column, they are invariant under
rotations, they match the inertia tensor by hand on a rigid ligand, and the projected noise moves
atoms by the projector's share of D (real refdata ligands)."""

from __future__ import annotations

import numpy as np
import torch

from neuralmd_core import keys
from neuralmd_core.dynamics import _brownian as BD
from neuralmd_core.dynamics._manifold import Manifold
from tests.unit.dynamics.conftest import batch_of, random_rotation, window


def _padded(system, frame: int = 0) -> tuple[Manifold, torch.Tensor]:
    batch = batch_of(window(system, frame, 1), dtype=torch.float64)
    man = Manifold.from_batch(batch)
    return man, man.pad(batch[keys.LIG_POS][-1])


def test_projected_isotropic_noise_gives_the_per_atom_variance_in_every_class(gs11_system):
    """Per-atom Cartesian noise of variance v = 0.3 Å², projected onto glutathione's manifold
    (6 rigid + 20 torsion columns): each class's mean of q² / W is v within 5 %."""
    man, xp = _padded(gs11_system)
    k, v = 4000, 0.3
    many = man.replicate(k)
    xs = xp.repeat(k, 1, 1)
    gen = torch.Generator().manual_seed(0)
    d = v**0.5 * torch.randn(xs.shape, generator=gen, dtype=torch.float64) * many.mask[..., None]
    moments = BD.residual_moments(many, xs, d, BD.metric_weights(many, xs))
    assert torch.allclose(moments, torch.full_like(moments, v), rtol=0.05), moments


def test_weights_are_invariant_under_rotations(gs11_system):
    man, xp = _padded(gs11_system, 30)
    rot = random_rotation(4)
    turned = xp @ rot.T + torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    assert torch.allclose(BD.metric_weights(man, xp), BD.metric_weights(man, turned), rtol=1e-8)


def test_rigid_ligand_weights_are_one_over_n_and_the_inverse_inertia(t4l_system):
    """p-xylene (no rotatable bond): translation 1/N, rotation tr(I⁻¹)/3 with I the unit-mass
    inertia tensor about the centroid, by numpy."""
    man, xp = _padded(t4l_system)
    w = BD.metric_weights(man, xp)[0].numpy()
    x = xp[0].numpy()
    r = x - x.mean(0)
    inertia = (r**2).sum() * np.eye(3) - r.T @ r
    assert np.allclose(w[:3], 1 / len(x), rtol=1e-6)
    assert np.allclose(w[3:6], np.trace(np.linalg.inv(inertia)) / 3, rtol=1e-6)


def test_projected_noise_jiggles_each_atom_by_d_times_q_over_n(gs11_system):
    """Zero drift, per-atom D = 0.01 Å² per interval, 50 substeps: the sampler's state moves
    each atom by a mean square of D · Q / N (the projector's trace: 26 of 117 directions of
    glutathione), within 5 %, and keeps every rigid distance."""
    man, xp = _padded(gs11_system)
    k, d = 400, 0.01
    many = man.replicate(k)
    xs = xp.repeat(k, 1, 1)
    var = torch.tensor([d, d, d, 0.0], dtype=torch.float64)
    noise = BD.Noise(torch.Generator().manual_seed(1), xs.device, xs.dtype)
    out = BD.sample(many, xs, torch.zeros_like, var, 1, 50, noise, projected=True)[0]
    msd = float(((out - xs) ** 2).sum(-1).mean())
    n = int(man.mask.sum())
    assert abs(msd / (d * man.num_q / n) - 1) < 0.05, msd


def test_relative_weights_of_older_checkpoints_keep_the_rigid_body_at_one(gs11_system):
    man, xp = _padded(gs11_system)
    w = BD.metric_weights(man, xp, absolute=False)[0]
    assert torch.equal(w[:6], torch.ones(6, dtype=w.dtype))
    assert abs(float(w[6:].mean()) - 1.0) < 1e-9


def _max_step_p99(man, xp, var, fine: int, k: int = 2000, seed: int = 0) -> float:
    many, xs = man.replicate(k), xp.repeat(k, 1, 1)
    noise = BD.Noise(torch.Generator().manual_seed(seed), xs.device, xs.dtype)
    out = BD.sample(many, xs, torch.zeros_like, var, 1, 1, noise, projected=True, fine=fine)[0]
    return float((out - xs).norm(dim=-1).amax(1).quantile(0.99))


def test_fine_moves_keep_large_torsion_noise_as_small_as_its_linear_step(gs11_system, t4l_system):
    """Glutathione at D = 0.39 Å² per interval: in one exact move, correlated torsions whose
    linear effects cancel throw atoms far (99th percentile of the largest step > 1.5 × that of
    the linear Gaussian step J q); in ``fine_moves`` moves it stays within 10 % of it. p-xylene
    (no torsion, small rotations) needs one move."""
    var = torch.tensor([0.39, 0.39, 0.39, 0.0], dtype=torch.float64)
    man, xp = _padded(gs11_system)
    k = 2000
    many, xs = man.replicate(k), xp.repeat(k, 1, 1)
    noise = BD.Noise(torch.Generator().manual_seed(5), xs.device, xs.dtype)
    q = many.project(xs, BD.projected_noise(many, var, 1.0, noise)) * BD.columns(many, var).sqrt()
    linear = torch.einsum("snkq,sq->snk", many.basis(xs), q).norm(dim=-1).amax(1).quantile(0.99)
    fine = BD.fine_moves(man, var, BD.metric_weights(man, xp), 1.0)
    assert 4 <= fine <= BD.FINE_MAX
    assert _max_step_p99(man, xp, var, 1) > 1.5 * float(linear)
    assert abs(_max_step_p99(man, xp, var, fine) / float(linear) - 1) < 0.1
    t4l, t4l_xp = _padded(t4l_system)
    assert BD.fine_moves(t4l, var, BD.metric_weights(t4l, t4l_xp), 1.0) == 1

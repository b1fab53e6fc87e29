"""The MD-like neuralmd-sde sampler: exact geometry, analytic Brownian statistics, equivariance
in distribution, seeding, noise statistics and calibration (real refdata ligands)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.data.ligand_graph import LigandGraph
from neuralmd_core.dynamics import _brownian as BD
from neuralmd_core.dynamics._manifold import Manifold, idealize
from neuralmd_core.dynamics.registry import build_method
from tests.unit.dynamics.conftest import TINY, batch_of, random_rotation, transform_batch, window


def _rigid_distances(x: torch.Tensor, pairs: np.ndarray) -> torch.Tensor:
    p = torch.as_tensor(pairs)
    return (x[..., p[:, 0], :] - x[..., p[:, 1], :]).norm(dim=-1)


def test_graph_of_glutathione(gs11_system):
    g = LigandGraph.from_bonds(39, gs11_system[keys.LIG_BONDS])
    assert len(g.axes) > 5
    for (j, k), moving in zip(g.axes, g.moving):
        assert not moving[j] and not moving[k] and 0 < moving.sum() <= (39 - 2) / 2 + 1
    bonded = {tuple(sorted(b)) for b in gs11_system[keys.LIG_BONDS].tolist()}
    assert bonded <= {tuple(p) for p in g.rigid_pairs.tolist()}  # bonds never change


def test_untrained_rollout_keeps_every_rigid_distance_over_10k_substeps(gs11_system):
    """10⁴ substeps of an untrained network's drift plus noise: bond lengths, bond angles
    (1–3 distances) and rings stay exactly as they started (state, before vibration)."""
    torch.manual_seed(0)
    method = build_method("neuralmd-sde", TINY, {"substeps": 100}).double().eval()
    method.sampler.noise_var[BD.VAR_VIB] = 0.0  # report the state itself
    batch = batch_of(window(gs11_system, 40, 1), dtype=torch.float64)
    g = LigandGraph.from_bonds(39, gs11_system[keys.LIG_BONDS])
    out = method.rollout(batch, 100, generator=torch.Generator().manual_seed(1))[0]
    start = _rigid_distances(batch[keys.LIG_POS][-1], g.rigid_pairs)
    drift = (_rigid_distances(out, g.rigid_pairs) - start).abs().max()
    assert torch.isfinite(out).all() and float(drift) < 1e-9
    moved = (out[-1] - batch[keys.LIG_POS][-1]).norm(dim=-1).mean()
    assert float(moved) > 0.5  # it did move: torsions and the rigid body are free


def test_project_recovers_exact_moves_and_move_is_an_isometry(gs11_system):
    x = torch.as_tensor(gs11_system[keys.LIG_POS][10], dtype=torch.float64)
    batch = batch_of(window(gs11_system, 10, 1), dtype=torch.float64)
    man = Manifold.from_batch(batch)
    xp = man.pad(x)
    q = 1e-4 * torch.randn(
        (1, man.num_q), generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    small = man.move(xp, q)
    assert torch.allclose(man.project(xp, small - xp), q, rtol=1e-2, atol=1e-8)
    big = man.move(xp, 1e3 * q)
    g = LigandGraph.from_bonds(39, gs11_system[keys.LIG_BONDS])
    assert torch.allclose(
        _rigid_distances(big[0], g.rigid_pairs), _rigid_distances(x, g.rigid_pairs)
    )


def _harmonic_run(system, k: float, var_t: float, substeps: int, samples: int, n: int):
    """Translation-only OU: drift −k (c − c0) on every atom, no network."""
    batch = batch_of(window(system, 0, 1), dtype=torch.float64)
    man = Manifold.from_batch(batch).replicate(samples)
    xp = man.pad(batch[keys.LIG_POS][-1].repeat(samples, 1))
    c0 = man.centroid(xp).unsqueeze(1)

    def drift(p: torch.Tensor) -> torch.Tensor:
        return -k * (man.centroid(p).unsqueeze(1) - c0).expand_as(p) * man.mask.unsqueeze(-1)

    var = torch.tensor([var_t, 0.0, 0.0, 0.0], dtype=torch.float64)
    noise = BD.Noise(torch.Generator().manual_seed(3), xp.device, xp.dtype)
    out = BD.sample(man, xp, drift, var, n, substeps, noise)  # (n, S, N, 3)
    c = (out * man.mask[None, ..., None]).sum(2) / man.mask.sum(-1)[None, :, None]
    return (c - c0.squeeze(1)).numpy()  # (n, S, 3)


def test_harmonic_drift_gives_ornstein_uhlenbeck_variance_and_autocorrelation(t4l_system):
    """dc = −k c dt + √var dW: stationary variance var / 2k, lag-τ autocorrelation e^{−kτ};
    the sampler is within 5 % of both (Euler–Maruyama bias at k·h = 0.025: 1.3 %)."""
    k, var_t = 0.5, 0.08
    c = _harmonic_run(t4l_system, k, var_t, substeps=20, samples=400, n=60)[10:]
    theory_var = var_t / (2 * k)
    assert abs(c.var() / theory_var - 1) < 0.05, c.var()
    for lag in (1, 2):
        rho = (c[lag:] * c[:-lag]).mean() / (c * c).mean()
        assert abs(rho / math.exp(-k * lag) - 1) < 0.05, (lag, rho)


def test_same_seed_same_samples_and_samples_differ(t4l_system, t4l_seed1_system):
    torch.manual_seed(0)
    method = build_method("neuralmd-sde", TINY).eval()
    batch = batch_of(window(t4l_system, 20, 3), window(t4l_seed1_system, 40, 3))

    def run(seed):
        return method.rollout(batch, 3, samples=4, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(7), run(7), run(8)
    assert a.shape == (4, 3, batch[keys.LIG_Z].shape[0], 3) and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert all((a[i] - a[j]).abs().max() > 1e-3 for i in range(4) for j in range(i + 1, 4))


def test_rotation_equivariant_in_distribution(t4l_system):
    """Rotating and shifting the complex rotates the distribution of the next snapshot: its
    mean displacement and displacement covariance (over 2,000 samples) transform as vectors."""
    torch.manual_seed(0)
    method = build_method("neuralmd-sde", TINY).double().eval()
    batch = batch_of(window(t4l_system, 30, 1), dtype=torch.float64)
    rot, shift = random_rotation(5), torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    moved = transform_batch(batch, rot, shift)

    def stats(b):
        out = method.rollout(b, 1, samples=2000, generator=torch.Generator().manual_seed(11))
        d = (out[:, 0] - b[keys.LIG_POS][-1]).mean(1)  # (K, 3) mean displacement per sample
        return d.mean(0), torch.cov(d.T)

    m1, c1 = stats(batch)
    m2, c2 = stats(moved)
    se = (c1.diagonal().max() / 2000) ** 0.5
    assert (m2 - rot @ m1).abs().max() < 6 * se
    assert (c2 - rot @ c1 @ rot.T).abs().max() < 0.15 * c1.diagonal().max()


def test_idealize_brings_rigid_distances_to_their_history_mean(t4l_system):
    hist = np.asarray(t4l_system[keys.LIG_POS][:40], dtype=np.float64)
    g = LigandGraph.from_bonds(8, t4l_system[keys.LIG_BONDS])
    i, j = g.rigid_pairs.T
    target = np.linalg.norm(hist[:, i] - hist[:, j], axis=-1).mean(0)
    x = idealize(hist[-1], target, g)
    # mean distances of a vibrating molecule are nearly, not exactly, realisable: least squares
    after = np.abs(np.linalg.norm(x[i] - x[j], axis=-1) - target)
    before = np.abs(np.linalg.norm(hist[-1, i] - hist[-1, j], axis=-1) - target)
    assert after.mean() < 0.1 * before.mean() and after.max() < 0.003, (after, before)
    assert np.abs(x.mean(0) - hist[-1].mean(0)).max() < 0.05  # the pose is kept
    exact = idealize(hist[-1], np.linalg.norm(hist[-1, i] - hist[-1, j], axis=-1), g)
    assert np.array_equal(exact, hist[-1])


def test_noise_statistics_come_from_the_residuals_and_calibration_moves_them(t4l_system):
    torch.manual_seed(0)
    method = build_method("neuralmd-sde", TINY, {"augment_copies": 2})
    batch = batch_of(window(t4l_system, 10, 12))
    method.train()
    method.loss(batch, 2, "single", "mse").backward()
    var = method.sampler.noise_var
    # vibration: E[(Δd)²]/4 over rigid distances; MD bonds fluctuate by ~0.026 Å
    assert 1e-5 < float(var[BD.VAR_VIB]) < 2e-3 and float(var[BD.VAR_TRANS]) > 0
    assert method.net.out.w2.weight.grad.abs().sum() > 0
    pred = np.zeros((1, 30, 8, 3)) + np.random.default_rng(0).normal(0, 0.1, (1, 30, 8, 3))
    ref = np.random.default_rng(1).normal(0, 0.2, (30, 8, 3))
    _, noise = method.calibrate([pred], [ref])
    assert noise == pytest.approx(2.0) and float(method.sampler.noise_scale[0]) == pytest.approx(
        2.0
    )


def test_thermal_velocity_is_meaningless_for_the_overdamped_sampler():
    method = build_method("neuralmd-sde", TINY)
    assert not method.uses_velocity
    assert build_method("neuralmd-sde", TINY, {"sampler": "langevin"}).uses_velocity


def test_drift_cap_limits_a_runaway_drift_to_its_noise_scale(t4l_system):
    """A drift 100 Å per interval along x, capped at 3 residual standard deviations: the
    centroid moves 3·σ_trans per snapshot (no noise, no vibration), while a small drift passes
    through the soft cap unchanged to first order."""
    q = torch.tensor([[1e-3, -2.0, 50.0]], dtype=torch.float64)
    limit = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    capped = BD.soft_cap(q, limit)
    assert abs(float(capped[0, 0]) - 1e-3) < 1e-9 and abs(float(capped[0, 2]) - 1.0) < 1e-9
    assert -1.0 < float(capped[0, 1]) < -0.96
    method = build_method("neuralmd-sde", TINY, {"idealize": False, "wall": 0.0}).double()
    s = method.sampler
    batch = batch_of(window(t4l_system, 0, 1), dtype=torch.float64)
    n = batch[keys.LIG_POS].shape[1]  # per-atom D: the centroid's variance per axis is D / N
    s.noise_var.copy_(torch.tensor([0.04 * n, 0.01, 0.1, 0.0], dtype=torch.float64))
    s.noise_scale.fill_(0.0)  # the cap uses the residual statistics, not the calibrated noise

    class _NoNet:
        def replicate(self, k):
            return self

    def push(ctx, x):
        out = torch.zeros_like(x)
        out[:, 0] = 100.0
        return out

    out = s.rollout(push, _NoNet(), batch, 3, 1, torch.Generator().manual_seed(0))[0]
    steps = out.mean(1).diff(dim=0)[:, 0]
    assert torch.allclose(steps, torch.full_like(steps, 3 * 0.2), rtol=1e-3), steps

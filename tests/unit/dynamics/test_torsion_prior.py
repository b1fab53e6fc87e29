"""The torsion prior: its dihedral convention against the manifold's moves, and its density."""

import numpy as np
import pytest
import torch

from neuralmd_core.data.ligand_graph import LigandGraph
from neuralmd_core.dynamics._brownian import Noise
from neuralmd_core.dynamics._manifold import Manifold
from neuralmd_core.dynamics._torsion_prior import (
    MIN_HISTORY,
    TorsionFlow,
    TorsionPrior,
    circular_variance,
    dihedrals,
)
from neuralmd_core.evaluation import realism as R

BONDS = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
X = torch.tensor(
    [[0, 0, 0], [1.5, 0, 0], [2, 1.4, 0], [3.5, 1.4, 0.3], [4, 2.8, 0.2]], dtype=torch.float64
)[None]


def _prior(history):
    g = LigandGraph.from_bonds(5, BONDS)
    return g, TorsionPrior.from_history([g], history, len(g.axes))


def test_turning_bond_t_changes_its_dihedral_by_theta_and_matches_realism():
    g = LigandGraph.from_bonds(5, BONDS)
    man = Manifold.from_graphs([(0, g)], 5)
    quads = torch.as_tensor(np.stack([g.ends[:, 0], g.axes[:, 0], g.axes[:, 1], g.ends[:, 1]], -1))
    q = torch.zeros(1, man.num_q, dtype=torch.float64)
    q[0, 6], q[0, 7] = 0.1, -0.2
    moved = man.move(X, q)
    change = dihedrals(moved, quads[None]) - dihedrals(X, quads[None])
    assert torch.allclose(change, torch.tensor([[0.1, -0.2]], dtype=torch.float64), atol=1e-9)
    ref = R.dihedrals(moved.numpy(), R.rotatable_torsions(5, BONDS))
    assert np.allclose(ref, dihedrals(moved, quads[None]).numpy(), atol=1e-12)


def test_no_prior_from_a_short_history():
    assert _prior(X.expand(MIN_HISTORY - 1, 1, 5, 3))[1] is None


def test_gradient_points_to_the_history_mode():
    g = LigandGraph.from_bonds(5, BONDS)
    man = Manifold.from_graphs([(0, g)], 5)
    gen = torch.Generator().manual_seed(0)
    hist = []
    for _ in range(40):  # torsions scattered by 0.05 rad about X's
        q = torch.zeros(1, man.num_q, dtype=torch.float64)
        q[0, 6:] = 0.05 * torch.randn(2, generator=gen, dtype=torch.float64)
        hist.append(man.move(X, q))
    _, prior = _prior(torch.stack(hist))
    for sign in (1.0, -1.0):
        q = torch.zeros(1, man.num_q, dtype=torch.float64)
        q[0, 6:] = sign * 0.3
        grad = prior.grad_log_p(dihedrals(man.move(X, q), prior.quads))
        assert bool((grad * sign < 0).all())


def _one_torsion_prior(replicas: int) -> TorsionPrior:
    """A prior of one torsion whose history is 80 draws of N(0.5, 0.3²) rad."""
    gen = torch.Generator().manual_seed(3)
    samples = 0.5 + 0.3 * torch.randn(1, 1, 80, generator=gen, dtype=torch.float64)
    sigma_b = circular_variance(samples).sqrt() * 1.06 * 80 ** (-0.2)
    quads = torch.tensor([[[0, 1, 2, 3]]])
    live = torch.ones(1, 1, dtype=torch.bool)
    return TorsionPrior(quads, samples, sigma_b.pow(-2), live).replicate(replicas)


def _density_variance(prior: TorsionPrior) -> float:
    """The variance (rad²) of the prior's density p(φ) ∝ Σ_h exp(κ cos(φ − φ_h)), by quadrature."""
    phi = torch.linspace(-np.pi, np.pi, 20001, dtype=torch.float64)
    logp = (prior.kappa[0, 0] * torch.cos(phi[:, None] - prior.samples[0, 0])).logsumexp(-1)
    p = torch.exp(logp - logp.max())
    p = p / p.sum()
    mean = (p * phi).sum()
    return float((p * (phi - mean) ** 2).sum())


def _sampled_variance(drift_factor: float) -> float:
    """Variance of 256 replicas after 500 moves of 4 intervals (each restores about a whole
    offset: ½ Σ c τ ≈ 1) of the prior's flow with Gaussian noise of covariance Σ τ per move, the
    drift's Σ scaled by ``drift_factor``."""
    k, sigma, tau = 256, 0.05, 4.0  # rad² per interval; intervals per move
    prior = _one_torsion_prior(k)
    flow = TorsionFlow(prior, torch.full((k, 1, 1), sigma * drift_factor, dtype=torch.float64))
    # curvature of U near its mode: 1 / (the history's circular variance + the kernel's)
    stiffness = 1.0 / float(circular_variance(prior.samples[0, 0]) + 1.0 / prior.kappa[0, 0])
    assert 0.9 < 0.5 * sigma * stiffness * tau < 1.2
    gen = torch.Generator().manual_seed(0)
    noise = Noise(gen, torch.device("cpu"), torch.float64)
    phi = torch.full((k, 1), 0.5, dtype=torch.float64)
    kept = []
    for i in range(600):
        dq = (sigma * tau) ** 0.5 * noise.normal(k, 1)
        phi = flow.advance(phi, dq, tau, noise)
        if i >= 100:
            kept.append(torch.atan2(torch.sin(phi), torch.cos(phi)))
    return float(torch.cat(kept).var())


def test_prior_flow_with_noise_samples_the_prior_density():
    # overdamped Langevin in U = −log p with noise Σ and drift ½ Σ ∇ log p is stationary at p;
    # the inner steps keep it so at moves that restore a whole offset (a Strang split: +21 %)
    target = _density_variance(_one_torsion_prior(1))
    assert _sampled_variance(1.0) == pytest.approx(target, rel=0.05)
    # a drift 1.3× too strong is caught
    assert _sampled_variance(1.3) < 0.9 * target

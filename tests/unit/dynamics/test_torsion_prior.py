"""The torsion prior: its dihedral convention against the manifold's moves, and its density."""

import numpy as np
import torch

from neuralmd_core.data.ligand_graph import LigandGraph
from neuralmd_core.dynamics._manifold import Manifold
from neuralmd_core.dynamics._torsion_prior import MIN_HISTORY, TorsionPrior, dihedrals
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
        grad = prior.grad_log_p(man.move(X, q))
        assert bool((grad * sign < 0).all())

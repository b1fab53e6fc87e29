"""LigandNet: equivariance with and without inputs, permutation, degenerate ligands."""

from __future__ import annotations

import pytest
import torch

from neuralmd_core.models import LigandNet

SMALL = {"hidden": 16, "num_radial": 8, "num_layers": 2}


def _rel(a, b):
    return float(((a - b).norm() / b.norm().clamp(min=1e-300)).detach())


def _net(**kw):
    torch.manual_seed(0)
    return LigandNet(**SMALL, **kw).double()


@pytest.mark.parametrize("with_vec", [False, True])
def test_ligandnet_se3_equivariant(geo, with_vec):
    sysd = geo.synthetic_system(4, 9, seed=0)
    pos, z, batch = sysd["pos"], sysd["z"], torch.zeros(9, dtype=torch.long)
    g = torch.Generator().manual_seed(1)
    vec = torch.randn(9, 3, dtype=torch.float64, generator=g) if with_vec else None
    scal = torch.randn(9, 2, dtype=torch.float64, generator=g) if with_vec else None
    net = _net(vec_in=with_vec, scalar_in_dim=2 if with_vec else 0)
    q, t = geo.random_rotation(g), torch.tensor([4.0, -3.0, 8.0], dtype=torch.float64)
    s1, f1 = net(pos, z, batch, vec, scal)
    s2, f2 = net(pos @ q.T + t, z, batch, None if vec is None else vec @ q.T, scal)
    assert float(f1.norm()) > 1e-6
    assert _rel(f2, f1 @ q.T) < 1e-10
    assert _rel(s2, s1) < 1e-10


def test_vec_in_changes_output_and_is_required(geo):
    sysd = geo.synthetic_system(4, 6, seed=2)
    pos, z, batch = sysd["pos"], sysd["z"], torch.zeros(6, dtype=torch.long)
    net = _net(vec_in=True)
    v = torch.randn(6, 3, dtype=torch.float64)
    assert _rel(net(pos, z, batch, v)[1], net(pos, z, batch, 2 * v)[1]) > 1e-4
    with pytest.raises(ValueError, match="vec_in"):
        net(pos, z, batch)
    with pytest.raises(ValueError, match="atomic numbers"):
        net(pos, torch.full_like(z, 100), batch, v)


def test_ligandnet_permutation_equivariant(geo):
    sysd = geo.synthetic_system(4, 10, seed=3)
    pos, z, batch = sysd["pos"], sysd["z"], torch.zeros(10, dtype=torch.long)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    net = _net()
    s1, f1 = net(pos, z, batch)
    s2, f2 = net(pos[perm], z[perm], batch)
    assert _rel(f2, f1[perm]) < 1e-12 and _rel(s2, s1[perm]) < 1e-12


@pytest.mark.parametrize(
    "pos",
    [
        [[0.0, 0.0, 0.0]],
        [[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]],
        [[0.0, 0.0, 0.0], [1.2, 0.0, 0.0], [2.4, 0.0, 0.0]],
        [[0.0, 0.0, 0.0], [20.0, 0.0, 0.0]],
    ],
    ids=["one-atom", "two-atom", "linear-three", "isolated"],
)
def test_degenerate_ligands_are_finite_with_finite_gradients(pos):
    pos = torch.tensor(pos, dtype=torch.float64, requires_grad=True)
    z = torch.full((len(pos),), 6)
    s, f = _net()(pos, z, torch.zeros(len(pos), dtype=torch.long))
    assert torch.isfinite(s).all() and torch.isfinite(f).all()
    (grad,) = torch.autograd.grad(s.sum() + f.pow(2).sum(), pos)
    assert torch.isfinite(grad).all()

"""BindingNet: SE(3) equivariance, invariance, batching, gradients, degenerate inputs, options."""

from __future__ import annotations

import pydantic
import pytest
import torch

from neuralmd_core.models import BindingNet, BindingNetOptions

SMALL = {"hidden": 16, "num_radial": 8, "num_ligand_layers": 2}


def _rel(a, b):
    return float(((a - b).norm() / b.norm().clamp(min=1e-300)).detach())


def _net(seed=0, **kw):
    torch.manual_seed(seed)
    return BindingNet(**{**SMALL, **kw}).double()


def _run(net, s, vec=None):
    res_batch = s.get("res_batch", torch.zeros(len(s["res_type"]), dtype=torch.long))
    lig_batch = s.get("lig_batch", torch.zeros(len(s["z"]), dtype=torch.long))
    ctx = net.encode_protein(s["backbone"], s["res_type"], res_batch)
    force = net(s["pos"], s["z"], lig_batch, ctx, vec_in=vec)
    energy = (
        None
        if vec is not None
        else net.energy(s["pos"], s["z"], lig_batch, ctx, s.get("num_systems", 1))
    )
    return force, energy


def _moved(s, q, t):
    return {**s, "backbone": s["backbone"] @ q.T + t, "pos": s["pos"] @ q.T + t}


def test_forward_se3_equivariant_energy_invariant(geo):
    s = geo.synthetic_system(12, 9, seed=0)
    g = torch.Generator().manual_seed(5)
    q, t = geo.random_rotation(g), 20.0 * torch.randn(3, dtype=torch.float64, generator=g)
    net = _net()
    f1, e1 = _run(net, s)
    f2, e2 = _run(net, _moved(s, q, t))
    assert float(f1.detach().norm()) > 1e-6
    assert _rel(f2, f1 @ q.T) < 1e-6
    assert _rel(e2, e1) < 1e-6
    # translation alone leaves forces unchanged
    f3, _ = _run(net, _moved(s, torch.eye(3, dtype=torch.float64), t))
    assert _rel(f3, f1) < 1e-6


def test_vec_in_conditioning_equivariant(geo):
    s = geo.synthetic_system(8, 7, seed=1)
    g = torch.Generator().manual_seed(6)
    q, t = geo.random_rotation(g), torch.randn(3, dtype=torch.float64, generator=g)
    vec = torch.randn(7, 3, dtype=torch.float64, generator=g)
    net = _net(vec_in=True)
    f1, _ = _run(net, s, vec)
    f2, _ = _run(net, _moved(s, q, t), vec @ q.T)
    assert _rel(f2, f1 @ q.T) < 1e-6


def test_mirror_image_is_not_mirrored_chirality_aware(geo):
    """SE(3), not E(3): frames use cross products (pseudovectors), so enantiomers differ."""
    s = geo.synthetic_system(12, 9, seed=0)
    p = geo.random_rotation(torch.Generator().manual_seed(7), proper=False)
    net = _net()
    f1, e1 = _run(net, s)
    f2, e2 = _run(net, _moved(s, p, torch.zeros(3, dtype=torch.float64)))
    assert _rel(f2, f1 @ p.T) > 1e-4
    assert torch.isfinite(f2).all() and torch.isfinite(e2).all()


def test_permutation_equivariant_over_ligand_atoms(geo):
    s = geo.synthetic_system(10, 8, seed=2)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    net = _net()
    f1, e1 = _run(net, s)
    f2, e2 = _run(net, {**s, "pos": s["pos"][perm], "z": s["z"][perm]})
    assert _rel(f2, f1[perm]) < 1e-12 and _rel(e2, e1) < 1e-12


def test_batch_invariance_two_different_systems(geo):
    a = geo.synthetic_system(9, 6, seed=3)
    b = geo.synthetic_system(14, 11, seed=4, origin=(2.0, 1.0, 0.0))  # overlapping in space
    c = geo.synthetic_system(2, 3, seed=5)  # shorter than a residue-frame triple
    net = _net()
    alone = [_run(net, x) for x in (a, b, c)]
    fb, eb = _run(net, geo.batch_systems([a, b, c]))
    assert _rel(fb, torch.cat([f for f, _ in alone])) < 1e-12
    assert _rel(eb, torch.cat([e for _, e in alone])) < 1e-12


def test_no_residue_within_cutoff_gives_ligand_only_force(geo):
    s = geo.synthetic_system(6, 5, seed=6)
    far = {**s, "pos": s["pos"] + torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64)}
    net = _net()
    f, e = _run(net, far)
    internal = net.ligand(far["pos"], far["z"], torch.zeros(5, dtype=torch.long))[1]
    assert torch.isfinite(f).all() and torch.isfinite(e).all()
    assert torch.allclose(f, internal, atol=1e-14)


@pytest.mark.parametrize("n_atoms", [2, 3])
def test_collinear_ligand_inside_pocket_is_finite(geo, n_atoms):
    s = geo.synthetic_system(10, n_atoms, seed=7)
    centre = s["backbone"][:, 1].mean(0)
    line = torch.arange(n_atoms, dtype=torch.float64)[:, None] * torch.tensor(
        [1.3, 0.4, 0.0], dtype=torch.float64
    )
    pos = (centre + line).requires_grad_(True)
    net = _net()
    ctx = net.encode_protein(s["backbone"], s["res_type"], torch.zeros(10, dtype=torch.long))
    batch = torch.zeros(n_atoms, dtype=torch.long)
    f = net(pos, s["z"], batch, ctx)
    e = net.energy(pos, s["z"], batch, ctx, 1)
    (grad,) = torch.autograd.grad(e.sum() + f.pow(2).sum(), pos)
    assert torch.isfinite(f).all() and torch.isfinite(grad).all()


def test_energy_forces_twice_differentiable(geo):
    s = geo.synthetic_system(10, 6, seed=8)
    net = _net()
    pos = s["pos"].clone().requires_grad_(True)
    batch = torch.zeros(6, dtype=torch.long)
    ctx = net.encode_protein(s["backbone"], s["res_type"], torch.zeros(10, dtype=torch.long))
    energy = net.energy(pos, s["z"], batch, ctx, 1)
    (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=True)
    force = -grad
    assert torch.isfinite(force).all() and float(force.norm()) > 0
    loss = (force - 1.0).pow(2).mean()
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    used = [g for g in grads if g is not None]
    assert used and all(torch.isfinite(g).all() for g in used)
    assert any(float(g.abs().max()) > 0 for g in used)
    # −∇E matches a central finite difference
    eps = 1e-6
    d = torch.zeros_like(s["pos"])
    d[2, 1] = eps
    fd = (
        net.energy(s["pos"] + d, s["z"], batch, ctx, 1)
        - net.energy(s["pos"] - d, s["z"], batch, ctx, 1)
    ) / (2 * eps)
    assert abs(float(fd) - float(grad[2, 1])) < 1e-6 * max(1.0, abs(float(fd)))


def test_determinism_under_fixed_seed(geo):
    s = geo.synthetic_system(8, 6, seed=9)
    f1, e1 = _run(_net(seed=11), s)
    f2, e2 = _run(_net(seed=11), s)
    f3, _ = _run(_net(seed=12), s)
    assert torch.equal(f1, f2) and torch.equal(e1, e2)
    assert not torch.equal(f1, f3)


def test_options_validation_and_neighbor_cap(geo):
    with pytest.raises(pydantic.ValidationError):
        BindingNetOptions(hidden=16, not_an_option=1)
    assert BindingNetOptions().model_dump()["hidden"] == 128
    s = geo.synthetic_system(12, 9, seed=0)
    with pytest.raises(ValueError, match="max_neighbors=2"):
        _run(_net(max_neighbors=2), s)


def test_paper_compat_runs_truncates_and_is_not_equivariant(geo):
    s = geo.synthetic_system(12, 9, seed=0)
    net = _net(paper_compat=True, max_neighbors=2)  # truncates instead of raising
    f1, _ = _run(net, s)
    q = geo.random_rotation(torch.Generator().manual_seed(8))
    f2, _ = _run(net, _moved(s, q, torch.tensor([10.0, 0, 0], dtype=torch.float64)))
    assert torch.isfinite(f1).all()
    assert _rel(f2, f1 @ q.T) > 1e-4


def test_real_t4l_geometry_default_size(t4l_system, geo):
    s = t4l_system
    assert s["backbone"].shape[1:] == (3, 3) and len(s["z"]) == 8
    torch.manual_seed(0)
    net = BindingNet().double()
    g = torch.Generator().manual_seed(9)
    q, t = geo.random_rotation(g), 50.0 * torch.randn(3, dtype=torch.float64, generator=g)
    f1, e1 = _run(net, s)
    f2, e2 = _run(net, _moved(s, q, t))
    ctx = net.encode_protein(
        s["backbone"], s["res_type"], torch.zeros(len(s["res_type"]), dtype=torch.long)
    )
    assert torch.allclose(
        ctx.frames @ ctx.frames.transpose(-1, -2),
        torch.eye(3, dtype=torch.float64).expand_as(ctx.frames),
        atol=1e-10,
    )
    assert float(f1.detach().norm()) > 1e-6
    assert _rel(f2, f1 @ q.T) < 1e-6 and _rel(e2, e1) < 1e-6


def test_real_complexes_batched_equal_alone(t4l_system, gs11_system, geo):
    """t4l (8 atoms) and 11gs (39 atoms) in one batch: residue frames stop at the boundary."""
    net = _net()
    alone = [_run(net, x) for x in (t4l_system, gs11_system)]
    fb, eb = _run(net, geo.batch_systems([t4l_system, gs11_system]))
    assert len(gs11_system["z"]) == 39
    assert _rel(fb, torch.cat([f for f, _ in alone])) < 1e-12
    assert _rel(eb, torch.cat([e for _, e in alone])) < 1e-12

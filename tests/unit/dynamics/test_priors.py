"""The manifold SDE's analytic priors: the tether to the bound pose and the steric wall."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.data.ligand_graph import LigandGraph
from neuralmd_core.dynamics._manifold import Manifold
from neuralmd_core.dynamics._priors import WALL_ANGLE_MAX, Pocket, anchor_of, limit_angles
from neuralmd_core.dynamics.registry import build_method
from tests.unit.dynamics.conftest import TINY, batch_of, window


def _rigid(x: torch.Tensor, g: LigandGraph) -> torch.Tensor:
    i, j = g.rigid_pairs.T
    return (x[..., i, :] - x[..., j, :]).norm(dim=-1)


def _min_distance(xp: torch.Tensor, pocket: Pocket) -> float:
    d = (xp[0].unsqueeze(1) - pocket.xyz[0].unsqueeze(0)).norm(dim=-1)
    return float(d[:, pocket.mask[0]].min())


def test_wall_pushes_overlapping_atoms_out_and_keeps_the_ligand_rigid(gs11_system):
    batch = batch_of(window(gs11_system, 0, 1), dtype=torch.float64)
    man, pocket = Manifold.from_batch(batch), Pocket.from_batch(batch)
    xp = man.pad(batch[keys.LIG_POS][-1])
    assert _min_distance(xp, pocket) > 2.2  # the MD pose has no overlap: nothing moves
    assert torch.equal(pocket.resolve(man, xp, 2.2), xp)
    # slide the ligand towards its closest backbone atom until that contact is 1.4 Å
    d = (xp[0].unsqueeze(1) - pocket.xyz[0].unsqueeze(0)).norm(dim=-1)
    d[:, ~pocket.mask[0]] = float("inf")
    i, j = np.unravel_index(int(d.argmin()), d.shape)
    v = xp[0, i] - pocket.xyz[0, j]
    shifted = xp - (v * (1 - 1.4 / v.norm())).view(1, 1, 3)
    assert abs(_min_distance(shifted, pocket) - 1.4) < 1e-9
    out = pocket.resolve(man, shifted, 2.2)
    g = LigandGraph.from_bonds(39, gs11_system[keys.LIG_BONDS])
    assert _min_distance(out, pocket) > 2.1
    assert float((_rigid(out[0], g) - _rigid(shifted[0], g)).abs().max()) < 1e-9


def test_a_wall_pass_never_turns_by_more_than_its_limit():
    q = torch.tensor([[0.3, -0.2, 0.1, 0.02, 0.01, -0.03, 0.2, -0.1],  # within the limit
                      [1.0, 0.0, 0.0, 0.6, 0.8, 0.0, 0.1, -0.3],  # rotation by 1.0 rad
                      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.5, -1.1]],  # a torsion by 5.5 rad
                     dtype=torch.float64)  # fmt: skip
    out = limit_angles(q)
    assert torch.equal(out[0], q[0])  # bitwise: rollouts that never hit the limit are unchanged
    assert float(out[1, 3:6].norm()) == pytest.approx(WALL_ANGLE_MAX)
    assert float(out[2, 6:].abs().max()) == pytest.approx(WALL_ANGLE_MAX)
    for k in (1, 2):  # the whole step is scaled: same direction in generalized space
        assert torch.allclose(out[k] / out[k].norm(), q[k] / q[k].norm())


def test_a_move_the_wall_cannot_undo_is_rejected(gs11_system, monkeypatch):
    from neuralmd_core.dynamics import _priors

    batch = batch_of(window(gs11_system, 0, 1), dtype=torch.float64)
    man, pocket = Manifold.from_batch(batch), Pocket.from_batch(batch)
    xp = man.pad(batch[keys.LIG_POS][-1])
    d = (xp[0].unsqueeze(1) - pocket.xyz[0].unsqueeze(0)).norm(dim=-1)
    d[:, ~pocket.mask[0]] = float("inf")
    i, j = np.unravel_index(int(d.argmin()), d.shape)
    v = xp[0, i] - pocket.xyz[0, j]

    def at(contact: float) -> torch.Tensor:  # the ligand slid until its closest contact is this
        return xp - (v * (1 - contact / v.norm())).view(1, 1, 3)

    monkeypatch.setattr(_priors, "WALL_ITERATIONS", 0)  # the passes undo nothing
    assert float(pocket.closest(at(1.4), man.mask)[0]) == pytest.approx(1.4)
    assert torch.equal(pocket.resolve(man, at(1.4), 2.2, before=xp), xp)  # into the wall
    assert torch.equal(pocket.resolve(man, at(1.4), 2.2), at(1.4))  # without a state to keep
    # a pose already in contact may still move, as long as it comes no closer
    assert torch.equal(pocket.resolve(man, at(1.6), 2.2, before=at(1.5)), at(1.6))
    assert torch.equal(pocket.resolve(man, at(1.5), 2.2, before=at(1.6)), at(1.6))


class _NoNet:
    """A context for ``ManifoldSampler.rollout`` without a network (the field is analytic)."""

    def replicate(self, k: int) -> _NoNet:
        return self


def test_tether_alone_is_an_exact_ornstein_uhlenbeck_chain(t4l_system):
    """Zero network drift, translation noise only, tether κ = 0.6 to an anchor 1 Å off the
    start: the centroid is the AR(1) chain c' − μ = (1 − κ)(c − μ) + √v ξ — stationary
    variance v / (1 − (1 − κ)²), lag-1 autocorrelation 1 − κ (within 5 %), mean μ."""
    method = build_method(
        "neuralmd-sde", TINY, {"idealize": False, "wall": 0.0, "drift_cap": 0.0}
    ).double()
    s = method.sampler
    kappa, v = 0.6, 0.05
    s.tether_stats.copy_(torch.tensor([kappa, 1.0], dtype=torch.float64))
    item = window(t4l_system, 0, 1)
    n = item[keys.LIG_POS].shape[1]  # per-atom D: the centroid's variance per axis is D / N
    s.noise_var.copy_(torch.tensor([v * n, 0.0, 0.0, 0.0], dtype=torch.float64))
    shift = np.array([1.0, 0.0, 0.0])
    item[keys.LIG_ANCHOR] = item[keys.LIG_POS][0] + shift
    batch = batch_of(item, dtype=torch.float64)
    assert torch.equal(anchor_of(batch, batch[keys.LIG_POS]), batch[keys.LIG_ANCHOR])
    out = s.rollout(lambda ctx, x: torch.zeros_like(x), _NoNet(), batch, 60, 400,
                    torch.Generator().manual_seed(2))  # fmt: skip
    mu = torch.as_tensor(item[keys.LIG_POS][0].mean(0) + shift)
    c = (out.mean(2) - mu).numpy()[:, 10:]  # (K, S, 3) centroid offsets, after burn-in
    assert np.abs(c.mean((0, 1))).max() < 0.02
    assert abs(c.var() / (v / (1 - (1 - kappa) ** 2)) - 1) < 0.05
    rho = (c[:, 1:] * c[:, :-1]).mean() / (c * c).mean()
    assert abs(rho / (1 - kappa) - 1) < 0.05, rho


def test_tether_rate_is_fitted_to_the_training_pairs(t4l_system):
    """On a rigid AR(1) walk with restoring fraction 0.7 about the anchor, the running fit of κ
    over the training pairs recovers 0.7 (within 10 %)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    kappa, n = 0.7, 400
    c = np.zeros((n, 3))
    for t in range(1, n):
        c[t] = (1 - kappa) * c[t - 1] + rng.normal(0, 0.3, 3)
    item = dict(t4l_system)
    base = t4l_system[keys.LIG_POS][0].astype(np.float64)
    item[keys.LIG_POS] = (base[None] + c[:, None, :]).astype(np.float32)
    item[keys.ENERGY] = np.zeros(n)
    item[keys.LIG_ANCHOR] = base
    method = build_method("neuralmd-sde", TINY, {"augment_copies": 1}).train()
    assert method.sampler.tether_rate == 0.0  # nothing fitted yet
    method.loss(batch_of(item), 2, "single", "mse")
    assert abs(method.sampler.tether_rate / kappa - 1) < 0.1, method.sampler.tether_rate


def test_checkpoint_state_from_before_the_tether_loads_without_a_tether():
    method = build_method("neuralmd-sde", TINY)
    method.sampler.tether_stats.copy_(torch.tensor([0.5, 1.0], dtype=torch.float64))
    state = method.state_dict()
    del state["sampler.tether_stats"]
    fresh = build_method("neuralmd-sde", TINY)
    fresh.load_state_dict(state)
    assert fresh.sampler.tether_rate == 0.0
    off = build_method("neuralmd-sde", TINY, {"tether": False})
    off.sampler.tether_stats.copy_(torch.tensor([0.5, 1.0], dtype=torch.float64))
    assert off.sampler.tether_rate == 0.0


def test_wall_keeps_the_ligand_off_side_chains_of_the_pocket(gs11_pdb_system):
    """With the pocket's heavy atoms (``keys.POCKET_XYZ``: side chains too), the wall acts on
    glutathione's closest contact (Ser54 OG, a hydrogen bond at 2.69 Å): slid 1.0 Å into it,
    the ligand is pushed back to the 2.2 Å wall within 1 mÅ, rigid distances kept exactly."""
    batch = gs11_pdb_system
    man, pocket = Manifold.from_batch(batch), Pocket.from_batch(batch)
    assert (
        int(pocket.mask.sum())
        == batch[keys.POCKET_XYZ].shape[0]
        > 3 * int(batch[keys.RES_BATCH].numel())
    )  # more atoms than the backbone's N, CA, C
    xp = man.pad(batch[keys.LIG_POS][-1])
    d = (xp[0].unsqueeze(1) - pocket.xyz[0].unsqueeze(0)).norm(dim=-1)
    i, j = np.unravel_index(int(d.argmin()), d.shape)
    assert abs(float(d.min()) - 2.69) < 0.01
    v = xp[0, i] - pocket.xyz[0, j]
    shifted = xp - (v * (1 - 1.0 / v.norm())).view(1, 1, 3)
    out = pocket.resolve(man, shifted, 2.2)
    g = LigandGraph.from_bonds(39, batch[keys.LIG_BONDS_BATCH].numpy())
    assert _min_distance(out, pocket) > 2.2 - 1e-3
    assert float((_rigid(out[0], g) - _rigid(shifted[0], g)).abs().max()) < 1e-9

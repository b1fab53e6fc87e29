"""Time to ensemble on hand-computed trajectories (pure numpy, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuralmd_core.errors import InputError
from neuralmd_core.evaluation.ensemble_time import (
    _check_ligand,
    convergence_snapshots,
    finite_prefix,
    prefix_rmsf,
)
from neuralmd_core.evaluation.realism import rmsf_per_atom


def _along_x(values) -> np.ndarray:
    """(K, S) offsets along x → (K, S, 1, 3) positions of one atom near (5, -3, 2) Å."""
    v = np.asarray(values, dtype=np.float64)
    pos = np.zeros((*v.shape, 1, 3)) + np.array([5.0, -3.0, 2.0])
    pos[..., 0, 0] += v
    return pos


def test_prefix_rmsf_is_the_pooled_rmsf_of_every_prefix():
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(3, 7, 4, 3)) + 100.0  # far from the origin: centring matters
    r = prefix_rmsf(pos)
    for m in (1, 4, 7):
        pooled = pos[:, :m].reshape(-1, 4, 3)
        np.testing.assert_allclose(r[m - 1], rmsf_per_atom(pooled), rtol=1e-10, atol=1e-12)


def test_alternating_trajectory_converges_at_two():
    # ±a: the first two frames already give the full RMSF a; odd prefixes give a·sqrt(1 − 1/m²),
    # at most 5.7 % (m = 3) off
    a = 0.7
    pos = _along_x([[a * (-1) ** s for s in range(40)]])
    assert prefix_rmsf(pos)[1, 0] == pytest.approx(a)
    assert convergence_snapshots(pos, tol=0.1) == 2


def test_at_rest_for_the_first_half_converges_late():
    s = 40
    moving = [0.0] * (s // 2) + [(-1) ** t for t in range(s // 2)]
    pos = _along_x([moving])
    n_star = convergence_snapshots(pos)
    assert s // 2 < n_star <= s
    # a second, immobile atom (RMSF 0 throughout) does not change the answer
    two = np.concatenate([pos, np.full_like(pos, 1.0)], axis=2)
    assert convergence_snapshots(two) == n_star


def test_trajectories_are_pooled():
    # each trajectory alone is at rest (RMSF 0); pooled they sit at ±a: RMSF a from m = 1 on
    pos = _along_x([[1.0] * 10, [-1.0] * 10])
    assert prefix_rmsf(pos)[:, 0] == pytest.approx(np.ones(10))
    assert convergence_snapshots(pos, tol=0.0) == 2
    # the same frames as one trajectory (first at +a, then at −a) converge only at the end
    assert convergence_snapshots(pos.reshape(1, 20, 1, 3), tol=0.0) == 20


def test_tolerance_is_respected_exactly():
    # frames 0, 2, 0, 2: RMSF 1, sqrt(8)/3, 1 for m = 2, 3, 4; the m = 3 prefix is off by
    # 1 − sqrt(8)/3 = 0.0572
    pos = _along_x([[0.0, 2.0, 0.0, 2.0]])
    off = 1.0 - math.sqrt(8.0) / 3.0
    assert convergence_snapshots(pos, tol=off + 1e-9) == 2
    assert convergence_snapshots(pos, tol=off - 1e-9) == 4
    assert convergence_snapshots(pos[:, :1]) == 1  # nothing to converge


def test_finite_prefix_and_ligand_check():
    pos = np.zeros((2, 5, 1, 3))
    pos[1, 3, 0, 2] = np.nan
    assert finite_prefix(pos).shape == (2, 3, 1, 3)
    assert finite_prefix(pos[:, :3]).shape == (2, 3, 1, 3)
    z = np.array([6, 6, 7])
    _check_ligand("ref.xtc", z, z.copy())
    with pytest.raises(InputError, match="2 heavy atoms, the benchmarked ligand 3"):
        _check_ligand("ref.xtc", z[:2], z)
    with pytest.raises(InputError, match="element sequence.*heavy atom 1"):
        _check_ligand("ref.xtc", np.array([6, 8, 7]), z)

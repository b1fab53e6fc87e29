"""Observables of the manifold SDE's calibration, on hand-computed cases."""

from __future__ import annotations

import numpy as np

from neuralmd_core.dynamics._calibration import internal_msf, mean_observables, observables
from tests.unit.dynamics.conftest import random_rotation


def test_rigid_motion_has_no_internal_fluctuation():
    rng = np.random.default_rng(0)
    mol = rng.normal(0, 2.0, (8, 3))
    frames = np.stack([
        mol @ random_rotation(s).numpy().T + rng.normal(0, 1.0, 3) for s in range(30)
    ])  # fmt: skip
    msf, _, internal, median = observables(frames)
    assert msf > 1.0 and internal < 1e-20 and median < 1e-20


def test_internal_fluctuation_of_one_oscillating_atom():
    """Far atoms fixed, one atom of a large frame moving ±a along x: the superposition barely
    follows it, so its squared fluctuation a² is almost all internal (per atom: a²/N)."""
    mol = np.array([[10.0, 0, 0], [-10, 0, 0], [0, 10, 0], [0, -10, 0], [0, 0, 10], [0, 0, 0]])
    a = 0.1
    frames = np.repeat(mol[None], 40, 0)
    frames[:, 5, 0] = a * np.where(np.arange(40) % 2, 1.0, -1.0)
    n = mol.shape[0]
    per_atom = internal_msf(frames)
    assert abs(per_atom.mean() / (a**2 / n) - 1) < 0.25
    # the superposition follows it by 1/N of its move: (1 − 1/N)² a² remains on it
    assert (
        abs(per_atom[5] / ((1 - 1 / n) ** 2 * a**2) - 1) < 0.05 and per_atom[:5].max() < 0.05 * a**2
    )
    msf, step, internal, median = observables(frames)
    assert np.isclose(msf, a**2 / n) and np.isclose(step, (2 * a) ** 2 / n)
    # one atom of six carries it: the typical (median) atom barely moves
    assert np.isclose(internal, per_atom.mean()) and median == np.median(per_atom) < internal / 4
    k = mean_observables([np.stack([frames, frames])])
    assert np.allclose(k, observables(frames))

"""Observables the manifold SDE's calibration matches: fluctuations, their internal part, and
the decorrelation per snapshot (numpy, float64). Private to ``neuralmd_core.dynamics``."""

from __future__ import annotations

import numpy as np


def _kabsch(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Frames ``x (T, N, 3)`` optimally rotated and translated onto ``ref (N, 3)``."""
    xc = x - x.mean(-2, keepdims=True)
    rc = ref - ref.mean(-2, keepdims=True)
    u, _, vt = np.linalg.svd(np.einsum("tni,nj->tij", xc, rc))
    d = np.sign(np.linalg.det(u @ vt))
    u[..., -1] *= d[:, None]
    return np.einsum("tni,tij->tnj", xc, u @ vt) + ref.mean(-2)


def internal_msf(x: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Per-atom mean squared fluctuation ``(N,)`` (Å²) about the mean structure after removing
    each frame's rigid-body motion (Kabsch superposition onto the iterated mean): torsions and
    vibrations."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(0)
    for _ in range(iterations):
        aligned = _kabsch(x, mean)
        mean = aligned.mean(0)
    return ((aligned - mean) ** 2).sum(-1).mean(0)


def observables(x: np.ndarray) -> np.ndarray:
    """``[MSF, MSD(lag 1), internal MSF, median internal MSF]`` (Å²) of one trajectory
    ``(T, N, 3)``: MSF about each atom's mean, the mean squared step, :func:`internal_msf`'s mean
    and median over atoms (the typical atom's: MD's mean is dominated by the few terminal groups
    that flip between rotamers, which Gaussian torsion noise cannot mimic)."""
    x = np.asarray(x, dtype=np.float64)
    fluct = ((x - x.mean(0, keepdims=True)) ** 2).sum(-1).mean()
    step = ((x[1:] - x[:-1]) ** 2).sum(-1).mean()
    inner = internal_msf(x)
    return np.array([fluct, step, inner.mean(), np.median(inner)])


def mean_observables(trajectories) -> np.ndarray:
    """:func:`observables` averaged over a list of trajectories, each ``(T, N, 3)`` or
    ``(K, T, N, 3)`` (samples averaged first)."""
    per = []
    for t in trajectories:
        t = np.asarray(t)
        per.append(np.mean([observables(k) for k in t], 0) if t.ndim == 4 else observables(t))
    return np.mean(per, 0)

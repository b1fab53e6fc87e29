"""Overdamped Langevin (Brownian) dynamics of whole ligands on their bond-preserving manifold.

Per substep h (snapshot intervals), with generalized coordinates q (translation Å, rotation rad,
torsions rad; ``_manifold``):

    q ← q + P(h · b(x + δ)) + √h · ξ,     ξ ~ N(0, diag(var_trans, var_rot, var_tors)),

where b (Å per interval) is the drift (the network's force over the friction), P the
least-squares projection onto the manifold's tangent space, and every increment is applied as an
exact rotation/translation, so bonds, angles and rings never change. The fast vibrations δ
(bond stretching, angle bending) are at equilibrium on the snapshot scale: each reported
snapshot, and each drift evaluation, sees ``x + δ`` with δ ~ N(0, var_vib) per atom and
coordinate, drawn afresh (it does not accumulate in the state). The noise is isotropic in the
lab frame and the drift equivariant, so the process is SE(3)-equivariant in distribution.

Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from neuralmd_core.dynamics._manifold import ROT, TRANS, Manifold

#: indices into a noise-variance vector: translation (Å²/interval, per axis), rotation
#: (rad²/interval, per axis), torsion (rad²/interval), vibration (Å², per coordinate)
VAR_TRANS, VAR_ROT, VAR_TORS, VAR_VIB = 0, 1, 2, 3


@dataclass
class Noise:
    """Draws the sampler's Gaussian noise from one generator (any device; moved to ``device``)."""

    generator: torch.Generator | None
    device: torch.device
    dtype: torch.dtype

    def normal(self, *shape: int) -> torch.Tensor:
        """Standard normal samples of ``shape`` on ``device``."""
        dev = self.generator.device if self.generator is not None else "cpu"
        z = torch.randn(shape, generator=self.generator, dtype=self.dtype, device=dev)
        return z.to(self.device)


def q_noise(man: Manifold, var: torch.Tensor, h: float, noise: Noise) -> torch.Tensor:
    """Generalized noise increments ``(S, Q)`` for a substep ``h``: √(h·var) ξ per class."""
    s_n = man.mask.shape[0]
    z = noise.normal(s_n, man.num_q)
    scale = torch.cat([
        var[VAR_TRANS].expand(3), var[VAR_ROT].expand(3), var[VAR_TORS].expand(man.num_q - 6),
    ]).clamp_min(0).to(z.dtype)  # fmt: skip
    tors = torch.cat([man.tmask.new_ones((s_n, 6)), man.tmask], dim=1).to(z.dtype)
    return z * (h * scale).sqrt() * tors


def vibration(man: Manifold, var: torch.Tensor, noise: Noise) -> torch.Tensor:
    """Fast-vibration displacement δ ``(S, N_max, 3)`` Å, masked."""
    z = noise.normal(*man.mask.shape, 3)
    return z * var[VAR_VIB].clamp_min(0).sqrt().to(z.dtype) * man.mask.unsqueeze(-1).to(z.dtype)


def drift_step(
    man: Manifold,
    xp: torch.Tensor,
    drift: Callable[[torch.Tensor], torch.Tensor],
    h: float,
    seen: torch.Tensor | None = None,
) -> torch.Tensor:
    """Projected drift increments ``q (S, Q)`` of one substep: P(h · b(seen or xp)) at ``xp``."""
    return man.project(xp, h * drift(xp if seen is None else seen))


def sample(
    man: Manifold,
    xp: torch.Tensor,
    drift: Callable[[torch.Tensor], torch.Tensor],
    var: torch.Tensor,
    n_snapshots: int,
    substeps: int,
    noise: Noise,
) -> torch.Tensor:
    """Roll the Brownian dynamics out for ``n_snapshots`` snapshots of ``substeps`` substeps.

    Args:
        man: the systems' manifold; xp: ``(S, N_max, 3)`` Å starting state (no vibration).
        drift: padded positions ``(S, N_max, 3)`` → drift ``(S, N_max, 3)`` Å per interval.
        var: ``(4,)`` noise variances (``VAR_*``).
        n_snapshots, substeps: snapshots to report and substeps per snapshot interval.
        noise: the source of randomness.

    Returns:
        ``(n_snapshots, S, N_max, 3)`` Å reported snapshots (state + a fresh vibration).
    """
    h = 1.0 / substeps
    out = []
    for _ in range(n_snapshots):
        for _ in range(substeps):
            q = drift_step(man, xp, drift, h, xp + vibration(man, var, noise))
            xp = man.move(xp, q + q_noise(man, var, h, noise))
        out.append(xp + vibration(man, var, noise))
    return torch.stack(out) if out else xp.new_zeros((0, *xp.shape))


def residual_moments(man: Manifold, xp: torch.Tensor, resid: torch.Tensor) -> torch.Tensor:
    """Mean squares ``(3,)`` of the generalized residual: translation and rotation per axis,
    torsions per real torsion (NaN when no ligand has a torsion)."""
    q = man.project(xp, resid)
    tm = man.tmask.to(q.dtype)
    tors = (
        (q[:, 6:] ** 2 * tm).sum() / tm.sum()
        if bool(man.tmask.any())
        else q.new_tensor(float("nan"))
    )
    return torch.stack([q[:, TRANS].pow(2).mean(), q[:, ROT].pow(2).mean(), tors])

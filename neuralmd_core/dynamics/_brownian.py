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


def columns(man: Manifold, var: torch.Tensor) -> torch.Tensor:
    """The ``(Q,)`` per-column values of per-class ``var`` (``VAR_TRANS/ROT/TORS``), ≥ 0."""
    return torch.cat([
        var[VAR_TRANS].expand(3), var[VAR_ROT].expand(3), var[VAR_TORS].expand(man.num_q - 6),
    ]).clamp_min(0)  # fmt: skip


def q_noise(
    man: Manifold, var: torch.Tensor, h: float, noise: Noise, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Generalized noise increments ``(S, Q)`` for a substep ``h``: √(h·var·w) ξ per column,
    ``var`` per class and ``weights`` w ``(S, Q)`` (:func:`metric_weights`; 1 when None)."""
    s_n = man.mask.shape[0]
    z = noise.normal(s_n, man.num_q)
    scale = columns(man, var).to(z.dtype)
    if weights is not None:
        scale = scale * weights.to(z.dtype)
    tors = torch.cat([man.tmask.new_ones((s_n, 6)), man.tmask], dim=1).to(z.dtype)
    return z * (h * scale).sqrt() * tors


def metric_weights(man: Manifold, xp: torch.Tensor) -> torch.Tensor:
    """Per-column noise factors ``(S, Q)`` at ``xp``: 1 for the rigid body; for torsion t,
    [(JᵀJ)⁻¹]_tt over its mean over the system's real torsions (mean 1). Isotropic per-atom
    noise projected onto the manifold turns each torsion by this share: a terminal group with
    few atoms turns more than a bond that moves half the ligand."""
    inv = torch.linalg.inv(man.normal(xp)[1]).diagonal(dim1=1, dim2=2)
    tm = man.tmask.to(inv.dtype)
    mean = (inv[:, 6:] * tm).sum(1, keepdim=True) / tm.sum(1, keepdim=True).clamp_min(1)
    tors = torch.where(man.tmask, inv[:, 6:] / mean.clamp_min(1e-30), torch.ones_like(inv[:, 6:]))
    return torch.cat([inv.new_ones((inv.shape[0], 6)), tors], dim=1).to(xp.dtype)


def soft_cap(q: torch.Tensor, limit: torch.Tensor | None) -> torch.Tensor:
    """``limit · tanh(q / limit)`` per column (``limit (Q,)`` > 0): q where |q| ≪ limit, never
    beyond it; ``q`` itself when ``limit`` is None."""
    if limit is None:
        return q
    limit = limit.to(q).clamp_min(1e-12)
    return limit * torch.tanh(q / limit)


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
    constrain: Callable[[torch.Tensor], torch.Tensor] | None = None,
    cap: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Roll the Brownian dynamics out for ``n_snapshots`` snapshots of ``substeps`` substeps.

    Args:
        man: the systems' manifold; xp: ``(S, N_max, 3)`` Å starting state (no vibration).
        drift: padded positions ``(S, N_max, 3)`` → drift ``(S, N_max, 3)`` Å per interval.
        var: ``(4,)`` noise variances (``VAR_*``).
        n_snapshots, substeps: snapshots to report and substeps per snapshot interval.
        noise: the source of randomness.
        constrain: applied to the state after every move (``_priors.Pocket.resolve``).
        cap: ``(Q,)`` soft limit of each drift increment per substep (:func:`soft_cap`).
        weights: ``(S, Q)`` per-column noise factors (:func:`metric_weights`).

    Returns:
        ``(n_snapshots, S, N_max, 3)`` Å reported snapshots (state + a fresh vibration).
    """
    h = 1.0 / substeps
    out = []
    for _ in range(n_snapshots):
        for _ in range(substeps):
            q = soft_cap(drift_step(man, xp, drift, h, xp + vibration(man, var, noise)), cap)
            xp = man.move(xp, q + q_noise(man, var, h, noise, weights))
            if constrain is not None:
                xp = constrain(xp)
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

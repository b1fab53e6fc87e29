"""Overdamped Langevin (Brownian) dynamics of whole ligands on their bond-preserving manifold.

Per substep h (snapshot intervals), with generalized coordinates q (translation Å, rotation rad,
torsions rad; ``_manifold``):

    q ← q + P(h · b(x + δ)) + √D_c · P(√h · ξ),     ξ ~ N(0, 1) per atom and coordinate (Å),

where b (Å per interval) is the drift (the network's force over the friction), P the
least-squares projection onto the manifold's tangent space, and D_c the per-atom variance (Å² per
interval) of each column's class (translation, rotation, torsion): with one D for all, this is
Brownian motion on the manifold under isotropic friction, and a D fitted on one ligand means the
same atomic jiggle on any other (a large ligand turns less, a terminal group more). Every
increment is applied as an exact rotation/translation, so bonds, angles and rings never change. The fast vibrations δ
(bond stretching, angle bending) are at equilibrium on the snapshot scale: each reported
snapshot, and each drift evaluation, sees ``x + δ`` with δ ~ N(0, var_vib) per atom and
coordinate, drawn afresh (it does not accumulate in the state). The noise is isotropic in the
lab frame and the drift equivariant, so the process is SE(3)-equivariant in distribution.

Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from neuralmd_core.dynamics._manifold import ROT, TRANS, Manifold
from neuralmd_core.dynamics._torsion_prior import TorsionFlow

#: indices into a noise-variance vector: translation, rotation, torsion (per-atom Å² per interval
#: in length units, turned into each column's variance by :func:`metric_weights`; per axis in
#: Å² and rad², per torsion in rad², for checkpoints from before), vibration (Å², per coordinate)
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


def projected_noise(man: Manifold, var: torch.Tensor, h: float, noise: Noise) -> torch.Tensor:
    """Cartesian displacements ``(S, N_max, 3)`` Å of √h times unit isotropic per-atom noise,
    masked; :func:`sample` projects them onto the manifold and scales each column by √D of its
    class (``var``, per-atom Å² per interval)."""
    z = noise.normal(*man.mask.shape, 3)
    return z * (h**0.5) * man.mask.unsqueeze(-1).to(z.dtype)


def metric_weights(
    man: Manifold, xp: torch.Tensor, absolute: bool = True, inv: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-column noise factors ``(S, Q)`` at ``xp`` from W = (JᵀJ)⁻¹, the covariance of the
    generalized increments of isotropic per-atom noise of unit variance (Å²) projected onto the
    manifold.

    ``absolute`` (length units): W's diagonal, with the translation and the rotation blocks each
    replaced by their mean (trace / 3, so the weights are invariant under rotations of ``xp``);
    a per-atom variance D (Å²) then moves a terminal methyl more than a bond that turns half the
    ligand, and turns a large ligand less than a small one. Otherwise (checkpoints from before
    length units): 1 for the rigid body and, for torsion t, W_tt over its mean over the
    system's real torsions. ``inv``: W ``(S, Q, Q)`` when the caller has it already.
    """
    inv = (torch.linalg.inv(man.normal(xp)[1]) if inv is None else inv).diagonal(dim1=1, dim2=2)
    tm = man.tmask.to(inv.dtype)
    if absolute:
        rigid = [inv[:, TRANS].mean(1, keepdim=True), inv[:, ROT].mean(1, keepdim=True)]
        rigid = torch.cat([rigid[0].expand(-1, 3), rigid[1].expand(-1, 3)], dim=1)
        tors = torch.where(man.tmask, inv[:, 6:], torch.ones_like(inv[:, 6:]))
        return torch.cat([rigid, tors], dim=1).to(xp.dtype)
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


#: largest standard deviation (rad) of one rotation or torsion move of the projected noise
FINE_ANGLE_RAD = 0.3
#: most moves per substep
FINE_MAX = 16


def fine_moves(man: Manifold, var: torch.Tensor, weights: torch.Tensor, h: float) -> int:
    """Moves per substep ``m`` so that no rotation or torsion moves by more than
    ``FINE_ANGLE_RAD`` standard deviations at once: m = ⌈max σ² / FINE_ANGLE_RAD²⌉, σ² = h·D·W
    per column (``weights`` W, :func:`metric_weights`), in [1, ``FINE_MAX``]. Moves are exact
    rotations, and correlated torsions whose linear effects cancel (a chain turning one way and
    its next bond back) do not cancel at large angles: one move of 0.8 rad σ moves a glutathione
    atom up to 5 Å where the linear step is 2.3 Å (11GS); 8 moves bring it to 2.6 Å."""
    ang = (h * columns(man, var).to(weights) * weights)[:, 3:]
    live = torch.cat([torch.ones_like(man.tmask[:, :3]), man.tmask], dim=1)
    top = float(ang[live].max()) if bool(live.any()) else 0.0
    return int(min(max(math.ceil(top / FINE_ANGLE_RAD**2), 1), FINE_MAX))


def projected_step(
    man: Manifold,
    xp: torch.Tensor,
    b: torch.Tensor,
    var: torch.Tensor,
    h: float,
    noise: Noise,
    cap: torch.Tensor | None = None,
    fine: int = 1,
    torsion_flow: TorsionFlow | None = None,
) -> torch.Tensor:
    """One substep ``h`` of Brownian dynamics on the manifold in ``fine`` moves: each projects
    the drift field ``b`` ``(S, N_max, 3)`` Å per interval (held over the substep) times h/fine
    and fresh isotropic noise of √(h/fine) at the current state, in one solve, caps the drift
    part (``cap`` / fine) and scales the noise columns by √D. With ``torsion_flow`` the torsion
    columns are carried through the prior's split flow (``TorsionFlow.step``). Returns the new
    ``xp``."""
    cap = None if cap is None else cap / fine
    for _ in range(fine):
        both = torch.stack([(h / fine) * b, projected_noise(man, var, h / fine, noise)], -1)
        q, q_n = man.project(xp, both).unbind(-1)
        q = soft_cap(q, cap) + q_n * columns(man, var).sqrt().to(q_n)
        if torsion_flow is not None:
            q = torsion_flow.step(xp, q, h / fine, noise)
        xp = man.move(xp, q)
    return xp


def sample(
    man: Manifold,
    xp: torch.Tensor,
    drift: Callable[[torch.Tensor], torch.Tensor],
    var: torch.Tensor,
    n_snapshots: int,
    substeps: int,
    noise: Noise,
    constrain: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    cap: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    projected: bool = False,
    fine: int = 1,
    torsion_flow: TorsionFlow | None = None,
) -> torch.Tensor:
    """Roll the Brownian dynamics out for ``n_snapshots`` snapshots of ``substeps`` substeps.

    Args:
        man: the systems' manifold; xp: ``(S, N_max, 3)`` Å starting state (no vibration).
        drift: padded positions ``(S, N_max, 3)`` → drift ``(S, N_max, 3)`` Å per interval.
        var: ``(4,)`` noise variances (``VAR_*``).
        n_snapshots, substeps: snapshots to report and substeps per snapshot interval.
        noise: the source of randomness.
        constrain: ``(state after a substep, state before it)`` → the state kept, applied after
            every substep (``_priors.Pocket.resolve``).
        cap: ``(Q,)`` soft limit of each drift increment per substep (:func:`soft_cap`).
        weights: ``(S, Q)`` per-column noise factors (:func:`metric_weights`) of independent
            generalized noise (``var`` per column class; checkpoints before length units).
        projected: instead, isotropic per-atom noise projected onto the manifold, each column
            × √D of its class (``var`` per-atom Å²): exact Brownian motion on the manifold when
            the classes share one D; drift and noise are projected in one solve.
        fine: with ``projected``, moves per substep (:func:`projected_step`).
        torsion_flow: with ``projected``, the torsion prior's flow (:func:`projected_step`).

    Returns:
        ``(n_snapshots, S, N_max, 3)`` Å reported snapshots (state + a fresh vibration).
    """
    h = 1.0 / substeps
    out = []
    for _ in range(n_snapshots):
        for _ in range(substeps):
            prev = xp
            if projected:
                xp = projected_step(man, xp, drift(xp + vibration(man, var, noise)), var, h,
                                    noise, cap, fine, torsion_flow)  # fmt: skip
            else:
                q = soft_cap(drift_step(man, xp, drift, h, xp + vibration(man, var, noise)), cap)
                xp = man.move(xp, q + q_noise(man, var, h, noise, weights))
            if constrain is not None:
                xp = constrain(xp, prev)
        out.append(xp + vibration(man, var, noise))
    return torch.stack(out) if out else xp.new_zeros((0, *xp.shape))


def residual_moments(
    man: Manifold, xp: torch.Tensor, resid: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squares ``(3,)`` of the generalized residual, each column divided by its
    ``weights`` (:func:`metric_weights`; 1 when None): translation and rotation per axis,
    torsions per real torsion (NaN when no ligand has a torsion)."""
    q = man.project(xp, resid).pow(2)
    if weights is not None:
        q = q / weights.to(q).clamp_min(1e-30)
    tm = man.tmask.to(q.dtype)
    tors = (q[:, 6:] * tm).sum() / tm.sum() if bool(man.tmask.any()) else q.new_tensor(float("nan"))
    return torch.stack([q[:, TRANS].mean(), q[:, ROT].mean(), tors])

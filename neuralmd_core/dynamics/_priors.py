"""Analytic priors of the manifold SDE: a tether to the bound pose and a steric wall.

* **Tether** (a quasi-harmonic model of the bound ensemble): the drift gains
  b_t(x) = κ (μ − x) Å per interval, with μ the anchor pose (``keys.LIG_ANCHOR``: the mean of
  the known history) and κ ∈ [0, 1] the least-squares restoring fraction per interval of the
  training pairs, κ = Σ⟨x_{t+1} − x_t, μ − x_t⟩ / Σ|μ − x_t|² (1 − ρ₁ for a stationary
  Ornstein–Uhlenbeck chain). The network is trained on what the tether leaves (residual
  learning, like the bonded priors of CGSchNet/TorchMD), so in the training ensemble the total
  drift is still the conditional mean; away from it, where 80 snapshots teach a network little,
  the linear model keeps the ligand near its bound pose. Projected onto the manifold it acts on
  the rigid-body pose and the torsions.
* **Steric wall**: after every move, ligand atoms closer than ``wall`` Å to a protein heavy
  atom of the pocket (``keys.POCKET_XYZ``, side chains included; the backbone N, CA, C when a
  system has no pocket) are pushed out along the contact by the overlap, projected onto the
  manifold, ``WALL_ITERATIONS`` times at most (overlap removal of hard-sphere Brownian
  dynamics). The default 2.2 Å lies below every ligand–protein heavy-atom contact of the
  reference MD (2.49 Å on 11GS seed 0, a hydrogen bond to Ser54 OG; 2.75 Å and more on T4L)
  and above the 2.0 Å clash criterion.

Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from neuralmd_core import keys
from neuralmd_core.dynamics._manifold import Manifold

#: default wall distance, Å (ligand heavy atom to protein heavy atom)
WALL_A = 2.2
#: overlap-removal passes per move
WALL_ITERATIONS = 10
#: smallest Newton gain of an overlap-removal pass (the move is at most 1/GAIN_MIN × the
#: least-squares one)
GAIN_MIN = 0.05
#: largest rotation or torsion angle of one overlap-removal pass, rad: a Newton step that would
#: turn more (a low gain extrapolates the linear fit far beyond where it holds) is scaled down
WALL_ANGLE_MAX = 0.5
#: a move that leaves a ligand heavy atom closer than this to a pocket atom after every pass is
#: rejected (the clash criterion of ``evaluation``), Å
REJECT_A = 2.0


def anchor_of(batch: Mapping[str, Any], history: torch.Tensor) -> torch.Tensor:
    """The tether's anchor ``(N_tot, 3)`` Å: ``keys.LIG_ANCHOR`` when the batch has it, else the
    mean of the known history ``(H, N_tot, 3)``."""
    anchor = batch.get(keys.LIG_ANCHOR)
    if anchor is None:
        return history.mean(0)
    return anchor.to(history)


@dataclass
class Pocket:
    """The wall's protein atoms of each padded system.

    Attributes:
        xyz: ``(S, M_max, 3)`` Å, the pocket's heavy atoms, or N/CA/C of every residue.
        mask: ``(S, M_max)`` bool, real atoms.
    """

    xyz: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def from_batch(cls, batch: Mapping[str, Any]) -> Pocket:
        """One row per system of a collated batch: ``keys.POCKET_XYZ`` and ``keys.POCKET_BATCH``
        when it has them, else ``keys.BACKBONE`` and ``keys.RES_BATCH``."""
        if keys.POCKET_XYZ in batch:
            atoms, owner = batch[keys.POCKET_XYZ], batch[keys.POCKET_BATCH]
        else:
            atoms = batch[keys.BACKBONE].reshape(-1, 3)
            owner = batch[keys.RES_BATCH].repeat_interleave(3)
        b = int(batch[keys.NUM_SYSTEMS])
        counts = torch.bincount(owner, minlength=b)
        m_max = max(int(counts.max()), 1)
        xyz = atoms.new_zeros((b, m_max, 3))
        mask = torch.zeros((b, m_max), dtype=torch.bool, device=atoms.device)
        start = 0
        for s, c in enumerate(counts.tolist()):
            xyz[s, :c] = atoms[start : start + c]
            mask[s, :c] = True
            start += c
        return cls(xyz, mask)

    def replicate(self, k: int) -> Pocket:
        """``k`` copies laid out like ``Manifold.replicate``."""
        return self if k == 1 else Pocket(torch.cat([self.xyz] * k), torch.cat([self.mask] * k))

    def push(self, xp: torch.Tensor, lig_mask: torch.Tensor, wall: float) -> torch.Tensor:
        """Overlap displacement ``(S, N_max, 3)`` Å: Σ_j max(0, wall − r_ij) û_ij per atom,
        û_ij the unit vector from protein atom j to ligand atom i."""
        diff, r, real = self._pairs(xp, lig_mask)
        r = r.clamp_min(1e-6)
        depth = (wall - r).clamp_min(0) * real
        return ((depth / r).unsqueeze(-1) * diff).sum(2)

    def _pairs(self, xp: torch.Tensor, lig_mask: torch.Tensor):
        """Ligand–pocket differences ``(S, N, M, 3)`` Å, distances ``(S, N, M)`` Å and the mask
        of real pairs ``(S, N, M)``."""
        diff = xp.unsqueeze(2) - self.xyz.unsqueeze(1).to(xp)
        return diff, diff.norm(dim=-1), self.mask.unsqueeze(1) & lig_mask.unsqueeze(2)

    def closest(self, xp: torch.Tensor, lig_mask: torch.Tensor) -> torch.Tensor:
        """``(S,)`` Å: the smallest ligand–pocket atom distance of each system (inf without
        pocket atoms)."""
        _, r, real = self._pairs(xp, lig_mask)
        return torch.where(real, r, torch.full_like(r, float("inf"))).flatten(1).amin(1)

    def resolve(
        self, man: Manifold, xp: torch.Tensor, wall: float, before: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``xp`` with its overlaps removed by manifold moves (at most ``WALL_ITERATIONS``).

        Each move is the least-squares projection q of the overlap displacements d, scaled by
        |d|² / ⟨Jq, d⟩ per system (a Newton step along d): the projection alone moves one atom of
        a rigid 39-atom ligand by only a few % of its overlap, and 10 such passes left 11 % of
        glutathione's snapshots inside 2.2 Å (11GS, t4l-trained default). A pass turns by at
        most ``WALL_ANGLE_MAX`` (:func:`limit_angles`): at a gain of 0.067 one pass turned a
        torsion by 5.5 rad and moved an atom by 8.4 Å (11GS, snapshot 1,876 of a 10,000-snapshot
        rollout). With ``before`` (the state before the move), a system still closer than
        ``REJECT_A`` to the pocket after the passes, and closer than it was, returns to
        ``before``: the move is rejected, as hard-sphere Brownian dynamics rejects a move into a
        wall (10,000 snapshots of 11GS left 1.2 % of the frames within 2 Å without it)."""
        for _ in range(WALL_ITERATIONS):
            d = self.push(xp, man.mask, wall)
            if not bool(d.abs().amax() > 0):
                return xp  # no overlap left: nothing to reject
            q, lin = man.project(xp, d, linear=True)
            dd = (d * d).sum((1, 2))
            gain = torch.where(dd > 0, (lin * d).sum((1, 2)) / dd.clamp_min(1e-30), 1.0)
            xp = man.move(xp, limit_angles(q / gain.clamp(min=GAIN_MIN, max=1.0).unsqueeze(-1)))
        if before is None:
            return xp
        near = self.closest(xp, man.mask)
        reject = (near < REJECT_A) & (near < self.closest(before.to(xp), man.mask))
        return torch.where(reject.view(-1, 1, 1), before.to(xp), xp) if bool(reject.any()) else xp


def limit_angles(q: torch.Tensor, most: float = WALL_ANGLE_MAX) -> torch.Tensor:
    """Generalized increments ``q (S, Q)`` scaled down, per system, so that neither the rotation
    (the norm of its vector) nor any torsion turns by more than ``most`` rad; unchanged where
    none does."""
    top = torch.cat([q[:, 3:6].norm(dim=1, keepdim=True), q[:, 6:].abs()], dim=1).amax(1)
    over = (top > most).unsqueeze(-1)
    return torch.where(over, q * (most / top.clamp_min(1e-30)).unsqueeze(-1), q)

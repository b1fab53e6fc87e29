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
* **Steric wall**: after every move, ligand atoms closer than ``wall`` Å to a protein backbone
  atom (N, CA, C: what the network sees) are pushed out along the contact by the overlap,
  projected onto the manifold, ``WALL_ITERATIONS`` times at most (overlap removal of hard-sphere
  Brownian dynamics). The default 2.2 Å lies below every heavy-atom contact of the reference MD
  (2.32 Å on 11GS, 2.75 Å and more on T4L) and above the 2.0 Å clash criterion.

Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from neuralmd_core import keys
from neuralmd_core.dynamics._manifold import Manifold

#: default wall distance, Å (ligand heavy atom to protein backbone atom)
WALL_A = 2.2
#: overlap-removal passes per move
WALL_ITERATIONS = 10


def anchor_of(batch: Mapping[str, Any], history: torch.Tensor) -> torch.Tensor:
    """The tether's anchor ``(N_tot, 3)`` Å: ``keys.LIG_ANCHOR`` when the batch has it, else the
    mean of the known history ``(H, N_tot, 3)``."""
    anchor = batch.get(keys.LIG_ANCHOR)
    if anchor is None:
        return history.mean(0)
    return anchor.to(history)


@dataclass
class Pocket:
    """Protein backbone atoms of each padded system.

    Attributes:
        xyz: ``(S, M_max, 3)`` Å, N/CA/C of every residue.
        mask: ``(S, M_max)`` bool, real atoms.
    """

    xyz: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def from_batch(cls, batch: Mapping[str, Any]) -> Pocket:
        """One row per system of a collated batch (``keys.BACKBONE``, ``keys.RES_BATCH``)."""
        bb, owner = batch[keys.BACKBONE], batch[keys.RES_BATCH]
        b = int(batch[keys.NUM_SYSTEMS])
        counts = torch.bincount(owner, minlength=b)
        m_max = 3 * int(counts.max())
        xyz = bb.new_zeros((b, m_max, 3))
        mask = torch.zeros((b, m_max), dtype=torch.bool, device=bb.device)
        start = 0
        for s, c in enumerate(counts.tolist()):
            xyz[s, : 3 * c] = bb[start : start + c].reshape(-1, 3)
            mask[s, : 3 * c] = True
            start += c
        return cls(xyz, mask)

    def replicate(self, k: int) -> Pocket:
        """``k`` copies laid out like ``Manifold.replicate``."""
        return self if k == 1 else Pocket(torch.cat([self.xyz] * k), torch.cat([self.mask] * k))

    def push(self, xp: torch.Tensor, lig_mask: torch.Tensor, wall: float) -> torch.Tensor:
        """Overlap displacement ``(S, N_max, 3)`` Å: Σ_j max(0, wall − r_ij) û_ij per atom,
        û_ij the unit vector from protein atom j to ligand atom i."""
        diff = xp.unsqueeze(2) - self.xyz.unsqueeze(1).to(xp)  # (S, N, M, 3)
        r = diff.norm(dim=-1).clamp_min(1e-6)
        depth = (wall - r).clamp_min(0) * (self.mask.unsqueeze(1) & lig_mask.unsqueeze(2))
        return ((depth / r).unsqueeze(-1) * diff).sum(2)

    def resolve(self, man: Manifold, xp: torch.Tensor, wall: float) -> torch.Tensor:
        """``xp`` with its overlaps removed by manifold moves (at most ``WALL_ITERATIONS``)."""
        for _ in range(WALL_ITERATIONS):
            d = self.push(xp, man.mask, wall)
            if not bool(d.abs().amax() > 0):
                break
            xp = man.move(xp, man.project(xp, d))
        return xp

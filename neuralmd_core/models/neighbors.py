"""Verlet neighbour lists of BindingNet's two graphs, for rollouts.

A rollout evaluates the network many times on a ligand next to a protein that does not move.
Rebuilding both radius graphs each time is a few dozen small ops (two dense distance blocks, two
sorts, two nonzeros). A :class:`NeighborList` keeps *candidate* pairs within the cutoff plus a
``skin`` and rebuilds them only when some ligand atom has moved more than half the skin since the
last build (Verlet's rule: no pair can then have come within the cutoff unseen). Each call filters
the candidates to the pairs within the cutoff, in the order the radius graphs give, so the
network sees exactly the edges it would have built: the output is the same.

With ``skin = 0`` the graphs are rebuilt at every call (the exact graphs, in the one object the
network takes; ``torch.compile`` needs them outside the compiled region, since their size depends
on the data).

Lists are offered only where the edge set is all that matters: not with ``paper_compat`` or a
``max_neighbors`` cap (see :meth:`neuralmd_core.models.BindingNet.neighbor_list`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from neuralmd_core.models._protein import ProteinContext
from neuralmd_core.models.radial import radius_bipartite, radius_graph

#: default skin of rollout neighbour lists, Å (rebuild when an atom has moved skin/2)
ROLLOUT_SKIN_A = 2.0


class Edges(NamedTuple):
    """The graphs of one set of systems at one set of positions, as the network takes them.

    Attributes:
        ligand: ``(2, E)`` long, (neighbour, centre) ligand pairs, sorted by centre.
        complex: ``(2, E')`` long, (residue, atom) pairs, sorted by residue.
        centroid_weight: ``(N,)`` 1 / atoms of each atom's system (centroids without a sync).
        num_systems: B.
    """

    ligand: torch.Tensor
    complex: torch.Tensor
    centroid_weight: torch.Tensor
    num_systems: int


class NeighborList:
    """Candidate edges for positions near the last build (see module docs).

    Args:
        cutoff: the network's cutoff, Å.
        skin: extra radius of the candidate lists, Å (0: exact graphs at every call).
        lig_batch: ``(N,)`` long, system of each ligand atom.
        protein: the encoded rigid protein of the same systems.
    """

    def __init__(
        self, cutoff: float, skin: float, lig_batch: torch.Tensor, protein: ProteinContext
    ):
        if not skin >= 0:
            raise ValueError(f"skin must be >= 0 Å, got {skin}")
        self.cutoff, self.skin = float(cutoff), float(skin)
        self.lig_batch, self.protein = lig_batch, protein
        self.num_systems = int(lig_batch.max()) + 1 if lig_batch.numel() else 0
        counts = torch.bincount(lig_batch, minlength=self.num_systems).clamp(min=1)
        self.centroid_weight = (1.0 / counts.double())[lig_batch]
        self.built_at: torch.Tensor | None = None
        self.candidates: Edges | None = None
        self.rebuilds = 0

    def needs_rebuild(self, pos: torch.Tensor) -> bool:
        """True at every call without a skin, before the first build and once an atom has
        moved more than skin/2 (Å) since the last build."""
        if self.skin == 0 or self.built_at is None or self.built_at.shape != pos.shape:
            return True
        moved = (pos.detach() - self.built_at).pow(2).sum(-1).max()
        return bool(moved > (0.5 * self.skin) ** 2)

    def __call__(self, pos: torch.Tensor) -> Edges:
        """The edges within the cutoff at ``pos (N, 3)`` Å (candidates rebuilt when needed)."""
        pos = pos.detach()
        if self.needs_rebuild(pos):
            self._build(pos)
        if self.skin == 0:
            return self.candidates
        c = self.candidates
        src, dst = c.ligand
        lig = c.ligand[:, (pos[dst] - pos[src]).norm(dim=-1) < self.cutoff]
        res, atom = c.complex
        cpx = c.complex[:, (self.protein.ca[res] - pos[atom]).norm(dim=-1) < self.cutoff]
        return c._replace(ligand=lig, complex=cpx)

    def _build(self, pos: torch.Tensor) -> None:
        radius = self.cutoff + self.skin
        p = self.protein
        lig = radius_graph(pos, self.lig_batch, radius)
        cpx = radius_bipartite(p.ca, p.res_batch, pos, self.lig_batch, radius)
        self.candidates = Edges(lig, cpx, self.centroid_weight.to(pos.dtype), self.num_systems)
        self.built_at = pos.clone()
        self.rebuilds += 1

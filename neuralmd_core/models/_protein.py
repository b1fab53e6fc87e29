"""The backbone-level (protein) module and the residue–atom (complex) layer of BindingNet."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from neuralmd_core.models._layers import FrameMLP, frame_mlps, mlp, scatter_sum
from neuralmd_core.models.frames import backbone_frames, residue_frames, scalarize
from neuralmd_core.models.radial import (
    ExpNormalSmearing,
    cosine_cutoff,
    radius_bipartite,
    radius_graph,
    safe_norm,
    smooth_normalize,
)


class ProteinContext(NamedTuple):
    """The rigid protein's embedding, computed once per system and reused at every solver step.

    Attributes:
        h: ``(R, H)`` invariant residue embeddings h^p.
        ca: ``(R, 3)`` CA positions, Å.
        frames: ``(R, 3, 3)`` orthonormal residue-level (complex) frames G_r, rows = basis
            vectors; built from consecutive CAs within each system.
        res_batch: ``(R,)`` long, system of each residue.
        backbone_frames: ``(R, 3, 3)`` the per-residue N–CA–C Gram–Schmidt frames.
    """

    h: torch.Tensor
    ca: torch.Tensor
    frames: torch.Tensor
    res_batch: torch.Tensor
    backbone_frames: torch.Tensor


class ProteinNet(nn.Module):
    """Backbone-level module (spec §2b): backbone-atom graph + bond-wise embedding + residue type.

    Args:
        hidden: H.
        num_radial: K.
        cutoff: c, Å.
        num_residue_types: rows of the residue-type embedding.
        max_neighbors: optional neighbour cap of the backbone-atom graph.
        paper_compat: reference frame (non-orthogonal), LeakyReLU/bias on bond vector rows,
            residue frames across systems, neighbour truncation.
        dropout: dropout in the bond MLP (the reference used 0.2; 0 here by default).
    """

    def __init__(
        self,
        hidden: int = 128,
        num_radial: int = 96,
        cutoff: float = 5.0,
        num_residue_types: int = 26,
        max_neighbors: int | None = None,
        paper_compat: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.cutoff, self.max_neighbors, self.paper_compat = (
            float(cutoff),
            max_neighbors,
            paper_compat,
        )
        self.rbf = ExpNormalSmearing(cutoff, num_radial)
        self.atom_type = nn.Embedding(3, hidden)
        self.psi = nn.Linear(num_radial, hidden)
        self.psi_bond = nn.Linear(num_radial, hidden)
        # channel mixing of bond vectors: no bias (a bias on vector rows breaks equivariance)
        self.bond_mix = nn.Linear(hidden, hidden, bias=paper_compat)
        self.bond_frame = FrameMLP(32)
        self.bond_mlp = nn.Sequential(
            nn.LeakyReLU(0.1),
            nn.Dropout(dropout),
            nn.Linear(hidden, 2 * hidden),
            nn.LeakyReLU(0.1),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
        )
        self.res_emb = nn.Embedding(num_residue_types, hidden)

    def _atom_embeddings(self, backbone: torch.Tensor, res_batch: torch.Tensor) -> torch.Tensor:
        """Backbone-atom graph embeddings ``(R, 3, H)`` for N, CA, C."""
        r = backbone.shape[0]
        atoms = backbone.reshape(3 * r, 3)
        batch = res_batch.repeat_interleave(3)
        types = torch.arange(3, device=atoms.device).repeat(r)
        src, dst = radius_graph(
            atoms, batch, self.cutoff, self.max_neighbors, truncate=self.paper_compat
        )
        psi = self.psi(self.rbf(safe_norm(atoms[src] - atoms[dst])))
        t = self.atom_type(types)
        msg = t[dst] + t[src] * psi
        total = scatter_sum(msg, dst, 3 * r)
        count = torch.bincount(dst, minlength=3 * r).clamp(min=1).to(msg.dtype)
        return (total / count[:, None]).view(r, 3, -1)

    def _bond(self, u, zp, zq, frames) -> torch.Tensor:
        """Invariant embedding ``(R, H)`` of one backbone bond vector ``u (R,3)`` Å."""
        e = u.unsqueeze(-1) * (self.psi_bond(self.rbf(safe_norm(u))) * zp * zq).unsqueeze(1)
        if self.paper_compat:
            e = nn.functional.leaky_relu(e, 0.1)
        e = self.bond_mix(e)
        return self.bond_mlp(self.bond_frame(scalarize(frames, e)))

    def forward(
        self, backbone: torch.Tensor, res_type: torch.Tensor, res_batch: torch.Tensor
    ) -> ProteinContext:
        """Embed the rigid protein.

        Args:
            backbone: ``(R, 3, 3)`` Å, rows N, CA, C of each residue.
            res_type: ``(R,)`` long residue-type indices.
            res_batch: ``(R,)`` long system index per residue (residues of a system contiguous
                and in chain order).

        Returns:
            The :class:`ProteinContext`.
        """
        if res_type.numel() and int(res_type.max()) >= self.res_emb.num_embeddings:
            raise ValueError(f"residue type {int(res_type.max())} >= {self.res_emb.num_embeddings}")
        zn, zca, zc = self._atom_embeddings(backbone, res_batch).unbind(1)
        bb = backbone_frames(backbone, orthonormal=not self.paper_compat)
        n, ca, c = backbone.unbind(1)
        h = 0.5 * (self._bond(ca - n, zn, zca, bb) + self._bond(c - ca, zca, zc, bb))
        h = h + self.res_emb(res_type)
        frames = residue_frames(ca, res_batch, bb, cross_systems=self.paper_compat)
        return ProteinContext(h=h, ca=ca, frames=frames, res_batch=res_batch, backbone_frames=bb)


class ComplexLayer(nn.Module):
    """Residue → ligand-atom layer in residue-level frames (spec §2c, made equivariant).

    ``m = MLP(s_a + h_r + Lin(ρ(d)))``, ``κ = G_r d̂`` (``G_rᵀ d̂`` with paper_compat),
    ``q_k = κ_k m``, ``w_i = MLP3_i(q) + q_1`` and, with the cosine envelope φ(d),
    ``U_a += Σ_r φ (U_a ⊙ w1 + d̂ ⊗ w2)``, ``c_a += Σ_r φ w3`` (an invariant for the energy).

    Args:
        hidden: H.
        num_radial: K.
        cutoff: c, Å.
        paper_compat: transposed projection, no envelope, no distance features.
    """

    def __init__(self, hidden: int, num_radial: int, cutoff: float, paper_compat: bool = False):
        super().__init__()
        self.cutoff, self.paper_compat = float(cutoff), paper_compat
        self.rbf = ExpNormalSmearing(cutoff, num_radial)
        self.dist = nn.Linear(num_radial, hidden, bias=False)
        self.msg = mlp(hidden, hidden, hidden)
        self.w1, self.w2, self.w3 = (FrameMLP(hidden // 4) for _ in range(3))

    def forward(self, pos, s, u, c, protein: ProteinContext, edges: torch.Tensor):
        """``pos (N,3)``, ``s (N,H)``, ``u (N,3,H)``, ``c (N,H)``; edges (residue, atom)."""
        res, atom = edges
        frames = protein.frames[res]
        vec = pos[atom] - protein.ca[res]
        d = safe_norm(vec)
        dhat = smooth_normalize(vec, 1e-6)
        x = s[atom] + protein.h[res]
        if self.paper_compat:
            kappa = torch.einsum("ekd,ek->ed", frames, dhat)  # G_rᵀ d̂ (the bug)
            env = torch.ones_like(d).unsqueeze(-1)
        else:
            x = x + self.dist(self.rbf(d))
            kappa = (frames @ dhat.unsqueeze(-1)).squeeze(-1)  # G_r d̂
            env = cosine_cutoff(d, self.cutoff).unsqueeze(-1)
        m = self.msg(x)
        q = kappa.unsqueeze(-1) * m.unsqueeze(1)  # (E, 3, H)
        w1, w2, w3 = (env * w for w in frame_mlps(q, (self.w1, self.w2, self.w3)))
        n = pos.shape[0]
        du = u[atom] * w1.unsqueeze(1) + dhat.unsqueeze(-1) * w2.unsqueeze(1)
        return u + scatter_sum(du, atom, n), c + scatter_sum(w3, atom, n)


def complex_edges(
    pos, lig_batch, protein: ProteinContext, cutoff, max_neighbors, truncate
) -> torch.Tensor:
    """Residue → atom edges ``(2, E)`` (row 0 residue, row 1 atom) within the cutoff, per system."""
    return radius_bipartite(
        protein.ca, protein.res_batch, pos, lig_batch, cutoff, max_neighbors, truncate
    )

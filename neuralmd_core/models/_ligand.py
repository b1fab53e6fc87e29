"""The atom-level (ligand) module of BindingNet: ``Lig(z, X) → (s (N,H), f (N,3))``."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from neuralmd_core.models._layers import FrameMLP, GatedVectorOutput, mlp, scatter_sum, xavier_init
from neuralmd_core.models.frames import edge_frames, scalarize
from neuralmd_core.models.neighbors import Edges
from neuralmd_core.models.radial import (
    PAPER_MAX_NEIGHBORS,
    ExpNormalSmearing,
    cosine_cutoff,
    radius_graph,
    safe_norm,
    smooth_normalize,
)


def system_centroids(
    pos: torch.Tensor, batch: torch.Tensor, weight: torch.Tensor | None = None, size: int = 0
) -> torch.Tensor:
    """Per-atom copy of its system's centroid: ``pos (N,3)``, ``batch (N,)`` → ``(N,3)`` Å.

    ``weight (N,)`` = 1 / atoms of each atom's system and ``size`` = B, when known, spare the
    count (and its host synchronisation).
    """
    if weight is not None:
        return scatter_sum(pos * weight[:, None], batch, size)[batch]
    size = int(batch.max()) + 1 if batch.numel() else 0
    total = scatter_sum(pos, batch, size)
    count = torch.bincount(batch, minlength=size).clamp(min=1).to(pos.dtype)
    return (total / count[:, None])[batch]


class _MessageLayer(nn.Module):
    """One PaiNN-like message-passing layer with sum aggregation and residual updates."""

    def __init__(self, hidden: int, num_radial: int, edge_dim: int):
        super().__init__()
        self.hidden = hidden
        self.node = mlp(hidden, hidden, 3 * hidden)
        # no bias: Lin(ρ) → 0 at the cutoff, so messages vanish continuously there
        self.radial = nn.Linear(num_radial, 3 * hidden, bias=False)
        self.edge = nn.Linear(edge_dim, 3 * hidden)

    def forward(self, s, v, rhat, rho, w, src, dst):
        """``s (N,H)``, ``v (N,3,H)``, edges ``rhat (E,3)``, ``rho (E,K)``, ``w (E,W)``."""
        coef = self.node(s)[src] * self.radial(rho) * self.edge(w)
        a, b, c = coef.split(self.hidden, dim=-1)
        n = s.shape[0]
        s = s + scatter_sum(a, dst, n)
        msg = v[src] * (b / math.sqrt(3.0)).unsqueeze(1) + rhat.unsqueeze(-1) * c.unsqueeze(1)
        v = v + scatter_sum(msg, dst, n) / math.sqrt(self.hidden)
        return s, v


class LigandNet(nn.Module):
    """Atom-level frame network on the ligand heavy atoms (spec §2a, made SE(3)-equivariant).

    Args:
        hidden: H, channels of scalar and vector features.
        num_radial: K, radial basis functions.
        cutoff: c, radius-graph cutoff in Å.
        num_layers: message-passing layers.
        max_z: rows of the two atom-type embeddings (indexed by atomic number).
        vec_in: accept an equivariant per-atom input vector ``(N,3)`` (e.g. a displacement),
            injected as initial vector features ``V⁰ = vec_in ⊗ w`` and as its norm in the scalars.
        scalar_in_dim: width S of an optional invariant per-atom input ``(N,S)``.
        max_neighbors: optional neighbour cap (raises when exceeded; truncates with paper_compat).
        paper_compat: reproduce the reference's origin-dependent edge frame and 32-neighbour cap.
        frame_eps: softening (Å²) of the edge frame's cross-product axis.
    """

    def __init__(
        self,
        hidden: int = 128,
        num_radial: int = 96,
        cutoff: float = 5.0,
        num_layers: int = 4,
        max_z: int = 100,
        vec_in: bool = False,
        scalar_in_dim: int = 0,
        max_neighbors: int | None = None,
        paper_compat: bool = False,
        frame_eps: float = 0.1,
    ):
        super().__init__()
        self.hidden, self.cutoff, self.max_z = hidden, float(cutoff), max_z
        self.paper_compat, self.frame_eps = paper_compat, frame_eps
        self.max_neighbors = max_neighbors
        if paper_compat and max_neighbors is None:
            self.max_neighbors = PAPER_MAX_NEIGHBORS
        self.rbf = ExpNormalSmearing(cutoff, num_radial)
        self.emb1 = nn.Embedding(max_z, hidden)
        self.emb2 = nn.Embedding(max_z, hidden)
        self.filter = mlp(num_radial, hidden, hidden)
        self.node_vec = nn.Linear(hidden, hidden)
        self.frame_mlp = FrameMLP(hidden // 4)
        edge_dim = (3 * hidden + num_radial) // 2
        self.edge_weight = nn.Linear(3 * hidden + num_radial, edge_dim)
        self.layers = nn.ModuleList(
            _MessageLayer(hidden, num_radial, edge_dim) for _ in range(num_layers)
        )
        self.out = GatedVectorOutput(hidden)
        self.vec_weight = nn.Parameter(torch.ones(hidden)) if vec_in else None
        self.vec_norm = nn.Linear(1, hidden) if vec_in else None
        self.scalar_in = nn.Linear(scalar_in_dim, hidden) if scalar_in_dim > 0 else None
        xavier_init(self.layers)
        xavier_init(self.out)

    def _check(self, z, vec_in, scalar_in) -> None:
        if z.numel() and (int(z.min()) < 0 or int(z.max()) >= self.max_z):
            raise ValueError(
                f"atomic numbers must lie in [0, {self.max_z}), got {int(z.min())}..{int(z.max())}"
            )
        if (vec_in is not None) != (self.vec_weight is not None):
            raise ValueError(
                "vec_in must be given exactly when the network was built with vec_in=True"
            )
        if (scalar_in is not None) != (self.scalar_in is not None):
            raise ValueError(
                "scalar_in must be given exactly when the network was built with scalar_in_dim > 0"
            )

    def features(
        self,
        pos: torch.Tensor,
        z: torch.Tensor,
        batch: torch.Tensor,
        vec_in: torch.Tensor | None = None,
        scalar_in: torch.Tensor | None = None,
        edges: Edges | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Final node features: ``s (N,H)`` invariant and ``V (N,3,H)`` equivariant.

        ``edges``: the edges a neighbour list returns (``models.neighbors``: exactly the radius
        graph's; inputs already checked); ``None`` builds the radius graph and checks the inputs.
        """
        n = pos.shape[0]
        if edges is None:
            self._check(z, vec_in, scalar_in)
            src, dst = radius_graph(
                pos, batch, self.cutoff, self.max_neighbors, truncate=self.paper_compat
            )
        else:
            src, dst = edges.ligand
        vec = pos[src] - pos[dst]
        d = safe_norm(vec)
        rhat = smooth_normalize(vec, 1e-6)
        rho = self.rbf(d)
        phi = cosine_cutoff(d, self.cutoff).unsqueeze(-1)
        g = phi * self.filter(rho)
        s = self.emb1(z) + scatter_sum(g * self.emb2(z)[src], dst, n)
        v0 = pos.new_zeros((n, 3, self.hidden))
        if vec_in is not None:
            v0 = vec_in.unsqueeze(-1) * self.vec_weight
            s = s + self.vec_norm(safe_norm(vec_in, keepdim=True))
        if scalar_in is not None:
            s = s + self.scalar_in(scalar_in)
        sv = rhat.unsqueeze(-1) * (g * F.silu(self.node_vec(s))[src]).unsqueeze(1)
        big_s = scatter_sum(sv, dst, n) + v0
        if self.paper_compat:
            ref = torch.zeros_like(pos)
        elif edges is not None:
            ref = system_centroids(pos, batch, edges.centroid_weight, edges.num_systems)
        else:
            ref = system_centroids(pos, batch)
        frames = edge_frames(pos, ref, src, dst, 1e-6 if self.paper_compat else self.frame_eps)
        q = scalarize(frames, torch.cat([big_s[src], big_s[dst]], -1))
        sigma = self.frame_mlp(q)
        w = F.silu(self.edge_weight(torch.cat([phi * sigma, g, rho], -1)))
        v = v0
        for layer in self.layers:
            s, v = layer(s, v, rhat, rho, w, src, dst)
        return s, v

    def forward(
        self,
        pos: torch.Tensor,
        z: torch.Tensor,
        batch: torch.Tensor,
        vec_in: torch.Tensor | None = None,
        scalar_in: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the ligand module.

        Args:
            pos: ligand heavy-atom positions ``(N, 3)``, Å.
            z: atomic numbers ``(N,)`` long.
            batch: system index per atom ``(N,)`` long.
            vec_in: optional equivariant input ``(N, 3)`` (same unit as its caller's, e.g. Å per
                snapshot interval for a displacement); required iff built with ``vec_in=True``.
            scalar_in: optional invariant input ``(N, S)``; required iff ``scalar_in_dim > 0``.

        Returns:
            ``s (N, H)`` invariant scalars and ``f (N, 3)`` an equivariant vector per atom.
        """
        s, v = self.features(pos, z, batch, vec_in, scalar_in)
        return s, self.out(s, v)[1]

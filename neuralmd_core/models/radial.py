"""Radial bases, the cosine cutoff, eps-safe norms and radius graphs in plain torch.

Distances are in Å. Radius graphs are built without torch-cluster: ``torch.cdist`` (exact
Euclidean mode) plus masks, block by block within each system, so memory stays at
``O(block × n_system)`` and no edge ever joins two systems of a batch.

Edge convention: ``edge_index[0]`` is the *source* (neighbour ``b``), ``edge_index[1]`` the
*target* (centre ``a``) that aggregates the message, as in PyG's ``radius_graph``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: the neighbour cap torch_cluster applied by default (used only with ``paper_compat``)
PAPER_MAX_NEIGHBORS = 32


def safe_norm(
    v: torch.Tensor, dim: int = -1, eps: float = 1e-12, keepdim: bool = False
) -> torch.Tensor:
    """``sqrt(|v|² + eps)``: smooth everywhere (twice differentiable at ``v = 0``)."""
    return torch.sqrt((v * v).sum(dim=dim, keepdim=keepdim) + eps)


def smooth_normalize(v: torch.Tensor, eps: float, dim: int = -1) -> torch.Tensor:
    """``v / sqrt(|v|² + eps²)``: a unit vector when ``|v| ≫ eps``, shrinking smoothly to 0.

    Equivariant for any rotation (it only rescales by an invariant), never NaN.

    Args:
        v: vectors ``(..., 3)`` (any unit; ``eps`` is in the same unit).
        eps: softening length.
        dim: the component axis.
    """
    return v / torch.sqrt((v * v).sum(dim=dim, keepdim=True) + eps * eps)


def cosine_cutoff(d: torch.Tensor, cutoff: float) -> torch.Tensor:
    """φ(d) = ½(cos(πd/c) + 1) for ``d < c`` and 0 beyond (C¹ at ``d = c``).

    Args:
        d: distances (any shape), Å.
        cutoff: c, Å.
    """
    phi = 0.5 * (torch.cos(d * (math.pi / cutoff)) + 1.0)
    return phi * (d < cutoff).to(d.dtype)


class ExpNormalSmearing(nn.Module):
    """The "expnorm" radial basis: ρ_k(d) = φ(d)·exp(−β(e^{−d} − μ_k)²).

    μ = linspace(e^{−c}, 1, K), β = (2(1 − e^{−c})/K)^{−2}; both fixed buffers.

    Args:
        cutoff: c, Å.
        num_radial: K.
    """

    def __init__(self, cutoff: float = 5.0, num_radial: int = 96):
        super().__init__()
        self.cutoff = float(cutoff)
        start = math.exp(-self.cutoff)
        # float64 buffers (cast to the input dtype in forward) so a float64 model is exact
        self.register_buffer("mu", torch.linspace(start, 1.0, num_radial, dtype=torch.float64))
        beta = (2.0 / num_radial * (1.0 - start)) ** -2
        self.register_buffer("beta", torch.tensor(beta, dtype=torch.float64))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        """Distances ``(E,)`` Å → basis ``(E, K)`` (dimensionless)."""
        d = d.unsqueeze(-1)
        mu, beta = self.mu.to(d.dtype), self.beta.to(d.dtype)
        return cosine_cutoff(d, self.cutoff) * torch.exp(-beta * (torch.exp(-d) - mu) ** 2)


def _cap(
    edge_index: torch.Tensor, num_centres: int, max_neighbors: int | None, truncate: bool, what: str
) -> torch.Tensor:
    """Enforce the neighbour cap on ``edge_index[1]`` (centres), keeping found order."""
    if max_neighbors is None or edge_index.shape[1] == 0:
        return edge_index
    counts = torch.bincount(edge_index[1], minlength=num_centres)
    worst = int(counts.max())
    if worst <= max_neighbors:
        return edge_index
    if not truncate:
        raise ValueError(
            f"{what}: a centre has {worst} neighbours within the cutoff, more than "
            f"max_neighbors={max_neighbors}; raise max_neighbors (or set it to None) "
            "instead of dropping neighbours silently"
        )
    # torch_cluster keeps the first neighbours found (in index order), not the nearest.
    order = torch.argsort(edge_index[1], stable=True)
    ei = edge_index[:, order]
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(ei.shape[1], device=ei.device) - start[ei[1]]
    return ei[:, rank < max_neighbors]


@torch.no_grad()
def _dense_pairs(x, bx, y, by, cutoff: float, same: bool) -> torch.Tensor:
    """Pairs (i in x, j in y) of the same system with ``|x_i − y_j| < cutoff``.

    Each x point is compared only with the points of its own system (y padded per system to
    ``(B, M, 3)``), so the work is Σ_b |x_b|·M with no per-system Python loop: large batches
    stay fast on a GPU. ``same``: x is y, and i = j is excluded. Returns global indices
    ``(2, E)``, ordered by i, then by j.
    """
    nb = int(torch.maximum(bx.max(), by.max())) + 1
    counts = torch.bincount(by, minlength=nb)
    width = int(counts.max())
    start = torch.cumsum(counts, 0) - counts
    order = torch.argsort(by, stable=True)
    slot = torch.empty_like(by)
    slot[order] = torch.arange(by.numel(), device=by.device) - start[by[order]]
    dense = y.new_full((nb, width, 3), float("inf"))
    dense[by, slot] = y
    index = torch.full((nb, width), -1, dtype=torch.long, device=y.device)
    index[by, slot] = torch.arange(by.numel(), device=y.device)
    d = (x[:, None, :] - dense[bx]).norm(dim=-1)  # exact differences, (Nx, M)
    mask = d < cutoff
    cand = index[bx]
    if same:
        mask &= cand != torch.arange(x.shape[0], device=x.device)[:, None]
    i, m = torch.nonzero(mask, as_tuple=True)
    j = cand[i, m]
    keep = torch.argsort(j + i * by.numel(), stable=True)  # by i, then by j (index order)
    return torch.stack([i[keep], j[keep]])


def radius_graph(
    pos: torch.Tensor,
    batch: torch.Tensor,
    cutoff: float,
    max_neighbors: int | None = None,
    truncate: bool = False,
) -> torch.Tensor:
    """All ordered pairs of distinct points of the same system closer than ``cutoff``.

    Args:
        pos: positions ``(N, 3)``, Å.
        batch: system index of each point ``(N,)`` long.
        cutoff: radius, Å (strict ``<``).
        max_neighbors: optional cap on neighbours per centre. Exceeding it raises ``ValueError``
            unless ``truncate`` is set.
        truncate: keep only the first ``max_neighbors`` neighbours found (index order), as
            torch_cluster did (``paper_compat`` only).

    Returns:
        ``edge_index (2, E)`` long: row 0 = neighbour (source), row 1 = centre (target); no self
        loops; sorted by centre within each system.
    """
    if pos.shape[0] == 0:
        return torch.zeros((2, 0), dtype=torch.long, device=pos.device)
    p = pos.detach()
    ij = _dense_pairs(p, batch, p, batch, cutoff, same=True)  # (centre, neighbour)
    return _cap(ij.flip(0), pos.shape[0], max_neighbors, truncate, "radius_graph")


def radius_bipartite(
    ca: torch.Tensor,
    res_batch: torch.Tensor,
    pos: torch.Tensor,
    lig_batch: torch.Tensor,
    cutoff: float,
    max_neighbors: int | None = None,
    truncate: bool = False,
) -> torch.Tensor:
    """Residue → ligand-atom edges of the same system with ``|x_a − CA_r| < cutoff``.

    Args:
        ca: residue CA positions ``(R, 3)``, Å.
        res_batch: system of each residue ``(R,)`` long.
        pos: ligand atom positions ``(N, 3)``, Å.
        lig_batch: system of each ligand atom ``(N,)`` long.
        cutoff: radius, Å (strict ``<``).
        max_neighbors: optional cap on ligand atoms per residue (raises when exceeded unless
            ``truncate``), as torch_cluster's ``radius(max_num_neighbors=32)`` in the reference.
        truncate: keep the first ``max_neighbors`` atoms per residue (``paper_compat`` only).

    Returns:
        ``edge_index (2, E)`` long: row 0 = residue index, row 1 = ligand atom index.
    """
    if ca.shape[0] == 0 or pos.shape[0] == 0:
        return torch.zeros((2, 0), dtype=torch.long, device=pos.device)
    ei = _dense_pairs(ca.detach(), res_batch, pos.detach(), lig_batch, cutoff, same=False)
    # the cap counts ligand atoms per residue: count on row 0
    capped = _cap(ei.flip(0), ca.shape[0], max_neighbors, truncate, "radius_bipartite")
    return capped.flip(0)

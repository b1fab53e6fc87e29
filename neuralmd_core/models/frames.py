"""The three vector frames of BindingNet and scalarisation (projection onto a frame).

A frame is stored as ``(…, 3, 3)`` with the basis vectors as ROWS: ``frame[..., k, :] = e_k``.
Projecting vectors ``v (…, 3, C)`` onto it is ``q = frame @ v`` (``q_k = e_k · v``), the
"scalarisation" that turns equivariant vectors into rotation-invariant scalars.

All frames here are built from relative positions only (translation invariant) and rotate with
the input (``e_k → Q e_k`` for a proper rotation ``Q``), so scalarised features are invariant.
Degenerate geometry (collinear points) gives basis vectors that shrink smoothly to zero
instead of NaN.
"""

from __future__ import annotations

import torch

from neuralmd_core.models.radial import smooth_normalize

#: softening of unit vectors built from bond/edge directions (Å; far below any bond length)
DIR_EPS = 1e-6


def scalarize(frames: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Project vector features onto frames.

    Args:
        frames: ``(E, 3, 3)``, rows = basis vectors.
        vectors: ``(E, 3, C)`` equivariant vector features (``C`` channels).

    Returns:
        ``(E, 3, C)``: ``q[e, k, c] = frames[e, k] · vectors[e, :, c]``, invariant.
    """
    return torch.einsum("ekd,edc->ekc", frames, vectors)


def edge_frames(
    pos: torch.Tensor,
    ref: torch.Tensor,
    src: torch.Tensor,
    dst: torch.Tensor,
    cross_eps: float,
) -> torch.Tensor:
    """Atom-level edge frames ``F_ab = (e1, e2, e3)`` for edges ``b = src → a = dst``.

    ``e1 = n(x_b − x_a)``, ``e2 = n((x_b − o) × (x_a − o))``, ``e3 = e1 × e2`` where ``o`` is the
    per-atom reference point ``ref`` (the per-system ligand centroid; the reference code used the
    absolute origin, which makes the frame origin-dependent). ``e2 ⊥ e1`` always. ``e2`` is
    softened with ``cross_eps`` (Å²): when the two atoms are collinear with ``o`` (2-atom or
    linear ligands) ``e2`` and ``e3`` shrink smoothly to 0 instead of flipping or being NaN.

    Args:
        pos: ``(N, 3)`` Å.
        ref: ``(N, 3)`` Å, the reference point of each atom's system.
        src: ``(E,)`` neighbour indices b.
        dst: ``(E,)`` centre indices a.
        cross_eps: softening of ``|e2|`` in Å².

    Returns:
        ``(E, 3, 3)`` frames, rows = basis vectors (dimensionless).
    """
    xa, xb = pos[dst] - ref[dst], pos[src] - ref[src]
    e1 = smooth_normalize(xb - xa, DIR_EPS)
    e2 = smooth_normalize(torch.cross(xb, xa, dim=-1), cross_eps)
    e3 = torch.cross(e1, e2, dim=-1)
    return torch.stack([e1, e2, e3], dim=-2)


def backbone_frames(backbone: torch.Tensor, orthonormal: bool = True) -> torch.Tensor:
    """Per-residue backbone frames from N, CA, C.

    Gram–Schmidt (default): ``e1 = n(CA − N)``, ``e2 = n(u − (u·e1) e1)`` with ``u = C − CA``,
    ``e3 = e1 × e2`` — orthonormal and right-handed, built the same way for every residue.
    With ``orthonormal=False`` (``paper_compat``) the reference's non-orthogonal
    ``(n(CA − N), n(C − CA), n(e1 × e2))`` is returned instead.

    Args:
        backbone: ``(R, 3, 3)`` Å, ``[:, 0] = N``, ``[:, 1] = CA``, ``[:, 2] = C``.
        orthonormal: Gram–Schmidt (True) or the reference's frame (False).

    Returns:
        ``(R, 3, 3)`` frames, rows = basis vectors.
    """
    n, ca, c = backbone[:, 0], backbone[:, 1], backbone[:, 2]
    e1 = smooth_normalize(ca - n, DIR_EPS)
    u = c - ca
    if orthonormal:
        e2 = smooth_normalize(u - (u * e1).sum(-1, keepdim=True) * e1, DIR_EPS)
        e3 = torch.cross(e1, e2, dim=-1)
    else:
        e2 = smooth_normalize(u, DIR_EPS)
        e3 = smooth_normalize(torch.cross(e1, e2, dim=-1), DIR_EPS)
    return torch.stack([e1, e2, e3], dim=-2)


def _ca_frames(ca: torch.Tensor) -> torch.Tensor:
    """Frames G_r for r = 1..R−2 from consecutive CAs (rows d, x, d × x); ``(R−2, 3, 3)``."""
    b = smooth_normalize(ca[1:] - ca[:-1], DIR_EPS)  # b_r = n(X_{r+1} − X_r), (R−1, 3)
    d = smooth_normalize(b[:-1] - b[1:], DIR_EPS)
    x = smooth_normalize(torch.cross(b[:-1], b[1:], dim=-1), DIR_EPS)
    return torch.stack([d, x, torch.cross(d, x, dim=-1)], dim=-2)


def residue_frames(
    ca: torch.Tensor,
    res_batch: torch.Tensor,
    fallback: torch.Tensor,
    cross_systems: bool = False,
) -> torch.Tensor:
    """Residue-level (complex) frames from consecutive CA atoms, never across systems.

    For an interior residue r (r−1, r, r+1 in the same system) with ``b_r = n(X_{r+1} − X_r)``:
    rows ``d = n(b_{r−1} − b_r)``, ``x = n(b_{r−1} × b_r)``, ``d × x`` (orthonormal). The first
    residue of a system takes its successor's frame and the last its predecessor's (as the
    reference does for the whole batch). A system with fewer than 3 residues has no interior
    residue and uses ``fallback`` (the backbone frames).

    Args:
        ca: ``(R, 3)`` Å, ordered by residue within each system.
        res_batch: ``(R,)`` long, system of each residue.
        fallback: ``(R, 3, 3)`` frames used where no CA frame exists.
        cross_systems: reproduce the reference bug: treat the whole batch as one chain.

    Returns:
        ``(R, 3, 3)`` frames, rows = basis vectors.
    """
    r = ca.shape[0]
    if r < 3:
        return fallback
    inner = torch.cat([fallback[:1], _ca_frames(ca), fallback[-1:]], 0)  # index r ↔ residue r
    if cross_systems:
        return torch.cat([inner[1:2], inner[1:-1], inner[-2:-1]], 0)
    same = res_batch[1:] == res_batch[:-1]  # (R−1,) bond r ↔ r+1 within one system
    interior = torch.zeros(r, dtype=torch.bool, device=ca.device)
    interior[1:-1] = same[:-1] & same[1:]
    nxt = torch.zeros_like(interior)
    nxt[:-1] = interior[1:] & same  # successor is interior and in my system
    prv = torch.zeros_like(interior)
    prv[1:] = interior[:-1] & same
    shifted_next = torch.cat([inner[1:], inner[-1:]], 0)
    shifted_prev = torch.cat([inner[:1], inner[:-1]], 0)
    out = torch.where(prv[:, None, None], shifted_prev, fallback)
    out = torch.where(nxt[:, None, None], shifted_next, out)
    return torch.where(interior[:, None, None], inner, out)

"""Periodic-boundary handling in Å: minimum image, whole molecules, jump-free ligand imaging.

All functions take boxes as (3, 3) row vectors ``a, b, c`` in Å (mdtraj's
``unitcell_vectors`` times 10) and work for triclinic cells through fractional coordinates.
"""

from __future__ import annotations

from itertools import product

import numpy as np

# The 27 lattice shifts {-1, 0, 1}^3 used to search the nearest periodic image.
_SHIFTS = np.array(list(product((-1, 0, 1), repeat=3)), dtype=np.float64)


def minimum_image(vec: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Shortest periodic images of displacement vectors ``vec`` (..., 3) Å in ``box`` (3, 3)."""
    inv = np.linalg.inv(box)
    frac = vec @ inv
    frac -= np.round(frac)
    out = frac @ box
    # rounding in fractional space is exact for orthorhombic boxes; refine for skewed cells
    cands = out[..., None, :] + _SHIFTS @ box
    best = np.argmin((cands**2).sum(-1), axis=-1)
    return np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]


def make_whole(pos: np.ndarray, bonds: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Undo PBC splits of one molecule: walk a spanning tree and apply minimum-image bonds.

    Args:
        pos: (N, 3) Å coordinates of the molecule's atoms in one frame.
        bonds: (B, 2) atom-index pairs within the molecule; atoms not reached by a bond are
            placed at the minimum image of atom 0.
        box: (3, 3) Å box row vectors.

    Returns:
        (N, 3) Å coordinates with every bond at its minimum image, atom 0 unchanged.
    """
    n = pos.shape[0]
    out = pos.copy()
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, j in np.asarray(bonds, dtype=np.int64).reshape(-1, 2):
        neighbours[i].append(int(j))
        neighbours[j].append(int(i))
    seen = np.zeros(n, dtype=bool)
    for root in range(n):
        if seen[root]:
            continue
        if root > 0:  # a new component: bring it next to atom 0
            out[root] = out[0] + minimum_image(pos[root] - out[0], box)
        seen[root] = True
        stack = [root]
        while stack:
            a = stack.pop()
            for b in neighbours[a]:
                if not seen[b]:
                    out[b] = out[a] + minimum_image(pos[b] - pos[a], box)
                    seen[b] = True
                    stack.append(b)
    return out


def chain_whole(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Make a polymer whole: each point at the minimum image of its predecessor, (M, 3) Å."""
    steps = minimum_image(np.diff(points, axis=0), box)
    return np.concatenate([points[:1], points[:1] + np.cumsum(steps, axis=0)], axis=0)


def nearest_image_shift(point: np.ndarray, targets: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The lattice translation (3,) Å that brings ``point`` closest to any of ``targets`` (M, 3)."""
    inv = np.linalg.inv(box)
    base = -np.round((point - targets.mean(0)) @ inv) @ box
    cands = base + _SHIFTS @ box  # (27, 3)
    moved = point[None, :] + cands
    d = np.sqrt(((moved[:, None, :] - targets[None, :, :]) ** 2).sum(-1)).min(1)
    return cands[int(np.argmin(d))]


def image_ligand(
    lig: np.ndarray,
    bonds: np.ndarray,
    boxes: np.ndarray,
    anchor: np.ndarray,
) -> np.ndarray:
    """Whole, jump-free ligand trajectory imaged next to the protein.

    Frame 0: the whole ligand's centroid is put at the periodic image nearest to an ``anchor``
    atom (the snapshot-0 protein). Later frames: the image nearest to the previous frame's
    centroid, so the stored trajectory never jumps by a box vector (the protein is rigid at its
    snapshot-0 pose, so continuity is what keeps the ligand next to it).

    Args:
        lig: (T, N, 3) Å ligand coordinates as read.
        bonds: (B, 2) ligand bonds (indices into N).
        boxes: (T, 3, 3) Å box vectors per frame.
        anchor: (M, 3) Å protein reference atoms at snapshot 0 (made whole).

    Returns:
        (T, N, 3) Å imaged coordinates.
    """
    out = np.empty_like(lig, dtype=np.float64)
    prev = None
    for t in range(lig.shape[0]):
        whole = make_whole(lig[t].astype(np.float64), bonds, boxes[t])
        centre = whole.mean(0)
        if prev is None:
            shift = nearest_image_shift(centre, anchor, boxes[t])
        else:
            shift = minimum_image(centre - prev, boxes[t]) - (centre - prev)
        out[t] = whole + shift
        prev = centre + shift
    return out


def max_centroid_jump(lig: np.ndarray) -> float:
    """Largest displacement (Å) of the centroid between consecutive frames of (T, N, 3)."""
    if lig.shape[0] < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(lig.mean(1), axis=0), axis=-1).max())


def max_consecutive_jump(lig: np.ndarray) -> float:
    """Largest displacement (Å) of any atom between consecutive frames of (T, N, 3)."""
    if lig.shape[0] < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(lig, axis=0), axis=-1).max())


def whole_backbone(backbone: np.ndarray, chain_id: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Make a (R, 3, 3) Å backbone whole per chain and put every chain next to the first.

    Consecutive N, CA, C atoms of a chain are placed at minimum-image distance; each further
    chain is shifted by the lattice vector that brings its centroid closest to chain one.
    """
    out = backbone.astype(np.float64).copy()
    chains = list(dict.fromkeys(chain_id.tolist()))
    first = None
    for c in chains:
        rows = np.flatnonzero(chain_id == c)
        pts = chain_whole(out[rows].reshape(-1, 3), box)
        if first is None:
            first = pts
        else:
            pts = pts + nearest_image_shift(pts.mean(0), first, box)
        out[rows] = pts.reshape(-1, 3, 3)
    return out.astype(backbone.dtype)


def whole_protein(
    xyz: np.ndarray,
    residues: list[np.ndarray],
    backbone_index: np.ndarray,
    chain_id: np.ndarray,
    box: np.ndarray,
) -> np.ndarray:
    """Make a PBC-wrapped protein whole at one snapshot, every atom moved by a lattice vector.

    The backbone is made whole per chain and the chains put next to the first
    (:func:`whole_backbone`); every atom of a residue with a backbone then sits at the minimum
    image of its CA, and a residue without one is made whole around its first atom and put at
    the image nearest to the backbone.

    Args:
        xyz: (n_atoms, 3) Å coordinates as read (atoms outside ``residues`` are left as they are).
        residues: one array of atom indices (into ``xyz``) per protein residue.
        backbone_index: (R, 3) atom indices of N, CA, C of the residues that have them.
        chain_id: (R,) chain of each backbone row.
        box: (3, 3) Å box row vectors.

    Returns:
        (n_atoms, 3) Å float64 coordinates.
    """
    src = np.asarray(xyz, dtype=np.float64)
    out = src.copy()
    bb = whole_backbone(src[backbone_index], np.asarray(chain_id), box).astype(np.float64)
    ca_old, ca_new = src[backbone_index[:, 1]], bb[:, 1]
    row_of_ca = {int(a): r for r, a in enumerate(backbone_index[:, 1])}
    for atoms in residues:
        atoms = np.asarray(atoms, dtype=np.int64)
        row = next((row_of_ca[a] for a in atoms.tolist() if a in row_of_ca), None)
        if row is not None:
            out[atoms] = ca_new[row] + minimum_image(src[atoms] - ca_old[row], box)
        elif atoms.size:
            whole = src[atoms[0]] + minimum_image(src[atoms] - src[atoms[0]], box)
            out[atoms] = whole + nearest_image_shift(whole.mean(0), ca_new, box)
    out[backbone_index.reshape(-1)] = bb.reshape(-1, 3)
    return out

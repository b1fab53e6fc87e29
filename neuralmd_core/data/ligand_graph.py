"""The ligand's heavy-atom graph: rotatable bonds, the side each one turns, rigid distances.

Pure numpy on ``(B, 2)`` bond lists, used by the dynamics (which degrees of freedom a ligand
has) and by the realism metrics (which torsions to score). Atom indices are local to one ligand.

A bond j–k is **rotatable** when it lies in no ring and both ends have another heavy neighbour.
Turning it rotates one side of the graph (the side of k, or the smaller side) about the j→k
axis; every bond length, bond angle and ring stays exactly as it is. A pair distance is
**rigid** when no rotatable bond changes it: the two atoms lie on the same side of every
rotatable bond, or one of them is on the bond's axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def adjacency(n: int, bonds) -> list[set[int]]:
    """Neighbour sets of the ``n`` atoms of the graph ``bonds`` (B, 2)."""
    adj: list[set[int]] = [set() for _ in range(n)]
    for i, j in np.asarray(bonds, dtype=np.int64).reshape(-1, 2):
        adj[int(i)].add(int(j))
        adj[int(j)].add(int(i))
    return adj


def side(adj: list[set[int]], j: int, k: int) -> set[int]:
    """Atoms reached from k without crossing the bond j–k (k included; j too if in a ring)."""
    seen, todo = {k}, [k]
    while todo:
        a = todo.pop()
        for b in adj[a]:
            if (a, b) == (k, j) or b in seen:
                continue
            seen.add(b)
            todo.append(b)
    return seen


def rotatable_bonds(n: int, bonds) -> list[tuple[int, int, int, int]]:
    """Rotatable bonds as torsions (i, j, k, l), sorted by (j, k) with j < k.

    i and l are the lowest-index heavy neighbours of j (other than k) and of k (other than j).
    Bond orders are not used.
    """
    adj = adjacency(n, bonds)
    out = []
    for j, k in sorted({(min(a, b), max(a, b)) for a, b in np.asarray(bonds).reshape(-1, 2)}):
        ni, nl = sorted(adj[j] - {k}), sorted(adj[k] - {j})
        if ni and nl and j not in side(adj, j, k):
            out.append((ni[0], j, k, nl[0]))
    return out


@dataclass(frozen=True)
class LigandGraph:
    """The internal degrees of freedom of one ligand.

    Attributes:
        n: heavy atoms.
        axes: (T, 2) the rotatable bonds (j, k); turning bond t rotates ``moving[t]`` about j→k.
        moving: (T, n) bool, the atoms that turn with each rotatable bond (the smaller side;
            never j or k).
        rigid_pairs: (P, 2) atom pairs (i < j) whose distance no rotatable bond changes.
        ends: (T, 2) the torsion's outer atoms (i, l) of :func:`rotatable_bonds`, ordered like
            ``axes``: the dihedral (i, j, k, l) about axis (j, k), l on the moving side, grows
            by θ when bond t turns by θ.
    """

    n: int
    axes: np.ndarray
    moving: np.ndarray
    rigid_pairs: np.ndarray
    ends: np.ndarray

    @classmethod
    def from_bonds(cls, n: int, bonds) -> LigandGraph:
        """Build the graph of ``n`` atoms from ``bonds`` (B, 2) (local indices)."""
        adj = adjacency(n, bonds)
        axes, moving, ends = [], [], []
        for i, j, k, end in rotatable_bonds(n, bonds):
            far = side(adj, j, k) - {k}
            near = set(range(n)) - far - {j, k}
            if len(near) < len(far):
                i, j, k, end, far = end, k, j, i, near
            mask = np.zeros(n, dtype=bool)
            mask[sorted(far)] = True
            axes.append((j, k))
            moving.append(mask)
            ends.append((i, end))
        axes_a = np.array(axes, dtype=np.int64).reshape(-1, 2)
        moving_a = np.array(moving, dtype=bool).reshape(-1, n)
        ends_a = np.array(ends, dtype=np.int64).reshape(-1, 2)
        return cls(n, axes_a, moving_a, _rigid_pairs(n, axes_a, moving_a), ends_a)


def _rigid_pairs(n: int, axes: np.ndarray, moving: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(n, 1)
    keep = np.ones(i.shape, dtype=bool)
    for (a, b), mask in zip(axes, moving):
        on_axis = np.isin(i, (a, b)) | np.isin(j, (a, b))
        keep &= (mask[i] == mask[j]) | on_axis
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64).reshape(-1, 2)

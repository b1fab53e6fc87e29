"""The rigid protein's heavy atoms around the ligand (``keys.POCKET_XYZ``): the steric wall's
atoms, side chains included (the network itself sees only backbone frames)."""

from __future__ import annotations

import mdtraj as md
import numpy as np

from neuralmd_core.io.structure import heavy_atoms, is_ion

#: protein heavy atoms within this distance (Å) of any ligand heavy atom of the first pose are
#: kept: the wall acts at 2.2 Å, and a bound ligand's centroid stays within 3 Å of its start
#: (a ligand that moved 10 Å has left the pocket, which the guard and the metrics report)
POCKET_SHELL_A = 12.0


def pocket_atoms(
    top: md.Topology,
    xyz0: np.ndarray,
    lig_pos: np.ndarray,
    exclude: set[int],
    shell_A: float = POCKET_SHELL_A,
) -> np.ndarray:
    """Heavy atoms ``(P, 3)`` float32 Å of the protein within ``shell_A`` of the ligand.

    Args:
        top: the complex's topology.
        xyz0: ``(n_atoms, 3)`` Å, the (rigid) protein's coordinates.
        lig_pos: ``(N, 3)`` Å, the ligand's heavy atoms at its first pose.
        exclude: residue indices that are not protein (the ligand, cofactors dropped).
        shell_A: the shell's radius, Å.
    """
    index = np.array(
        [
            i
            for r in top.residues
            if r.index not in exclude and not r.is_water and not is_ion(r)
            for i in heavy_atoms(r)
        ],  # fmt: skip
        dtype=np.int64,
    )
    if index.size == 0:
        return np.zeros((0, 3), dtype=np.float32)
    atoms = np.asarray(xyz0, dtype=np.float64)[index]
    lig = np.asarray(lig_pos, dtype=np.float64)
    near = np.zeros(len(atoms), dtype=bool)
    for start in range(0, len(lig), 64):  # (64, P) distances at a time
        d = np.linalg.norm(atoms[None] - lig[start : start + 64, None], axis=-1)
        near |= (d < shell_A).any(0)
    return atoms[near].astype(np.float32)

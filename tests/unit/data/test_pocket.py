"""The pocket's heavy atoms (``keys.POCKET_XYZ``, the steric wall's atoms): what ``rollout``
and ``prepare`` keep of the rigid protein, checked against a brute-force selection by mdtraj."""

from __future__ import annotations

import mdtraj as md
import numpy as np
import torch

from neuralmd_core import keys
from neuralmd_core.data.batch import collate_systems
from neuralmd_core.data.pdb_sdf import system_from_pdb_sdf
from neuralmd_core.data.pocket import POCKET_SHELL_A
from neuralmd_core.data.prepare import prepare_from_md


def _brute_force(folder, resname: str) -> np.ndarray:
    """Protein heavy atoms within POCKET_SHELL_A of any ligand heavy atom of frame 0, Å."""
    t = md.load(str(folder / "topology.pdb"))
    prot = t.topology.select("protein and not element H")
    lig = t.topology.select(f"resname {resname} and not element H")
    x = t.xyz[0].astype(np.float64) * 10
    d = np.linalg.norm(x[prot][:, None] - x[lig][None], axis=-1).min(1)
    return x[prot[d < POCKET_SHELL_A]]


def _same_set(a: np.ndarray, b: np.ndarray, tol: float = 1e-3) -> bool:
    if a.shape != b.shape:
        return False
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)
    return bool((d.min(1) < tol).all() and (d.min(0) < tol).all())


def test_rollout_pocket_is_every_protein_heavy_atom_within_the_shell(refdata_dir):
    folder = refdata_dir / "11gs" / "seed0"
    system = system_from_pdb_sdf(folder / "topology.pdb", folder / "ligand.sdf")[0]
    expected = _brute_force(folder, "LIG")
    assert system.pocket_xyz.dtype == np.float32 and len(expected) > 3 * system.num_residues / 2
    assert _same_set(system.pocket_xyz.astype(np.float64), expected)
    # side chains included: the hydrogen bond to Ser54 OG (2.69 Å) is the closest contact
    d = np.linalg.norm(system.pocket_xyz[:, None] - system.lig_pos[0][None], axis=-1)
    assert abs(float(d.min()) - 2.69) < 0.01


def test_prepare_stores_the_pocket_of_the_first_snapshot(refdata_dir):
    folder = refdata_dir / "t4l" / "seed0"
    (system,) = prepare_from_md(folder / "topology.pdb", [folder / "traj.xtc"],
                                ligand=folder / "ligand.sdf", dt_ps=1.0)  # fmt: skip
    # the trajectory's frame 0 (XTC, 0.01 Å precision) against the topology PDB's coordinates
    assert _same_set(system.pocket_xyz.astype(np.float64), _brute_force(folder, "TMP"), tol=0.02)


def test_collate_concatenates_pockets_with_their_owners(refdata_dir):
    folder = refdata_dir / "11gs" / "seed0"
    system = system_from_pdb_sdf(folder / "topology.pdb", folder / "ligand.sdf")[0]
    item = system.static_tensors() | {keys.LIG_POS: system.lig_pos}
    batch = collate_systems([item, item])
    p = len(system.pocket_xyz)
    assert batch[keys.POCKET_XYZ].shape == (2 * p, 3)
    assert torch.equal(batch[keys.POCKET_BATCH], torch.arange(2).repeat_interleave(p))
    without = dict(item)
    del without[keys.POCKET_XYZ]
    assert keys.POCKET_XYZ not in collate_systems([item, without])  # all or none: the backbone

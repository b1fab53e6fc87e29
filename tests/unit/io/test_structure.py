"""Topology/trajectory reading, ligand detection, backbone and PBC imaging on real MD."""

from __future__ import annotations

import mdtraj as md
import numpy as np
import pytest

from neuralmd_core.data.prepare import prepare_from_md
from neuralmd_core.errors import InputError
from neuralmd_core.io import _pbc, structure
from neuralmd_core.io.ligand import read_ligand

RUNS = ["t4l/seed0", "t4l/seed1", "t4l/seed2", "t4l/seed3", "11gs/seed0", "t4l_ff14sb/seed0"]
HEAVY = {"t4l": 8, "11gs": 39, "t4l_ff14sb": 8}
#: the runs whose OpenMM-written DCD ships in tests/data (the others ship their XTC only)
DCD_RUNS = {"t4l/seed0"}


@pytest.mark.parametrize("run", RUNS)
def test_every_reference_trajectory(refdata_dir, run):
    d = refdata_dir / run
    top = structure.load_topology(d / "topology.pdb")
    xtc = structure.load_trajectory(top, d / "traj.xtc")
    assert xtc.n_frames == 100
    if run in DCD_RUNS:
        dcd = structure.load_trajectory(top, d / "traj.dcd")
        assert dcd.n_frames == 100
        np.testing.assert_allclose(xtc.xyz, dcd.xyz, atol=2e-3)  # nm; XTC precision 1e-3 nm
    xyz0 = xtc.xyz[0] * structure.NM_TO_A
    lig = read_ligand(d / "ligand.sdf")
    match = structure.find_ligand(top, xyz0, d / "topology.pdb", ligand=lig)
    assert match.method == "sdf-position"
    aux = np.load(d / "aux.npz")
    # the SDF is in topology order, so the match is the heavy-atom index list of aux.npz
    np.testing.assert_array_equal(np.sort(match.atom_index), np.sort(aux["ligand_heavy_index"]))
    assert len(match.atom_index) == HEAVY[run.split("/")[0]]
    bb = structure.extract_backbone(top, xyz0, d / "topology.pdb", exclude={top.n_residues - 1})
    assert bb.xyz.shape == (top.n_residues - 1, 3, 3) and bb.skipped == 0
    n_ca = np.linalg.norm(bb.xyz[:, 0] - bb.xyz[:, 1], axis=-1)
    assert 1.3 < n_ca.min() and n_ca.max() < 1.65  # N-CA bond length (thermal), Å


def test_ligand_rules(t4l_seed0):
    top = structure.load_topology(t4l_seed0 / "topology.pdb")
    xyz0 = md.load(str(t4l_seed0 / "topology.pdb")).xyz[0] * 10
    src = t4l_seed0 / "topology.pdb"
    by_name = structure.find_ligand(top, xyz0, src, resname="TMP")
    auto = structure.find_ligand(top, xyz0, src)
    assert by_name.method == "resname" and auto.method == "single-residue"
    np.testing.assert_array_equal(by_name.atom_index, auto.atom_index)
    with pytest.raises(InputError, match="no residue named 'XYZ'.*TMP105"):
        structure.find_ligand(top, xyz0, src, resname="XYZ")
    bonds, orders = structure.topology_bonds(top, auto.atom_index)
    assert len(bonds) == 8 and (orders >= 1).all()


def test_ambiguous_and_missing_ligand(t4l_seed0, tmp_path):
    traj = md.load(str(t4l_seed0 / "topology.pdb"))
    protein = traj.atom_slice(traj.topology.select("protein"))
    both = protein.stack(traj.atom_slice(traj.topology.select("resname TMP")))
    both = both.stack(traj.atom_slice(traj.topology.select("resname TMP")))
    src = tmp_path / "x.pdb"
    with pytest.raises(InputError, match="several candidate ligand residues"):
        structure.find_ligand(both.topology, both.xyz[0] * 10, src)
    with pytest.raises(InputError, match="no ligand found"):
        structure.find_ligand(protein.topology, protein.xyz[0] * 10, src)


def test_residues_without_backbone_are_skipped(t4l_seed0, caplog):
    traj = md.load(str(t4l_seed0 / "topology.pdb"))
    top = traj.topology
    drop = {a.index for a in top.residue(3).atoms if a.name == "CA"}
    drop |= {a.index for a in top.residue(7).atoms if a.name == "N"}
    sub = traj.atom_slice([a.index for a in top.atoms if a.index not in drop])
    bb = structure.extract_backbone(sub.topology, sub.xyz[0] * 10, t4l_seed0)
    assert bb.skipped == 2 and bb.xyz.shape[0] == 104 - 2
    assert "skipped 2 residues lacking N, CA or C" in caplog.text


def test_minimum_image_triclinic():
    box = np.array([[30.0, 0, 0], [10.0, 28.0, 0], [5.0, 6.0, 25.0]])
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 3)) * 4
    shifts = rng.integers(-2, 3, size=(50, 3)) @ box
    np.testing.assert_allclose(_pbc.minimum_image(v + shifts, box), v, atol=1e-9)


def _boxed_copy(src_dir, tmp_path, shift_frames: dict[int, np.ndarray], split_frame: int):
    """A copy of t4l seed0 with a 70 Å cubic box and some ligand frames moved by box vectors."""
    traj = md.load(str(src_dir / "traj.xtc"), top=str(src_dir / "topology.pdb"))
    lig = traj.topology.select("resname TMP")
    box_nm = 7.0
    xyz = traj.xyz.copy()
    for frame, vec in shift_frames.items():
        xyz[frame, lig] += vec * box_nm
    half = lig[: len(lig) // 2]  # break the ligand in one frame
    xyz[split_frame, half] += np.array([0, 0, 1.0]) * box_nm
    boxed = md.Trajectory(xyz, traj.topology, time=traj.time,
                          unitcell_lengths=np.full((traj.n_frames, 3), box_nm),
                          unitcell_angles=np.full((traj.n_frames, 3), 90.0))  # fmt: skip
    path = tmp_path / "boxed.xtc"
    boxed.save_xtc(str(path))
    return path


def test_pbc_jumps_are_undone(t4l_seed0, tmp_path):
    shifts = {0: np.array([1, 0, 0]), **{f: np.array([0, -1, 0]) for f in range(20, 30)},
              **{f: np.array([1, 1, -1]) for f in (55, 56, 80)}}  # fmt: skip
    path = _boxed_copy(t4l_seed0, tmp_path, shifts, split_frame=40)
    ref = prepare_from_md(t4l_seed0 / "topology.pdb", [t4l_seed0 / "traj.xtc"],
                          ligand=t4l_seed0 / "ligand.sdf")[0]  # fmt: skip
    raw = prepare_from_md(t4l_seed0 / "topology.pdb", [path], ligand=t4l_seed0 / "ligand.sdf",
                          image=False)[0]  # fmt: skip
    fixed = prepare_from_md(t4l_seed0 / "topology.pdb", [path], ligand=t4l_seed0 / "ligand.sdf")[0]
    assert _pbc.max_consecutive_jump(raw.lig_pos) > 60  # the copy really jumps
    assert fixed.provenance["imaged"] and not raw.provenance["imaged"]
    assert _pbc.max_consecutive_jump(fixed.lig_pos) < 5.0
    np.testing.assert_allclose(fixed.lig_pos, ref.lig_pos, atol=0.02)  # whole, unjumped, in place
    np.testing.assert_allclose(fixed.backbone, ref.backbone, atol=0.02)
